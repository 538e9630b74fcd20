// Recognises activations that exporters write out as chains of element-wise ops and replaces
// each chain by one visionrt.Activation node (which the conv fusion then folds into a producing
// convolution, and which otherwise runs as one oneDNN eltwise in any layout):
//   GELU   x*0.5*(1+Erf(x/sqrt 2)) in any association, Mul by 1/sqrt 2 instead of Div, the tanh
//          form 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) with Pow or Mul for the cube;
//   hard-swish x*Clip(x+3,0,6)/6, x*Relu6(x+3)/6, x*HardSigmoid(x), Min/Max instead of Clip;
//   hard-sigmoid Clip(x+3,0,6)/6; swish x*Sigmoid(x); mish x*Tanh(Softplus(x)); ReLU6 as
//   Min(Max(x,0),6); leaky ReLU as Max(x, a*x) ...
// Rather than one hand-written matcher per exporter's spelling, the pass matches by function:
// a candidate is a cone of element-wise nodes that reads one tensor x and scalar constants only,
// whose intermediate values nobody else reads; the reference kernels (the same oracle constant
// folding uses) evaluate the cone on sample points, and the cone is replaced when it equals a
// table activation (kernels/activation.hpp) on all of them. Any new spelling of a known
// activation is recognised without code; a new activation is one row of the table.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "kernels/activation.hpp"
#include "kernels/node_runner.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

constexpr size_t kMaxCone = 14;

bool is_pointwise(const std::string& op) {
  static const std::set<std::string> ops = {"Add",        "Sub",
                                            "Mul",        "Div",
                                            "Pow",        "Erf",
                                            "Tanh",       "Sigmoid",
                                            "Clip",       "Relu",
                                            "Exp",        "Log",
                                            "Softplus",   "Neg",
                                            "Sqrt",       "Min",
                                            "Max",        "Abs",
                                            "Reciprocal", "HardSigmoid",
                                            "HardSwish",  "visionrt.Activation"};
  return ops.count(op) != 0;
}

bool scalar_constant(const Graph& g, int v) {
  const Tensor* t = constant_f32(g, v);
  return t && t->numel() == 1;
}

// Sample points: dense in [-8, 8] where activations differ, plus the tails.
const std::vector<float>& samples() {
  static const std::vector<float> s = [] {
    std::vector<float> v;
    for (int i = -320; i <= 320; ++i) v.push_back(i / 40.0f + 0.0123f);
    // Far tails too: a bound beyond the dense range (Min(Max(x,0),100)) must not pass for an
    // unbounded activation.
    for (float t : {-60.f, -30.f, -15.f, -10.f, 0.f, 10.f, 15.f, 30.f, 60.f, -1e4f, 1e4f, -1e6f,
                    1e6f, -1e30f, 1e30f})
      v.push_back(t);
    return v;
  }();
  return s;
}

bool close_to(const std::vector<float>& y, const Activation& a) {
  const auto& xs = samples();
  for (size_t i = 0; i < xs.size(); ++i) {
    const float r = apply_act(a, xs[i]);
    if (!(std::fabs(y[i] - r) <= 2e-5f * std::max(1.0f, std::fabs(r)))) return false;
  }
  return true;
}

// Index of sample x in samples() (the tails are exact; the grid points are i/40 + 0.0123).
size_t tail(float x) {
  const auto& xs = samples();
  return static_cast<size_t>(std::find(xs.begin() + 641, xs.end(), x) - xs.begin());
}

// The table activation the sampled function `y` equals, if any. Parameters of the
// parameterised ones are read off the function first (clip bounds from saturated tails, the
// leaky slope at -10, hard-sigmoid's line through 0 and 0.5123), then the whole curve must agree.
// Functions that are the identity on the samples never match (a clip or slope that the samples
// cannot tell from x).
bool identify(const std::vector<float>& y, Activation* out) {
  const float m60 = y[tail(-60.f)], m30 = y[tail(-30.f)], p30 = y[tail(30.f)], p60 = y[tail(60.f)],
              y0 = y[tail(0.f)], yh = y[320 + 20];
  for (const ActInfo& info : kActivations) {
    Activation a{info.kind, info.alpha_default, info.beta_default};
    switch (info.kind) {
      case Act::none:
        continue;
      case Act::clip:
        if (!(m60 == m30 && p60 == p30 && m60 < p60 && y[tail(-1e30f)] == m60 &&
              y[tail(1e30f)] == p60))
          continue;
        a.alpha = m60, a.beta = p60;
        break;
      case Act::leaky_relu:
        a.alpha = m30 / -30.f;
        if (!(std::fabs(a.alpha - 1.0f) > 1e-3f)) continue;
        break;
      case Act::elu:
        a.alpha = -m60;
        break;
      case Act::hard_sigmoid:
        a.beta = y0;
        a.alpha = (yh - y0) / (20 / 40.0f + 0.0123f);
        break;
      default:
        break;
    }
    if (close_to(y, a)) return *out = a, true;
  }
  return false;
}

