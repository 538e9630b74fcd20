// Shape and type inference for data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze,
// Transpose, Concat, Split, Slice, Gather*, Scatter*, Expand, Tile, Pad, Shape, Size,
// ConstantOfShape, Range, DepthToSpace, SpaceToDepth, Trilu, OneHot, CumSum, NonZero, Compress,
// EyeLike, ReverseSequence. Inputs whose values decide shapes are listed in value_inputs.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/checked_math.hpp"
#include "common/strings.hpp"
#include "ops/op_registry.hpp"
#include "ops/tensor_shapes.hpp"

namespace visionrt {

DType dtype_from_onnx_enum(int64_t t);  // ops/misc.cpp

namespace {

const Shape* known_shape(InferContext& c, size_t i) {
  const TensorType& t = c.input_type(i);
  return t.has_rank ? &t.dims : nullptr;
}

void infer_reshape(InferContext& c) {
  DType dt = c.input_dtype(0);
  const Tensor* target = c.input_value(1);
  if (!target) {
    const TensorType& st = c.input_type(1);
    if (st.has_rank && st.dims.size() == 1 && st.dims[0] >= 0)
      return c.set_output(0, dt, Shape(st.dims[0], -1));
    return c.set_output_rank_unknown(0, dt);
  }
  bool allowzero = c.opset() >= 14 && c.node().attr_i("allowzero", 0) != 0;
  std::string err;
  Shape out;
  if (!reshape_target(known_shape(c, 0), target->to_i64_vector(), allowzero, &out, &err))
    c.fail(err);
  c.set_output(0, dt, out);
}

void infer_flatten(InferContext& c) {
  const Shape* s = known_shape(c, 0);
  if (!s) return c.set_output(0, c.input_dtype(0), {-1, -1});
  int64_t r = static_cast<int64_t>(s->size());
  int64_t axis = c.node().attr_i("axis", 1);
  if (axis < -r || axis > r) c.fail(str_cat("axis ", axis, " out of range"));
  if (axis < 0) axis += r;
  int64_t a = 1, b = 1;
  for (int64_t d = 0; d < r; ++d) {
    int64_t& p = d < axis ? a : b;
    p = dim_mul(p, (*s)[d]);
  }
  c.set_output(0, c.input_dtype(0), {a, b});
}

std::vector<int64_t> axes_of(InferContext& c, size_t input, int64_t attr_until_opset, bool* known) {
  *known = true;
  if (c.opset() < attr_until_opset) return c.node().attr_is("axes");
  if (!c.has_input(input)) return {};
  const Tensor* v = c.input_value(input);
  if (!v) {
    *known = false;
    return {};
  }
  return v->to_i64_vector();
}

void infer_squeeze(InferContext& c) {
  bool known;
  std::vector<int64_t> axes = axes_of(c, 1, 13, &known);
  const Shape* s = known_shape(c, 0);
  if (!s || !known) return c.set_output_rank_unknown(0, c.input_dtype(0));
  int64_t r = static_cast<int64_t>(s->size());
  std::vector<bool> drop(s->size(), false);
  if (axes.empty()) {
    for (int64_t d = 0; d < r; ++d) {
      if ((*s)[d] < 0) return c.set_output_rank_unknown(0, c.input_dtype(0));
      drop[d] = (*s)[d] == 1;
    }
  }
  for (int64_t a : axes) {
    a = c.axis(a, r);
    if ((*s)[a] >= 0 && (*s)[a] != 1)
      c.fail(str_cat("cannot squeeze axis ", a, " of size ", (*s)[a]));
    drop[a] = true;
  }
  Shape out;
  for (int64_t d = 0; d < r; ++d)
    if (!drop[d]) out.push_back((*s)[d]);
  c.set_output(0, c.input_dtype(0), out);
}

void infer_unsqueeze(InferContext& c) {
  bool known;
  std::vector<int64_t> axes = axes_of(c, 1, 13, &known);
  const Shape* s = known_shape(c, 0);
  if (!s || !known) return c.set_output_rank_unknown(0, c.input_dtype(0));
  int64_t r = static_cast<int64_t>(s->size() + axes.size());
  std::vector<bool> ins(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    a = c.axis(a, r);
    if (ins[a]) c.fail("duplicate axis");
    ins[a] = true;
  }
  Shape out;
  size_t k = 0;
  for (int64_t d = 0; d < r; ++d) out.push_back(ins[d] ? 1 : (*s)[k++]);
  c.set_output(0, c.input_dtype(0), out);
}

void infer_transpose(InferContext& c) {
  const Shape* s = known_shape(c, 0);
  if (!s) return c.set_output_rank_unknown(0, c.input_dtype(0));
  std::vector<int64_t> perm = c.node().attr_is("perm");
  size_t r = s->size();
  if (perm.empty())
    for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
  if (perm.size() != r) c.fail("perm has the wrong length");
  std::vector<bool> seen(r, false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(r) || seen[p]) c.fail("perm is not a permutation");
    seen[p] = true;
    out.push_back((*s)[p]);
  }
  c.set_output(0, c.input_dtype(0), out);
}

void infer_concat(InferContext& c) {
  DType dt = c.input_dtype(0);
  const Shape* first = nullptr;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    if (c.input_dtype(i) != dt) c.fail("inputs have different types");
    if (!first && c.input_type(i).has_rank) first = &c.input_type(i).dims;
  }
  if (!first) return c.set_output_rank_unknown(0, dt);
  int64_t r = static_cast<int64_t>(first->size());
  if (!c.node().has_attr("axis")) c.fail("axis is required");
  int64_t axis = c.axis(c.node().attr_i("axis", 0), r);
  Shape out = *first;
  out[axis] = 0;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const TensorType& t = c.input_type(i);
    if (!t.has_rank) {
      out[axis] = -1;
      continue;
    }
    if (static_cast<int64_t>(t.dims.size()) != r) c.fail("inputs have different ranks");
    for (int64_t d = 0; d < r; ++d) {
      if (d == axis) {
        out[d] = (out[d] < 0 || t.dims[d] < 0) ? -1 : out[d] + t.dims[d];
      } else if (out[d] < 0) {
        out[d] = t.dims[d];
      } else if (t.dims[d] >= 0 && t.dims[d] != out[d]) {
        c.fail(str_cat("dimension ", d, " differs between inputs: ", out[d], " vs ", t.dims[d]));
      }
    }
  }
  c.set_output(0, dt, out);
}

