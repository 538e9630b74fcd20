// Activations that fusion passes fold into a producer (visionrt.FusedConv's `activation`):
// one parser shared by the passes and kernels, the scalar definition the reference path uses,
// and the ONNX op each one replaces. Formulas follow the ONNX operator definitions.
#pragma once
#include <cmath>
#include <string>

namespace visionrt {

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
  hard_sigmoid
};

struct Activation {
  Act kind = Act::none;
  float alpha = 0, beta = 0;  // leaky_relu: slope; clip: min, max; elu: alpha; hard_sigmoid
};

inline const char* act_name(Act a) {
  switch (a) {
    case Act::none:
      return "";
    case Act::relu:
      return "relu";
    case Act::leaky_relu:
      return "leaky_relu";
    case Act::clip:
      return "clip";
    case Act::sigmoid:
      return "sigmoid";
    case Act::swish:
      return "swish";
    case Act::tanh:
      return "tanh";
    case Act::hard_swish:
      return "hard_swish";
    case Act::elu:
      return "elu";
    case Act::hard_sigmoid:
      return "hard_sigmoid";
  }
  return "";
}

inline bool parse_act(const std::string& s, Act* out) {
  for (Act a : {Act::none, Act::relu, Act::leaky_relu, Act::clip, Act::sigmoid, Act::swish,
                Act::tanh, Act::hard_swish, Act::elu, Act::hard_sigmoid})
    if (s == act_name(a)) return *out = a, true;
  return false;
}

inline float apply_act(const Activation& a, float x) {
  switch (a.kind) {
    case Act::none:
      return x;
    case Act::relu:
      return x > 0 ? x : 0.0f;
    case Act::leaky_relu:
      return x >= 0 ? x : a.alpha * x;
    case Act::clip:
      return std::fmin(std::fmax(x, a.alpha), a.beta);
    case Act::sigmoid:
      return 1.0f / (1.0f + std::exp(-x));
    case Act::swish:
      return x / (1.0f + std::exp(-x));
    case Act::tanh:
      return std::tanh(x);
    case Act::hard_swish:
      return x * std::fmin(std::fmax(x + 3.0f, 0.0f), 6.0f) / 6.0f;
    case Act::elu:
      return x >= 0 ? x : a.alpha * (std::exp(x) - 1.0f);
    case Act::hard_sigmoid:
      return std::fmin(std::fmax(a.alpha * x + a.beta, 0.0f), 1.0f);
  }
  return x;
}

}  // namespace visionrt
