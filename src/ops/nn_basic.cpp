// Shape and type inference for nn ops: Conv/ConvTranspose/ConvInteger, pooling, normalization,
// Softmax family, MatMul/MatMulInteger/Gemm.
#include "common/strings.hpp"
#include "ops/nn_shapes.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {
namespace {

void infer_conv(InferContext& c, DType out_dtype) {
  const TensorType& x = c.input_type(0);
  const TensorType& w = c.input_type(1);
  if (!x.has_rank || !w.has_rank) return c.set_output_rank_unknown(0, out_dtype);
  if (x.dims.size() < 3 || w.dims.size() != x.dims.size())
    c.fail("X and W must have the same rank >= 3");
  int64_t group = c.node().attr_i("group", 1);
  if (group <= 0) c.fail("group must be positive");
  if (x.dims[1] >= 0 && w.dims[1] >= 0 && x.dims[1] != w.dims[1] * group)
    c.fail(str_cat("input has ", x.dims[1], " channels, weights expect ", w.dims[1] * group));
  if (w.dims[0] >= 0 && w.dims[0] % group != 0) c.fail("output channels not divisible by group");
  std::string err;
  WindowParams p;
  if (!conv_window(c.node(), x.dims, Shape(w.dims.begin() + 2, w.dims.end()), false, &p, &err))
    c.fail(err);
  Shape out = {x.dims[0], w.dims[0]};
  out.insert(out.end(), p.out.begin(), p.out.end());
  c.set_output(0, out_dtype, out);
}

// DeformConv (opset 19): Conv's geometry (2-D), plus offsets [N, 2*og*kh*kw, oH, oW] and the
// optional mask [N, og*kh*kw, oH, oW] for og = offset_group.
void infer_deform_conv(InferContext& c) {
  const TensorType& x = c.input_type(0);
  const TensorType& w = c.input_type(1);
  if (x.has_rank && x.dims.size() != 4) c.fail("only 2-D deformable convolution (X is N,C,H,W)");
  infer_conv(c, c.input_dtype(0));
  const TensorType& y = c.output_types()[0];
  if (!y.has_rank || !w.has_rank) return;
  const int64_t og = c.node().attr_i("offset_group", 1);
  if (og <= 0) c.fail("offset_group must be positive");
  if (x.dims[1] >= 0 && x.dims[1] % og != 0)
    c.fail(str_cat(x.dims[1], " input channels are not divisible by offset_group ", og));
  const int64_t taps = w.dims[2] >= 0 && w.dims[3] >= 0 ? w.dims[2] * w.dims[3] : -1;
  auto check = [&](size_t input, int64_t per_tap, const char* what) {
    if (!c.has_input(input)) return;
    const TensorType& t = c.input_type(input);
    if (!t.has_rank) return;
    const Shape want = {y.dims[0], taps < 0 ? -1 : og * per_tap * taps, y.dims[2], y.dims[3]};
    bool ok = t.dims.size() == 4;
    for (size_t d = 0; ok && d < 4; ++d) ok = t.dims[d] < 0 || want[d] < 0 || t.dims[d] == want[d];
    if (!ok)
      c.fail(str_cat(what, " has shape ", shape_str(t.dims), ", expected ", shape_str(want)));
  };
  check(2, 2, "offset");
  check(4, 1, "mask");
}

void infer_conv_transpose(InferContext& c) {
  const TensorType& x = c.input_type(0);
  const TensorType& w = c.input_type(1);
  if (!x.has_rank || !w.has_rank) return c.set_output_rank_unknown(0, x.dtype);
  if (x.dims.size() < 3 || w.dims.size() != x.dims.size())
    c.fail("X and W must have the same rank >= 3");
  int64_t group = c.node().attr_i("group", 1);
  if (group <= 0) c.fail("group must be positive");
  std::string err;
  WindowParams p;
  if (!conv_transpose_window(c.node(), x.dims, Shape(w.dims.begin() + 2, w.dims.end()), &p, &err))
    c.fail(err);
  Shape out = {x.dims[0], w.dims[1] < 0 ? -1 : w.dims[1] * group};
  out.insert(out.end(), p.out.begin(), p.out.end());
  c.set_output(0, x.dtype, out);
}

void infer_pool(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (!x.has_rank) {
    c.set_output_rank_unknown(0, x.dtype);
    c.set_output_rank_unknown(1, DType::i64);
    return;
  }
  if (x.dims.size() < 3) c.fail("input must have rank >= 3");
  std::vector<int64_t> k = c.node().attr_is("kernel_shape");
  if (k.size() != x.dims.size() - 2)
    c.fail("kernel_shape must have one value per spatial dimension");
  std::string err;
  WindowParams p;
  if (!conv_window(c.node(), x.dims, k, true, &p, &err)) c.fail(err);
  Shape out = {x.dims[0], x.dims[1]};
  out.insert(out.end(), p.out.begin(), p.out.end());
  c.set_output(0, x.dtype, out);
  c.set_output(1, DType::i64, out);
}

void infer_global_pool(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (!x.has_rank) return c.set_output_rank_unknown(0, x.dtype);
  if (x.dims.size() < 2) c.fail("input must have rank >= 2");
  Shape out = x.dims;
  for (size_t d = 2; d < out.size(); ++d) out[d] = 1;
  c.set_output(0, x.dtype, out);
}

void infer_layer_norm(InferContext& c) {
  const TensorType& x = c.input_type(0);
  c.set_output(0, x);
  if (!x.has_rank) return;
  int64_t r = static_cast<int64_t>(x.dims.size());
  int64_t axis = c.axis(c.node().attr_i("axis", -1), r);
  Shape stat = x.dims;
  for (int64_t d = axis; d < r; ++d) stat[d] = 1;
  DType st =
      dtype_is_float(x.dtype) && c.node().attr_i("stash_type", 1) == 1 ? DType::f32 : x.dtype;
  c.set_output(1, st, stat);
  c.set_output(2, st, stat);
}

void infer_matmul(InferContext& c, DType out_dtype) {
  const TensorType& a = c.input_type(0);
  const TensorType& b = c.input_type(1);
  if (!a.has_rank || !b.has_rank) return c.set_output_rank_unknown(0, out_dtype);
  std::string err;
  Shape out;
  if (!matmul_shape(a.dims, b.dims, &out, &err)) c.fail(err);
  c.set_output(0, out_dtype, out);
}

void infer_gemm(InferContext& c) {
  const TensorType& a = c.input_type(0);
  const TensorType& b = c.input_type(1);
  if (!a.has_rank || !b.has_rank) return c.set_output(0, a.dtype, {-1, -1});
  if (a.dims.size() != 2 || b.dims.size() != 2) c.fail("A and B must be 2-D");
  bool ta = c.node().attr_i("transA", 0) != 0, tb = c.node().attr_i("transB", 0) != 0;
  int64_t m = ta ? a.dims[1] : a.dims[0], ka = ta ? a.dims[0] : a.dims[1];
  int64_t kb = tb ? b.dims[1] : b.dims[0], n = tb ? b.dims[0] : b.dims[1];
  if (ka >= 0 && kb >= 0 && ka != kb) c.fail(str_cat("inner dimensions differ: ", ka, " vs ", kb));
  c.set_output(0, a.dtype, {m, n});
}

}  // namespace

