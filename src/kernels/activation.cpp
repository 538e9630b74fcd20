// node_activation: which table activation (kernels/activation.hpp) a single node computes.
#include "kernels/activation.hpp"

#include <cfloat>

#include "graph/graph.hpp"

namespace visionrt {

bool fused_activation(const Node& n, Activation* a) {
  if (!parse_act(n.attr_s("activation", ""), &a->kind)) return false;
  a->alpha = n.attr_f("alpha", 0);
  a->beta = n.attr_f("beta", 0);
  return true;
}

void set_fused_activation(Node& n, const Activation& a) {
  n.attrs["activation"] = attr_string(act_name(a.kind));
  n.attrs["alpha"] = attr_float(a.alpha);
  n.attrs["beta"] = attr_float(a.beta);
}

bool node_activation(const Node& n, int64_t opset, const ConstScalarFn& scalar, Activation* a) {
  if (n.outputs.size() != 1 || n.inputs.empty() || n.inputs[0] < 0) return false;
  if (n.op_type == "Clip") {
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (opset < 11) {
      lo = n.attr_f("min", -FLT_MAX);
      hi = n.attr_f("max", FLT_MAX);
    } else if (!scalar(1, -FLT_MAX, &lo) || !scalar(2, FLT_MAX, &hi)) {
      return false;
    }
    if (!(lo <= hi)) return false;
    *a = {Act::clip, lo, hi};
    return true;
  }
  for (size_t k = 1; k < n.inputs.size(); ++k)
    if (n.inputs[k] >= 0) return false;
  if (n.op_type == "visionrt.Activation") {
    Activation r;
    if (!fused_activation(n, &r) || r.kind == Act::none) return false;
    return *a = r, true;
  }
  if (n.op_type == "Gelu") {  // opset 20: one op, two formulas
    const std::string approx = n.attr_s("approximate", "none");
    if (approx != "none" && approx != "tanh") return false;
    *a = {approx == "tanh" ? Act::gelu_tanh : Act::gelu_erf, 0.0f, 0.0f};
    return true;
  }
  for (const ActInfo& i : kActivations) {
    if (i.kind == Act::none || n.op_type != i.onnx_op) continue;
    a->kind = i.kind;
    a->alpha = *i.alpha_attr ? n.attr_f(i.alpha_attr, i.alpha_default) : 0.0f;
    a->beta = *i.beta_attr ? n.attr_f(i.beta_attr, i.beta_default) : 0.0f;
    return true;
  }
  return false;
}

}  // namespace visionrt
