// Reorder-to-plain, [Reshape], Transpose chains that move the channels of a blocked or
// channels-last tensor last become one visionrt.ChannelsLast node reading it: detection heads
// (SSD's permute(0,2,3,1), YOLOv5's view(N,A,K,H,W).permute(0,1,3,4,2)) otherwise write the head
// output twice, once to plain NCHW and once transposed (YOLOv5n at 640: 5.1 ms of 56 at one
// thread). Runs after select_layouts.
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {

size_t fuse_channels_last(Graph& g) {
  return rewrite_to_fixpoint(g, [&](size_t ti, const Uses& u, std::vector<char>& dead,
                                    std::vector<char>& touched) {
    Node& t = g.nodes[ti];
    if (t.op_type != "Transpose" || !t.domain.empty()) return false;
    const int v3 = sole_input(t);  // also requires the single output
    if (v3 < 0 || g.values[v3].producer < 0) return false;
    // Optional Reshape between the Reorder and the Transpose.
    int ri = -1, oi = g.values[v3].producer, v2 = v3;
    if (g.nodes[oi].op_type == "Reshape" && g.nodes[oi].domain.empty()) {
      ri = oi;
      v2 = g.nodes[ri].inputs.empty() ? -1 : g.nodes[ri].inputs[0];
      if (v2 < 0 || g.values[v2].producer < 0 || !u.only_reader(v3, static_cast<int>(ti)))
        return false;
      oi = g.values[v2].producer;
    }
    const Node& o = g.nodes[oi];
    if (o.op_type != "visionrt.Reorder" || dead[oi] || touched[oi] || (ri >= 0 && dead[ri]))
      return false;
    const int v1 = sole_input(o);
    if (v1 < 0 || !u.only_reader(v2, ri >= 0 ? ri : static_cast<int>(ti))) return false;
    const TensorType& x = g.values[v1].type;
    if (g.values[v1].layout_block == 0 || !x.fully_known() || x.dims.size() != 4 ||
        x.dtype != DType::f32 || g.values[t.outputs[0]].layout_block != 0)
      return false;
    const Shape& d = x.dims;
    const Shape& y = g.values[v3].type.dims;
    std::vector<int64_t> perm = t.attr_is("perm");
    int64_t groups = -1;
    if (ri < 0 && perm == std::vector<int64_t>{0, 2, 3, 1}) {
      groups = 0;
    } else if (ri >= 0 && perm == std::vector<int64_t>{0, 1, 3, 4, 2} && y.size() == 5 &&
               y[0] == d[0] && y[1] > 0 && y[1] * y[2] == d[1] && y[3] == d[2] && y[4] == d[3]) {
      groups = y[1];
    }
    if (groups < 0) return false;
    t.op_type = "visionrt.ChannelsLast";
    t.inputs = {v1};
    t.attrs.clear();
    t.attrs["groups"] = attr_int(groups);
    dead[oi] = 1;
    if (ri >= 0) dead[ri] = 1;
    touched[ti] = 1;
    return true;
  });
}

}  // namespace visionrt
