// Shape and type inference for reductions: Reduce*, ArgMax/ArgMin, TopK, and the losses
// SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss.
#include <algorithm>

#include "common/strings.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {

// Axes a Reduce* node reduces over (sorted, normalized); all axes for "reduce everything",
// empty for no-op; *known=false when the axes input is not constant.
std::vector<int64_t> reduce_axes(const Node& n, int64_t opset, int64_t rank,
                                 const Tensor* axes_input, bool has_axes_input, bool* known,
                                 bool* noop) {
  *known = true;
  *noop = false;
  bool from_input = n.op_type == "ReduceSum" ? opset >= 13 : opset >= 18;
  std::vector<int64_t> axes;
  if (from_input) {
    if (has_axes_input) {
      if (!axes_input) {
        *known = false;
        return {};
      }
      axes = axes_input->to_i64_vector();
    }
  } else {
    axes = n.attr_is("axes");
  }
  if (axes.empty()) {
    if (from_input && n.attr_i("noop_with_empty_axes", 0) != 0) {
      *noop = true;
      return {};
    }
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    return axes;
  }
  for (auto& a : axes) {
    if (a < -rank || a >= rank)
      throw ModelError(str_cat("node ", n.label(), ": axis ", a, " out of range"));
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

namespace {

void infer_reduce(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (!x.has_rank) return c.set_output_rank_unknown(0, x.dtype);
  int64_t r = static_cast<int64_t>(x.dims.size());
  bool known, noop;
  std::vector<int64_t> axes =
      reduce_axes(c.node(), c.opset(), r, c.input_value(1), c.has_input(1), &known, &noop);
  bool keep = c.node().attr_i("keepdims", 1) != 0;
  if (!known)
    return keep ? c.set_output(0, x.dtype, Shape(x.dims.size(), -1))
                : c.set_output_rank_unknown(0, x.dtype);
  if (noop) return c.set_output(0, x);
  Shape out;
  for (int64_t d = 0; d < r; ++d) {
    bool red = std::binary_search(axes.begin(), axes.end(), d);
    if (!red)
      out.push_back(x.dims[d]);
    else if (keep)
      out.push_back(1);
  }
  c.set_output(0, x.dtype, out);
}

void infer_arg(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (!x.has_rank) return c.set_output_rank_unknown(0, DType::i64);
  int64_t r = static_cast<int64_t>(x.dims.size());
  int64_t axis = c.axis(c.node().attr_i("axis", 0), r);
  Shape out = x.dims;
  if (c.node().attr_i("keepdims", 1) != 0)
    out[axis] = 1;
  else
    out.erase(out.begin() + axis);
  c.set_output(0, DType::i64, out);
}

void infer_topk(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (!x.has_rank) {
    c.set_output_rank_unknown(0, x.dtype);
    c.set_output_rank_unknown(1, DType::i64);
    return;
  }
  int64_t r = static_cast<int64_t>(x.dims.size());
  int64_t axis = c.axis(c.node().attr_i("axis", -1), r);
  int64_t k = -1;
  if (c.opset() < 10) {
    k = c.node().attr_i("k", -1);
  } else if (const Tensor* kv = c.input_value(1)) {
    if (kv->numel() != 1) c.fail("K must hold one value");
    k = kv->at_i64(0);
  }
  if (k < -1 || (c.opset() < 10 && k < 0)) c.fail("k must be non-negative");
  if (k >= 0 && x.dims[axis] >= 0 && k > x.dims[axis])
    c.fail(str_cat("k = ", k, " exceeds the axis size ", x.dims[axis]));
  Shape out = x.dims;
  out[axis] = k;
  c.set_output(0, x.dtype, out);
  c.set_output(1, DType::i64, out);
}

void infer_loss(InferContext& c) {
  const TensorType& x = c.input_type(0);
  std::string red = c.node().attr_s("reduction", "mean");
  if (red != "none" && red != "sum" && red != "mean") c.fail("reduction must be none, sum or mean");
  if (red != "none") {
    c.set_output(0, x.dtype, {});
  } else if (x.has_rank && x.dims.size() >= 2) {
    Shape s = x.dims;
    s.erase(s.begin() + 1);
    c.set_output(0, x.dtype, s);
  } else {
    c.set_output_rank_unknown(0, x.dtype);
  }
  c.set_output(1, x);  // log_prob (SoftmaxCrossEntropyLoss)
}

}  // namespace

void register_reduce_basic_ops(OpRegistry& r) {
  for (const char* op :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
    r.add({op, infer_reduce, {1}, 1});
  r.add({"ArgMax", infer_arg, {}, 1});
  r.add({"ArgMin", infer_arg, {}, 1});
  r.add({"TopK", infer_topk, {1}, 1});
  r.add({"SoftmaxCrossEntropyLoss", infer_loss, {}, 12}).needs(2);
  r.add({"NegativeLogLikelihoodLoss", infer_loss, {}, 12}).needs(2);
}

}  // namespace visionrt