void infer_split(InferContext& c) {
  DType dt = c.input_dtype(0);
  const Shape* s = known_shape(c, 0);
  size_t n = c.num_outputs();
  if (!s) {
    for (size_t o = 0; o < n; ++o) c.set_output_rank_unknown(o, dt);
    return;
  }
  int64_t axis = c.axis(c.node().attr_i("axis", 0), static_cast<int64_t>(s->size()));
  std::vector<int64_t> sizes;
  bool known = true;
  if (c.opset() < 13) {
    sizes = c.node().attr_is("split");
  } else if (c.has_input(1)) {
    const Tensor* v = c.input_value(1);
    if (v)
      sizes = v->to_i64_vector();
    else
      known = false;
  }
  int64_t dim = (*s)[axis];
  if (known && sizes.empty() && dim >= 0) {
    int64_t parts = c.opset() >= 18 && c.node().has_attr("num_outputs")
                        ? c.node().attr_i("num_outputs", 1)
                        : static_cast<int64_t>(n);
    if (parts <= 0) c.fail("num_outputs must be positive");
    int64_t chunk = (dim + parts - 1) / parts;
    if (c.opset() < 18 && dim % parts != 0)
      c.fail(str_cat("dimension ", dim, " does not split into ", parts, " equal parts"));
    for (int64_t p = 0; p < parts; ++p)
      sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - p * chunk)));
  }
  if (known && !sizes.empty()) {
    if (sizes.size() != n)
      c.fail(str_cat("split has ", sizes.size(), " sizes for ", n, " outputs"));
    int64_t total = 0;
    for (int64_t v : sizes) {
      if (v < 0) c.fail("negative split size");
      total = dim_add(total, v);
    }
    if (dim >= 0 && total != dim)
      c.fail(str_cat("split sizes sum to ", total, ", dimension is ", dim));
  }
  for (size_t o = 0; o < n; ++o) {
    Shape out = *s;
    out[axis] = known && !sizes.empty() ? sizes[o] : -1;
    c.set_output(o, dt, out);
  }
}

