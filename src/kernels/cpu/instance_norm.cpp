// InstanceNormalization on static f32 tensors in plain layout: each (n, c) row of H*W values is
// normalized by its own mean and variance, then scaled and shifted per channel. PyTorch's
// GroupNorm exports as Reshape [N, G, -1] -> InstanceNormalization -> Reshape -> Mul -> Add, so
// this is GroupNorm's kernel as well (the affine after it becomes a ScaleShift).
// Per row: a sum pass, a centred sum-of-squares pass (the two-pass variance: no cancellation
// when the mean is large against the spread), and y = x * a + b with a = scale / sqrt(var + eps),
// b = bias - mean * a. Sums are cpu::chunked_sum (float lanes per chunk, chunks in double).
#include <algorithm>
#include <cmath>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

VISIONRT_MULTIVERSION double row_sum(const float* x, int64_t n) {
  return cpu::chunked_sum<false>(x, n, 0.0f);
}

VISIONRT_MULTIVERSION double row_centred_squares(const float* x, int64_t n, float mean) {
  return cpu::chunked_sum<true>(x, n, mean);
}

VISIONRT_MULTIVERSION void row_affine(const float* x, float* y, int64_t n, float a, float b) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * a + b;
}

class InstanceNorm : public Kernel {
 public:
  InstanceNorm(int64_t batch, int64_t channels, int64_t inner, float eps)
      : batch_(batch), channels_(channels), inner_(inner), eps_(eps) {}
  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    const float* scale = ctx.input(1).data<float>();
    const float* bias = ctx.input(2).data<float>();
    float* y = ctx.output(0).data<float>();
    const int64_t rows = batch_ * channels_;
    const int threads = rows * inner_ >= (1 << 15) ? ctx.num_threads : 1;
    parallel_for(rows, threads, [&](int64_t r) {
      const float* xr = x + r * inner_;
      const double mean = row_sum(xr, inner_) / static_cast<double>(inner_);
      const double var =
          row_centred_squares(xr, inner_, static_cast<float>(mean)) / static_cast<double>(inner_);
      const int64_t c = r % channels_;
      const double a = scale[c] / std::sqrt(var + eps_);
      row_affine(xr, y + r * inner_, inner_, static_cast<float>(a),
                 static_cast<float>(bias[c] - mean * a));
    });
  }
  std::string layout() const override { return "plain"; }

 private:
  int64_t batch_, channels_, inner_;
  double eps_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.input_types.size() != 3) return *why = "needs X, scale and B", nullptr;
  for (const TensorType& t : q.input_types)
    if (t.dtype != DType::f32 || !t.fully_known()) return *why = "static f32 only", nullptr;
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const Shape& x = q.input_types[0].dims;
  if (x.size() < 3) return *why = "rank below 3", nullptr;
  const int64_t c = x[1];
  if (static_cast<int64_t>(shape_numel(q.input_types[1].dims)) != c ||
      static_cast<int64_t>(shape_numel(q.input_types[2].dims)) != c)
    return *why = "scale/B are not [C]", nullptr;
  int64_t inner = 1;
  for (size_t d = 2; d < x.size(); ++d) inner *= x[d];
  if (inner == 0 || x[0] * c == 0) return *why = "empty tensor", nullptr;
  return std::make_unique<InstanceNorm>(x[0], c, inner, q.node->attr_f("epsilon", 1e-5f));
}

}  // namespace

void register_cpu_instance_norm(KernelRegistry& r) {
  r.add("InstanceNormalization", {"cpu", create, nullptr});
}

}  // namespace visionrt
