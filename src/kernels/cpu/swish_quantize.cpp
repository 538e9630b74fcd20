// Swish straight into an 8-bit quantized output (see activation_loop.hpp): the activation of
// YOLOv5/v8's INT8 convolutions, whose oneDNN eltwise post-op cost a fifth of yolov8n's INT8
// time (0.4 ns a value here). Here without a division: 2^k (vscalefps) times a quintic in the
// fraction, and vrcp14ps with one Newton step for 1 / (1 + e): within about 3e-7 of swish
// relative, as close as oneDNN's own. (A cubic and vrcp14ps alone, 2e-4, flip more values at
// quantization ties: yolov8n INT8 coco128 AP 0.454, against 0.458 with this and 0.459 with the
// post-op.)
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/activation_loop.hpp"
#include "kernels/cpu/swish16.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "visionrt/error.hpp"

namespace visionrt {
namespace {

#if defined(__x86_64__)
VISIONRT_AVX512_BEGIN

// Clamped first (NaN to the lower bound), then rounded half to even as oneDNN converts.
VISIONRT_AVX512 inline __m512i quantized16(__m512 v, __m512 s, __m512 z, __m512 lo, __m512 hi) {
  const __m512 y = _mm512_fmadd_ps(cpu::swish16(v), s, z);
  return _mm512_cvtps_epi32(_mm512_min_ps(hi, _mm512_max_ps(y, lo)));
}

VISIONRT_AVX512 void swish_quantize_avx512(const float* x, void* q, int64_t n, float inv_scale,
                                           float zero_point, bool is_unsigned) {
  const __m512 s = _mm512_set1_ps(inv_scale), z = _mm512_set1_ps(zero_point);
  const __m512 lo = _mm512_set1_ps(is_unsigned ? 0.0f : -128.0f);
  const __m512 hi = _mm512_set1_ps(is_unsigned ? 255.0f : 127.0f);

  auto* out = static_cast<int8_t*>(q);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_mask_cvtepi32_storeu_epi8(out + i, 0xFFFF,
                                     quantized16(_mm512_loadu_ps(x + i), s, z, lo, hi));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, m,
                                     quantized16(_mm512_maskz_loadu_ps(m, x + i), s, z, lo, hi));
  }
}

VISIONRT_AVX512_END

// The same on 8 lanes for AVX2 + FMA: the clamped, rounded int32 lanes packed to 16 and then 8
// bits (saturation cannot change them: they are in range already).
VISIONRT_AVX2 inline __m128i quantized8(__m256 v, __m256 s, __m256 z, __m256 lo, __m256 hi,
                                        bool is_unsigned) {
  const __m256 y = _mm256_fmadd_ps(cpu::swish8(v), s, z);
  const __m256i i32 = _mm256_cvtps_epi32(_mm256_min_ps(hi, _mm256_max_ps(y, lo)));
  const __m128i i16 =
      _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
  return is_unsigned ? _mm_packus_epi16(i16, i16) : _mm_packs_epi16(i16, i16);
}

VISIONRT_AVX2 void swish_quantize_avx2(const float* x, void* q, int64_t n, float inv_scale,
                                       float zero_point, bool is_unsigned) {
  const __m256 s = _mm256_set1_ps(inv_scale), z = _mm256_set1_ps(zero_point);
  const __m256 lo = _mm256_set1_ps(is_unsigned ? 0.0f : -128.0f);
  const __m256 hi = _mm256_set1_ps(is_unsigned ? 255.0f : 127.0f);
  auto* out = static_cast<int8_t*>(q);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i),
                     quantized8(_mm256_loadu_ps(x + i), s, z, lo, hi, is_unsigned));
  if (i < n) {
    float tail[8] = {};
    int8_t bytes[8];
    for (int64_t j = i; j < n; ++j) tail[j - i] = x[j];
    _mm_storel_epi64(reinterpret_cast<__m128i*>(bytes),
                     quantized8(_mm256_loadu_ps(tail), s, z, lo, hi, is_unsigned));
    for (int64_t j = i; j < n; ++j) out[j] = bytes[j - i];
  }
}
#endif

// 16 (AVX-512), 8 (AVX2 + FMA) or 0: which loop this CPU runs.
int swish_quantize_lanes() { return cpu::own_vector_lanes(); }

}  // namespace

bool swish_quantize_available() { return swish_quantize_lanes() != 0; }

void swish_quantize(const float* x, void* q, int64_t n, float inv_scale, float zero_point,
                    bool is_unsigned) {
#if defined(__x86_64__)
  if (swish_quantize_lanes() == 16)
    return swish_quantize_avx512(x, q, n, inv_scale, zero_point, is_unsigned);
  if (swish_quantize_lanes() == 8)
    return swish_quantize_avx2(x, q, n, inv_scale, zero_point, is_unsigned);
#endif
  (void)x, (void)q, (void)n, (void)inv_scale, (void)zero_point, (void)is_unsigned;
  throw Error("internal: swish_quantize needs AVX-512 or AVX2 (check swish_quantize_available)");
}

}  // namespace visionrt
