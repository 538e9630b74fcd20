// swish(v) = v / (1 + e^-v) on 16 lanes without a division (8 for AVX2), for the own loops
// (kernels/cpu/scale_shift.cpp's in-place activation after a convolution, swish_quantize.cpp's
// INT8 output): 2^k (vscalefps) times a quintic in the fraction, and vrcp14ps with one Newton
// step for the reciprocal. Within about 3e-7 of swish relative (oneDNN's own eltwise is as
// close), 1.5x cheaper than an f32-exact exp and a vdivps. +inf stays +inf, NaN stays NaN;
// -inf gives -0 (the limit), where the formula's -inf / inf is NaN: callers matching the
// formula mask it.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/vec_math.hpp"

namespace visionrt::cpu {

VISIONRT_AVX512_BEGIN

// swish(v) = v / (1 + 2^(-v log2 e)).
VISIONRT_AVX512 inline __m512 swish16(__m512 v) {
  // -v·log2(e), clamped where 2^t is 0 or overflows anyway (swish is then v or -0).
  const __m512 t = _mm512_min_ps(
      _mm512_set1_ps(126.0f),
      _mm512_max_ps(_mm512_set1_ps(-126.0f), _mm512_mul_ps(v, _mm512_set1_ps(-1.44269504f))));
  const __m512 k = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, k);  // [-0.5, 0.5]
  // 2^f by a quintic (least squares on Chebyshev nodes of [-0.5, 0.5]: 1.1e-7 relative).
  __m512 p = _mm512_set1_ps(0.00134004322f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.0096760371f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.0555032721f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.240221074f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.693147207f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.00000008f));
  const __m512 e = _mm512_scalef_ps(p, k);
  // 1 / (1 + e): vrcp14ps and one Newton step (no division).
  const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), e);
  __m512 r = _mm512_rcp14_ps(d);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
  return _mm512_mul_ps(v, r);
}

VISIONRT_AVX512_END

// The same on 8 lanes for AVX2 + FMA: 2^k built in the exponent bits (k is within [-126, 126]),
// and vrcpps (12 bits) with one Newton step, within about 2e-7 of 1 / (1 + e) relative.
VISIONRT_AVX2 inline __m256 swish8(__m256 v) {
  const __m256 t = _mm256_min_ps(
      _mm256_set1_ps(126.0f),
      _mm256_max_ps(_mm256_set1_ps(-126.0f), _mm256_mul_ps(v, _mm256_set1_ps(-1.44269504f))));
  const __m256 k = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(t, k);
  __m256 p = _mm256_set1_ps(0.00134004322f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.0096760371f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.0555032721f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.240221074f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.693147207f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.00000008f));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  const __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  const __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
  __m256 r = _mm256_rcp_ps(d);
  r = _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0f)));
  return _mm256_mul_ps(v, r);
}

}  // namespace visionrt::cpu
#endif
