// Nodes that compute their input unchanged disappear before layout selection, their readers
// reading the input itself: even a view (Identity) or a copy between two blocked convolutions
// cuts the blocked layout in two. They are
//   - Identity;
//   - Dropout at inference (no training_mode, or a constant false one), and in training mode
//     with a constant ratio of 0 (torchvision's Swin exports attention dropout that way), when its
//     mask output is unused;
//   - Pad whose pads are all zero (PyTorch writes one before every AvgPool2d it exports at
//     opset >= 11);
//   - Cast to the dtype the input already has.
// A no-op whose output is a graph output stays, as an Identity (an output keeps its own name).
#include "passes/pad_params.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

// Value of a constant scalar input, or `fallback` when the input is absent; false when it is
// present but not a constant scalar.
bool scalar_input(const Graph& g, const Node& n, size_t i, double fallback, double* v) {
  if (n.inputs.size() <= i || n.inputs[i] < 0) return *v = fallback, true;
  const Value& val = g.values[n.inputs[i]];
  if (!val.constant || val.constant->numel() != 1) return false;
  *v = val.constant->at_f64(0);
  return true;
}

bool output_unused(const Uses& u, const Node& n, size_t o) {
  return n.outputs.size() <= o || n.outputs[o] < 0 ||
         (u.readers[n.outputs[o]].empty() && !u.graph_output[n.outputs[o]]);
}

bool is_noop(const Graph& g, const Uses& u, const Node& n) {
  if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0) return false;
  const TensorType& x = g.values[n.inputs[0]].type;
  const TensorType& y = g.values[n.outputs[0]].type;
  if (x.dtype != y.dtype) return false;
  if (n.op_type == "Identity") return true;
  if (n.op_type == "Dropout") {
    if (!output_unused(u, n, 1)) return false;
    if (g.opset() < 7) return n.attr_i("is_test", 0) != 0 || n.attr_f("ratio", 0.5f) == 0.0f;
    if (g.opset() < 12) return true;  // opset 7-11: inference only
    double ratio, training;
    if (!scalar_input(g, n, 2, 0, &training)) return false;
    if (training == 0) return true;
    return scalar_input(g, n, 1, 0.5, &ratio) && ratio == 0;
  }
  if (n.op_type == "Cast") return x.dtype != DType::undefined;  // y's dtype is `to`
  if (n.op_type == "Pad") {
    std::vector<int64_t> pads;
    float value;
    if (!constant_pads(g, n, &pads, &value)) return false;
    for (int64_t p : pads)
      if (p != 0) return false;
    return true;
  }
  return false;
}

}  // namespace

size_t remove_noops(Graph& g) {
  return rewrite_to_fixpoint(
      g, [&](size_t ni, const Uses& u, std::vector<char>& dead, std::vector<char>& touched) {
        Node& n = g.nodes[ni];
        if (!is_noop(g, u, n)) return false;
        const int x = n.inputs[0], y = n.outputs[0];
        if (u.graph_output[y]) {
          if (n.op_type == "Identity") return false;
          n.op_type = "Identity";
          n.inputs.resize(1);
          n.outputs.resize(1);
          n.attrs.clear();
          touched[ni] = 1;
          return true;
        }
        for (int ri : u.readers[y])
          if (touched[ri]) return false;
        for (int ri : u.readers[y]) {
          for (int& v : g.nodes[ri].inputs)
            if (v == y) v = x;
          touched[ri] = 1;
        }
        dead[ni] = touched[ni] = 1;
        return true;
      });
}

}  // namespace visionrt