void infer_slice(InferContext& c) {
  DType dt = c.input_dtype(0);
  const Shape* s = known_shape(c, 0);
  if (!s) return c.set_output_rank_unknown(0, dt);
  SliceParams p;
  std::string err;
  const bool known = slice_params(
      c.node(), c.opset(), [&c](size_t i) { return c.has_input(i) ? c.input_value(i) : nullptr; },
      &p);
  if (!known) return c.set_output(0, dt, Shape(s->size(), -1));
  Shape out;
  if (!slice_plan(*s, &p, &out, &err)) c.fail(err);
  c.set_output(0, dt, out);
}

void infer_gather(InferContext& c) {
  const Shape* d = known_shape(c, 0);
  const Shape* i = known_shape(c, 1);
  if (!d || !i) return c.set_output_rank_unknown(0, c.input_dtype(0));
  int64_t axis = c.axis(c.node().attr_i("axis", 0), static_cast<int64_t>(d->size()));
  Shape out(d->begin(), d->begin() + axis);
  out.insert(out.end(), i->begin(), i->end());
  out.insert(out.end(), d->begin() + axis + 1, d->end());
  c.set_output(0, c.input_dtype(0), out);
}

void infer_gather_elements(InferContext& c) {
  TensorType t = c.input_type(1);
  t.dtype = c.input_dtype(0);
  c.set_output(0, t);
}

void infer_gathernd(InferContext& c) {
  const Shape* d = known_shape(c, 0);
  const Shape* i = known_shape(c, 1);
  int64_t b = c.node().attr_i("batch_dims", 0);
  if (!d || !i || i->empty() || i->back() < 0)
    return c.set_output_rank_unknown(0, c.input_dtype(0));
  int64_t k = i->back();
  if (b + k > static_cast<int64_t>(d->size())) c.fail("indices' last dimension is too large");
  Shape out(i->begin(), i->end() - 1);
  out.insert(out.end(), d->begin() + b + k, d->end());
  c.set_output(0, c.input_dtype(0), out);
}

void infer_expand(InferContext& c) {
  const Tensor* v = c.input_value(1);
  const Shape* s = known_shape(c, 0);
  if (!v || !s) return c.set_output_rank_unknown(0, c.input_dtype(0));
  Shape out;
  if (!broadcast_shapes(*s, v->to_i64_vector(), &out))
    c.fail("shape does not broadcast with the input");
  c.set_output(0, c.input_dtype(0), out);
}

void infer_tile(InferContext& c) {
  const Tensor* v = c.input_value(1);
  const Shape* s = known_shape(c, 0);
  if (!s) return c.set_output_rank_unknown(0, c.input_dtype(0));
  if (!v) return c.set_output(0, c.input_dtype(0), Shape(s->size(), -1));
  std::vector<int64_t> reps = v->to_i64_vector();
  if (reps.size() != s->size()) c.fail("repeats must have one value per dimension");
  Shape out = *s;
  for (size_t d = 0; d < out.size(); ++d) {
    if (reps[d] < 0) c.fail("negative repeat");
    out[d] = dim_mul(out[d], reps[d]);
  }
  c.set_output(0, c.input_dtype(0), out);
}

void infer_pad(InferContext& c) {
  const Shape* s = known_shape(c, 0);
  if (!s) return c.set_output_rank_unknown(0, c.input_dtype(0));
  std::vector<int64_t> pads;
  if (c.opset() < 11) {
    pads = c.node().attr_is("pads");
  } else {
    const Tensor* v = c.input_value(1);
    if (!v || (c.has_input(3) && !c.input_value(3)))
      return c.set_output(0, c.input_dtype(0), Shape(s->size(), -1));
    pads = v->to_i64_vector();
  }
  std::vector<int64_t> axes;
  if (c.opset() >= 18 && c.has_input(3)) axes = c.input_value(3)->to_i64_vector();
  std::string err;
  std::vector<int64_t> full;
  if (!pad_plan(s->size(), pads, axes, &full, &err)) c.fail(err);
  Shape out = *s;
  size_t r = s->size();
  for (size_t d = 0; d < r; ++d) {
    if (out[d] < 0) continue;
    out[d] = dim_add(dim_add(out[d], full[d]), full[d + r]);
    if (out[d] < 0) c.fail("padding makes a dimension negative");
  }
  c.set_output(0, c.input_dtype(0), out);
}

