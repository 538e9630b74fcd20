// ReduceMean/ReduceSum/ReduceMax/ReduceMin on static f32 tensors whose reduced axes form one
// contiguous group once adjacent axes of the same kind merge: [outer, R, inner] (a token mean
// over [N, L, C] -> axis 1, a mean over the last axis, all axes, a spatial mean of a 4-D tensor).
// Also oneDNN's blocked nChw8c/nChw16c with only H and W reduced and keepdims (squeeze-excitation
// blocks' ReduceMean): that is [N * C/b, H * W, b]. oneDNN 2.6 offers only its reference
// reduction for some of these shapes and for every blocked one.
// inner == 1: each output reduces one contiguous row (16 float lanes, chunks summed in double);
// inner > 1: rows of `inner` values are combined element-wise (vectorized over inner).
#include <algorithm>
#include <cmath>
#include <limits>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"
#include "kernels/reduce_axes.hpp"

namespace visionrt {
namespace {

enum class Red { sum, mean, max, min };

using cpu::kChunk;
using cpu::kLanes;

// Max/min propagate NaN as NumPy's maximum.reduce (the ONNX reference) does: once the running
// value is NaN nothing replaces it, and a NaN operand replaces any running value.
template <Red op>
inline float combine(float a, float b) {
  if constexpr (op == Red::max) return (a < b || b != b) ? b : a;
  if constexpr (op == Red::min) return (b < a || b != b) ? b : a;
  return a + b;
}

template <Red op>
inline float init() {
  if constexpr (op == Red::max) return -std::numeric_limits<float>::infinity();
  if constexpr (op == Red::min) return std::numeric_limits<float>::infinity();
  return 0.0f;
}

// One contiguous row of n values.
template <Red op>
inline double reduce_row(const float* x, int64_t n) {
  double total = op == Red::max || op == Red::min ? static_cast<double>(init<op>()) : 0.0;
  int64_t i = 0;
  while (i + kLanes <= n) {
    float acc[kLanes];
    for (int l = 0; l < kLanes; ++l) acc[l] = init<op>();
    const int64_t end = std::min(n - (n - i) % kLanes, i + kChunk);
    for (; i < end; i += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] = combine<op>(acc[l], x[i + l]);
    for (int l = 0; l < kLanes; ++l)
      total = static_cast<double>(combine<op>(static_cast<float>(total), acc[l]));
  }
  for (; i < n; ++i) total = static_cast<double>(combine<op>(static_cast<float>(total), x[i]));
  return total;
}

// Sums need double between chunks: a float total would lose the small chunks' digits.
template <>
inline double reduce_row<Red::sum>(const float* x, int64_t n) {
  return cpu::chunked_sum<false>(x, n, 0.0f);
}

// y[0..inner) = reduce over r < R of x[r * inner + i]; sums in float per 256 rows, then double.
template <Red op>
inline void reduce_rows(const float* x, float* y, int64_t rows, int64_t inner, float scale) {
  constexpr bool kSum = op == Red::sum || op == Red::mean;
  float part[256];
  double total[256];
  for (int64_t i0 = 0; i0 < inner; i0 += 256) {
    const int64_t m = std::min<int64_t>(256, inner - i0);
    for (int64_t i = 0; i < m; ++i) total[i] = kSum ? 0.0 : static_cast<double>(init<op>());
    for (int64_t r0 = 0; r0 < rows; r0 += 256) {
      const int64_t r1 = std::min<int64_t>(rows, r0 + 256);
      for (int64_t i = 0; i < m; ++i) part[i] = init<op>();
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * inner + i0;
        for (int64_t i = 0; i < m; ++i) part[i] = combine<op>(part[i], xr[i]);
      }
      for (int64_t i = 0; i < m; ++i)
        total[i] = kSum ? total[i] + part[i]
                        : static_cast<double>(combine<op>(static_cast<float>(total[i]), part[i]));
    }
    for (int64_t i = 0; i < m; ++i) y[i0 + i] = static_cast<float>(total[i] * scale);
  }
}

template <Red op>
inline void block_of(const float* x, float* y, int64_t rows, int64_t inner, float scale) {
  if (inner == 1) {
    constexpr Red row_op = op == Red::mean ? Red::sum : op;
    y[0] = static_cast<float>(reduce_row<row_op>(x, rows) * scale);
  } else {
    reduce_rows<op>(x, y, rows, inner, scale);
  }
}

// Compiled for several ISAs (multiversioned functions cannot be templates: a run-time switch).
VISIONRT_MULTIVERSION void run_block(Red op, const float* x, float* y, int64_t rows, int64_t inner,
                                     float scale) {
  switch (op) {
    case Red::sum:
      return block_of<Red::sum>(x, y, rows, inner, scale);
    case Red::mean:
      return block_of<Red::mean>(x, y, rows, inner, scale);
    case Red::max:
      return block_of<Red::max>(x, y, rows, inner, scale);
    case Red::min:
      return block_of<Red::min>(x, y, rows, inner, scale);
  }
}

class CpuReduce : public Kernel {
 public:
  CpuReduce(Red op, int64_t outer, int64_t rows, int64_t inner, std::string layout)
      : op_(op), outer_(outer), rows_(rows), inner_(inner), layout_(std::move(layout)) {}
  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    const float scale = op_ == Red::mean ? 1.0f / static_cast<float>(rows_) : 1.0f;
    const int threads = outer_ * rows_ * inner_ >= (1 << 15) ? ctx.num_threads : 1;
    parallel_for(outer_, threads, [&](int64_t o) {
      const float* xo = x + o * rows_ * inner_;
      float* yo = y + o * inner_;
      run_block(op_, xo, yo, rows_, inner_, scale);
    });
  }
  std::string layout() const override { return layout_; }

