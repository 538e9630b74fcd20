// Folds per-output-channel affine ops that follow a convolution (Conv or ConvTranspose: a
// decoder's upsampling followed by BatchNormalization) into its weights and bias:
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
      const bool transposed = c.op_type == "ConvTranspose";
      if ((c.op_type != "Conv" && !transposed) || c.outputs.size() != 1 || c.inputs.size() < 2)
        continue;
      const int y = c.outputs[0];
      const Tensor* w = constant_f32(g, c.inputs[1]);
      const bool has_bias = c.inputs.size() > 2 && c.inputs[2] >= 0;
      const Tensor* b = has_bias ? constant_f32(g, c.inputs[2]) : nullptr;
      if (!w || w->rank() < 3 || (has_bias && !b) || u.graph_output[y] || u.readers[y].size() != 1)
        continue;
      const int ni = u.readers[y][0];
      const Node& n = g.nodes[ni];
      // Conv weights are [C_out, C_in/group, k...]; ConvTranspose's [C_in, C_out/group, k...]
      // with output channel (ci / (C_in/group)) * (C_out/group) + j for weight [ci, j, ...].
      const int64_t group = c.attr_i("group", 1);
      if (group < 1 || w->dim(0) % group != 0) continue;
      const int64_t oc = transposed ? w->dim(1) * group : w->dim(0);
      std::vector<double> scale, shift;
      if (!channel_affine(g, n, y, oc, &scale, &shift)) continue;
      // W'[o] = W[o] * scale[o]; B'[o] = B[o] * scale[o] + shift[o].
      Tensor nw = w->clone();
      const int64_t rows = w->dim(0), cols = transposed ? w->dim(1) : 1;
      const size_t per_row = w->numel() / static_cast<size_t>(rows * cols);
      const int64_t in_per_group = w->dim(0) / group;
      float* pw = nw.data<float>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t o = transposed ? (r / in_per_group) * cols + j : r;
          float* p = pw + (r * cols + j) * static_cast<int64_t>(per_row);
          for (size_t i = 0; i < per_row; ++i) p[i] = static_cast<float>(p[i] * scale[o]);
        }
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
