// MatMul with constant weights B [K, N], then the Add of a constant bias that broadcasts along
// the last axis only ([N], [1, N], ...), then an activation (transformer and ConvNeXt MLPs:
// Linear -> GELU -> Linear) becomes one visionrt.FusedMatMul: oneDNN adds the bias and applies
// the activation while the output is still in registers, instead of two more passes over it.
// Either step alone fuses too. Intermediate values must have no other reader.
#include "common/strings.hpp"
#include "kernels/activation.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {

size_t fuse_matmul(Graph& g) {
  return rewrite_to_fixpoint(
      g, [&](size_t mi, const Uses& u, std::vector<char>& dead, std::vector<char>& touched) {
        Node& m = g.nodes[mi];
        const bool fused = m.op_type == "visionrt.FusedMatMul";
        if ((m.op_type != "MatMul" && !fused) || m.outputs.size() != 1 || m.inputs.size() < 2)
          return false;
        const int y = m.outputs[0];
        const TensorType& yt = g.values[y].type;
        if (y < 0 || u.graph_output[y] || u.readers[y].size() != 1 || yt.dtype != DType::f32 ||
            !yt.fully_known() || yt.dims.size() < 2)
          return false;
        const Tensor* b = constant_f32(g, m.inputs[1]);
        if (!b || b->rank() != 2) return false;
        const int ri = u.readers[y][0];
        if (touched[ri]) return false;
        const Node& r = g.nodes[ri];
        const bool has_bias = fused && m.inputs.size() > 2 && m.inputs[2] >= 0;
        Activation act;
        if (fused && !m.attr_s("activation", "").empty()) return false;
        if (!r.inputs.empty() && r.inputs[0] == y &&
            node_activation(r, g.opset(), graph_scalar(g, r), &act)) {
          m.op_type = "visionrt.FusedMatMul";
          set_fused_activation(m, act);
        } else if (!has_bias && r.op_type == "Add" && r.inputs.size() == 2 &&
                   g.values[r.outputs[0]].type.dims == yt.dims) {
          const int c = r.inputs[0] == y ? r.inputs[1] : r.inputs[0];
          Tensor bias;
          if (c == y || !last_axis_constant(g, c, yt.dims.back(), &bias)) return false;
          m.op_type = "visionrt.FusedMatMul";
          m.inputs.resize(3);
          m.inputs[2] = add_constant(g, str_cat(m.name, "/bias"), std::move(bias));
        } else {
          return false;
        }
        take_reader_place(g, mi, static_cast<size_t>(ri), dead, touched);
        return true;
      });
}

}  // namespace visionrt
