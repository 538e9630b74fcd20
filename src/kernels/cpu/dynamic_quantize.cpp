// DynamicQuantizeLinear (the activation half of dynamically quantized exports): one pass for the
// range, one to quantize, split over rows in parallel. The arithmetic is the reference's
// (kernels/ref/quant_linear.cpp): the range always includes 0, scale = float((max - min) / 255)
// from the f32 extremes, zero point round(-min / scale) saturated to [0, 255], and each value
// float(x) / float(scale) rounded half to even in f32 before the zero point is added: results
// are bit-identical to the reference.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/parallel.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

// 16 independent lanes (each a plain min/max chain, so the loop vectorizes without reassociating
// a reduction), folded at the end; min and max are exact, so the order does not matter.
VISIONRT_MULTIVERSION void row_range(const float* x, int64_t n, float* lo, float* hi) {
  float mn[16] = {}, mx[16] = {};  // the range always includes 0
  const int64_t full = n / 16 * 16;
  for (int64_t i = 0; i < full; i += 16)
    for (int l = 0; l < 16; ++l) {
      mn[l] = std::min(mn[l], x[i + l]);
      mx[l] = std::max(mx[l], x[i + l]);
    }
  float a = 0, b = 0;
  for (int l = 0; l < 16; ++l) a = std::min(a, mn[l]), b = std::max(b, mx[l]);
  for (int64_t i = full; i < n; ++i) a = std::min(a, x[i]), b = std::max(b, x[i]);
  *lo = a;
  *hi = b;
}

// round_half_even(x / scale) + zp saturated to [0, 255]: the quotient clamped to a range where
// adding and subtracting 1.5 * 2^23 rounds it half to even (as std::nearbyint does, but in
// arithmetic that vectorizes).
VISIONRT_MULTIVERSION void row_quantize(const float* x, uint8_t* y, int64_t n, float scale,
                                        float zp) {
  const float qlo = -zp - 1, qhi = 256 - zp, magic = 12582912.0f;
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i] / scale;
    v = v > qlo ? v : qlo;
    v = v < qhi ? v : qhi;
    v = (v + magic) - magic + zp;
    v = v > 0.f ? v : 0.f;
    v = v < 255.f ? v : 255.f;
    y[i] = static_cast<uint8_t>(static_cast<int32_t>(v));
  }
}

class DynamicQuantize : public Kernel {
 public:
  explicit DynamicQuantize(int64_t n) : n_(n) {}
  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    uint8_t* y = ctx.output(0).data<uint8_t>();
    const int64_t chunk = 1 << 16, chunks = (n_ + chunk - 1) / chunk;
    const int threads = n_ >= (1 << 17) ? ctx.num_threads : 1;
    std::vector<float> lo(static_cast<size_t>(chunks)), hi(static_cast<size_t>(chunks));
    parallel_for(chunks, threads, [&](int64_t c) {
      row_range(x + c * chunk, std::min(chunk, n_ - c * chunk), &lo[c], &hi[c]);
    });
    double mn = 0, mx = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      mn = std::min(mn, static_cast<double>(lo[c]));
      mx = std::max(mx, static_cast<double>(hi[c]));
    }
    const float scale = static_cast<float>((mx - mn) / 255.0);
    const double zpd = scale == 0 ? 0 : std::clamp(std::nearbyint(-mn / scale), 0.0, 255.0);
    const float zp = static_cast<float>(zpd);
    if (scale == 0) {
      std::fill(y, y + n_, static_cast<uint8_t>(zp));
    } else {
      parallel_for(chunks, threads, [&](int64_t c) {
        row_quantize(x + c * chunk, y + c * chunk, std::min(chunk, n_ - c * chunk), scale, zp);
      });
    }
    ctx.output(1).data<float>()[0] = scale;
    ctx.output(2).data<uint8_t>()[0] = static_cast<uint8_t>(zpd);
  }
  std::string layout() const override { return "plain"; }

 private:
  int64_t n_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  const TensorType& x = q.input_types[0];
  if (x.dtype != DType::f32 || !x.fully_known()) return *why = "static f32 input only", nullptr;
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const int64_t n = static_cast<int64_t>(shape_numel(x.dims));
  if (n == 0) return *why = "empty input", nullptr;
  return std::make_unique<DynamicQuantize>(n);
}

}  // namespace

void register_cpu_dynamic_quantize(KernelRegistry& r) {
  r.add("DynamicQuantizeLinear", {"cpu", create, nullptr});
}

}  // namespace visionrt
