// Per-channel affine ops that no convolution absorbed become one visionrt.ScaleShift: a
// standalone BatchNormalization (pre-activation networks: DenseNet's BN -> ReLU -> Conv, the
// BN after a Concat), and chains of Mul/Add/Sub/Div by per-channel or scalar constants (layer
// scales, normalisation written out), merged into one node, with the activation that follows
// folded in. The kernel (kernels/cpu/scale_shift.cpp) reads and writes plain or blocked layouts,
// so such a node no longer forces a reorder pair around it. Runs after fold_conv_affine.
#include "common/strings.hpp"
#include "kernels/activation.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

int64_t channels_of(const Graph& g, int x) {
  const TensorType& t = g.values[x].type;
  if (t.dtype != DType::f32 || !t.fully_known() || t.dims.size() < 2 || t.dims[1] <= 0) return -1;
  return t.dims[1];
}

bool is_scale_shift(const Node& n) { return n.op_type == "visionrt.ScaleShift"; }

}  // namespace

size_t fuse_scale_shift(Graph& g) {
  return rewrite_to_fixpoint(
      g, [&](size_t ni, const Uses& u, std::vector<char>& dead, std::vector<char>& touched) {
        Node& n = g.nodes[ni];
        if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.size() != 1) return false;
        if (is_scale_shift(n)) {
          // Merge what follows: another affine op, or the activation (once).
          const int y = n.outputs[0];
          if (u.graph_output[y] || u.readers[y].size() != 1) return false;
          const int ri = u.readers[y][0];
          if (touched[ri]) return false;
          Node& r = g.nodes[ri];
          const int64_t c = channels_of(g, y);
          Activation act;
          std::vector<double> s2, b2;
          if (n.attr_s("activation", "").empty() && r.inputs[0] == y &&
              node_activation(r, g.opset(), graph_scalar(g, r), &act)) {
            set_fused_activation(n, act);
          } else if (n.attr_s("activation", "").empty() && c > 0 &&
                     (channel_affine(g, r, y, c, &s2, &b2) ||
                      (is_scale_shift(r) && r.inputs[0] == y && constant_f32(g, r.inputs[1]) &&
                       constant_f32(g, r.inputs[2])))) {
            if (is_scale_shift(r)) {
              // Another ScaleShift made in the same sweep: its constants and its activation.
              const float* rs = constant_f32(g, r.inputs[1])->data<float>();
              const float* rb = constant_f32(g, r.inputs[2])->data<float>();
              s2.assign(rs, rs + c);
              b2.assign(rb, rb + c);
              for (const char* k : {"activation", "alpha", "beta"})
                if (r.has_attr(k)) n.attrs[k] = r.attrs.at(k);
            }
            // (x*s + b)*s2 + b2 = x*(s*s2) + (b*s2 + b2)
            Tensor s(DType::f32, {c}), b(DType::f32, {c});
            const float* s1 = constant_f32(g, n.inputs[1])->data<float>();
            const float* b1 = constant_f32(g, n.inputs[2])->data<float>();
            for (int64_t k = 0; k < c; ++k) {
              s.data<float>()[k] = static_cast<float>(s1[k] * s2[k]);
              b.data<float>()[k] = static_cast<float>(b1[k] * s2[k] + b2[k]);
            }
            n.inputs[1] = add_constant(g, n.name + "/scale+", std::move(s));
            n.inputs[2] = add_constant(g, n.name + "/shift+", std::move(b));
          } else {
            return false;
          }
          take_reader_place(g, ni, static_cast<size_t>(ri), dead, touched);
          return true;
        }
        const int x = n.inputs[0] >= 0 && !g.values[n.inputs[0]].constant ? n.inputs[0]
                      : n.inputs.size() > 1                               ? n.inputs[1]
                                                                          : -1;
        if (x < 0 || g.values[x].constant) return false;
        const int64_t c = channels_of(g, x);
        std::vector<double> sc, sh;
        if (c <= 0 || !channel_affine(g, n, x, c, &sc, &sh)) return false;
        // A lone scalar op stays what it is (oneDNN's binary runs it in any layout); a per-channel
        // one, a BatchNormalization, or a scalar op followed by more becomes a ScaleShift.
        bool uniform = true;
        for (int64_t k = 1; k < c; ++k) uniform = uniform && sc[k] == sc[0] && sh[k] == sh[0];
        if (uniform && n.op_type != "BatchNormalization") {
          const int y = n.outputs[0];
          if (u.graph_output[y] || u.readers[y].size() != 1) return false;
          const Node& r = g.nodes[u.readers[y][0]];
          std::vector<double> s2, b2;
          Activation act;
          if (!channel_affine(g, r, y, c, &s2, &b2) &&
              !(r.inputs[0] == y && node_activation(r, g.opset(), graph_scalar(g, r), &act)))
            return false;
        }
        Tensor s(DType::f32, {c}), b(DType::f32, {c});
        for (int64_t k = 0; k < c; ++k) {
          s.data<float>()[k] = static_cast<float>(sc[k]);
          b.data<float>()[k] = static_cast<float>(sh[k]);
        }
        Node ss;
        ss.name = n.name;
        ss.op_type = "visionrt.ScaleShift";
        ss.inputs = {x, add_constant(g, n.name + "/scale", std::move(s)),
                     add_constant(g, n.name + "/shift", std::move(b))};
        ss.outputs = n.outputs;
        g.nodes[ni] = std::move(ss);
        touched[ni] = 1;
        (void)dead;
        return true;
      });
}

}  // namespace visionrt
