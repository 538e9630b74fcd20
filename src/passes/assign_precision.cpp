// Precision assignment for INFERENCE_PRECISION bf16 (after select_layouts and
// fuse_channels_last, so every check sees the layouts the kernels will get).
//
// Compute nodes (convolutions, and products by constant weights: Linear layers) whose oneDNN
// kernel takes a bf16 source run in bf16 (weights converted once, f32 accumulation); their
// outputs stay bf16 while the readers' fast kernels move bf16 as they move f32 (data movement,
// pooling, resampling, activations, feature-map products and sums: flow_ops), so the tensors
// between convolutions are half the bytes. Everything else (softmax, normalisation statistics,
// reductions, attention's activation-by-activation products, detection decoding, graph outputs)
// reads f32: a bf16 value it reads is converted back by a visionrt.Reorder that changes the type
// (and the layout, when a layout reorder was there already). bf16 is kept only in values that
// reach a bf16 compute node, so a convolution whose result goes to a decoder (a detection or
// segmentation head) or a residual stream writes f32 straight from its accumulators.
#include <map>
#include <set>

#include "common/strings.hpp"
#include "kernels/kernel.hpp"
#include "kernels/node_runner.hpp"
#include "passes/passes.hpp"

namespace visionrt {
namespace {

// Nodes whose arithmetic runs in bf16 (with their weights, input 1, constant). Transposed
// convolutions only where this CPU's probe measures oneDNN's bf16 deconvolution at least as fast
// as its f32 one (bf16_deconv_speedup: it is not on every machine whose convolutions gain).
bool is_compute(const std::string& op) {
  if (op == "ConvTranspose") return bf16_deconv_speedup() >= 1.0;
  return op == "Conv" || op == "visionrt.FusedConv" || op == "MatMul" || op == "Gemm" ||
         op == "visionrt.FusedMatMul";
}

// Ops that pass bf16 through with no arithmetic a bf16 rounding would hurt: copies, max/avg
// pooling (oneDNN accumulates averages in f32), nearest/linear resampling, activations, and the
// products and sums of feature maps (squeeze-excitation scales, unfused residuals: their result
// is rounded to bf16 as a convolution's would be). Only where an input already is bf16.
const std::set<std::string>& flow_ops() {
  // clang-format off
  static const std::set<std::string> ops = {
      "Concat", "Split", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize",
      "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Elu", "HardSwish", "HardSigmoid", "Mish",
      "Softplus", "Gelu", "visionrt.Activation", "Mul", "Add", "DepthToSpace"};
  // clang-format on
  return ops;
}

// Whether compile's kernel choice for `q` would be a fast (non-reference) kernel. Uses the
// candidates' cheap layout checks where they have one (a convolution's builds no weights).
bool fast_kernel_accepts(const KernelQuery& q) {
  const auto* cands = KernelRegistry::instance().find(q.node->op_type);
  if (!cands) return false;
  for (const auto& c : *cands) {
    if (c.name == "ref") return false;
    std::string why;
    if (c.accepts_layouts ? c.accepts_layouts(q) : c.create(q, &why) != nullptr) return true;
  }
  return false;
}

bool is_float(DType t) { return t == DType::f32 || t == DType::bf16; }

struct Assignment {
  std::vector<DType> dtype;              // per value
  std::vector<std::vector<DType>> want;  // per node and input: the type it reads
  std::vector<char> bf16_node;           // per node: a compute node reading bf16
  size_t bf16_compute = 0;
};

class Planner {
 public:
  explicit Planner(const Graph& g)
      : g_(g), f32_out_(g.nodes.size(), 0), f32_node_(g.nodes.size(), 0) {}

