// Element-type dispatch: calls a generic lambda with a value of the C++ type of a DType, and the
// load/store conversions through the compute type (float for f16/bf16). Used by the tensor class
// (cast, at_f64) and every kernel that is generic over dtypes.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "visionrt/tensor.hpp"

namespace visionrt {

// Compute type for an element type: float for f16/bf16, the type itself otherwise.
template <typename T>
struct Acc {
  using type = T;
};
template <>
struct Acc<f16> {
  using type = float;
};
template <>
struct Acc<bf16> {
  using type = float;
};
template <typename T>
using acc_t = typename Acc<T>::type;

template <typename T>
inline acc_t<T> load(T v) {
  return static_cast<acc_t<T>>(v);
}
template <typename T, typename V>
inline T store(V v) {
  if constexpr (std::is_same_v<T, f16> || std::is_same_v<T, bf16>) {
    return T(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != V(0);
  } else if constexpr (std::is_integral_v<T> && std::is_floating_point_v<V>) {
    // Float -> int outside the range is UB in C++: saturate, NaN -> 0 (as Tensor::cast does).
    if (std::isnan(v)) return T(0);
    if (v <= static_cast<V>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    if (v >= static_cast<V>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

// Calls f(T{}) with T the C++ type of `t`. Returns false for dtypes outside the chosen set.
#define VISIONRT_DISPATCH_CASE(D, T) \
  case DType::D:                     \
    f(T{});                          \
    return true;

template <typename F>
bool dispatch_float(DType t, F&& f) {
  switch (t) {
    VISIONRT_DISPATCH_CASE(f32, float)
    VISIONRT_DISPATCH_CASE(f64, double)
    VISIONRT_DISPATCH_CASE(f16, f16)
    VISIONRT_DISPATCH_CASE(bf16, bf16)
    default:
      return false;
  }
}
template <typename F>
bool dispatch_int(DType t, F&& f) {
  switch (t) {
    VISIONRT_DISPATCH_CASE(i8, int8_t)
    VISIONRT_DISPATCH_CASE(u8, uint8_t)
    VISIONRT_DISPATCH_CASE(i16, int16_t)
    VISIONRT_DISPATCH_CASE(u16, uint16_t)
    VISIONRT_DISPATCH_CASE(i32, int32_t)
    VISIONRT_DISPATCH_CASE(u32, uint32_t)
    VISIONRT_DISPATCH_CASE(i64, int64_t)
    VISIONRT_DISPATCH_CASE(u64, uint64_t)
    default:
      return false;
  }
}
// Every numeric type (float and integer), not bool.
template <typename F>
bool dispatch_numeric(DType t, F&& f) {
  return dispatch_float(t, f) || dispatch_int(t, f);
}
// Every type including bool: for data movement ops.
template <typename F>
bool dispatch_all(DType t, F&& f) {
  if (t == DType::boolean) {
    f(bool{});
    return true;
  }
  return dispatch_numeric(t, f);
}
#undef VISIONRT_DISPATCH_CASE

}  // namespace visionrt
