// Reading a Reduce* node's axes for the kernels (oneDNN's and our own).
#include "kernels/reduce_axes.hpp"

namespace visionrt {

// The reduced axes of the node (attribute before opset 18, for ReduceSum before 13; input 1
// after), normalized; empty `axes` with noop_with_empty_axes 0 means all of them.
bool reduced_axes(const KernelQuery& q, std::vector<char>* red, std::string* why) {
  const Node& n = *q.node;
  const size_t r = q.input_types[0].dims.size();
  std::vector<int64_t> axes = n.attr_is("axes");
  if (q.input_types.size() > 1 && q.input_types[1].dtype != DType::undefined) {
    const Tensor* t = q.input_constants[1];
    if (!t || t->dtype() != DType::i64) return *why = "axes are not a constant i64 tensor", false;
    axes.assign(t->data<int64_t>(), t->data<int64_t>() + t->numel());
  }
  red->assign(r, 0);
  if (axes.empty()) {
    if (n.attr_i("noop_with_empty_axes", 0)) return *why = "no-op reduction", false;
    red->assign(r, 1);
    return true;
  }
  for (int64_t a : axes) {
    if (a < 0) a += static_cast<int64_t>(r);
    if (a < 0 || a >= static_cast<int64_t>(r)) return *why = "axis out of range", false;
    (*red)[a] = 1;
  }
  return true;
}

}  // namespace visionrt
