// visionrt.ScaleShift: Y = act(X * scale[c] + shift[c]) per channel, in plain NCHW (any rank
// >= 2) or oneDNN's blocked nChw8c/nChw16c, where the channel of a lane is known at compile time
// so the loop runs over whole blocks with the block's scale and shift in registers. Standalone
// BatchNormalization and per-channel affine chains end up here (passes/fuse_scale_shift.cpp).
// Every activation of kernels/activation.hpp is applied in the same vectorized loop (the
// transcendental ones through vec_math.hpp's exp_approx). Padded lanes of the last channel block
// are written as zeros, as oneDNN's kernels leave them (also where act(0) != 0: sigmoid).
#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/activation.hpp"
#include "kernels/cpu/activation_loop.hpp"
#include "kernels/cpu/swish16.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

// Activations of the vectorized loop: branch-free forms of kernels/activation.hpp's table.
enum Inline : int {
  kNone,
  kRelu,
  kLeaky,
  kClip,
  kHardSigmoid,
  kHardSwish,
  kSigmoid,
  kSwish,
  kTanh,
  kElu,
  kGeluErf,
  kGeluTanh,
  kMish,
};

Inline inline_kind(Act a) {
  switch (a) {
    case Act::none:
      return kNone;
    case Act::relu:
      return kRelu;
    case Act::leaky_relu:
      return kLeaky;
    case Act::clip:
      return kClip;
    case Act::hard_sigmoid:
      return kHardSigmoid;
    case Act::hard_swish:
      return kHardSwish;
    case Act::sigmoid:
      return kSigmoid;
    case Act::swish:
      return kSwish;
    case Act::tanh:
      return kTanh;
    case Act::elu:
      return kElu;
    case Act::gelu_erf:
      return kGeluErf;
    case Act::gelu_tanh:
      return kGeluTanh;
    case Act::mish:
      return kMish;
  }
  return kNone;
}

// y[i] = f(x[i] * s[i % lanes] + b[i % lanes]) over `n` groups of `lanes` values; lanes 1
// is a plain row with one scale.
template <int L>
VISIONRT_VEC_INLINE void run_lanes(const float* x, float* y, int64_t n, const float* s,
                                   const float* b, Inline k, float a0, float a1) {
  float sv[L], bv[L];
  for (int l = 0; l < L; ++l) sv[l] = s[l], bv[l] = b[l];
#define VISIONRT_SS_LOOP(EXPR)                      \
  for (int64_t i = 0; i < n; ++i)                   \
    for (int l = 0; l < L; ++l) {                   \
      const float v = x[i * L + l] * sv[l] + bv[l]; \
      y[i * L + l] = (EXPR);                        \
    }
  switch (k) {
    case kRelu:
      VISIONRT_SS_LOOP(v > 0.0f ? v : 0.0f)
      break;
    case kLeaky:
      VISIONRT_SS_LOOP(v >= 0.0f ? v : v * a0)
      break;
    case kClip:
      VISIONRT_SS_LOOP(std::min(std::max(v, a0), a1))
      break;
    case kHardSigmoid:
      VISIONRT_SS_LOOP(std::min(std::max(v * a0 + a1, 0.0f), 1.0f))
      break;
    case kHardSwish:
      VISIONRT_SS_LOOP(v * std::min(std::max(v + 3.0f, 0.0f), 6.0f) * (1.0f / 6.0f))
      break;
    case kSigmoid:
      VISIONRT_SS_LOOP(cpu::sigmoid_approx(v))
      break;
    case kSwish:
      VISIONRT_SS_LOOP(v * cpu::sigmoid_approx(v))
      break;
    case kTanh:
      VISIONRT_SS_LOOP(cpu::tanh_approx(v))
      break;
    case kElu:
      VISIONRT_SS_LOOP(v >= 0.0f ? v : a0 * (cpu::exp_approx(v) - 1.0f))
      break;
    case kGeluErf:
      VISIONRT_SS_LOOP(0.5f * v * (1.0f + cpu::erf_approx(v * 0.70710678118654752f)))
      break;
    case kGeluTanh:
      VISIONRT_SS_LOOP(v * cpu::sigmoid_approx(1.5957691216057308f * (v + 0.044715f * v * v * v)))
      break;
    case kMish:
      VISIONRT_SS_LOOP(cpu::mish_approx(v))
      break;
    default:
      VISIONRT_SS_LOOP(v)
      break;
  }
#undef VISIONRT_SS_LOOP
}

