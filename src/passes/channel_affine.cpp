// channel_affine and add_constant (passes/pattern.hpp): what fold_conv_affine folds into a conv
// and fuse_scale_shift turns into visionrt.ScaleShift, recognised in one place.
#include <cmath>

#include "passes/pattern.hpp"

namespace visionrt {
namespace {

// Per-channel values of constant `t` against an operand of rank `rank` with `channels` channels
// on axis 1: a scalar, or numpy-broadcastable with every dimension but axis 1 equal to 1.
bool per_channel(const Tensor& t, size_t rank, int64_t channels, std::vector<double>* out) {
  const Shape& s = t.shape();
  bool ok = t.numel() == 1;
  if (!ok && static_cast<int64_t>(t.numel()) == channels && s.size() <= rank && rank >= 2) {
    ok = true;
    for (size_t i = 0; i < s.size(); ++i) {
      const size_t axis = rank - s.size() + i;  // aligned to the trailing dimensions
      ok = ok && (axis == 1 ? s[i] == channels : s[i] == 1);
    }
  }
  if (!ok) return false;
  out->resize(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c)
    (*out)[c] = t.at_f64(t.numel() == 1 ? 0 : static_cast<size_t>(c));
  return true;
}

}  // namespace

bool last_axis_constant(const Graph& g, int v, int64_t c, Tensor* out) {
  const Tensor* t = constant_f32(g, v);
  if (!t) return false;
  const Shape& s = t->shape();
  if (t->numel() != 1 && static_cast<int64_t>(t->numel()) != c) return false;
  for (size_t i = 0; i + 1 < s.size(); ++i)
    if (s[i] != 1) return false;
  *out = Tensor(DType::f32, {c});
  for (int64_t k = 0; k < c; ++k) out->data<float>()[k] = t->data<float>()[t->numel() == 1 ? 0 : k];
  return true;
}

int add_constant(Graph& g, const std::string& name, Tensor t) {
  int v = g.add_value(name);
  g.values[v].type.dtype = t.dtype();
  g.values[v].type.has_rank = true;
  g.values[v].type.dims = t.shape();
  g.values[v].constant = std::move(t);
  return v;
}

bool channel_affine(const Graph& g, const Node& n, int x, int64_t oc, std::vector<double>* scale,
                    std::vector<double>* shift) {
  const TensorType& xt = g.values[x].type;
  if (!xt.has_rank || xt.dims.size() < 2 || n.outputs.size() != 1 || n.outputs[0] < 0) return false;
  scale->assign(static_cast<size_t>(oc), 1.0);
  shift->assign(static_cast<size_t>(oc), 0.0);
  if (n.op_type == "BatchNormalization") {
    if (n.inputs.size() != 5 || n.inputs[0] != x || n.attr_i("training_mode", 0) != 0) return false;
    const Tensor* s = constant_f32(g, n.inputs[1]);
    const Tensor* bb = constant_f32(g, n.inputs[2]);
    const Tensor* mean = constant_f32(g, n.inputs[3]);
    const Tensor* var = constant_f32(g, n.inputs[4]);
    if (!s || !bb || !mean || !var) return false;
    if (static_cast<int64_t>(s->numel()) != oc || bb->numel() != s->numel() ||
        mean->numel() != s->numel() || var->numel() != s->numel())
      return false;
    const double eps = n.attr_f("epsilon", 1e-5f);
    for (int64_t o = 0; o < oc; ++o) {
      double k = s->at_f64(o) / std::sqrt(var->at_f64(o) + eps);
      (*scale)[o] = k;
      (*shift)[o] = bb->at_f64(o) - mean->at_f64(o) * k;
    }
    return true;
  }
  const std::string& op = n.op_type;
  if (op != "Mul" && op != "Add" && op != "Sub" && op != "Div") return false;
  if (n.inputs.size() != 2) return false;
  const bool x_first = n.inputs[0] == x;
  const int other = x_first ? n.inputs[1] : n.inputs[0];
  if (other == x || (!x_first && n.inputs[1] != x)) return false;
  if (op == "Div" && !x_first) return false;
  const Tensor* k = constant_f32(g, other);
  std::vector<double> vals;
  if (!k || !per_channel(*k, xt.dims.size(), oc, &vals)) return false;
  // The result keeps x's shape (no broadcasting beyond it).
  if (g.values[n.outputs[0]].type.dims != xt.dims) return false;
  for (int64_t o = 0; o < oc; ++o) {
    if (op == "Mul") (*scale)[o] = vals[o];
    if (op == "Div") (*scale)[o] = 1.0 / vals[o];
    if (op == "Add") (*shift)[o] = vals[o];
    if (op == "Sub" && x_first) (*shift)[o] = -vals[o];
    if (op == "Sub" && !x_first) (*scale)[o] = -1.0, (*shift)[o] = vals[o];
  }
  return true;
}

}  // namespace visionrt
