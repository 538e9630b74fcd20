// Folds the activation that follows a convolution into it (oneDNN applies it as an eltwise
// post-op while the output is still in registers): every activation of kernels/activation.hpp,
// as its ONNX op (Relu, Clip (ReLU6), Sigmoid, HardSwish, ...) or as the visionrt.Activation that
// fuse_activation_patterns made of a written-out chain (x*Sigmoid(x), the SiLU of every
// YOLOv5/v8 block; x*HardSigmoid(x), MobileNetV3's hard-swish; GELU). The
// result is visionrt.FusedConv (ops/internal.cpp). Applies only where the intermediate value has no
// other reader and is not a graph output; a unary activation behind layout-only ops (Reshape,
// Transpose, ...) moves into the conv too.
#include <cmath>

#include "kernels/activation.hpp"
#include "ops/op_registry.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

bool is_conv(const Node& n) { return n.op_type == "Conv" || n.op_type == "visionrt.FusedConv"; }

// The activation a single node applies to value `x`, if it is one we fuse.
bool unary_activation(const Graph& g, const Node& n, int x, Activation* a) {
  if (n.inputs.empty() || n.inputs[0] != x) return false;
  return node_activation(n, g.opset(), graph_scalar(g, n), a);
}

// The conv as visionrt.FusedConv applying `a` (after its residual sum, if it has one).
Node with_activation(const Node& conv, const Activation& a) {
  Node f = conv;
  f.op_type = "visionrt.FusedConv";
  set_fused_activation(f, a);
  if (f.inputs.size() > 3 && f.inputs[3] >= 0) f.attrs["sum_first"] = attr_int(1);
  return f;
}

}  // namespace

size_t fuse_conv_activation(Graph& g) {
  return rewrite_to_fixpoint(
      g, [&](size_t ci, const Uses& u, std::vector<char>& dead, std::vector<char>& touched) {
        const Node& c = g.nodes[ci];
        if (!is_conv(c) || c.outputs.size() != 1 || c.outputs[0] < 0) return false;
        if (!c.attr_s("activation", "").empty()) return false;
        const int x = c.outputs[0];
        if (g.values[x].type.dtype != DType::f32 || u.graph_output[x]) return false;
        const auto& rd = u.readers[x];
        Activation act;
        int last = -1;
        if (rd.size() == 1 && !touched[rd[0]] && unary_activation(g, g.nodes[rd[0]], x, &act))
          last = rd[0];
        if (last < 0 && rd.size() == 1) {
          // An element-wise activation after layout-only ops (YOLOv5's head: Conv -> Reshape ->
          // Transpose -> Sigmoid) commutes with them: it moves into the conv, and the last
          // layout op writes the activation's output value.
          int v = x, k = rd[0];
          while (moves_elements_only(g.nodes[k].op_type) && !touched[k] &&
                 g.nodes[k].outputs.size() == 1 && g.nodes[k].inputs[0] == v &&
                 g.nodes[k].outputs[0] >= 0) {
            int w = g.nodes[k].outputs[0];
            if (u.graph_output[w] || u.readers[w].size() != 1) break;
            int next = u.readers[w][0];
            Activation a2;
            if (!touched[next] && unary_activation(g, g.nodes[next], w, &a2) &&
                g.values[w].type.dtype == DType::f32) {
              g.nodes[ci] = with_activation(c, a2);
              g.nodes[k].outputs[0] = g.nodes[next].outputs[0];
              dead[next] = touched[next] = touched[ci] = touched[k] = 1;
              return true;
            }
            v = w;
            k = next;
          }
        }
        if (last < 0) return false;
        // The fused node takes the place of the last node of the pattern (its inputs are all
        // defined by then); the conv and the rest of the pattern disappear.
        Node f = with_activation(c, act);
        f.outputs = {g.nodes[last].outputs[0]};
        g.nodes[last] = std::move(f);
        dead[ci] = touched[ci] = touched[last] = 1;
        return true;
      });
}

}  // namespace visionrt