VISIONRT_MULTIVERSION void rows_plain(const float* x, float* y, int64_t n, float s, float b, int k,
                                      float a0, float a1) {
  run_lanes<1>(x, y, n, &s, &b, static_cast<Inline>(k), a0, a1);
}
VISIONRT_MULTIVERSION void rows_b16(const float* x, float* y, int64_t n, const float* s,
                                    const float* b, int k, float a0, float a1) {
  run_lanes<16>(x, y, n, s, b, static_cast<Inline>(k), a0, a1);
}
VISIONRT_MULTIVERSION void rows_b8(const float* x, float* y, int64_t n, const float* s,
                                   const float* b, int k, float a0, float a1) {
  run_lanes<8>(x, y, n, s, b, static_cast<Inline>(k), a0, a1);
}

// The transcendental activations with AVX-512 intrinsics: 16 lanes per step and a masked tail,
// exp as exp_approx (same reduction and polynomial) but 2^k by vscalefps and rounding by
// vrndscaleps, which GCC does not find in the generic loop (that loop runs 1.5x slower: 0.46
// against 0.31 ms for swish over 1.2 M values on an AVX-512 EPYC). NaN stays NaN (max/min return
// their second operand when one is NaN); +inf above the range, 0 below it, as exp_approx.
// y[i] = act(x[i] * s + b) with one scale (lanes 1) or a 16-lane block's scales (lanes 16).
using CostlyRows = void (*)(const float* x, float* y, int64_t n, const float* s, const float* b,
                            int lanes, float a0);

#if defined(__x86_64__)
VISIONRT_AVX512_BEGIN

VISIONRT_AVX512 inline __m512 exp16(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.7228391f), lo = _mm512_set1_ps(-87.3365448f);
  const __m512 xc = _mm512_min_ps(hi, _mm512_max_ps(lo, x));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  __m512 y = _mm512_scalef_ps(p, k);
  y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), y, _mm512_setzero_ps());
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), y,
                              _mm512_set1_ps(__builtin_inff()));
}

VISIONRT_AVX512 inline __m512 recip_1p(__m512 e) {  // 1 / (1 + e)
  return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

template <Inline K>
VISIONRT_AVX512 inline __m512 act16(__m512 v, __m512 a0) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 neg = _mm512_sub_ps(_mm512_setzero_ps(), v);
  if constexpr (K == kSigmoid) {
    return recip_1p(exp16(neg));
  } else if constexpr (K == kSwish) {
    // Division-free (swish16.hpp); -inf gives the formula's NaN (-inf / inf) as the reference.
    return _mm512_mask_blend_ps(
        _mm512_cmp_ps_mask(v, _mm512_set1_ps(-__builtin_inff()), _CMP_EQ_OQ), cpu::swish16(v),
        _mm512_set1_ps(__builtin_nanf("")));
  } else if constexpr (K == kGeluTanh) {
    const __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
    const __m512 z = _mm512_mul_ps(_mm512_set1_ps(-1.5957691216057308f),
                                   _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), v3, v));
    return _mm512_div_ps(v, _mm512_add_ps(one, exp16(z)));
  } else if constexpr (K == kTanh) {
    const __m512 a = _mm512_abs_ps(v);
    const __m512 t =
        _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), recip_1p(exp16(_mm512_add_ps(a, a))), one);
    // sign of v onto t (NaN stays NaN through t)
    return _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(t),
                        _mm512_and_si512(_mm512_castps_si512(v),
                                         _mm512_set1_epi32(static_cast<int>(0x80000000u)))));
  } else if constexpr (K == kElu) {
    const __m512 e = _mm512_mul_ps(a0, _mm512_sub_ps(exp16(v), one));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ), e, v);
  } else if constexpr (K == kGeluErf) {
    const __m512 x = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f));
    const __m512 a = _mm512_abs_ps(x);
    const __m512 t = recip_1p(_mm512_mul_ps(_mm512_set1_ps(0.3275911f), a));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    const __m512 ex = exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a)));
    __m512 r = _mm512_fnmadd_ps(_mm512_mul_ps(p, t), ex, one);  // erf(|x|)
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), r,
                             _mm512_sub_ps(_mm512_setzero_ps(), r));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(one, r));
  } else {  // kMish: x n / (n + 2), n = e^x (e^x + 2); x itself from 20 on
    const __m512 twenty = _mm512_set1_ps(20.0f), two = _mm512_set1_ps(2.0f);
    const __m512 e = exp16(_mm512_min_ps(twenty, v));
    const __m512 n = _mm512_mul_ps(e, _mm512_add_ps(e, two));
    const __m512 m = _mm512_div_ps(_mm512_mul_ps(v, n), _mm512_add_ps(n, two));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, twenty, _CMP_LT_OQ), v, m);
  }
}

