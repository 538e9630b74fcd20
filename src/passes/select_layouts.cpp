// Layout selection: lets oneDNN's blocked layout (nChw16c with AVX-512, nChw8c otherwise) flow
// through whole networks, with visionrt.Reorder nodes only where a consumer needs plain NCHW.
// Walks the graph in order and, per node, proposes blocked outputs when the node can keep them
// blocked: convolutions always (a plain input with more than 4 channels is reordered to blocked
// first, the residual of a fused sum too), elementwise ops, pooling, resize, concat and split
// when their inputs already are. The node's oneDNN kernel candidate confirms the proposal
// (KernelCandidate::accepts_layouts) so a blocked tensor never reaches a kernel that cannot read
// it. Graph outputs are always plain, under their original names.
#include <map>

#include "common/strings.hpp"
#include "kernels/kernel.hpp"
#include "kernels/node_runner.hpp"
#include "passes/passes.hpp"

namespace visionrt {
namespace {

const KernelCandidate* layout_candidate(const std::string& op) {
  const auto* cands = KernelRegistry::instance().find(op);
  if (!cands) return nullptr;
  for (const auto& c : *cands)
    if (c.accepts_layouts) return &c;
  return nullptr;
}

// Whether some candidate of `op` reads and writes the layouts q proposes (an op can have
// several: our own visionrt.Activation kernel takes the transcendental activations, oneDNN's
// eltwise the others).
bool any_accepts(const std::string& op, const KernelQuery& q) {
  const auto* cands = KernelRegistry::instance().find(op);
  if (cands)
    for (const KernelCandidate& c : *cands)
      if (c.accepts_layouts && c.accepts_layouts(q)) return true;
  return false;
}

bool is_conv(const std::string& op) {
  return op == "Conv" || op == "visionrt.FusedConv" || op == "ConvTranspose";
}

// Whether the candidate of `op` that would run `q` (the first that creates a kernel; own kernels
// before oneDNN's decline all but their shapes) reads and writes the tensors in place: not one
// staged through NHWC scratch copies, and (unless `gemm_ok`) not oneDNN's plain gemm-based
// convolution, far slower than its blocked direct kernel (ConvNeXt's 4x4/4 stem: 8.5 ms against
// 0.4).
bool any_direct_kernel(const std::string& op, const KernelQuery& q, bool gemm_ok) {
  const auto* cands = KernelRegistry::instance().find(op);
  if (cands)
    for (const KernelCandidate& c : *cands) {
      if (!c.accepts_layouts || !c.accepts_layouts(q)) continue;
      std::string why;
      std::unique_ptr<Kernel> k = c.create(q, &why);
      if (!k) continue;  // declines: the next candidate would run it
      const std::string l = k->layout();
      return l.find("staged") == std::string::npos &&
             (gemm_ok || l.find("gemm") == std::string::npos);
    }
  return false;
}

bool is_quant(const std::string& op) {
  return op == "QLinearConv" || op == "visionrt.QConv" || op == "QuantizeLinear" ||
         op == "DequantizeLinear" || op == "visionrt.QConcat";
}

bool rank4(const Value& v) { return v.type.fully_known() && v.type.dims.size() == 4; }
bool int8(const Value& v) { return v.type.dtype == DType::u8 || v.type.dtype == DType::i8; }

// Layouts for the INT8 kernels (kernels/dnnl/quant.cpp): int8 tensors 4-D channels-last (what
// oneDNN's int8 convolutions read and write), f32 tensors they produce blocked where the kernel
// can write that. QuantizeLinear reads whatever layout its source has and DequantizeLinear
// writes blocked, so the crossing between the float and the int8 parts is one pass each way.
// Returns false (everything plain, reference kernels) when the kernel declines.
// visionrt.QConcat's data inputs (its all but last two) go channels-last with it, converted
// where they are not: its output is the int8 input of a quantized convolution. Every candidate
// that checks layouts is asked (a QuantizeLinear's own kernel takes plain and nhwc sources,
// oneDNN's reorder the blocked ones).
bool quant_layouts(const Graph& g, const Node& n, int block, std::vector<int>* want,
                   std::vector<int>* layout) {
  if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.size() != 1 || n.outputs[0] < 0)
    return false;
  const Value& x = g.values[n.inputs[0]];
  const Value& y = g.values[n.outputs[0]];
  const bool concat = n.op_type == "visionrt.QConcat";
  if (!rank4(x) || !rank4(y) || (concat && n.inputs.size() < 3)) {
    std::fill(want->begin(), want->end(), 0);
    return false;
  }
  KernelQuery q = query_for(g, n);
  q.input_layouts.assign(n.inputs.size(), 0);
  const bool conv = n.op_type == "QLinearConv" || n.op_type == "visionrt.QConv";
  q.input_layouts[0] = conv ? kLayoutNhwc : (*want)[0];
  if (n.op_type == "DequantizeLinear" && !int8(x)) q.input_layouts[0] = (*want)[0];
  if (concat)
    for (size_t k = 0; k + 2 < n.inputs.size(); ++k) q.input_layouts[k] = kLayoutNhwc;
  std::vector<int> outs;
  if (int8(y))
    outs = {kLayoutNhwc};
  else
    outs = {block, kLayoutNhwc};
  // A QConv's residual (input 9) is read in the output's layout.
  const bool residual = conv && n.inputs.size() > 9 && n.inputs[9] >= 0;
  for (int o : outs) {
    q.output_layouts = {o};
    if (residual) q.input_layouts[9] = o;
    if (any_accepts(n.op_type, q)) {
      *want = q.input_layouts;
      (*layout)[n.outputs[0]] = o;
      return true;
    }
  }
  std::fill(want->begin(), want->end(), 0);
  return false;
}

bool rank4_f32(const Value& v) {
  return v.type.dtype == DType::f32 && v.type.fully_known() && v.type.dims.size() == 4;
}

}  // namespace