  // Forward walk: each node's input and output types given its inputs' assignment.
  Assignment walk() const {
    Assignment a;
    a.dtype.resize(g_.values.size());
    for (size_t v = 0; v < g_.values.size(); ++v) a.dtype[v] = g_.values[v].type.dtype;
    a.want.resize(g_.nodes.size());
    a.bf16_node.assign(g_.nodes.size(), 0);
    for (size_t ni = 0; ni < g_.nodes.size(); ++ni) {
      const Node& n = g_.nodes[ni];
      std::vector<DType>& want = a.want[ni];
      want.assign(n.inputs.size(), DType::undefined);
      for (size_t k = 0; k < n.inputs.size(); ++k)
        if (n.inputs[k] >= 0) want[k] = a.dtype[n.inputs[k]];
      if (n.op_type == "visionrt.Reorder") {
        // A reorder converts whatever it gets; it passes bf16 on unless that is not worth it.
        const int o = n.outputs[0];
        a.dtype[o] = f32_node_[ni] ? g_.values[o].type.dtype : a.dtype[n.inputs[0]];
        continue;
      }
      if (is_compute(n.op_type) && activation(n, 0) && static_float_outputs(n) &&
          enough_weights(n)) {
        KernelQuery q = query_for(g_, n);
        q.input_types[0].dtype = DType::bf16;
        // A convolution's residual (input 3) is read in whatever type it has.
        if (n.inputs.size() > 3 && n.inputs[3] >= 0) q.input_types[3].dtype = a.dtype[n.inputs[3]];
        q.output_types[0].dtype = f32_out_[ni] ? DType::f32 : DType::bf16;
        if (fast_kernel_accepts(q)) {
          want[0] = DType::bf16;
          a.dtype[n.outputs[0]] = q.output_types[0].dtype;
          a.bf16_node[ni] = 1;
          ++a.bf16_compute;
          continue;
        }
      } else if (flow_ops().count(n.op_type) && !f32_node_[ni] && static_float_outputs(n)) {
        bool any_bf16 = false;
        for (size_t k = 0; k < n.inputs.size(); ++k)
          any_bf16 = any_bf16 || (activation(n, k) && a.dtype[n.inputs[k]] == DType::bf16);
        if (any_bf16) {
          KernelQuery q = query_for(g_, n);
          for (size_t k = 0; k < n.inputs.size(); ++k)
            if (activation(n, k)) q.input_types[k].dtype = DType::bf16;
          for (TensorType& t : q.output_types) t.dtype = DType::bf16;
          if (fast_kernel_accepts(q)) {
            for (size_t k = 0; k < n.inputs.size(); ++k)
              if (activation(n, k)) want[k] = DType::bf16;
            for (int o : n.outputs) a.dtype[o] = DType::bf16;
            continue;
          }
        }
      }
      // f32 node: reads its inputs in their original types.
      for (size_t k = 0; k < n.inputs.size(); ++k)
        if (n.inputs[k] >= 0) want[k] = g_.values[n.inputs[k]].type.dtype;
    }
    return a;
  }

  // bf16 is worth keeping only in values that reach a bf16 compute node (through flow ops and
  // reorders); elsewhere it would only round what a decoder reads (YOLOv8's head convolutions
  // feed a Concat, a Reshape and the DFL softmax). Convolutions and flow ops whose bf16 outputs
  // reach none go f32; true when any changed (the walk then runs again).
  bool settle(const Assignment& a) {
    std::vector<char> worth(g_.values.size(), 0);
    auto passes_on = [&](size_t ni) {
      const std::string& op = g_.nodes[ni].op_type;
      return op == "visionrt.Reorder" || flow_ops().count(op) != 0;
    };
    auto any_worth = [&](const Node& n) {
      for (int o : n.outputs)
        if (o >= 0 && worth[o]) return true;
      return false;
    };
    for (size_t ni = g_.nodes.size(); ni-- > 0;) {
      const Node& n = g_.nodes[ni];
      if (!a.bf16_node[ni] && !(passes_on(ni) && any_worth(n))) continue;
      for (size_t k = 0; k < n.inputs.size(); ++k)
        if (n.inputs[k] >= 0 && a.want[ni][k] == DType::bf16) worth[n.inputs[k]] = 1;
    }
    bool changed = false;
    for (size_t ni = 0; ni < g_.nodes.size(); ++ni) {
      const Node& n = g_.nodes[ni];
      bool writes_bf16 = false;
      for (int o : n.outputs) writes_bf16 = writes_bf16 || (o >= 0 && a.dtype[o] == DType::bf16);
      if (!writes_bf16 || any_worth(n)) continue;
      if (a.bf16_node[ni] && !f32_out_[ni]) f32_out_[ni] = changed = true;
      if (passes_on(ni) && !f32_node_[ni]) f32_node_[ni] = changed = true;
    }
    return changed;
  }