template <Inline K>
VISIONRT_AVX512 void costly_rows_avx512(const float* x, float* y, int64_t n, const float* s,
                                        const float* b, int lanes, float a0) {
  const __m512 sv = lanes == 16 ? _mm512_loadu_ps(s) : _mm512_set1_ps(*s);
  const __m512 bv = lanes == 16 ? _mm512_loadu_ps(b) : _mm512_set1_ps(*b);
  const __m512 av = _mm512_set1_ps(a0);
  const int64_t total = n * lanes;
  int64_t i = 0;
  for (; i + 16 <= total; i += 16)
    _mm512_storeu_ps(y + i, act16<K>(_mm512_fmadd_ps(_mm512_loadu_ps(x + i), sv, bv), av));
  if (i < total) {
    const __mmask16 m = static_cast<__mmask16>((1u << (total - i)) - 1u);
    const __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), sv, bv);
    _mm512_mask_storeu_ps(y + i, m, act16<K>(v, av));
  }
}

// The block size a costly loop takes on this CPU: 16 (AVX-512), 8 (AVX2 + FMA) or 0 (none).
int costly_block() { return cpu::own_vector_lanes(); }

CostlyRows costly_rows_avx2(Inline k);

// The loop of activation `k` for rows of one channel (block 0) or of `block`-lane blocks, or
// null where this CPU has none for that block.
CostlyRows costly_rows_for(Inline k, int block = 0) {
  const int have = costly_block();
  if (have == 0 || (block != 0 && block != have)) return nullptr;
  if (have == 8) return costly_rows_avx2(k);
  switch (k) {
    case kSigmoid:
      return costly_rows_avx512<kSigmoid>;
    case kSwish:
      return costly_rows_avx512<kSwish>;
    case kTanh:
      return costly_rows_avx512<kTanh>;
    case kElu:
      return costly_rows_avx512<kElu>;
    case kGeluErf:
      return costly_rows_avx512<kGeluErf>;
    case kGeluTanh:
      return costly_rows_avx512<kGeluTanh>;
    case kMish:
      return costly_rows_avx512<kMish>;
    default:
      return nullptr;
  }
}
VISIONRT_AVX512_END

// The same activations on 8 lanes for AVX2 + FMA. exp8 is exp_approx (vec_math.hpp) lane for
// lane: the same reduction and polynomial, 2^k in the exponent bits (k = 128, from 88.38 on,
// gives inf as there); divisions stay divisions but swish's (swish16.hpp's swish8).
VISIONRT_AVX2 inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.7228391f), lo = _mm256_set1_ps(-87.3365448f);
  const __m256 xc = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));  // NaN stays NaN
}