void infer_shape(InferContext& c) {
  const Shape* s = known_shape(c, 0);
  if (!s) return c.set_output(0, DType::i64, {-1});
  int64_t start, end;
  shape_range(c.node(), c.opset(), static_cast<int64_t>(s->size()), &start, &end);
  c.set_output(0, DType::i64, {end - start});
}

void infer_constant_of_shape(InferContext& c) {
  const Tensor* value = c.node().attr_t("value");
  DType dt = value ? value->dtype() : DType::f32;
  const Tensor* v = c.input_value(0);
  if (!v) {
    const TensorType& t = c.input_type(0);
    if (t.has_rank && t.dims.size() == 1 && t.dims[0] >= 0)
      return c.set_output(0, dt, Shape(t.dims[0], -1));
    return c.set_output_rank_unknown(0, dt);
  }
  Shape out = v->to_i64_vector();
  for (int64_t d : out)
    if (d < 0) c.fail("negative dimension");
  c.set_output(0, dt, out);
}

void infer_range(InferContext& c) {
  DType dt = c.input_dtype(0);
  const Tensor *s = c.input_value(0), *l = c.input_value(1), *d = c.input_value(2);
  if (!s || !l || !d) return c.set_output(0, dt, {-1});
  double start = s->at_f64(0), limit = l->at_f64(0), delta = d->at_f64(0);
  if (delta == 0) c.fail("delta is zero");
  double n = std::ceil((limit - start) / delta);
  if (!(n < 1e12)) c.fail("range is too large");
  c.set_output(0, dt, {std::max<int64_t>(0, static_cast<int64_t>(n))});
}

void infer_depth_space(InferContext& c, bool to_space) {
  const Shape* s = known_shape(c, 0);
  if (!s) return c.set_output(0, c.input_dtype(0), {-1, -1, -1, -1});
  if (s->size() != 4) c.fail("input must be 4-D");
  int64_t b = c.node().attr_i("blocksize", 0);
  if (b <= 0) c.fail("blocksize must be positive");
  Shape out = *s;
  auto mul = [](int64_t v, int64_t k) { return dim_mul(v, k); };
  if (to_space) {
    int64_t bb = dim_mul(b, b);
    if ((*s)[1] >= 0 && (*s)[1] % bb != 0) c.fail("channels not divisible by blocksize^2");
    out[1] = (*s)[1] < 0 ? -1 : (*s)[1] / bb;
    out[2] = mul((*s)[2], b);
    out[3] = mul((*s)[3], b);
  } else {
    if (((*s)[2] >= 0 && (*s)[2] % b) || ((*s)[3] >= 0 && (*s)[3] % b))
      c.fail("spatial dims not divisible by blocksize");
    out[1] = mul((*s)[1], dim_mul(b, b));
    out[2] = (*s)[2] < 0 ? -1 : (*s)[2] / b;
    out[3] = (*s)[3] < 0 ? -1 : (*s)[3] / b;
  }
  c.set_output(0, c.input_dtype(0), out);
}

void infer_onehot(InferContext& c) {
  const Shape* s = known_shape(c, 0);
  DType dt = c.input_dtype(2);
  const Tensor* depth = c.input_value(1);
  if (!s) return c.set_output_rank_unknown(0, dt);
  int64_t r = static_cast<int64_t>(s->size()) + 1;
  int64_t axis = c.axis(c.node().attr_i("axis", -1), r);
  Shape out = *s;
  int64_t dv = -1;
  if (depth) {
    if (depth->numel() != 1) c.fail("depth must be a scalar");
    dv = static_cast<int64_t>(depth->at_f64(0));
    if (dv <= 0) c.fail("depth must be positive");
  }
  out.insert(out.begin() + axis, dv);
  c.set_output(0, dt, out);
}

