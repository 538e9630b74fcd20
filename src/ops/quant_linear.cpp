// Shape and type inference for the quantization ops: QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, and QLinearConv/QLinearMatMul (QOperator-format INT8 models), whose
// output has the float op's shape and the output zero point's type; and visionrt.QConv, the
// quantized convolution the QDQ fusion makes.
#include "ops/op_registry.hpp"

namespace visionrt {

void register_quant_linear_ops(OpRegistry& r) {
  auto infer = [](const char* float_op, std::vector<int> data_inputs) {
    return [float_op, data_inputs](InferContext& c) {
      const OpDef* def = OpRegistry::instance().find("", float_op);
      if (!def) c.fail(std::string("needs ") + float_op);
      std::vector<TensorType> types;
      std::vector<const Tensor*> values;
      for (int i : data_inputs) {
        TensorType t = c.input_type(static_cast<size_t>(i));
        if (t.dtype != DType::undefined) t.dtype = DType::f32;
        types.push_back(t);
        values.push_back(nullptr);
      }
      Node n = c.node();
      n.op_type = float_op;
      n.inputs.resize(data_inputs.size());
      InferContext inner(n, c.opset(), std::move(types), std::move(values));
      def->infer(inner);
      TensorType out = inner.output_types()[0];
      // visionrt.QConv without an output scale writes f32.
      out.dtype = c.has_input(7) ? c.input_dtype(7) : DType::f32;
      c.set_output(0, out);
    };
  };
  r.add({"QuantizeLinear",
         [](InferContext& c) {
           TensorType t = c.input_type(0);
           t.dtype = c.has_input(2) ? c.input_dtype(2) : DType::u8;
           if (t.dtype != DType::u8 && t.dtype != DType::i8)
             c.fail("y_zero_point must be u8 or i8");
           c.set_output(0, t);
         },
         {},
         10})
      .needs(2);
  r.add({"DequantizeLinear",
         [](InferContext& c) {
           TensorType t = c.input_type(0);
           t.dtype = c.input_dtype(1);
           c.set_output(0, t);
         },
         {},
         10})
      .needs(2);
  r.add({"DynamicQuantizeLinear",
         [](InferContext& c) {
           TensorType t = c.input_type(0);
           t.dtype = DType::u8;
           c.set_output(0, t);
           c.set_output(1, DType::f32, {});
           c.set_output(2, DType::u8, {});
         },
         {},
         11});
  r.add({"QLinearConv", infer("Conv", {0, 3}), {}, 10}).needs(8);
  r.add({"QLinearMatMul", infer("MatMul", {0, 3}), {}, 10}).needs(8);
  // visionrt.QConv (x, x_scale, x_zp, w, w_scale, w_zp, [y_scale, y_zp], [B]): QLinearConv plus
  // FusedConv's `activation`/`alpha`/`beta` applied to the real-valued result before it is
  // requantized; without y_scale/y_zp the output is that f32 result. B is int32 in accumulator
  // units (x_scale * w_scale, as QLinearConv's) or f32 in real units (a float bias of a QDQ
  // model). Made by fuse_qdq from QDQ convolutions. Optional input 9, R: an f32 tensor of the
  // output's shape added to the real-valued result after the activation, before the
  // requantization (fuse_qconv_residual: a residual Add between the conv and its QuantizeLinear).
  r.add({"visionrt.QConv", infer("Conv", {0, 3}), {}, 1}).needs(2);
  // visionrt.QConcat (x1, ..., xn, y_scale, y_zero_point), attribute `axis`: Concat of the f32
  // inputs then QuantizeLinear with the scalar scale and zero point, the output of the zero
  // point's type. Made by fuse_qdq from a Concat whose only reader is a QuantizeLinear.
  r.add({"visionrt.QConcat",
         [](InferContext& c) {
           const size_t n = c.node().inputs.size();
           if (n < 3) c.fail("needs at least one data input, y_scale and y_zero_point");
           const OpDef* concat = OpRegistry::instance().find("", "Concat");
           std::vector<TensorType> types;
           for (size_t i = 0; i + 2 < n; ++i) types.push_back(c.input_type(i));
           Node cn = c.node();
           cn.op_type = "Concat";
           cn.inputs.resize(n - 2);
           InferContext inner(cn, 13, std::move(types), std::vector<const Tensor*>(n - 2, nullptr));
           concat->infer(inner);
           TensorType out = inner.output_types()[0];
           out.dtype = c.input_dtype(n - 1);
           if (out.dtype != DType::u8 && out.dtype != DType::i8)
             c.fail("y_zero_point must be u8 or i8");
           c.set_output(0, out);
         },
         {},
         1})
      .needs(3);
}

}  // namespace visionrt
