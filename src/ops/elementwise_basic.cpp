// Shape and type inference for elementwise ops: unary math and activations, numpy-broadcast
// binary and variadic ops, comparisons and logic, Where, Clip, Cast/CastLike, Identity, Dropout.
#include "common/strings.hpp"
#include "ops/elementwise_ops.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {

DType dtype_from_onnx_enum(int64_t t);  // ops/misc.cpp

namespace {

void infer_broadcast(InferContext& c, DType out_dtype, size_t first = 0) {
  TensorType out;
  out.dtype = out_dtype;
  out.has_rank = true;
  for (size_t i = first; i < c.num_inputs(); ++i) {
    if (!c.has_input(i)) continue;
    const TensorType& t = c.input_type(i);
    if (!t.has_rank) return c.set_output_rank_unknown(0, out_dtype);
    Shape merged;
    if (!broadcast_shapes(out.dims, t.dims, &merged))
      c.fail(
          str_cat("shapes ", shape_str(out.dims), " and ", shape_str(t.dims), " do not broadcast"));
    out.dims = merged;
  }
  c.set_output(0, out);
}

void infer_binary_same(InferContext& c) {
  if (c.has_input(1) && c.input_dtype(1) != c.input_dtype(0) && c.node().op_type != "Pow")
    c.fail(str_cat("input types differ: ", dtype_name(c.input_dtype(0)), " and ",
                   dtype_name(c.input_dtype(1))));
  infer_broadcast(c, c.input_dtype(0));
}

void infer_compare(InferContext& c) {
  if (c.input_dtype(1) != c.input_dtype(0))
    c.fail(str_cat("input types differ: ", dtype_name(c.input_dtype(0)), " and ",
                   dtype_name(c.input_dtype(1))));
  infer_broadcast(c, DType::boolean);
}

void infer_unary(InferContext& c) { infer_same_as_input(c, 0); }

void infer_bool_unary(InferContext& c) {
  TensorType t = c.input_type(0);
  t.dtype = DType::boolean;
  c.set_output(0, t);
}

void infer_where(InferContext& c) {
  if (c.input_dtype(0) != DType::boolean) c.fail("condition must be bool");
  if (c.input_dtype(1) != c.input_dtype(2)) c.fail("X and Y types differ");
  infer_broadcast(c, c.input_dtype(1));
}

void infer_cast(InferContext& c) {
  DType to = dtype_from_onnx_enum(c.node().attr_i("to", 0));
  if (to == DType::undefined) c.fail("unsupported target type (strings are not supported)");
  TensorType t = c.input_type(0);
  t.dtype = to;
  c.set_output(0, t);
}

void infer_castlike(InferContext& c) {
  TensorType t = c.input_type(0);
  t.dtype = c.input_dtype(1);
  c.set_output(0, t);
}

void infer_dropout(InferContext& c) {
  c.set_output(0, c.input_type(0));
  TensorType m = c.input_type(0);
  m.dtype = DType::boolean;
  c.set_output(1, m);
}

}  // namespace

void register_elementwise_basic_ops(OpRegistry& r) {
  for (const char* op : kUnaryOps) r.add({op, infer_unary, {}, 1});
  r.add({"Identity", infer_unary, {}, 1}).view();
  r.add({"Gelu", infer_unary, {}, 20});  // opset 20: approximate = none (erf) | tanh
  r.add({"Clip", infer_unary, {}, 6});
  r.add({"Not", infer_unary, {}, 1});
  r.add({"IsNaN", infer_bool_unary, {}, 9});
  r.add({"IsInf", infer_bool_unary, {}, 10});
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "PRelu"})
    r.add({op, infer_binary_same, {}, 1}).needs(2);
  for (const char* op : {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"})
    r.add({op, infer_compare, {}, 1}).needs(2);
  for (const char* op : {"And", "Or", "Xor"}) r.add({op, infer_compare, {}, 1}).needs(2);
  for (const char* op : {"Min", "Max", "Mean", "Sum"})
    r.add({op, [](InferContext& c) { infer_broadcast(c, c.input_dtype(0)); }, {}, 1});
  r.add({"Where", infer_where, {}, 9}).needs(3);
  r.add({"Cast", infer_cast, {}, 6});
  r.add({"CastLike", infer_castlike, {}, 15}).needs(2);
  r.add({"Dropout", infer_dropout, {}, 1});
}

}  // namespace visionrt
