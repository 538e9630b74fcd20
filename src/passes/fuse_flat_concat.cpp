// Anchor-free detection heads (YOLOv8/v9/v10/v11, YOLOX, RT-DETR's encoders, PP-YOLOE) gather
// their per-level maps as
//
//   per level i:  Concat(axis 1)(box_i, cls_i) -> [Reorder to plain] -> Reshape(N, C, -1)
//   then:         Concat(axis 2) over the levels -> [N, C, sum H_i W_i]
//
// After select_layouts the level maps are blocked (or channels-last behind INT8 convolutions),
// so each level is written three times: the level Concat (in place only for blocked tensors),
// the Reorder to plain, and the final Concat (not in place: its axis is not the outermost).
// This pass makes the final Concat one visionrt.FlatConcat reading the level maps themselves,
// each reordered once into its window of the output (YOLOv8n at 640: 0.8 ms at one thread in
// f32, 1.1 ms in INT8). An input that is not such a chain stays an input (a plain [N, C, L]
// window). Runs after select_layouts.
#include "kernels/kernel.hpp"
#include "kernels/node_runner.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

int64_t norm_axis(int64_t a, size_t rank) { return a < 0 ? a + static_cast<int64_t>(rank) : a; }

struct Piece {
  int value;
  int64_t channel, position;
};

}  // namespace

size_t fuse_flat_concat(Graph& g) {
  Uses u(g);
  std::vector<char> dead(g.nodes.size(), 0);
  size_t fused = 0;
  auto producer = [&](int v, const char* op) -> int {
    if (v < 0 || g.values[v].producer < 0) return -1;
    const int p = g.values[v].producer;
    const Node& n = g.nodes[p];
    return !dead[p] && n.op_type == op && n.domain.empty() && n.outputs.size() == 1 ? p : -1;
  };
  for (size_t ci = 0; ci < g.nodes.size(); ++ci) {
    const Node& c = g.nodes[ci];
    if (c.op_type != "Concat" || !c.domain.empty() || c.outputs.size() != 1 || c.outputs[0] < 0 ||
        c.inputs.empty())
      continue;
    const Value& y = g.values[c.outputs[0]];
    if (!y.type.fully_known() || y.type.dims.size() != 3 || y.type.dtype != DType::f32 ||
        y.layout_block != 0 || norm_axis(c.attr_i("axis", 0), 3) != 2)
      continue;
    const int64_t N = y.type.dims[0];
    std::vector<Piece> pieces;
    std::vector<int> unwrapped;  // nodes that go with the rewrite
    int64_t position = 0;
    bool ok = true, saves = false;
    // A Reorder to plain of a 4-D blocked/channels-last f32/bf16 tensor read only by node
    // `reader`: its source (the Reorder goes with the rewrite); else v itself.
    auto unreorder = [&](int v, int reader) {
      const int o = g.values[v].producer;
      if (o < 0 || dead[o] || g.nodes[o].op_type != "visionrt.Reorder" ||
          !u.only_reader(v, reader) || g.values[v].layout_block != 0)
        return v;
      const int x = g.nodes[o].inputs[0];
      const Value& xv = g.values[x];
      if (x < 0 || !xv.type.fully_known() || xv.type.dims != g.values[v].type.dims ||
          xv.layout_block == 0 || (xv.type.dtype != DType::f32 && xv.type.dtype != DType::bf16))
        return v;
      unwrapped.push_back(o);
      saves = true;
      return x;
    };
    for (int v : c.inputs) {
      if (v < 0 || !g.values[v].type.fully_known() || g.values[v].type.dims.size() != 3 ||
          g.values[v].layout_block != 0) {
        ok = false;
        break;
      }
      const Shape& vd = g.values[v].type.dims;
      // Reshape [N, C, H, W] -> [N, C, H*W], read only by this Concat.
      const int r = producer(v, "Reshape");
      const int w = r >= 0 ? g.nodes[r].inputs[0] : -1;
      const Value* wv = w >= 0 ? &g.values[w] : nullptr;
      if (!wv || !u.only_reader(v, static_cast<int>(ci)) || !wv->type.fully_known() ||
          wv->type.dims.size() != 4 || wv->type.dims[0] != vd[0] || wv->type.dims[1] != vd[1] ||
          wv->type.dims[2] * wv->type.dims[3] != vd[2]) {
        pieces.push_back({v, 0, position});
        position += vd[2];
        continue;
      }
      const size_t undo = unwrapped.size();
      unwrapped.push_back(r);
      const int x = unreorder(w, r);
      const int reader = x == w ? r : g.values[w].producer;
      // A level Concat along the channels read only here: its inputs themselves.
      const int lc = producer(x, "Concat");
      bool expanded = false;
      if (lc >= 0 && u.only_reader(x, reader) && norm_axis(g.nodes[lc].attr_i("axis", 0), 4) == 1) {
        bool inputs_ok = true;
        for (int s : g.nodes[lc].inputs) {
          const Value* sv = s >= 0 ? &g.values[s] : nullptr;
          inputs_ok = inputs_ok && sv && sv->type.fully_known() && sv->type.dims.size() == 4 &&
                      sv->type.dims[2] == wv->type.dims[2] && sv->type.dims[3] == wv->type.dims[3];
        }
        if (inputs_ok) {
          int64_t ch = 0;
          for (int s : g.nodes[lc].inputs) {
            pieces.push_back({unreorder(s, lc), ch, position});
            ch += g.values[s].type.dims[1];
          }
          unwrapped.push_back(lc);
          saves = true;
          expanded = true;
        }
      }
      if (!expanded) {
        if (x == w) unwrapped.resize(undo);  // nothing gained: keep the Reshape, read v
        pieces.push_back({x == w ? v : x, 0, position});
      }
      position += vd[2];
    }
    if (!ok || !saves || position != y.type.dims[2] || N <= 0) continue;
    Node f;
    f.name = c.name;
    f.op_type = "visionrt.FlatConcat";
    std::vector<int64_t> co, po;
    for (const Piece& p : pieces) {
      f.inputs.push_back(p.value);
      co.push_back(p.channel);
      po.push_back(p.position);
    }
    f.attrs["shape"] = attr_ints(y.type.dims);
    f.attrs["channel_offsets"] = attr_ints(co);
    f.attrs["position_offsets"] = attr_ints(po);
    f.outputs = c.outputs;
    // Only where a kernel reads these inputs in their layouts (the reference reads plain ones).
    bool runs = false;
    if (const auto* cands = KernelRegistry::instance().find(f.op_type)) {
      KernelQuery q = query_for(g, f);
      for (const KernelCandidate& k : *cands) {
        std::string why;
        if (k.create(q, &why)) {
          runs = true;
          break;
        }
      }
    }
    if (!runs) continue;
    g.nodes[ci] = std::move(f);
    for (int n : unwrapped) dead[n] = 1;
    ++fused;
  }
  if (fused) {
    erase_dead(g, dead);
    g.eliminate_dead_nodes();
  }
  return fused;
}

}  // namespace visionrt