size_t select_layouts(Graph& g, int block) {
  if (block <= 0) return 0;
  const size_t nv0 = g.values.size();
  std::vector<int> layout(nv0, 0);
  // Per node: the layout each input must have, and whether its outputs went blocked.
  std::vector<std::vector<int>> want(g.nodes.size());
  size_t blocked_nodes = 0;
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    want[ni].assign(n.inputs.size(), 0);
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (n.inputs[k] >= 0) want[ni][k] = layout[n.inputs[k]];
    if (is_quant(n.op_type)) {
      if (quant_layouts(g, n, block, &want[ni], &layout)) ++blocked_nodes;
      continue;
    }
    const KernelCandidate* cand = layout_candidate(n.op_type);
    bool outs_ok = !n.outputs.empty();
    for (int o : n.outputs) outs_ok = outs_ok && o >= 0 && rank4_f32(g.values[o]);
    // DepthToSpace moves bytes of any dtype: the int8 output of a quantized conv
    // (deconv_as_conv's) stays channels-last through it.
    if (n.op_type == "DepthToSpace" && n.outputs.size() == 1 && n.outputs[0] >= 0 &&
        !n.inputs.empty() && n.inputs[0] >= 0 && layout[n.inputs[0]] == kLayoutNhwc &&
        rank4(g.values[n.outputs[0]]) && int8(g.values[n.outputs[0]]))
      outs_ok = true;
    if (!cand || !outs_ok || n.inputs.empty() || n.inputs[0] < 0) {
      std::fill(want[ni].begin(), want[ni].end(), 0);
      continue;
    }
    std::vector<int> in_l = want[ni];
    // The layout this node's outputs would take: blocked, or channels-last behind the f32
    // output of a quantized convolution (the float ops between int8 layers of a QDQ model:
    // Split, Concat, Add, MaxPool, Resize; oneDNN's kernels read nhwc as well as blocked, and
    // the QuantizeLinear after them then reads nhwc, 10x faster than a transposing nchw one).
    const int lay = in_l[0] == kLayoutNhwc && !is_conv(n.op_type) ? kLayoutNhwc : block;
    bool propose = false;
    if (is_conv(n.op_type)) {
      const Value& x = g.values[n.inputs[0]];
      if (x.type.dims.size() == 4 && (in_l[0] || x.type.dims[1] > 4)) in_l[0] = block;
      if (in_l.size() > 3 && n.inputs[3] >= 0) in_l[3] = block;
      propose = true;
    } else if (n.op_type == "Concat") {
      propose = true;
      for (int l : in_l) propose = propose && l == lay;
    } else {
      // Elementwise, pooling, resize, split: blocked when the main input already is.
      for (size_t k = 0; k < in_l.size(); ++k)
        if (in_l[k] == lay && n.inputs[k] >= 0 &&
            g.values[n.inputs[k]].type.dims == g.values[n.outputs[0]].type.dims)
          propose = true;
      if (n.op_type == "Split" || n.op_type == "Resize" ||
          n.op_type.find("Pool") != std::string::npos || n.op_type.rfind("Reduce", 0) == 0 ||
          n.op_type == "Slice" || n.op_type == "Pad" || n.op_type == "DepthToSpace")
        propose = in_l[0] == lay;
    }
    if (!propose) {
      // Plain copies of blocked and channels-last inputs.
      std::fill(want[ni].begin(), want[ni].end(), 0);
      continue;
    }
    KernelQuery q = query_for(g, n);  // then the proposed layouts instead of the current ones
    q.input_layouts = in_l;
    // A conv with a handful of output channels (a 1-channel text/heat map, a box regression head)
    // writes plain when its kernel can: blocked, that tensor would be mostly padding (1 live
    // lane of 16: PP-OCR's probability map through a ScaleShift+Sigmoid moved 16x the bytes).
    // Only for maps of some size: a squeeze-excitation's 4-channel 1x1 squeeze stays blocked.
    const Shape& od = g.values[n.outputs[0]].type.dims;
    if (is_conv(n.op_type) && od[1] * 4 <= block && od[2] * od[3] >= 1024) {
      // Blocked input to plain output where the kernel takes it, else plain to plain (oneDNN's
      // deconvolution has no blocked-to-plain kernel; its plain gemm one writing 1 channel took
      // 4.2 ms against 5.5 ms blocked, and the ScaleShift+Sigmoid after it 0.9 ms against 4.8).
      bool done = false;
      for (int in_layout : {in_l[0], 0}) {
        KernelQuery p = q;
        p.input_layouts[0] = in_layout;
        p.output_layouts.assign(n.outputs.size(), 0);
        if (any_direct_kernel(n.op_type, p, true)) {
          want[ni] = p.input_layouts;
          blocked_nodes += in_layout != 0;
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    q.output_layouts.assign(n.outputs.size(), lay);
    if (!any_accepts(n.op_type, q)) {
      std::fill(want[ni].begin(), want[ni].end(), 0);
      continue;
    }
    want[ni] = in_l;
    for (int o : n.outputs) layout[o] = lay;
    ++blocked_nodes;
  }
  if (blocked_nodes == 0) return 0;

  // A convolution whose every reader takes plain NCHW (a detection head going into Reshape /
  // Transpose, a graph output) writes plain itself when its kernel can: the reorder disappears.
  {
    std::vector<std::vector<std::pair<size_t, size_t>>> readers(nv0);
    for (size_t ni = 0; ni < g.nodes.size(); ++ni)
      for (size_t k = 0; k < g.nodes[ni].inputs.size(); ++k)
        if (g.nodes[ni].inputs[k] >= 0) readers[g.nodes[ni].inputs[k]].push_back({ni, k});
    for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
      const Node& n = g.nodes[ni];
      if (!is_conv(n.op_type) || n.outputs.size() != 1 || n.outputs[0] < 0) continue;
      const int o = n.outputs[0];
      if (!layout[o]) continue;
      bool all_plain = true;
      for (const auto& [r, k] : readers[o]) all_plain = all_plain && want[r][k] == 0;
      if (!all_plain) continue;
      KernelQuery q = query_for(g, n);
      q.input_layouts = want[ni];
      q.output_layouts = {0};
      // Only a direct, non-gemm kernel: staging or gemm costs more than the reorder saved.
      if (any_direct_kernel(n.op_type, q, false)) layout[o] = 0;
    }
    // An enlarging Resize whose every reader takes plain NCHW (segmentation logits upsampled to
    // the image as a graph output) resizes plain: the reorder then moves its smaller input
    // (DeepLab INT8: 1.25 ms for 257x257x21 after it, 0.02 ms for 65x65x21 before it).
    for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
      const Node& n = g.nodes[ni];
      if (n.op_type != "Resize" || n.outputs.size() != 1 || n.outputs[0] < 0 || n.inputs.empty() ||
          n.inputs[0] < 0 || !layout[n.outputs[0]])
        continue;
      const int o = n.outputs[0];
      if (shape_numel(g.values[o].type.dims) <= shape_numel(g.values[n.inputs[0]].type.dims))
        continue;
      bool all_plain = true;
      for (const auto& [r, k] : readers[o]) all_plain = all_plain && want[r][k] == 0;
      if (!all_plain) continue;
      KernelQuery q = query_for(g, n);
      q.input_layouts = want[ni];
      q.input_layouts[0] = 0;
      q.output_layouts = {0};
      if (!any_accepts(n.op_type, q)) continue;
      want[ni][0] = 0;
      layout[o] = 0;
    }
  }

  // Rewrite: reorder nodes where an input's layout differs from what its reader wants (one
  // conversion per value and layout, shared by all readers), then plain graph outputs.
  std::map<std::pair<int, int>, int> converted;
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size() * 2);
  auto add_reorder = [&](int from, int to_layout, const std::string& suffix) {
    int v = g.add_value(str_cat(g.values[from].name, suffix));
    Value& nvv = g.values[v];
    nvv.type = g.values[from].type;
    nvv.layout_block = to_layout;
    Node r;
    r.name = str_cat(g.values[from].name, suffix);
    r.op_type = "visionrt.Reorder";
    r.inputs = {from};
    r.outputs = {v};
    nodes.push_back(std::move(r));
    return v;
  };
  for (int v = 0; v < static_cast<int>(nv0); ++v) g.values[v].layout_block = layout[v];
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    Node n = std::move(g.nodes[ni]);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      int v = n.inputs[k];
      if (v < 0 || g.values[v].layout_block == want[ni][k]) continue;
      auto key = std::make_pair(v, want[ni][k]);
      auto it = converted.find(key);
      if (it == converted.end())
        it = converted
                 .emplace(key, add_reorder(v, want[ni][k],
                                           want[ni][k] == kLayoutNhwc ? std::string("/to_nhwc")
                                           : want[ni][k] ? str_cat("/to_nChw", want[ni][k], "c")
                                                         : std::string("/to_plain")))
                 .first;
      n.inputs[k] = it->second;
    }
    nodes.push_back(std::move(n));
  }
  for (int& o : g.outputs) {
    if (g.values[o].layout_block == 0) continue;
    // The producer keeps writing the blocked value; a reorder writes the plain one, which takes
    // over the output's name and dimension names.
    g.hand_over_output(&o, add_reorder(o, 0, "/plain"), "/blocked");
  }
  g.nodes = std::move(nodes);
  g.relink();
  return blocked_nodes;
}

}  // namespace visionrt