// The nodes between `x` and node `end` (inclusive) when every path into `end` starts at `x` or
// at a scalar constant, in graph order; empty when `x` is not such a cut.
std::vector<int> cone(const Graph& g, const Uses& u, int end, int x) {
  std::vector<int> nodes, stack = {end};
  std::set<int> seen = {end};
  while (!stack.empty()) {
    const int ni = stack.back();
    stack.pop_back();
    nodes.push_back(ni);
    if (nodes.size() > kMaxCone) return {};
    for (int v : g.nodes[ni].inputs) {
      if (v < 0 || v == x || scalar_constant(g, v)) continue;
      const int p = g.values[v].producer;
      if (p < 0 || !is_pointwise(g.nodes[p].op_type)) return {};
      if (seen.insert(p).second) stack.push_back(p);
    }
  }
  std::sort(nodes.begin(), nodes.end());
  // Intermediate values are read inside the cone only, and x is read somewhere.
  std::set<int> inside(nodes.begin(), nodes.end());
  bool reads_x = false;
  for (int ni : nodes) {
    const Node& n = g.nodes[ni];
    if (n.outputs.size() != 1 || n.outputs[0] < 0) return {};
    for (int v : n.inputs) reads_x = reads_x || v == x;
    if (ni == end) continue;
    const int o = n.outputs[0];
    if (u.graph_output[o]) return {};
    for (int r : u.readers[o])
      if (!inside.count(r)) return {};
  }
  return reads_x ? nodes : std::vector<int>{};
}

// Runs the cone on the sample points through the reference kernels.
bool evaluate(const Graph& g, const std::vector<int>& nodes, int x, std::vector<float>* y) {
  const auto& xs = samples();
  std::map<int, Tensor> vals;
  Tensor tx(DType::f32, {static_cast<int64_t>(xs.size())});
  std::copy(xs.begin(), xs.end(), tx.data<float>());
  vals.emplace(x, std::move(tx));
  try {
    for (int ni : nodes) {
      const Node& n = g.nodes[ni];
      std::vector<const Tensor*> in;
      for (int v : n.inputs) {
        if (v < 0) {
          in.push_back(nullptr);
        } else if (vals.count(v)) {
          in.push_back(&vals.at(v));
        } else {
          // A scalar constant of any rank, as shape [1] so it broadcasts over the samples.
          Tensor c(DType::f32, {1});
          c.data<float>()[0] = g.values[v].constant->data<float>()[0];
          in.push_back(&vals.emplace(v, std::move(c)).first->second);
        }
      }
      std::vector<Tensor> out = run_node_ref(n, g.opset(), in);
      if (out.size() != 1 || out[0].dtype() != DType::f32 || out[0].numel() != xs.size())
        return false;
      vals.emplace(n.outputs[0], std::move(out[0]));
    }
  } catch (const Error&) {
    return false;
  }
  const Tensor& r = vals.at(g.nodes[nodes.back()].outputs[0]);
  y->assign(r.data<float>(), r.data<float>() + r.numel());
  return true;
}

}  // namespace

size_t fuse_activation_patterns(Graph& g) {
  Uses u(g);
  std::vector<char> dead(g.nodes.size(), 0);
  size_t fused = 0;
  // From the last node back, so the largest chain wins over the activations inside it
  // (hard-swish over the hard-sigmoid it contains).
  for (int e = static_cast<int>(g.nodes.size()) - 1; e >= 0; --e) {
    const Node& end = g.nodes[e];
    if (dead[e] || !is_pointwise(end.op_type) || end.op_type == "visionrt.Activation" ||
        end.outputs.size() != 1 || end.outputs[0] < 0)
      continue;
    const TensorType& yt = g.values[end.outputs[0]].type;
    if (yt.dtype != DType::f32 || !yt.has_rank) continue;
    // Candidate cuts: the non-constant values read by pointwise nodes near `end`.
    std::vector<int> cands;
    {
      std::vector<int> stack = {e};
      std::set<int> seen = {e};
      while (!stack.empty() && seen.size() <= kMaxCone) {
        const int ni = stack.back();
        stack.pop_back();
        for (int v : g.nodes[ni].inputs) {
          if (v < 0 || scalar_constant(g, v) || g.values[v].constant) continue;
          if (std::find(cands.begin(), cands.end(), v) == cands.end()) cands.push_back(v);
          const int p = g.values[v].producer;
          if (p >= 0 && !dead[p] && is_pointwise(g.nodes[p].op_type) && seen.insert(p).second)
            stack.push_back(p);
        }
      }
    }
    std::vector<int> best;
    int best_x = -1;
    Activation best_act;
    for (int x : cands) {
      const TensorType& xt = g.values[x].type;
      if (xt.dtype != DType::f32 || xt.dims != yt.dims) continue;
      std::vector<int> nodes = cone(g, u, e, x);
      if (nodes.size() < 2 || nodes.size() <= best.size()) continue;
      bool any_dead = false;
      for (int ni : nodes) any_dead = any_dead || dead[ni];
      if (any_dead) continue;
      std::vector<float> y;
      Activation a;
      if (!evaluate(g, nodes, x, &y) || !identify(y, &a)) continue;
      best = std::move(nodes);
      best_x = x;
      best_act = a;
    }
    if (best.empty()) continue;
    Node act;
    act.name = end.name;
    act.op_type = "visionrt.Activation";
    act.inputs = {best_x};
    act.outputs = end.outputs;
    set_fused_activation(act, best_act);
    for (int ni : best) dead[ni] = 1;
    dead[e] = 0;
    g.nodes[e] = std::move(act);
    ++fused;
  }
  if (fused) erase_dead(g, dead);
  return fused;
}

}  // namespace visionrt
