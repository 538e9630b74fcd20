// Folds per-output-channel affine ops that follow a convolution into its weights and bias:
// BatchNormalization (inference form: y = (x - mean) / sqrt(var + eps) * scale + bias), and
// Mul / Add / Sub / Div by a constant that is a scalar or has one value per output channel
// ([C], [C,1,1] or [1,C,1,1]). The conv must have constant f32 weights (and bias), and its output
// no other reader. New weights are new constants: the originals may be shared.
#include <cmath>

#include "common/strings.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

const Tensor* const_f32(const Graph& g, int v) {
  if (v < 0 || !g.values[v].constant || g.values[v].constant->dtype() != DType::f32) return nullptr;
  return &*g.values[v].constant;
}

// Per-channel values of `t` for `channels` outputs: a scalar or exactly one value per channel
// laid out along axis 1 of a rank-4 NCHW result (or the last axis of [C,1,1] / [C]).
bool per_channel(const Tensor& t, int64_t channels, std::vector<double>* out) {
  const Shape& s = t.shape();
  bool ok = t.numel() == 1;
  if (!ok && static_cast<int64_t>(t.numel()) == channels) {
    if (s.size() == 1) ok = false;  // [C] broadcasts along W, not channels
    if (s.size() == 3) ok = s[0] == channels;
    if (s.size() == 4) ok = s[0] == 1 && s[1] == channels;
  }
  if (!ok) return false;
  out->resize(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c)
    (*out)[c] = t.at_f64(t.numel() == 1 ? 0 : static_cast<size_t>(c));
  return true;
}

int add_constant(Graph& g, const std::string& name, Tensor t) {
  int v = g.add_value(name);
  g.values[v].type.dtype = t.dtype();
  g.values[v].type.has_rank = true;
  g.values[v].type.dims = t.shape();
  g.values[v].constant = std::move(t);
  return v;
}

}  // namespace

size_t fold_conv_affine(Graph& g) {
  size_t folded = 0;
  for (bool changed = true; changed;) {
    changed = false;
    Uses u(g);
    for (size_t ci = 0; ci < g.nodes.size() && !changed; ++ci) {
      const Node& c = g.nodes[ci];
      if (c.op_type != "Conv" || c.outputs.size() != 1 || c.inputs.size() < 2) continue;
      const int y = c.outputs[0];
      const Tensor* w = const_f32(g, c.inputs[1]);
      const bool has_bias = c.inputs.size() > 2 && c.inputs[2] >= 0;
      const Tensor* b = has_bias ? const_f32(g, c.inputs[2]) : nullptr;
      if (!w || w->rank() < 3 || (has_bias && !b) || u.graph_output[y] || u.readers[y].size() != 1)
        continue;
      const int ni = u.readers[y][0];
      const Node& n = g.nodes[ni];
      const int64_t oc = w->dim(0);
      std::vector<double> scale(static_cast<size_t>(oc), 1.0), shift(static_cast<size_t>(oc), 0.0);
      if (n.op_type == "BatchNormalization") {
        if (n.inputs.size() != 5 || n.inputs[0] != y || n.outputs.size() != 1 ||
            n.attr_i("training_mode", 0) != 0)
          continue;
        const Tensor* s = const_f32(g, n.inputs[1]);
        const Tensor* bb = const_f32(g, n.inputs[2]);
        const Tensor* mean = const_f32(g, n.inputs[3]);
        const Tensor* var = const_f32(g, n.inputs[4]);
        if (!s || !bb || !mean || !var) continue;
        if (static_cast<int64_t>(s->numel()) != oc || bb->numel() != s->numel() ||
            mean->numel() != s->numel() || var->numel() != s->numel())
          continue;
        const double eps = n.attr_f("epsilon", 1e-5f);
        for (int64_t o = 0; o < oc; ++o) {
          double k = s->at_f64(o) / std::sqrt(var->at_f64(o) + eps);
          scale[o] = k;
          shift[o] = bb->at_f64(o) - mean->at_f64(o) * k;
        }
      } else if (n.op_type == "Mul" || n.op_type == "Add" || n.op_type == "Sub" ||
                 n.op_type == "Div") {
        if (n.inputs.size() != 2 || n.outputs.size() != 1) continue;
        const bool y_first = n.inputs[0] == y;
        const int other = y_first ? n.inputs[1] : n.inputs[0];
        if ((n.op_type == "Sub" || n.op_type == "Div") && !y_first) continue;
        const Tensor* k = const_f32(g, other);
        std::vector<double> vals;
        if (!k || other == y || !per_channel(*k, oc, &vals)) continue;
        // The result keeps the conv output's shape (no broadcasting beyond it).
        if (g.values[n.outputs[0]].type.dims != g.values[y].type.dims) continue;
        for (int64_t o = 0; o < oc; ++o) {
          if (n.op_type == "Mul") scale[o] = vals[o];
          if (n.op_type == "Div") scale[o] = 1.0 / vals[o];
          if (n.op_type == "Add") shift[o] = vals[o];
          if (n.op_type == "Sub") shift[o] = -vals[o];
        }
      } else {
        continue;
      }
      // W'[o] = W[o] * scale[o]; B'[o] = B[o] * scale[o] + shift[o].
      Tensor nw = w->clone();
      const size_t per_out = w->numel() / static_cast<size_t>(oc);
      float* pw = nw.data<float>();
      for (int64_t o = 0; o < oc; ++o)
        for (size_t i = 0; i < per_out; ++i)
          pw[o * per_out + i] = static_cast<float>(pw[o * per_out + i] * scale[o]);
      Tensor nb(DType::f32, {oc});
      for (int64_t o = 0; o < oc; ++o)
        nb.data<float>()[o] = static_cast<float>((b ? b->at_f64(o) : 0.0) * scale[o] + shift[o]);
      const std::string base = g.values[c.inputs[1]].name;
      Node fused = c;
      fused.inputs.resize(3);
      fused.inputs[1] = add_constant(g, base + "/folded", std::move(nw));
      fused.inputs[2] = add_constant(g, base + "/folded_bias", std::move(nb));
      fused.outputs = {g.nodes[ni].outputs[0]};
      g.nodes[ni] = std::move(fused);
      std::vector<char> dead(g.nodes.size(), 0);
      dead[ci] = 1;
      erase_dead(g, dead);
      ++folded;
      changed = true;
    }
  }
  if (folded) g.eliminate_dead_nodes();
  return folded;
}

}  // namespace visionrt
