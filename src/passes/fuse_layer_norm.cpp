// Layer normalization as exporters before opset 17 write it (PyTorch's layer_norm, Keras'
// LayerNormalization, ConvNeXt's and transformers' blocks):
//   m = ReduceMean(x, [a]); d = Sub(x, m); v = ReduceMean(Pow(d, 2) | Mul(d, d), [a]);
//   y = Div(d, Sqrt(Add(v, eps)))  [then Mul(y, gamma), Add(., beta)]
// over the last axis a becomes one LayerNormalization(x, gamma, beta, axis=a, epsilon) (opset 17
// semantics), which runs on oneDNN's layer normalization. Gamma and beta must be constants
// broadcasting along the last axis only ([C], [1,C], ...); without them they are 1 and 0.
// Every intermediate value must be read inside the pattern only.
#include <cmath>

#include "common/strings.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

struct Match {
  const Graph& g;
  const Uses& u;
  // Producer of v if it is `op` and v is read by `readers` nodes only; else nullptr.
  const Node* producer(int v, const char* op, size_t readers = 1) const {
    if (v < 0 || u.graph_output[v] || u.readers[v].size() != readers) return nullptr;
    const int p = g.values[v].producer;
    if (p < 0 || g.nodes[p].op_type != op || g.nodes[p].outputs.size() != 1) return nullptr;
    return &g.nodes[p];
  }
  // The single reduced axis of a ReduceMean with keepdims, normalized; -1 otherwise.
  int64_t reduce_axis(const Node& r) const {
    if (r.attr_i("keepdims", 1) != 1 || r.inputs.empty() || r.inputs[0] < 0) return -1;
    std::vector<int64_t> axes = r.attr_is("axes");
    if (r.inputs.size() > 1 && r.inputs[1] >= 0) {
      const Value& av = g.values[r.inputs[1]];
      if (!av.constant || av.constant->dtype() != DType::i64) return -1;
      axes.assign(av.constant->data<int64_t>(),
                  av.constant->data<int64_t>() + av.constant->numel());
    }
    const TensorType& t = g.values[r.inputs[0]].type;
    if (axes.size() != 1 || !t.has_rank) return -1;
    const int64_t rank = static_cast<int64_t>(t.dims.size());
    int64_t a = axes[0] < 0 ? axes[0] + rank : axes[0];
    return a >= 0 && a < rank ? a : -1;
  }
  // The other input of binary node n, given one of them.
  static int other(const Node& n, int v) {
    if (n.inputs.size() != 2) return -1;
    return n.inputs[0] == v ? n.inputs[1] : n.inputs[1] == v ? n.inputs[0] : -1;
  }
};

}  // namespace

size_t fuse_layer_norm(Graph& g) {
  return rewrite_to_fixpoint(g, [&](size_t di, const Uses& u, std::vector<char>& dead,
                                    std::vector<char>& touched) {
    const Node& div = g.nodes[di];
    if (div.op_type != "Div" || div.inputs.size() != 2 || div.outputs.size() != 1) return false;
    Match m{g, u};
    const int d = div.inputs[0];
    // d = Sub(x, mean) read by the Div and the square (two readers, or one Mul(d, d) + Div).
    const Node* sub = m.producer(d, "Sub", 2);
    if (!sub || sub->inputs.size() != 2) return false;
    const int x = sub->inputs[0];
    const Node* mean = m.producer(sub->inputs[1], "ReduceMean");
    if (!mean || mean->inputs[0] != x) return false;
    const int64_t axis = m.reduce_axis(*mean);
    const TensorType& xt = g.values[x].type;
    if (axis < 0 || !xt.fully_known() || xt.dtype != DType::f32 ||
        axis != static_cast<int64_t>(xt.dims.size()) - 1)
      return false;
    // Denominator: Sqrt(Add(ReduceMean(square(d)), eps)).
    const Node* sqrt = m.producer(div.inputs[1], "Sqrt");
    if (!sqrt) return false;
    const Node* add = m.producer(sqrt->inputs[0], "Add");
    if (!add || add->inputs.size() != 2) return false;
    int var_v = add->inputs[0], eps_v = add->inputs[1];
    if (constant_f32(g, var_v)) std::swap(var_v, eps_v);
    const Tensor* eps_t = constant_f32(g, eps_v);
    if (!eps_t || eps_t->numel() != 1) return false;
    const Node* var = m.producer(var_v, "ReduceMean");
    if (!var || m.reduce_axis(*var) != axis) return false;
    const int sq_v = var->inputs[0];
    const Node* sq = m.producer(sq_v, "Pow");
    if (sq) {
      const Tensor* e = constant_f32(g, sq->inputs.size() > 1 ? sq->inputs[1] : -1);
      if (sq->inputs[0] != d || !e || e->numel() != 1 || e->data<float>()[0] != 2.0f) return false;
    } else {
      sq = m.producer(sq_v, "Mul");
      if (!sq || sq->inputs.size() != 2 || sq->inputs[0] != d || sq->inputs[1] != d) return false;
    }
    // The Div and the square are d's two readers.
    const auto& rd = u.readers[d];
    const int sq_i = g.values[sq_v].producer;
    if (!((rd[0] == static_cast<int>(di) && rd[1] == sq_i) ||
          (rd[1] == static_cast<int>(di) && rd[0] == sq_i)))
      return false;
    const int64_t c = xt.dims.back();
    Tensor gamma(DType::f32, {c}), beta(DType::f32, {c});
    for (int64_t k = 0; k < c; ++k) gamma.data<float>()[k] = 1, beta.data<float>()[k] = 0;
    // Optional Mul(gamma) then Add(beta) (or Add alone).
    std::vector<int> pattern = {g.values[sub->inputs[1]].producer,
                                g.values[d].producer,
                                sq_i,
                                g.values[var_v].producer,
                                g.values[sqrt->inputs[0]].producer,
                                g.values[div.inputs[1]].producer,
                                static_cast<int>(di)};
    int y = div.outputs[0];
    for (const char* op : {"Mul", "Add"}) {
      if (u.graph_output[y] || u.readers[y].size() != 1) break;
      const int ni = u.readers[y][0];
      const Node& n = g.nodes[ni];
      if (n.op_type != op || touched[ni]) continue;
      Tensor t;
      const int k = Match::other(n, y);
      if (k < 0 || !last_axis_constant(g, k, c, &t) || g.values[n.outputs[0]].type.dims != xt.dims)
        continue;
      if (std::string(op) == "Mul") {
        gamma = std::move(t);
      } else {
        beta = std::move(t);
      }
      pattern.push_back(ni);
      y = n.outputs[0];
    }
    for (int ni : pattern)
      if (ni < 0 || touched[ni] || dead[ni]) return false;
    Node ln;
    ln.name = div.name;
    ln.op_type = "LayerNormalization";
    ln.attrs["axis"] = attr_int(axis);
    ln.attrs["epsilon"] = attr_float(eps_t->data<float>()[0]);
    ln.inputs = {x, add_constant(g, str_cat(div.name, "/gamma"), std::move(gamma)),
                 add_constant(g, str_cat(div.name, "/beta"), std::move(beta))};
    ln.outputs = {y};
    const int last = pattern.back();
    for (int ni : pattern) dead[ni] = touched[ni] = 1;
    dead[last] = 0;
    g.nodes[last] = std::move(ln);
    return true;
  });
}

}  // namespace visionrt