void register_nn_basic_ops(OpRegistry& r) {
  r.add({"Conv", [](InferContext& c) { infer_conv(c, c.input_dtype(0)); }, {}, 1}).needs(2);
  r.add({"ConvInteger", [](InferContext& c) { infer_conv(c, DType::i32); }, {}, 10}).needs(2);
  r.add({"ConvTranspose", infer_conv_transpose, {}, 1}).needs(2);
  r.add({"DeformConv", infer_deform_conv, {}, 19}).needs(3);
  // mmcv's deformable convolutions lowered at load (passes/lower_custom_ops): any opset.
  r.add({"visionrt.DeformConv", infer_deform_conv, {}, 1}).needs(3);
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) r.add({op, infer_pool, {}, 1});
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
    r.add({op, infer_global_pool, {}, 1});
  auto same = [](InferContext& c) { c.set_output(0, c.input_type(0)); };
  // BatchNormalization before 6 had consumed_inputs semantics; 6 is upgraded at load
  // (passes/upgrade_legacy.cpp).
  r.add({"BatchNormalization", same, {}, 6}).needs(5);
  r.add({"InstanceNormalization", same, {}, 1}).needs(3);
  for (const char* op : {"MeanVarianceNormalization", "LRN", "Softmax", "LogSoftmax", "Hardmax"})
    r.add({op, same, {}, 1});
  r.add({"LayerNormalization", infer_layer_norm, {}, 17}).needs(2);
  r.add({"MatMul", [](InferContext& c) { infer_matmul(c, c.input_dtype(0)); }, {}, 1}).needs(2);
  r.add({"MatMulInteger", [](InferContext& c) { infer_matmul(c, DType::i32); }, {}, 10}).needs(2);
  r.add({"Gemm", infer_gemm, {}, 7}).needs(2);
}

}  // namespace visionrt
