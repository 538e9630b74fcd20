// Small helpers for rewriting passes: who reads a value, and replacing a chain of nodes by one.
#pragma once
#include <algorithm>
#include <vector>

#include "graph/graph.hpp"
#include "kernels/activation.hpp"

namespace visionrt {

// Value of a constant scalar f32 input k of `n` (`def` when the input is absent); false when the
// input is not such a constant. For node_activation.
inline ConstScalarFn graph_scalar(const Graph& g, const Node& n) {
  return [&g, &n](size_t k, float def, float* out) {
    if (k >= n.inputs.size() || n.inputs[k] < 0) return *out = def, true;
    const Value& v = g.values[n.inputs[k]];
    if (!v.constant || v.constant->numel() != 1 || v.constant->dtype() != DType::f32) return false;
    return *out = v.constant->data<float>()[0], true;
  };
}

// Constant f32 tensor behind value v, or nullptr.
inline const Tensor* constant_f32(const Graph& g, int v) {
  if (v < 0 || !g.values[v].constant || g.values[v].constant->dtype() != DType::f32) return nullptr;
  return &*g.values[v].constant;
}

struct Uses {
  std::vector<std::vector<int>> readers;  // per value: node indices reading it (once per node)
  std::vector<char> graph_output;         // per value
  explicit Uses(const Graph& g) : readers(g.values.size()), graph_output(g.values.size(), 0) {
    for (size_t n = 0; n < g.nodes.size(); ++n)
      for (int i : g.nodes[n].inputs)
        if (i >= 0 && (readers[i].empty() || readers[i].back() != static_cast<int>(n)))
          readers[i].push_back(static_cast<int>(n));
    for (int o : g.outputs) graph_output[o] = 1;
  }
  // Read only by node `n` (and not a graph output).
  bool only_reader(int v, int n) const {
    return !graph_output[v] && readers[v].size() == 1 && readers[v][0] == n;
  }
};

// When node `n` computes a per-channel affine function y = x * scale[c] + shift[c] of value `x`
// (channels along axis 1 of x, which has rank >= 2 and `channels` channels):
// BatchNormalization in inference form with constant parameters, or Mul/Add/Sub/Div by a
// constant that is a scalar or broadcasts along axis 1 only ([C,1,1], [1,C,1,1], [C] for rank 2),
// without broadcasting x itself. Defined in passes/channel_affine.cpp.
bool channel_affine(const Graph& g, const Node& n, int x, int64_t channels,
                    std::vector<double>* scale, std::vector<double>* shift);

// Constant f32 value v that broadcasts along the last axis only (numel 1 or c, every other
// dimension 1: a bias [N], a layer-norm gamma [1,C]): its values expanded to [c]; false
// otherwise. Defined in passes/channel_affine.cpp.
bool last_axis_constant(const Graph& g, int v, int64_t c, Tensor* out);

// Node `ni`, which now computes what it and its only reader `ri` computed together, takes the
// reader's output and its place in the order (its inputs are all defined by then); the reader
// is marked dead. For rewrite_to_fixpoint rewrites.
inline void take_reader_place(Graph& g, size_t ni, size_t ri, std::vector<char>& dead,
                              std::vector<char>& touched) {
  g.nodes[ni].outputs = g.nodes[ri].outputs;
  std::swap(g.nodes[ni], g.nodes[ri]);
  dead[ni] = touched[ni] = touched[ri] = 1;
}

// Adds a constant value holding `t`; returns its id.
int add_constant(Graph& g, const std::string& name, Tensor t);

// Removes nodes marked dead (keeping order) and recomputes producers.
inline void erase_dead(Graph& g, const std::vector<char>& dead) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t n = 0; n < g.nodes.size(); ++n)
    if (!dead[n]) kept.push_back(std::move(g.nodes[n]));
  g.nodes = std::move(kept);
  g.relink();
}

// Constant tensor behind value v (any dtype), or nullptr.
inline const Tensor* graph_constant(const Graph& g, int v) {
  return v >= 0 && g.values[v].constant ? &*g.values[v].constant : nullptr;
}

// Value id of input k of `n`, -1 when absent.
inline int input_or_none(const Node& n, size_t k) { return k < n.inputs.size() ? n.inputs[k] : -1; }

// Node producing v when it is a DequantizeLinear (with a scale input), else nullptr.
inline const Node* dq_producer(const Graph& g, int v) {
  if (v < 0 || g.values[v].producer < 0) return nullptr;
  const Node& n = g.nodes[g.values[v].producer];
  return n.op_type == "DequantizeLinear" && n.inputs.size() >= 2 ? &n : nullptr;
}

// Whether the zero point of Q/DQ node `n` is absent or a constant of zeros.
bool zero_points_zero(const Graph& g, const Node& n);

// Whether DequantizeLinear `dq` gives symmetric int8 convolution weights: a 4-D i8 constant, a
// constant scale that is a scalar or one per index of `axis` (a Conv's 0, a ConvTranspose's 1),
// zero points absent or 0. Defined in passes/fuse_qdq.cpp.
bool symmetric_int8_weights(const Graph& g, const Node& dq, int64_t axis);

// The value a single-input, single-output node reads, or -1.
inline int sole_input(const Node& n) {
  int v = -1;
  for (size_t k = 0; k < n.inputs.size(); ++k)
    if (n.inputs[k] >= 0) {
      if (k > 0) return -1;
      v = n.inputs[k];
    }
  return n.outputs.size() == 1 ? v : -1;
}

// Sweeps the nodes until a sweep rewrites nothing. `rewrite(ci, uses, dead, touched)` looks
// at node ci, and when it rewrites, marks the nodes it removed in `dead` and the ones it changed
// in `touched` (neither is looked at again in this sweep) and returns true. Dead nodes are
// erased after each sweep. Returns the number of rewrites.
template <typename F>
size_t rewrite_to_fixpoint(Graph& g, F&& rewrite) {
  size_t n = 0;
  for (bool changed = true; changed;) {
    changed = false;
    Uses u(g);
    std::vector<char> dead(g.nodes.size(), 0), touched(g.nodes.size(), 0);
    for (size_t ci = 0; ci < g.nodes.size(); ++ci)
      if (!touched[ci] && !dead[ci] && rewrite(ci, u, dead, touched)) ++n, changed = true;
    if (changed) erase_dead(g, dead);
  }
  return n;
}

}  // namespace visionrt