VISIONRT_AVX2 inline __m256 recip_1p8(__m256 e) {  // 1 / (1 + e)
  return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

VISIONRT_AVX2 inline __m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

template <Inline K>
VISIONRT_AVX2 inline __m256 act8(__m256 v, __m256 a0) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  if constexpr (K == kSigmoid) {
    return recip_1p8(exp8(_mm256_sub_ps(zero, v)));
  } else if constexpr (K == kSwish) {
    // -inf gives the formula's NaN (-inf / inf) as the reference.
    return _mm256_blendv_ps(cpu::swish8(v), _mm256_set1_ps(__builtin_nanf("")),
                            _mm256_cmp_ps(v, _mm256_set1_ps(-__builtin_inff()), _CMP_EQ_OQ));
  } else if constexpr (K == kGeluTanh) {
    const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
    const __m256 z = _mm256_mul_ps(_mm256_set1_ps(-1.5957691216057308f),
                                   _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
    return _mm256_div_ps(v, _mm256_add_ps(one, exp8(z)));
  } else if constexpr (K == kTanh) {
    const __m256 a = abs8(v);
    const __m256 t =
        _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), recip_1p8(exp8(_mm256_add_ps(a, a))), one);
    return _mm256_or_ps(t, _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));  // sign of v onto t
  } else if constexpr (K == kElu) {
    const __m256 e = _mm256_mul_ps(a0, _mm256_sub_ps(exp8(v), one));
    return _mm256_blendv_ps(e, v, _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
  } else if constexpr (K == kGeluErf) {
    const __m256 x = _mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f));
    const __m256 a = abs8(x);
    const __m256 t = recip_1p8(_mm256_mul_ps(_mm256_set1_ps(0.3275911f), a));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    const __m256 ex = exp8(_mm256_sub_ps(zero, _mm256_mul_ps(a, a)));
    __m256 r = _mm256_fnmadd_ps(_mm256_mul_ps(p, t), ex, one);  // erf(|x|)
    r = _mm256_blendv_ps(r, _mm256_sub_ps(zero, r), _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(one, r));
  } else {  // kMish: x n / (n + 2), n = e^x (e^x + 2); x itself from 20 on
    const __m256 twenty = _mm256_set1_ps(20.0f), two = _mm256_set1_ps(2.0f);
    const __m256 e = exp8(_mm256_min_ps(twenty, v));
    const __m256 n = _mm256_mul_ps(e, _mm256_add_ps(e, two));
    const __m256 m = _mm256_div_ps(_mm256_mul_ps(v, n), _mm256_add_ps(n, two));
    return _mm256_blendv_ps(v, m, _mm256_cmp_ps(v, twenty, _CMP_LT_OQ));
  }
}

template <Inline K>
VISIONRT_AVX2 void costly_rows_avx2_k(const float* x, float* y, int64_t n, const float* s,
                                      const float* b, int lanes, float a0) {
  const __m256 sv = lanes == 8 ? _mm256_loadu_ps(s) : _mm256_set1_ps(*s);
  const __m256 bv = lanes == 8 ? _mm256_loadu_ps(b) : _mm256_set1_ps(*b);
  const __m256 av = _mm256_set1_ps(a0);
  const int64_t total = n * lanes;
  int64_t i = 0;
  for (; i + 8 <= total; i += 8)
    _mm256_storeu_ps(y + i, act8<K>(_mm256_fmadd_ps(_mm256_loadu_ps(x + i), sv, bv), av));
  if (i < total) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(total - i)),
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 v = _mm256_fmadd_ps(_mm256_maskload_ps(x + i, m), sv, bv);
    _mm256_maskstore_ps(y + i, m, act8<K>(v, av));
  }
}

CostlyRows costly_rows_avx2(Inline k) {
  switch (k) {
    case kSigmoid:
      return costly_rows_avx2_k<kSigmoid>;
    case kSwish:
      return costly_rows_avx2_k<kSwish>;
    case kTanh:
      return costly_rows_avx2_k<kTanh>;
    case kElu:
      return costly_rows_avx2_k<kElu>;
    case kGeluErf:
      return costly_rows_avx2_k<kGeluErf>;
    case kGeluTanh:
      return costly_rows_avx2_k<kGeluTanh>;
    case kMish:
      return costly_rows_avx2_k<kMish>;
    default:
      return nullptr;
  }
}
#else
CostlyRows costly_rows_for(Inline, int = 0) { return nullptr; }
#endif

