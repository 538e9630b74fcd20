// TopK and NonZero at run-time sizes, the score selection of one-stage detector exports
// (torchvision RetinaNet/FCOS: TopK over every anchor's scores per level, NonZero on the scores
// above the threshold), which ran the reference's per-element double conversions and full
// stable sort. TopK: a partial sort of each row by (value, index), which orders exactly as the
// reference's stable sort (ties keep the lower index first); rows holding NaN take the
// reference's own sort. NonZero: a typed scan, then the coordinates.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

template <typename T>
void topk_rows(const Tensor& x, int64_t axis, int64_t k, bool largest, Tensor& vals, Tensor& idx,
               int threads) {
  const Shape& s = x.shape();
  const int64_t n = s[static_cast<size_t>(axis)];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
  const T* xv = x.data<T>();
  T* ov = vals.data<T>();
  int64_t* oi = idx.data<int64_t>();
  const int64_t rows = outer * inner;
  const int t = rows * n >= (1 << 16) ? threads : 1;
  parallel_for(rows, t, [&](int64_t row) {
    const int64_t p = row / inner, q = row % inner;
    std::vector<T> v(static_cast<size_t>(n));
    std::vector<int64_t> order(static_cast<size_t>(n));
    bool nan = false;
    for (int64_t j = 0; j < n; ++j) {
      v[j] = xv[(p * n + j) * inner + q];
      if constexpr (std::is_floating_point_v<T>) nan = nan || std::isnan(v[j]);
    }
    std::iota(order.begin(), order.end(), 0);
    if (nan) {
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return largest ? v[a] > v[b] : v[a] < v[b]; });
    } else {
      auto before = [&](int64_t a, int64_t b) {
        if (v[a] != v[b]) return largest ? v[a] > v[b] : v[a] < v[b];
        return a < b;
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
    }
    for (int64_t j = 0; j < k; ++j) {
      const int64_t dst = (p * k + j) * inner + q;
      ov[dst] = v[order[j]];
      oi[dst] = order[j];
    }
  });
}

class TopKCpu : public Kernel {
 public:
  void execute(KernelContext& c) override {
    const Tensor& x = c.input(0);
    Tensor& vals = c.output(0);
    Tensor& idx = c.output(1);
    const int64_t r = static_cast<int64_t>(x.rank());
    const int64_t axis = c.axis(c.node->attr_i("axis", -1), r);
    const int64_t k = vals.dim(static_cast<size_t>(axis));
    if (k > x.dim(static_cast<size_t>(axis))) c.fail("K exceeds the axis length");
    if (vals.numel() == 0) return;
    const bool largest = c.node->attr_i("largest", 1) != 0;
    switch (x.dtype()) {
      case DType::f32:
        topk_rows<float>(x, axis, k, largest, vals, idx, c.num_threads);
        break;
      case DType::i64:
        topk_rows<int64_t>(x, axis, k, largest, vals, idx, c.num_threads);
        break;
      default:
        topk_rows<int32_t>(x, axis, k, largest, vals, idx, c.num_threads);
        break;
    }
  }
};

template <typename T>
void nonzero_of(const Tensor& x, KernelContext& c) {
  const T* v = static_cast<const T*>(x.raw());  // bool is stored as one byte
  const int64_t total = static_cast<int64_t>(x.numel()), r = static_cast<int64_t>(x.rank());
  int64_t n = 0;
  for (int64_t i = 0; i < total; ++i) n += v[i] != T(0);
  Tensor y(DType::i64, {r, n});
  int64_t* out = y.data<int64_t>();
  std::vector<int64_t> strides(static_cast<size_t>(r), 1);
  for (int64_t d = r - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * x.dim(static_cast<size_t>(d + 1));
  // Rows of the last axis with the leading coordinates carried along (no division per element).
  const int64_t last = x.dim(static_cast<size_t>(r - 1));
  std::vector<int64_t> lead(static_cast<size_t>(r - 1), 0);
  int64_t k = 0;
  for (int64_t base = 0; base < total; base += last) {
    for (int64_t j = 0; j < last; ++j) {
      if (v[base + j] == T(0)) continue;
      for (int64_t d = 0; d + 1 < r; ++d) out[d * n + k] = lead[static_cast<size_t>(d)];
      out[(r - 1) * n + k] = j;
      ++k;
    }
    for (int64_t d = r - 2; d >= 0; --d) {
      if (++lead[static_cast<size_t>(d)] < x.dim(static_cast<size_t>(d))) break;
      lead[static_cast<size_t>(d)] = 0;
    }
  }
  c.set_output(0, std::move(y));
}

class NonZeroCpu : public Kernel {
 public:
  void execute(KernelContext& c) override {
    const Tensor& x = c.input(0);
    switch (x.dtype()) {
      case DType::f32:
        nonzero_of<float>(x, c);
        break;
      case DType::i64:
        nonzero_of<int64_t>(x, c);
        break;
      case DType::i32:
        nonzero_of<int32_t>(x, c);
        break;
      default:  // bool and u8: one byte each
        nonzero_of<uint8_t>(x, c);
        break;
    }
  }
};

std::unique_ptr<Kernel> create_topk(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const DType t = q.input_types[0].dtype;
  if (t != DType::f32 && t != DType::i64 && t != DType::i32)
    return *why = "f32/i64/i32 only", nullptr;
  return std::make_unique<TopKCpu>();
}

std::unique_ptr<Kernel> create_nonzero(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const DType t = q.input_types[0].dtype;
  if (t != DType::f32 && t != DType::i64 && t != DType::i32 && t != DType::boolean &&
      t != DType::u8)
    return *why = "f32/i64/i32/bool/u8 only", nullptr;
  if (!q.input_types[0].has_rank || q.input_types[0].dims.empty())
    return *why = "needs a known rank of at least 1", nullptr;
  return std::make_unique<NonZeroCpu>();
}

}  // namespace

void register_cpu_topk_nonzero(KernelRegistry& r) {
  r.add("TopK", {"cpu", create_topk, nullptr});
  r.add("NonZero", {"cpu", create_nonzero, nullptr});
}

}  // namespace visionrt
