// Folds the activation that follows a convolution into it (oneDNN applies it as an eltwise
// post-op while the output is still in registers): Relu, LeakyRelu, Clip (ReLU6), Sigmoid,
// Tanh, HardSwish, Elu, HardSigmoid, and the two-node patterns x*Sigmoid(x) (SiLU/swish, every
// YOLOv5/v8 block) and x*HardSigmoid(x) with alpha 1/6, beta 0.5 (MobileNetV3's hard-swish). The
// result is visionrt.FusedConv (ops/internal.cpp). Applies only where the intermediate value has no
// other reader and is not a graph output; a unary activation behind layout-only ops (Reshape,
// Transpose, ...) moves into the conv too.
#include <cfloat>
#include <cmath>

#include "kernels/activation.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

bool is_conv(const Node& n) { return n.op_type == "Conv" || n.op_type == "visionrt.FusedConv"; }

// Ops that only move elements (an element-wise activation commutes with them).
bool is_layout_op(const std::string& op) {
  return op == "Reshape" || op == "Transpose" || op == "Flatten" || op == "Squeeze" ||
         op == "Unsqueeze" || op == "Identity";
}

// Scalar constant value of input k, or `def` when the input is absent; false if not constant.
bool const_scalar(const Graph& g, const Node& n, size_t k, float def, float* out) {
  if (k >= n.inputs.size() || n.inputs[k] < 0) return *out = def, true;
  const Value& v = g.values[n.inputs[k]];
  if (!v.constant || v.constant->numel() != 1 || v.constant->dtype() != DType::f32) return false;
  return *out = v.constant->data<float>()[0], true;
}

// The activation a single node applies to value `x`, if it is one we fuse.
bool unary_activation(const Graph& g, const Node& n, int x, Activation* a) {
  if (n.op_type == "Clip") {
    if (n.inputs.empty() || n.inputs[0] != x || n.outputs.size() != 1) return false;
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (g.opset() < 11) {
      lo = n.attr_f("min", -FLT_MAX);
      hi = n.attr_f("max", FLT_MAX);
    } else if (!const_scalar(g, n, 1, -FLT_MAX, &lo) || !const_scalar(g, n, 2, FLT_MAX, &hi)) {
      return false;
    }
    if (!(lo <= hi)) return false;
    *a = {Act::clip, lo, hi};
    return true;
  }
  if (sole_input(n) != x) return false;
  if (n.op_type == "Relu") return *a = {Act::relu, 0, 0}, true;
  if (n.op_type == "LeakyRelu") return *a = {Act::leaky_relu, n.attr_f("alpha", 0.01f), 0}, true;
  if (n.op_type == "Sigmoid") return *a = {Act::sigmoid, 0, 0}, true;
  if (n.op_type == "Tanh") return *a = {Act::tanh, 0, 0}, true;
  if (n.op_type == "HardSwish") return *a = {Act::hard_swish, 0, 0}, true;
  if (n.op_type == "Elu") return *a = {Act::elu, n.attr_f("alpha", 1.0f), 0}, true;
  if (n.op_type == "HardSigmoid")
    return *a = {Act::hard_sigmoid, n.attr_f("alpha", 0.2f), n.attr_f("beta", 0.5f)}, true;
  return false;
}

// x * gate(x) where gate is Sigmoid (swish) or HardSigmoid(1/6, 0.5) (hard-swish).
bool gated_activation(const Graph& g, const Uses& u, int x, int gate_node, int mul_node, Act* a) {
  const Node& s = g.nodes[gate_node];
  const Node& m = g.nodes[mul_node];
  if (sole_input(s) != x || m.op_type != "Mul" || m.inputs.size() != 2) return false;
  int gv = s.outputs[0];
  if (!((m.inputs[0] == x && m.inputs[1] == gv) || (m.inputs[1] == x && m.inputs[0] == gv)))
    return false;
  if (!u.only_reader(gv, mul_node)) return false;
  if (s.op_type == "Sigmoid") return *a = Act::swish, true;
  if (s.op_type == "HardSigmoid" && std::fabs(s.attr_f("alpha", 0.2f) - 1.0f / 6) < 1e-6f &&
      std::fabs(s.attr_f("beta", 0.5f) - 0.5f) < 1e-6f)
    return *a = Act::hard_swish, true;
  return false;
}

// The conv as visionrt.FusedConv applying `a` (after its residual sum, if it has one).
Node with_activation(const Node& conv, const Activation& a) {
  Node f = conv;
  f.op_type = "visionrt.FusedConv";
  f.attrs["activation"] = attr_string(act_name(a.kind));
  f.attrs["alpha"] = attr_float(a.alpha);
  f.attrs["beta"] = attr_float(a.beta);
  if (f.inputs.size() > 3 && f.inputs[3] >= 0) f.attrs["sum_first"] = attr_int(1);
  return f;
}

}  // namespace

size_t fuse_conv_activation(Graph& g) {
  return rewrite_to_fixpoint(g, [&](size_t ci, const Uses& u, std::vector<char>& dead,
                                    std::vector<char>& touched) {
    const Node& c = g.nodes[ci];
    if (!is_conv(c) || c.outputs.size() != 1 || c.outputs[0] < 0) return false;
    if (!c.attr_s("activation", "").empty()) return false;
    const int x = c.outputs[0];
    if (g.values[x].type.dtype != DType::f32 || u.graph_output[x]) return false;
    const auto& rd = u.readers[x];
    Activation act;
    int last = -1;
    std::vector<int> gone;
    if (rd.size() == 1 && !touched[rd[0]] && unary_activation(g, g.nodes[rd[0]], x, &act)) {
      last = rd[0];
    } else if (rd.size() == 2 && !touched[rd[0]] && !touched[rd[1]]) {
      for (int k = 0; k < 2 && last < 0; ++k)
        if (gated_activation(g, u, x, rd[k], rd[1 - k], &act.kind)) {
          last = rd[1 - k];
          gone.push_back(rd[k]);
        }
    }
    if (last < 0 && rd.size() == 1) {
      // An element-wise activation after layout-only ops (YOLOv5's head: Conv -> Reshape ->
      // Transpose -> Sigmoid) commutes with them: it moves into the conv, and the last
      // layout op writes the activation's output value.
      int v = x, k = rd[0];
      while (is_layout_op(g.nodes[k].op_type) && !touched[k] && g.nodes[k].outputs.size() == 1 &&
             g.nodes[k].inputs[0] == v && g.nodes[k].outputs[0] >= 0) {
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
    for (int k : gone) dead[k] = touched[k] = 1;
    return true;
  });
}

}  // namespace visionrt
