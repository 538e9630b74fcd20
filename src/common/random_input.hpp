// Seeded random inputs, using the same LCG as ../shared/peers/ort_run.js (--random SEED) so
// visionrt and the peer see identical data: uniform [0,1) for float types; integer and bool
// inputs get small non-negative values floor(4u), safe as indices into dims of size >= 4.
#pragma once
#include <cmath>
#include <cstdint>

#include "visionrt/tensor.hpp"

namespace visionrt {

class Lcg {
 public:
  explicit Lcg(uint32_t seed) : state_(seed ? seed : 1) {}
  float next() {
    state_ = state_ * 1664525u + 1013904223u;
    return static_cast<float>(static_cast<double>(state_) / 4294967296.0);
  }

 private:
  uint32_t state_;
};

inline Tensor random_tensor(DType dtype, const Shape& shape, Lcg& rng) {
  Tensor t(DType::f32, shape);
  float* d = t.data<float>();
  for (size_t i = 0; i < t.numel(); ++i) d[i] = rng.next();
  if (dtype == DType::f32) return t;
  if (dtype_is_float(dtype)) return t.cast(dtype);
  for (size_t i = 0; i < t.numel(); ++i) d[i] = std::floor(d[i] * 4.0f);
  return t.cast(dtype);
}

}  // namespace visionrt
