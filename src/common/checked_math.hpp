// Checked arithmetic for dimensions read from untrusted models: overflow is a ModelError, never
// undefined behaviour. Unknown dims (-1) propagate as -1.
#pragma once
#include <cstdint>
#include <string>

#include "visionrt/error.hpp"

namespace visionrt {

inline int64_t dim_mul(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return -1;
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > (int64_t{1} << 50))
    throw ModelError("dimension product " + std::to_string(a) + " * " + std::to_string(b) +
                     " is too large");
  return r;
}

// a + b for sizes/offsets that may be negative (pads), overflow-checked.
inline int64_t dim_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r) || r > (int64_t{1} << 50) || r < -(int64_t{1} << 50))
    throw ModelError("dimension sum " + std::to_string(a) + " + " + std::to_string(b) +
                     " is out of range");
  return r;
}

}  // namespace visionrt
