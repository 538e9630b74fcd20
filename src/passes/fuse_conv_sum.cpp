// Folds a residual Add that reads a convolution's output into the convolution as oneDNN's sum
// post-op: y = conv(x) (+ activation) + r. The kernel starts from r in the output buffer and
// accumulates into it, saving a full read-modify-write pass over the tensor. Applies when the
// conv output has no other reader, is not a graph output, and r has exactly the output's shape
// (no broadcasting) and type.
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {

size_t fuse_conv_sum(Graph& g) {
  return rewrite_to_fixpoint(
      g, [&](size_t ci, const Uses& u, std::vector<char>& dead, std::vector<char>& touched) {
        const Node& c = g.nodes[ci];
        if (c.op_type != "Conv" && c.op_type != "visionrt.FusedConv") return false;
        if (c.outputs.size() != 1 || c.outputs[0] < 0 || (c.inputs.size() > 3 && c.inputs[3] >= 0))
          return false;
        const int x = c.outputs[0];
        const TensorType& xt = g.values[x].type;
        if (xt.dtype != DType::f32 || !xt.fully_known() || u.graph_output[x]) return false;
        if (u.readers[x].size() != 1) return false;
        const int ai = u.readers[x][0];
        const Node& a = g.nodes[ai];
        if (touched[ai] || a.op_type != "Add" || a.inputs.size() != 2 || a.outputs.size() != 1)
          return false;
        const int r = a.inputs[0] == x ? a.inputs[1] : a.inputs[0];
        if (r < 0 || r == x) return false;
        const TensorType& rt = g.values[r].type;
        if (rt.dtype != DType::f32 || !rt.fully_known() || rt.dims != xt.dims) return false;
        Node f = c;
        f.op_type = "visionrt.FusedConv";
        f.inputs.resize(4, -1);
        f.inputs[3] = r;
        // Activation already fused: it ran before the sum. Otherwise one fused later runs after.
        f.attrs["sum_first"] = attr_int(f.attr_s("activation", "").empty() ? 1 : 0);
        f.outputs = {a.outputs[0]};
        g.nodes[ai] = std::move(f);
        dead[ci] = touched[ci] = touched[ai] = 1;
        return true;
      });
}

}  // namespace visionrt
