// Activations: the one table of what visionrt knows about each element-wise activation it fuses
// (visionrt.FusedConv's `activation`, visionrt.ScaleShift's, visionrt.Activation's): its name,
// the ONNX op that is exactly it (with that op's attribute names and defaults), and its scalar
// formula, which the reference kernels run and the pattern pass (fuse_activation_patterns)
// compares decomposed chains against. Formulas follow the ONNX operator definitions. The oneDNN
// algorithm of each lives beside the other oneDNN code (dnnl_common.cpp's eltwise_alg); adding
// an activation is one row here, one case there, and a test.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>

namespace visionrt {

struct Node;

enum class Act {
  none,
  relu,
  leaky_relu,
  clip,
  sigmoid,
  swish,
  tanh,
  hard_swish,
  elu,
  hard_sigmoid,
  gelu_erf,
  gelu_tanh,
  mish,
};

struct Activation {
  Act kind = Act::none;
  float alpha = 0, beta = 0;  // leaky_relu: slope; clip: min, max; elu: alpha; hard_sigmoid
};

struct ActInfo {
  Act kind;
  const char* name;     // attribute value of the fused ops ("relu", "gelu_erf", ...)
  const char* onnx_op;  // the ONNX op computing exactly this, "" when none
  const char* alpha_attr;
  float alpha_default;
  const char* beta_attr;
  float beta_default;
  float (*fn)(float x, float alpha, float beta);
};

namespace act_detail {
inline float none(float x, float, float) { return x; }
inline float relu(float x, float, float) { return x > 0 ? x : 0.0f; }
inline float leaky(float x, float a, float) { return x >= 0 ? x : a * x; }
inline float clip(float x, float a, float b) { return std::fmin(std::fmax(x, a), b); }
inline float sigmoid(float x, float, float) { return 1.0f / (1.0f + std::exp(-x)); }
inline float swish(float x, float, float) { return x / (1.0f + std::exp(-x)); }
inline float tanh_(float x, float, float) { return std::tanh(x); }
inline float hswish(float x, float, float) {
  return x * std::fmin(std::fmax(x + 3.0f, 0.0f), 6.0f) / 6.0f;
}
inline float elu(float x, float a, float) { return x >= 0 ? x : a * (std::exp(x) - 1.0f); }
inline float hsigmoid(float x, float a, float b) {
  return std::fmin(std::fmax(a * x + b, 0.0f), 1.0f);
}
inline float gelu_erf(float x, float, float) {
  return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
}
inline float gelu_tanh(float x, float, float) {
  return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}
inline float mish(float x, float, float) {
  // softplus without overflow: log1p(exp(-|x|)) + max(x, 0)
  return x * std::tanh(std::log1p(std::exp(-std::fabs(x))) + std::fmax(x, 0.0f));
}
}  // namespace act_detail

inline constexpr ActInfo kActivations[] = {
    {Act::none, "", "", "", 0, "", 0, act_detail::none},
    {Act::relu, "relu", "Relu", "", 0, "", 0, act_detail::relu},
    {Act::leaky_relu, "leaky_relu", "LeakyRelu", "alpha", 0.01f, "", 0, act_detail::leaky},
    {Act::clip, "clip", "", "", 0, "", 0, act_detail::clip},  // Clip: min/max are inputs
    {Act::sigmoid, "sigmoid", "Sigmoid", "", 0, "", 0, act_detail::sigmoid},
    {Act::swish, "swish", "", "", 0, "", 0, act_detail::swish},
    {Act::tanh, "tanh", "Tanh", "", 0, "", 0, act_detail::tanh_},
    {Act::hard_swish, "hard_swish", "HardSwish", "", 0, "", 0, act_detail::hswish},
    {Act::elu, "elu", "Elu", "alpha", 1.0f, "", 0, act_detail::elu},
    {Act::hard_sigmoid, "hard_sigmoid", "HardSigmoid", "alpha", 0.2f, "beta", 0.5f,
     act_detail::hsigmoid},
    {Act::gelu_erf, "gelu_erf", "", "", 0, "", 0, act_detail::gelu_erf},
    {Act::gelu_tanh, "gelu_tanh", "", "", 0, "", 0, act_detail::gelu_tanh},
    {Act::mish, "mish", "Mish", "", 0, "", 0, act_detail::mish},
};

inline const ActInfo& act_info(Act a) {
  for (const ActInfo& i : kActivations)
    if (i.kind == a) return i;
  return kActivations[0];
}

inline const char* act_name(Act a) { return act_info(a).name; }

inline bool parse_act(const std::string& s, Act* out) {
  for (const ActInfo& i : kActivations)
    if (s == i.name) return *out = i.kind, true;
  return false;
}

inline float apply_act(const Activation& a, float x) {
  return act_info(a.kind).fn(x, a.alpha, a.beta);
}

// The `activation`/`alpha`/`beta` attributes of the ops that carry a fused activation
// (visionrt.FusedConv, FusedMatMul, ScaleShift, Activation): read (false for an unknown name;
// absent means Act::none) and written. Defined in kernels/activation.cpp.
bool fused_activation(const Node& n, Activation* a);
void set_fused_activation(Node& n, const Activation& a);

// The activation a single node applies to its first input, when it is one we fuse: an ONNX op
// of the table (with its attributes), Clip with constant scalar bounds (attributes before opset
// 11, inputs after; `scalar(k, def, &v)` reads constant input k, `def` when absent, false when
// not a constant f32 scalar), or visionrt.Activation. Defined in kernels/activation.cpp.
using ConstScalarFn = std::function<bool(size_t input, float def, float* out)>;
bool node_activation(const Node& n, int64_t opset, const ConstScalarFn& scalar, Activation* a);

}  // namespace visionrt