 private:
  Red op_;
  int64_t outer_, rows_, inner_;
  std::string layout_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  const TensorType& t = q.input_types[0];
  if (t.dtype != DType::f32 || !t.fully_known() || t.dims.empty())
    return *why = "static f32 tensors only", nullptr;
  if (shape_numel(t.dims) == 0) return *why = "empty input", nullptr;
  const std::string& name = q.node->op_type;
  Red op;
  if (name == "ReduceSum")
    op = Red::sum;
  else if (name == "ReduceMean")
    op = Red::mean;
  else if (name == "ReduceMax")
    op = Red::max;
  else if (name == "ReduceMin")
    op = Red::min;
  else
    return *why = "not a sum/mean/max/min reduction", nullptr;
  std::vector<char> red;
  if (!reduced_axes(q, &red, why)) return nullptr;
  const Shape& x = t.dims;
  const int bi = q.input_layout(0);
  if (bi != q.output_layout(0)) return *why = "input and output layouts differ", nullptr;
  if (bi == kLayoutNhwc) return *why = "not for channels-last tensors", nullptr;
  if (bi) {
    if (x.size() != 4 || red[0] || red[1] || !red[2] || !red[3] ||
        q.node->attr_i("keepdims", 1) != 1)
      return *why = "blocked: only H and W reduced, keepdims", nullptr;
    const int64_t cb = (x[1] + bi - 1) / bi;
    return std::make_unique<CpuReduce>(op, x[0] * cb, x[2] * x[3], bi, str_cat("nChw", bi, "c"));
  }
  // Axes of size 1 are neither; the rest must be kept* reduced+ kept*.
  int64_t outer = 1, rows = 1, inner = 1;
  int phase = 0;  // 0: before the reduced group, 1: in it, 2: after it
  for (size_t a = 0; a < x.size(); ++a) {
    if (x[a] == 1) continue;
    if (red[a]) {
      if (phase == 2) return *why = "reduced axes are not one contiguous group", nullptr;
      phase = 1;
      rows *= x[a];
    } else {
      if (phase == 1) phase = 2;
      (phase == 0 ? outer : inner) *= x[a];
    }
  }
  return std::make_unique<CpuReduce>(op, outer, rows, inner, "plain");
}

}  // namespace

void register_cpu_reduce(KernelRegistry& r) {
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"})
    r.add(op, KernelCandidate::checked_by_create("cpu", create));
}

}  // namespace visionrt