class ScaleShift : public Kernel {
 public:
  ScaleShift(int64_t batch, int64_t channels, int64_t inner, int block, Activation act,
             std::vector<float> scale, std::vector<float> shift)
      : batch_(batch),
        channels_(channels),
        inner_(inner),
        block_(block),
        act_(act),
        kind_(inline_kind(act.kind)),
        zero_padded_lanes_(block && channels % block != 0 && apply_act(act, 0.0f) != 0.0f),
        costly_(costly_rows_for(kind_, block)),
        scale_(std::move(scale)),
        shift_(std::move(shift)) {
    if (block_) {
      // Padded lanes: scale 0, shift 0 -> act(0), zeroed after the loop where that is not 0.
      const int64_t padded = (channels_ + block_ - 1) / block_ * block_;
      scale_.resize(static_cast<size_t>(padded), 0.0f);
      shift_.resize(static_cast<size_t>(padded), 0.0f);
    }
  }

  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    const float a0 = act_.alpha;
    const float a1 = act_.beta;
    const int k = kind_;
    if (!block_) {
      const int64_t rows = batch_ * channels_;
      const int threads = rows * inner_ >= (int64_t{1} << 15) ? ctx.num_threads : 1;
      parallel_for(rows, threads, [&](int64_t r) {
        const int64_t c = r % channels_;
        if (costly_)
          costly_(x + r * inner_, y + r * inner_, inner_, &scale_[c], &shift_[c], 1, a0);
        else
          rows_plain(x + r * inner_, y + r * inner_, inner_, scale_[c], shift_[c], k, a0, a1);
      });
      return;
    }
    const int64_t cb = static_cast<int64_t>(scale_.size()) / block_;
    const int64_t items = batch_ * cb, per = inner_ * block_;
    const int threads = items * per >= (int64_t{1} << 15) ? ctx.num_threads : 1;
    parallel_for(items, threads, [&](int64_t it) {
      const int64_t c0 = (it % cb) * block_;
      const float* xs = x + it * per;
      float* ys = y + it * per;
      const int64_t live = std::min<int64_t>(block_, channels_ - c0);
      if (live * 2 <= block_ && kind_ >= kSigmoid) {
        // A mostly padded block (a 1-channel head map in nChw16c) with a costly activation:
        // each live lane goes through a contiguous buffer and the plain loop; padded lanes 0.
        std::fill(ys, ys + per, 0.0f);
        float buf[256];
        for (int64_t l = 0; l < live; ++l)
          for (int64_t i0 = 0; i0 < inner_; i0 += 256) {
            const int64_t m = std::min<int64_t>(256, inner_ - i0);
            for (int64_t j = 0; j < m; ++j) buf[j] = xs[(i0 + j) * block_ + l];
            if (costly_)
              costly_(buf, buf, m, &scale_[c0 + l], &shift_[c0 + l], 1, a0);
            else
              rows_plain(buf, buf, m, scale_[c0 + l], shift_[c0 + l], k, a0, a1);
            for (int64_t j = 0; j < m; ++j) ys[(i0 + j) * block_ + l] = buf[j];
          }
        return;
      }
      if (costly_)
        costly_(xs, ys, inner_, &scale_[c0], &shift_[c0], block_, a0);
      else if (block_ == 16)
        rows_b16(xs, ys, inner_, &scale_[c0], &shift_[c0], k, a0, a1);
      else
        rows_b8(xs, ys, inner_, &scale_[c0], &shift_[c0], k, a0, a1);
      if (zero_padded_lanes_ && c0 + block_ > channels_)
        for (int64_t i = 0; i < inner_; ++i)
          for (int64_t l = channels_ - c0; l < block_; ++l) ys[i * block_ + l] = 0.0f;
    });
  }

  bool reads_at_run_time(size_t input) const override { return input == 0; }
  std::string layout() const override {
    return block_ ? str_cat("nChw", block_, "c") : std::string("plain");
  }

 private:
  int64_t batch_, channels_, inner_;
  int block_;
  Activation act_;
  Inline kind_;
  bool zero_padded_lanes_;
  CostlyRows costly_;  // the AVX-512 or AVX2 loop of a transcendental activation, or null
  std::vector<float> scale_, shift_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.input_types.size() != 3) return *why = "needs X, scale and shift", nullptr;
  const TensorType& t = q.input_types[0];
  if (t.dtype != DType::f32 || !t.fully_known() || t.dims.size() < 2)
    return *why = "needs a static f32 tensor of rank >= 2", nullptr;
  const Tensor* s = q.input_constants[1];
  const Tensor* b = q.input_constants[2];
  if (!s || !b || s->dtype() != DType::f32 || b->dtype() != DType::f32)
    return *why = "scale and shift must be f32 constants", nullptr;
  const int64_t c = t.dims[1];
  if (static_cast<int64_t>(s->numel()) != c || static_cast<int64_t>(b->numel()) != c)
    return *why = "scale and shift need one value per channel", nullptr;
  const int block = q.input_layout(0);
  if (block != q.output_layout(0)) return *why = "input and output layouts differ", nullptr;
  if (block && block != 8 && block != 16) return *why = "blocked layouts of 8 or 16 only", nullptr;
  if (block && t.dims.size() != 4) return *why = "blocked layouts are 4-D", nullptr;
  Activation act;
  if (!fused_activation(*q.node, &act)) return *why = "unknown activation", nullptr;
  int64_t inner = 1;
  for (size_t i = 2; i < t.dims.size(); ++i) inner *= t.dims[i];
  std::vector<float> sv(s->data<float>(), s->data<float>() + c);
  std::vector<float> bv(b->data<float>(), b->data<float>() + c);
  return std::make_unique<ScaleShift>(t.dims[0], c, inner, block, act, std::move(sv),
                                      std::move(bv));
}