 private:
  // Input k is a computed (non-constant) static float tensor.
  bool activation(const Node& n, size_t k) const {
    if (k >= n.inputs.size() || n.inputs[k] < 0) return false;
    const Value& v = g_.values[n.inputs[k]];
    return !v.constant && v.type.fully_known() && is_float(v.type.dtype);
  }
  // A convolution with a handful of weights (YOLOv8's DFL expectation has 16, one output
  // channel) is decode arithmetic, not a feature layer, and its conversions would cost more
  // than bf16 saves: it stays f32.
  bool enough_weights(const Node& n) const {
    if (n.inputs.size() < 2 || n.inputs[1] < 0) return false;
    const Value& w = g_.values[n.inputs[1]];
    return w.constant && w.constant->numel() >= 256;
  }
  bool static_float_outputs(const Node& n) const {
    if (n.outputs.empty()) return false;
    for (int o : n.outputs)
      if (o < 0 || !g_.values[o].type.fully_known() || g_.values[o].type.dtype != DType::f32)
        return false;
    return true;
  }

  const Graph& g_;
  std::vector<char> f32_out_;   // per node: a bf16 compute node that writes f32
  std::vector<char> f32_node_;  // per node: a flow op or reorder kept f32
};

}  // namespace

size_t assign_bf16(Graph& g) {
  Planner planner(g);
  Assignment a = planner.walk();
  for (int round = 0; round < 8 && planner.settle(a); ++round) a = planner.walk();
  if (a.bf16_compute == 0) return 0;

  const size_t nv0 = g.values.size();
  std::vector<int> readers(nv0, 0);
  std::vector<char> is_output(nv0, 0);
  for (const Node& n : g.nodes)
    for (int v : n.inputs)
      if (v >= 0) ++readers[v];
  for (int o : g.outputs) is_output[o] = 1;
  // A layout reorder whose single reader wants another type converts it itself.
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int v = n.inputs[k];
      if (v < 0 || a.want[ni][k] == a.dtype[v] || readers[v] != 1 || is_output[v]) continue;
      const int p = g.values[v].producer;
      if (p >= 0 && g.nodes[p].op_type == "visionrt.Reorder") a.dtype[v] = a.want[ni][k];
    }
  }
  for (size_t v = 0; v < nv0; ++v)
    if (!g.values[v].constant) g.values[v].type.dtype = a.dtype[v];

  std::map<std::pair<int, DType>, int> converted;
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size() * 2);
  auto convert = [&](int from, DType to, const std::string& name) {
    int v = g.add_value(name);
    Value& nv = g.values[v];
    nv.type = g.values[from].type;
    nv.type.dtype = to;
    nv.layout_block = g.values[from].layout_block;
    Node r;
    r.name = name;
    r.op_type = "visionrt.Reorder";
    r.inputs = {from};
    r.outputs = {v};
    nodes.push_back(std::move(r));
    return v;
  };
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    Node n = std::move(g.nodes[ni]);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int v = n.inputs[k];
      if (v < 0 || a.want[ni][k] == g.values[v].type.dtype) continue;
      const DType to = a.want[ni][k];
      auto key = std::make_pair(v, to);
      auto it = converted.find(key);
      if (it == converted.end())
        it = converted
                 .emplace(key, convert(v, to, str_cat(g.values[v].name, "/to_", dtype_name(to))))
                 .first;
      n.inputs[k] = it->second;
    }
    nodes.push_back(std::move(n));
  }
  for (int& o : g.outputs) {
    if (g.values[o].type.dtype != DType::bf16) continue;
    // As select_layouts does for layouts: the f32 copy takes over the output's name.
    g.hand_over_output(&o, convert(o, DType::f32, g.values[o].name + "/f32"), "/bf16");
  }
  g.nodes = std::move(nodes);
  g.relink();
  return a.bf16_compute;
}

}  // namespace visionrt