void infer_nonzero(InferContext& c) {
  const Shape* s = known_shape(c, 0);
  c.set_output(0, DType::i64, {s ? static_cast<int64_t>(s->size()) : -1, -1});
}

void infer_compress(InferContext& c) {
  const Shape* s = known_shape(c, 0);
  if (!s) return c.set_output_rank_unknown(0, c.input_dtype(0));
  if (!c.node().has_attr("axis")) return c.set_output(0, c.input_dtype(0), {-1});
  int64_t axis = c.axis(c.node().attr_i("axis", 0), static_cast<int64_t>(s->size()));
  Shape out = *s;
  out[axis] = -1;
  c.set_output(0, c.input_dtype(0), out);
}

void infer_eyelike(InferContext& c) {
  TensorType t = c.input_type(0);
  if (c.node().has_attr("dtype")) {
    t.dtype = dtype_from_onnx_enum(c.node().attr_i("dtype", 1));
    if (t.dtype == DType::undefined) c.fail("unsupported dtype");
  }
  if (t.has_rank && t.dims.size() != 2) c.fail("input must be 2-D");
  c.set_output(0, t);
}

void infer_scatter(InferContext& c) {
  if (c.input_dtype(0) != c.input_dtype(2)) c.fail("data and updates types differ");
  infer_same_as_input(c, 0);
}

}  // namespace

void register_tensor_basic_ops(OpRegistry& r) {
  r.add({"Reshape", infer_reshape, {1}, 5}).needs(2).view();
  r.add({"Flatten", infer_flatten, {}, 1}).view();
  r.add({"Squeeze", infer_squeeze, {1}, 1}).view();
  r.add({"Unsqueeze", infer_unsqueeze, {1}, 1}).view();
  r.add({"Transpose", infer_transpose, {}, 1}).moves_elements();
  r.add({"Concat", infer_concat, {}, 4});
  r.add({"Split", infer_split, {1}, 2});
  r.add({"Slice", infer_slice, {1, 2, 3, 4}, 1});
  r.add({"Gather", infer_gather, {}, 1}).needs(2);
  r.add({"GatherElements", infer_gather_elements, {}, 11}).needs(2);
  r.add({"GatherND", infer_gathernd, {}, 11}).needs(2);
  r.add({"ScatterND", [](InferContext& c) { infer_same_as_input(c, 0); }, {}, 11}).needs(3);
  r.add({"ScatterElements", infer_scatter, {}, 11}).needs(3);
  r.add({"Scatter", infer_scatter, {}, 9}).needs(3);
  r.add({"Expand", infer_expand, {1}, 8}).needs(2);
  r.add({"Tile", infer_tile, {1}, 6}).needs(2);
  r.add({"Pad", infer_pad, {1, 3}, 2});
  r.add({"Shape", infer_shape, {}, 1});
  r.add({"Size", [](InferContext& c) { c.set_output(0, DType::i64, {}); }, {}, 1});
  r.add({"ConstantOfShape", infer_constant_of_shape, {0}, 9});
  r.add({"Range", infer_range, {0, 1, 2}, 11}).needs(3);
  r.add({"DepthToSpace", [](InferContext& c) { infer_depth_space(c, true); }, {}, 1}).moves_elements();
  r.add({"SpaceToDepth", [](InferContext& c) { infer_depth_space(c, false); }, {}, 1}).moves_elements();
  r.add({"Trilu", [](InferContext& c) { infer_same_as_input(c, 0); }, {}, 14});
  r.add({"OneHot", infer_onehot, {1}, 9}).needs(3);
  r.add({"CumSum", [](InferContext& c) { infer_same_as_input(c, 0); }, {}, 11}).needs(2);
  r.add({"NonZero", infer_nonzero, {}, 9});
  r.add({"Compress", infer_compress, {}, 9}).needs(2);
  r.add({"EyeLike", infer_eyelike, {}, 9});
  r.add({"ReverseSequence", [](InferContext& c) { infer_same_as_input(c, 0); }, {}, 10}).needs(2);
}

}  // namespace visionrt