// The transcendental activations, where exp_approx's loop beats oneDNN's eltwise kernel
// (EfficientNet-B0's 49 swish maps: 4.0 ms on oneDNN at one thread).
bool costly(Act a) {
  return a == Act::sigmoid || a == Act::swish || a == Act::tanh || a == Act::elu ||
         a == Act::gelu_erf || a == Act::gelu_tanh || a == Act::mish;
}

// visionrt.Activation and the standalone ONNX activations (YOLOv8's class-score Sigmoid over
// [1, 80, 8400]): this loop with scale 1 and shift 0 (exact), for the costly ones.
std::unique_ptr<Kernel> create_activation(const KernelQuery& q, std::string* why) {
  const TensorType& t = q.input_types[0];
  if (t.dtype != DType::f32 || !t.fully_known() || t.dims.size() < 2)
    return *why = "needs a static f32 tensor of rank >= 2", nullptr;
  Activation act;
  if (q.node->op_type == "visionrt.Activation") {
    if (!fused_activation(*q.node, &act)) return *why = "unknown activation", nullptr;
  } else {
    // The ONNX op itself (Sigmoid, Tanh, Elu, Mish, Gelu): its attributes, no scalar inputs.
    auto no_scalar = [](size_t, float def, float* out) { return *out = def, true; };
    if (q.input_types.size() != 1 || !node_activation(*q.node, q.opset, no_scalar, &act))
      return *why = "not an activation of the table", nullptr;
  }
  if (!costly(act.kind)) return *why = "a cheap activation (oneDNN's eltwise)", nullptr;
  const int block = q.input_layout(0);
  if (block != q.output_layout(0)) return *why = "input and output layouts differ", nullptr;
  if (block && (block != 8 && block != 16))
    return *why = "blocked layouts of 8 or 16 only", nullptr;
  if (block && t.dims.size() != 4) return *why = "blocked layouts are 4-D", nullptr;
  const int64_t c = t.dims[1];
  int64_t inner = 1;
  for (size_t i = 2; i < t.dims.size(); ++i) inner *= t.dims[i];
  return std::make_unique<ScaleShift>(t.dims[0], c, inner, block, act,
                                      std::vector<float>(static_cast<size_t>(c), 1.0f),
                                      std::vector<float>(static_cast<size_t>(c), 0.0f));
}

}  // namespace

bool own_activation_in_place_available(const Activation& a) {
  // The costly ones with a loop on this CPU, but sigmoid: sigmoid(0) = 0.5 would write into a
  // blocked tensor's zero padding lanes.
  return a.kind != Act::sigmoid && costly_rows_for(inline_kind(a.kind)) != nullptr;
}

void own_activation_in_place(const Activation& a, float* y, int64_t n, int threads) {
  const CostlyRows rows = costly_rows_for(inline_kind(a.kind));
  if (!rows || a.kind == Act::sigmoid)
    throw Error(str_cat("internal: no own in-place loop for ", act_name(a.kind)));
  constexpr int64_t kPart = 16384;  // values per task: 64 KiB, a multiple of 16
  const float one = 1.0f, zero = 0.0f;
  const int64_t parts = (n + kPart - 1) / kPart;
  parallel_for(parts, n >= 2 * kPart ? threads : 1, [&](int64_t p) {
    const int64_t i = p * kPart;
    rows(y + i, y + i, std::min(kPart, n - i), &one, &zero, 1, a.alpha);
  });
}

void register_cpu_scale_shift(KernelRegistry& r) {
  r.add("visionrt.ScaleShift", KernelCandidate::checked_by_create("cpu", create));
  for (const char* op : {"visionrt.Activation", "Sigmoid", "Tanh", "Elu", "Mish", "Gelu"})
    r.add(op, KernelCandidate::checked_by_create("cpu", create_activation));
}

}  // namespace visionrt
