// Helpers shared by the reference kernels: dtype dispatch, float conversion, broadcasting and
// strided index arithmetic. Reference kernels favour obviously-correct loops over speed.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/dtype_dispatch.hpp"
#include "kernels/kernel.hpp"
#include "visionrt/tensor.hpp"

namespace visionrt::ref {

// Element-type dispatch and load/store conversions live in common/dtype_dispatch.hpp (the
// tensor class uses them too); the reference kernels name them ref::.
using visionrt::acc_t;
using visionrt::dispatch_all;
using visionrt::dispatch_float;
using visionrt::dispatch_int;
using visionrt::dispatch_numeric;
using visionrt::load;
using visionrt::store;

// Row-major strides in elements.
inline std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

// Strides of `in` viewed as broadcast to `out` (0 where a dim is broadcast). `in` is right-aligned.
inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  std::vector<int64_t> ist = strides_of(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[off + i] = in[i] == 1 ? 0 : ist[i];
  return st;
}

// Iterates every index of `shape` in row-major order, keeping the matching offsets of several
// strided operands up to date. fn(out_linear_index, offsets...) style via a vector.
class MultiIndex {
 public:
  MultiIndex(const Shape& shape, std::vector<std::vector<int64_t>> strides)
      : shape_(shape),
        strides_(std::move(strides)),
        idx_(shape.size(), 0),
        off_(strides_.size(), 0) {}
  const std::vector<int64_t>& offsets() const { return off_; }
  int64_t offset(size_t k) const { return off_[k]; }
  const std::vector<int64_t>& index() const { return idx_; }
  void next() {
    for (int d = static_cast<int>(shape_.size()) - 1; d >= 0; --d) {
      if (++idx_[d] < shape_[d]) {
        for (size_t k = 0; k < off_.size(); ++k) off_[k] += strides_[k][d];
        return;
      }
      for (size_t k = 0; k < off_.size(); ++k) off_[k] -= strides_[k][d] * (shape_[d] - 1);
      idx_[d] = 0;
    }
  }

 private:
  Shape shape_;
  std::vector<std::vector<int64_t>> strides_;
  std::vector<int64_t> idx_;
  std::vector<int64_t> off_;
};

// All elements as double (any dtype): the reference kernels' working precision.
inline std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.at_f64(i);
  return v;
}

// Stores doubles into a numeric tensor of any dtype: integers saturate (NaN -> 0), truncating
// toward zero, or rounding half to even with `round_ints` (interpolating kernels).
inline void from_doubles(Tensor& t, const std::vector<double>& v, bool round_ints = false) {
  dispatch_all(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) {
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
        o[i] = store<T>(round_ints ? std::nearbyint(v[i]) : v[i]);
      else
        o[i] = store<T>(v[i]);
    }
  });
}

// A tensor seen as [outer, shape[axis], inner]: the element counts before and after `axis`.
inline int64_t outer_size(const Shape& s, int64_t axis) {
  int64_t n = 1;
  for (int64_t d = 0; d < axis; ++d) n *= s[static_cast<size_t>(d)];
  return n;
}
inline int64_t inner_size(const Shape& s, int64_t axis) {
  int64_t n = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) n *= s[d];
  return n;
}

// Normalizes a possibly negative axis.
inline int64_t norm_axis(int64_t a, int64_t rank) { return a < 0 ? a + rank : a; }

}  // namespace visionrt::ref
