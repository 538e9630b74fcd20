// A zero constant Pad of the spatial axes read only by a Conv, or by an AveragePool that counts
// padding, moves into that node's own pads (explicit padding layers before a conv: ZeroPad2d,
// TF-style "SAME" exports). All-zero Pads are removed by remove_noops.
#include "common/strings.hpp"
#include "passes/pad_params.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {

// Pads ([begin..., end...] over all axes) and the constant value of a constant-mode Pad, when
// both are known at compile time; false otherwise.
bool constant_pads(const Graph& g, const Node& n, std::vector<int64_t>* pads, float* value) {
  if (n.attr_s("mode", "constant") != "constant" || n.inputs.empty() || n.inputs[0] < 0)
    return false;
  const TensorType& xt = g.values[n.inputs[0]].type;
  if (!xt.has_rank) return false;
  *value = 0;
  if (g.opset() < 11) {
    *pads = n.attr_is("pads");
    *value = n.attr_f("value", 0.0f);
  } else {
    if (n.inputs.size() < 2 || n.inputs[1] < 0) return false;
    const Value& pv = g.values[n.inputs[1]];
    if (!pv.constant || pv.constant->dtype() != DType::i64) return false;
    pads->assign(pv.constant->data<int64_t>(), pv.constant->data<int64_t>() + pv.constant->numel());
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      const Value& cv = g.values[n.inputs[2]];
      if (!cv.constant || cv.constant->numel() != 1) return false;
      *value = static_cast<float>(cv.constant->at_f64(0));
    }
    if (n.inputs.size() > 3 && n.inputs[3] >= 0) return false;  // opset 18 axes: not folded
  }
  return pads->size() == 2 * xt.dims.size();
}

size_t fold_pad(Graph& g) {
  return rewrite_to_fixpoint(
      g, [&](size_t pi, const Uses& u, std::vector<char>& dead, std::vector<char>& touched) {
        Node& p = g.nodes[pi];
        if (p.op_type != "Pad" || p.outputs.size() != 1 || p.outputs[0] < 0) return false;
        std::vector<int64_t> pads;
        float value;
        if (!constant_pads(g, p, &pads, &value)) return false;
        // Into the single reader: spatial pads of a 4-D tensor, non-negative, zero value.
        const int y = p.outputs[0];
        const size_t r = pads.size() / 2;
        if (value != 0.0f || r != 4 || u.graph_output[y] || u.readers[y].size() != 1) return false;
        for (size_t a = 0; a < r; ++a)
          if (pads[a] < 0 || pads[r + a] < 0 || (a < 2 && (pads[a] || pads[r + a]))) return false;
        const int ci = u.readers[y][0];
        Node& c = g.nodes[ci];
        if (touched[ci] || c.inputs.empty() || c.inputs[0] != y) return false;
        const bool conv = c.op_type == "Conv";
        const bool avg = c.op_type == "AveragePool" && c.attr_i("count_include_pad", 0) == 1;
        if (!(conv || avg) || c.attr_s("auto_pad", "NOTSET") != "NOTSET") return false;
        if (avg && c.attr_i("ceil_mode", 0) != 0) return false;
        std::vector<int64_t> cp = c.attr_is("pads", {0, 0, 0, 0});
        if (cp.size() != 4) return false;
        // Conv/pool pads are [h_begin, w_begin, h_end, w_end]; Pad's [n, c, h, w, n, c, h, w].
        cp[0] += pads[2], cp[1] += pads[3], cp[2] += pads[r + 2], cp[3] += pads[r + 3];
        c.attrs["pads"] = attr_ints(cp);
        c.inputs[0] = p.inputs[0];
        dead[pi] = touched[pi] = touched[ci] = 1;
        return true;
      });
}

}  // namespace visionrt
