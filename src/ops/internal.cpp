// visionrt's internal ops, created by graph passes and never accepted from a model file (the
// "visionrt." prefix is reserved; compile rejects models that use it):
//   visionrt.FusedConv(X, W, [B], [Sum]) : Conv with its attributes, then the post-ops a fusion
//     pass folded into it: `activation` (relu, leaky_relu, clip, sigmoid, swish, tanh,
//     hard_swish, elu; parameters `alpha`, `beta`) and a residual `Sum` input added to the
//     result, before the activation when `sum_first` is 1, after it otherwise.
//   visionrt.Activation(X) : one element-wise activation of the table in kernels/activation.hpp
//     (`activation`, `alpha`, `beta`), made from decomposed chains (GELU's Erf form, hard-swish
//     as Add/Clip/Div/Mul, x*Sigmoid(x) outside a conv, ...) by fuse_activation_patterns.
//   visionrt.ScaleShift(X, scale, shift) : Y = act(X * scale[c] + shift[c]) per channel (axis 1)
//     with the `activation`/`alpha`/`beta` of FusedConv: a standalone BatchNormalization or a
//     per-channel affine chain that had no convolution to fold into (fuse_scale_shift).
//   visionrt.FusedMatMul(A, B, [bias]) : MatMul, plus a bias [N] added to every row and the
//     `activation`/`alpha`/`beta` of FusedConv applied after it (fuse_matmul).
//   visionrt.Reorder(X) : the same tensor in another memory layout (plain, blocked nChw16c/8c,
//     channels-last nhwc) and/or type (f32 <-> bf16); the layouts are the graph values' own
//     (Value::layout_block).
//   visionrt.QConv : the quantized convolution fuse_qdq makes of a QDQ convolution, and
//     visionrt.QConcat, its Concat -> QuantizeLinear; defined with the quantization ops in
//     ops/quant_linear.cpp.
//   visionrt.FlatConcat(X1, ..., Xn) : a plain [N, C, L] output (attribute `shape`) where input
//     k, [N, C_k, H, W] in any layout (or [N, C_k, L_k]), fills channels
//     channel_offsets[k] + [0, C_k) at positions position_offsets[k] + [0, H*W), as
//     Concat(axis 2) of Reshape(N, C, -1) of per-level Concat(axis 1) computes it (anchor-free
//     detection heads: YOLOv8's box and class maps of three strides into [1, 144, 8400]). Made
//     by fuse_flat_concat; windows must not overlap and must cover the output.
//   visionrt.SoftmaxExpectation(X, W, [B]) : X [N, C, H, W] -> [N, 1, H, W], per position
//     sum_c W[0, c, 0, 0] * softmax_c(X) + B[0]: Softmax(axis 1) then a 1x1 convolution to one
//     channel (DFL box decoding), made by fuse_softmax_expectation.
//   visionrt.ChannelsLast(X) : X [N,C,H,W] (any layout) with its channels moved last, as a
//     Reorder to plain, a Reshape splitting C into `groups` x C/groups and a Transpose would
//     produce: groups 0 gives [N,H,W,C] (Transpose 0,2,3,1), groups A gives [N,A,H,W,C/A]
//     (Reshape to [N,A,C/A,H,W], Transpose 0,1,3,4,2: YOLOv5's detection heads).
#include "ops/op_registry.hpp"

namespace visionrt {

void register_internal_ops(OpRegistry& r) {
  r.add({"visionrt.FusedConv",
         [](InferContext& c) {
           const OpDef* conv = OpRegistry::instance().find("", "Conv");
           conv->infer(c);
         },
         {},
         1})
      .needs(2);
  r.add({"visionrt.Reorder", [](InferContext& c) { infer_same_as_input(c); }, {}, 1});
  r.add({"visionrt.FusedMatMul",
         [](InferContext& c) {
           const OpDef* mm = OpRegistry::instance().find("", "MatMul");
           mm->infer(c);
         },
         {},
         1});
  r.add({"visionrt.Activation", [](InferContext& c) { infer_same_as_input(c); }, {}, 1});
  r.add({"visionrt.ScaleShift",
         [](InferContext& c) {
           const TensorType& x = c.input_type(0);
           if (x.has_rank && x.dims.size() < 2) c.fail("input must have a channel axis");
           for (size_t k = 1; k < 3; ++k) {
             const TensorType& t = c.input_type(k);
             if (t.has_rank && (t.dims.size() != 1 || (x.has_rank && x.dims[1] >= 0 &&
                                                       t.dims[0] >= 0 && t.dims[0] != x.dims[1])))
               c.fail("scale and shift must be 1-D with one value per channel");
           }
           infer_same_as_input(c);
         },
         {},
         1});
  r.add({"visionrt.FlatConcat",
         [](InferContext& c) {
           const std::vector<int64_t> shape = c.node().attr_is("shape");
           const std::vector<int64_t> co = c.node().attr_is("channel_offsets");
           const std::vector<int64_t> po = c.node().attr_is("position_offsets");
           const size_t n = c.node().inputs.size();
           if (shape.size() != 3 || co.size() != n || po.size() != n || n == 0)
             c.fail("needs a 3-D shape and one channel and position offset per input");
           int64_t covered = 0;
           for (size_t k = 0; k < n; ++k) {
             const TensorType& x = c.input_type(k);
             if (!x.fully_known() || (x.dims.size() != 4 && x.dims.size() != 3) ||
                 x.dims[0] != shape[0])
               c.fail("inputs must be static [N,C,H,W] or [N,C,L] tensors of the output's N");
             const int64_t len = x.dims.size() == 4 ? x.dims[2] * x.dims[3] : x.dims[2];
             if (co[k] < 0 || po[k] < 0 || co[k] + x.dims[1] > shape[1] || po[k] + len > shape[2])
               c.fail("an input's window lies outside the output");
             covered += x.dims[1] * len;
           }
           if (covered != shape[1] * shape[2]) c.fail("the inputs do not cover the output");
           c.set_output(0, DType::f32, {shape[0], shape[1], shape[2]});
         },
         {},
         1});
  r.add({"visionrt.SoftmaxExpectation",
         [](InferContext& c) {
           const TensorType& x = c.input_type(0);
           if (!x.has_rank || x.dims.size() != 4) c.fail("input must be 4-D");
           const TensorType& w = c.input_type(1);
           if (w.has_rank && (w.dims.size() != 4 || w.dims[0] != 1 ||
                              (x.dims[1] >= 0 && w.dims[1] >= 0 && w.dims[1] != x.dims[1])))
             c.fail("weights must be [1, C, 1, 1]");
           c.set_output(0, x.dtype, {x.dims[0], 1, x.dims[2], x.dims[3]});
         },
         {},
         1})
      .needs(2);
  r.add({"visionrt.ChannelsLast",
         [](InferContext& c) {
           const TensorType& x = c.input_type(0);
           if (!x.has_rank || x.dims.size() != 4) c.fail("input must be 4-D");
           const int64_t groups = c.node().attr_i("groups", 0);
           const Shape& d = x.dims;
           if (groups == 0) return c.set_output(0, x.dtype, {d[0], d[2], d[3], d[1]});
           if (groups < 0 || (d[1] >= 0 && d[1] % groups != 0))
             c.fail("groups must divide the channels");
           c.set_output(0, x.dtype, {d[0], groups, d[2], d[3], d[1] < 0 ? -1 : d[1] / groups});
         },
         {},
         1});
}

}  // namespace visionrt
