// Folds per-output-channel affine ops that follow a convolution into its weights and bias:
// BatchNormalization (inference form: y = (x - mean) / sqrt(var + eps) * scale + bias), and
// Mul / Add / Sub / Div by a constant that is a scalar or has one value per output channel
// ([C,1,1] or [1,C,1,1]; pattern.hpp's channel_affine). The conv must have constant f32 weights
// (and bias), and its output no other reader. New weights are new constants: the originals may be
// shared.
#include <cmath>

#include "common/strings.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {

size_t fold_conv_affine(Graph& g) {
  size_t folded = 0;
  for (bool changed = true; changed;) {
    changed = false;
    Uses u(g);
    for (size_t ci = 0; ci < g.nodes.size() && !changed; ++ci) {
      const Node& c = g.nodes[ci];
      if (c.op_type != "Conv" || c.outputs.size() != 1 || c.inputs.size() < 2) continue;
      const int y = c.outputs[0];
      const Tensor* w = constant_f32(g, c.inputs[1]);
      const bool has_bias = c.inputs.size() > 2 && c.inputs[2] >= 0;
      const Tensor* b = has_bias ? constant_f32(g, c.inputs[2]) : nullptr;
      if (!w || w->rank() < 3 || (has_bias && !b) || u.graph_output[y] || u.readers[y].size() != 1)
        continue;
      const int ni = u.readers[y][0];
      const Node& n = g.nodes[ni];
      const int64_t oc = w->dim(0);
      std::vector<double> scale, shift;
      if (!channel_affine(g, n, y, oc, &scale, &shift)) continue;
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
