// The unary elementwise ops (math and activations) that share one inference rule and one
// reference kernel: a single list, so inference and kernels cannot drift apart.
#pragma once

namespace visionrt {

inline constexpr const char* kUnaryOps[] = {"Abs",       "Neg",
                                            "Exp",       "Log",
                                            "Sqrt",      "Reciprocal",
                                            "Floor",     "Ceil",
                                            "Round",     "Sign",
                                            "Sin",       "Cos",
                                            "Tan",       "Asin",
                                            "Acos",      "Atan",
                                            "Sinh",      "Cosh",
                                            "Asinh",     "Acosh",
                                            "Atanh",     "Erf",
                                            "Relu",      "Sigmoid",
                                            "Tanh",      "Softplus",
                                            "Softsign",  "HardSigmoid",
                                            "HardSwish", "LeakyRelu",
                                            "Elu",       "Selu",
                                            "Celu",      "ThresholdedRelu",
                                            "Shrink",    "Mish"};

}  // namespace visionrt
