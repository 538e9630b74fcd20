// Branch-free float math that GCC and Clang vectorize inside plain loops (std::exp calls do not
// vectorize without -ffast-math). Hot loops using it are compiled for several ISAs with
// VISIONRT_MULTIVERSION and picked at load time by the CPU's features. exp_approx: Cody-Waite range
// reduction x = k ln2 + r, a degree-6 polynomial for e^r on |r| <= ln2/2, and 2^k built in the
// exponent bits; relative error below 2e-7 (about 2 ulp) over the float range, 0 below -87.3, +inf
// above 88.7. The activations built on it (sigmoid, tanh, mish, GELU...) are within about 3e-7
// absolute of the libm formulas in kernels/activation.hpp.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

// Not under sanitizers: their instrumentation of the ifunc resolvers runs before the runtime
// is initialized (ThreadSanitizer crashes at load).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define VISIONRT_NO_MULTIVERSION
#endif
#if defined(__x86_64__) && !defined(VISIONRT_NO_MULTIVERSION)
#define VISIONRT_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VISIONRT_MULTIVERSION
#endif

// Hand-written AVX-512 intrinsic loops (own activation passes) are compiled for avx512f only and
// called where the CPU has it; between VISIONRT_AVX512_BEGIN and _END GCC 12's warning about the
// undefined pass-through operand inside its own intrinsics' headers is off.
#if defined(__x86_64__)
#define VISIONRT_AVX512 __attribute__((target("avx512f")))
// The same loops for AVX2 machines (8 lanes, FMA), called where the CPU has AVX2 and FMA.
#define VISIONRT_AVX2 __attribute__((target("avx2,fma")))
#if defined(__GNUC__) && !defined(__clang__)
#define VISIONRT_AVX512_BEGIN \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define VISIONRT_AVX512_END _Pragma("GCC diagnostic pop")
#else
#define VISIONRT_AVX512_BEGIN
#define VISIONRT_AVX512_END
#endif
#endif

// Always inlined: the inliner's budget otherwise leaves calls in big kernels' loops (ScaleShift's
// switch over activations), and a call in a loop stops vectorization.
#define VISIONRT_VEC_INLINE __attribute__((always_inline)) inline

namespace visionrt::cpu {

// Lanes of the own intrinsic loops this CPU runs: 16 (VISIONRT_AVX512), 8 (VISIONRT_AVX2: AVX2
// and FMA) or 0 (neither; the portable code).
inline int own_vector_lanes() {
#if defined(__x86_64__)
  static const int lanes = __builtin_cpu_supports("avx512f")                                 ? 16
                           : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8
                                                                                             : 0;
  return lanes;
#else
  return 0;
#endif
}

VISIONRT_VEC_INLINE float exp_approx(float x) {
  const float hi = 88.7228391f, lo = -87.3365448f;
  // NaN goes to lo here (every comparison with it is false), so that the conversion of k to
  // int below stays defined; the result is NaN again at the end.
  float xc = x >= lo ? (x > hi ? hi : x) : lo;
  // Round to nearest with the 1.5 * 2^23 trick: plain SSE2 arithmetic, so the loop vectorizes.
  const float magic = 12582912.0f;
  float k = (xc * 1.44269504088896341f + magic) - magic;
  float r = xc - k * 0.693359375f;  // ln2 split in two for an exact product
  r = r - k * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, 4);
  float y = p * scale;
  y = x < lo ? 0.0f : y;
  y = x > hi ? __builtin_inff() : y;
  return x != x ? x : y;  // NaN stays NaN
}

VISIONRT_VEC_INLINE float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)): no overflow (e^{2|x|} = inf gives 1).
VISIONRT_VEC_INLINE float tanh_approx(float x) {
  const float a = x < 0 ? -x : x;
  const float t = 1.0f - 2.0f / (exp_approx(2.0f * a) + 1.0f);
  return x < 0 ? -t : t;
}

// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
VISIONRT_VEC_INLINE float erf_approx(float x) {
  const float a = x < 0 ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float r = 1.0f - p * t * exp_approx(-a * a);
  return x < 0 ? -r : r;
}

// mish(x) = x tanh(softplus(x)) = x n / (n + 2) with n = e^x (e^x + 2); x itself above 20.
VISIONRT_VEC_INLINE float mish_approx(float x) {
  const float e = exp_approx(x < 20.0f ? x : 20.0f);
  const float n = e * (e + 2.0f);
  return x < 20.0f ? x * n / (n + 2.0f) : x;
}

// Long row reductions run kLanes float lanes (vectorized) over chunks of kChunk values, each lane
// combining at most 128 values before the chunk's lanes go to a double total (a float total
// would lose the later chunks' digits on long rows).
constexpr int kLanes = 16;
constexpr int64_t kChunk = 2048;

// Sum of x[i] (kCentred: of (x[i] - mean)^2) over n values, chunked as above.
template <bool kCentred>
VISIONRT_VEC_INLINE double chunked_sum(const float* x, int64_t n, float mean) {
  double s = 0;
  int64_t i = 0;
  while (i + kLanes <= n) {
    float acc[kLanes] = {};
    const int64_t end = std::min(n - (n - i) % kLanes, i + kChunk);
    for (; i < end; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float d = x[i + l] - mean;
        acc[l] += kCentred ? d * d : d;
      }
    for (int l = 0; l < kLanes; ++l) s += acc[l];
  }
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    s += kCentred ? d * d : d;
  }
  return s;
}

}  // namespace visionrt::cpu
