// INT8 depthwise convolution on AVX-512 VNNI: see qdw_conv.hpp.
#include "kernels/cpu/qdw_conv.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/parallel.hpp"
#include "visionrt/error.hpp"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/swish16.hpp"
#endif

namespace visionrt {
namespace {

constexpr int64_t kBlock = 64;     // channels per block: four vectors of 16 lanes
constexpr int64_t kMaxSlots = 64;  // transformed rows in a ring
constexpr int64_t kMaxWidth = 16;  // kernel width (four dwords of taps)

int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A block's 64 channels sit in its four vectors in the order byte unpacking gives: lane 4L + i
// of vector k is channel 16L + 4k + i (see transform_row). Packing four such vectors of int32
// back to bytes (packs/packus work per 128-bit lane) restores the natural order.
int64_t permuted(int64_t o) { return ((o % 16) / 4) * 16 + (o / 16) * 4 + o % 4; }

#if defined(__x86_64__)
#define VISIONRT_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
VISIONRT_AVX512_BEGIN

// The per-block constants an output row needs (vectors in the permuted order).
struct Block {
  const int8_t* weights;  // [kh][groups][4 vectors][16 lanes][4 taps]
  const int32_t* neg_comp;
  const float *mul, *add;  // acc * mul + add: the real value, or (folded) the quantized one
  __mmask64 bytes;         // the block's channels among 64 bytes
  __mmask16 natural[4];    // ... among four natural-order vectors of 16 (f32 output)
  int64_t c0;
};

VISIONRT_VNNI inline __m512 activate(__m512 v, const Activation& a) {
  switch (a.kind) {
    case Act::relu:
      return _mm512_max_ps(v, _mm512_setzero_ps());
    case Act::leaky_relu: {
      const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
      return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(a.alpha));
    }
    case Act::clip:
      return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(a.alpha)), _mm512_set1_ps(a.beta));
    case Act::swish:
      return cpu::swish16(v);
    case Act::hard_swish: {
      const __m512 r =
          _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.0f)), _mm512_setzero_ps()),
                        _mm512_set1_ps(6.0f));
      return _mm512_div_ps(_mm512_mul_ps(v, r), _mm512_set1_ps(6.0f));
    }
    case Act::hard_sigmoid:
      return _mm512_min_ps(
          _mm512_max_ps(_mm512_fmadd_ps(v, _mm512_set1_ps(a.alpha), _mm512_set1_ps(a.beta)),
                        _mm512_setzero_ps()),
          _mm512_set1_ps(1.0f));
    default:
      return v;
  }
}

// Source row `src` ([w][channels] bytes, block offset applied) into `t`: for each output column
// and group of four taps, four vectors whose dword lanes hold the four taps' bytes of one channel
// (zero past the kernel width, the zero point outside the image). The bytes of the four taps
// (64 channels each) interleave with two rounds of unpacking: 8 shuffles for 64 channels.
template <bool Signed>
VISIONRT_VNNI void transform_row(const QDwConvSpec& s, const uint8_t* src, const Block& b,
                                 int64_t groups, __m512i zp, int8_t* t) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const bool full = b.bytes == ~__mmask64{0};
  for (int64_t ox = 0; ox < s.ow; ++ox) {
    const int64_t ix0 = ox * s.stride_w - s.pad_left;
    for (int64_t g = 0; g < groups; ++g, t += 4 * 64) {
      __m512i tap[4];
      for (int k = 0; k < 4; ++k) {
        const int64_t kk = 4 * g + k, ix = ix0 + kk * s.dil_w;
        if (kk >= s.kw) {
          tap[k] = _mm512_setzero_si512();
        } else if (ix < 0 || ix >= s.w) {
          tap[k] = zp;
        } else {
          const uint8_t* p = src + ix * s.channels;
          const __m512i v = full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(b.bytes, p);
          tap[k] = Signed ? _mm512_xor_si512(v, flip) : v;
        }
      }
      const __m512i ab_lo = _mm512_unpacklo_epi8(tap[0], tap[1]);
      const __m512i ab_hi = _mm512_unpackhi_epi8(tap[0], tap[1]);
      const __m512i cd_lo = _mm512_unpacklo_epi8(tap[2], tap[3]);
      const __m512i cd_hi = _mm512_unpackhi_epi8(tap[2], tap[3]);
      _mm512_storeu_si512(t, _mm512_unpacklo_epi16(ab_lo, cd_lo));
      _mm512_storeu_si512(t + 64, _mm512_unpackhi_epi16(ab_lo, cd_lo));
      _mm512_storeu_si512(t + 128, _mm512_unpacklo_epi16(ab_hi, cd_hi));
      _mm512_storeu_si512(t + 192, _mm512_unpackhi_epi16(ab_hi, cd_hi));
    }
  }
}

enum OutKind { kU8, kS8, kF32 };

// One output row of one block from the transformed rows `rows[kh]`. `Fold`: the activation is
// none, relu or clip and lives in the clamp bounds (mul/add give the output value directly).
template <bool Fold, OutKind O, bool OneGroup>
VISIONRT_VNNI void output_row(const QDwConvSpec& s, const Block& b, int64_t any_groups,
                              float lo_bound, float hi_bound, bool float_clamp,
                              const int8_t* const* rows, char* y) {
  // One dword of taps per kernel row (kernels up to 4 wide) keeps the sums in registers.
  const int64_t groups = OneGroup ? 1 : any_groups, step = groups * 4 * 64;
  const __m512 inv = _mm512_set1_ps(s.inv_out_scale), zp = _mm512_set1_ps(s.out_zero_point);
  const __m512 lo = _mm512_set1_ps(lo_bound), hi = _mm512_set1_ps(hi_bound);
  // The bounds as bytes (8-bit outputs only; a float output's may be infinite).
  auto byte = [](float v) {
    return static_cast<char>(
        static_cast<int>(std::nearbyint(std::min(255.0f, std::max(-128.0f, v)))));
  };
  const __m512i lo8 = _mm512_set1_epi8(byte(lo_bound)), hi8 = _mm512_set1_epi8(byte(hi_bound));
  __m512 mul[4], add[4];
  __m512i comp[4];
  for (int k = 0; k < 4; ++k) {
    mul[k] = _mm512_loadu_ps(b.mul + 16 * k);
    add[k] = _mm512_loadu_ps(b.add + 16 * k);
    comp[k] = _mm512_loadu_si512(b.neg_comp + 16 * k);
  }
  const int64_t kh = s.kh, ow = s.ow, channels = s.channels;
  constexpr int64_t out_size = O == kF32 ? 4 : 1;
  for (int64_t ox = 0; ox < ow; ++ox) {
    __m512i acc[4] = {comp[0], comp[1], comp[2], comp[3]};
    const int8_t* w = b.weights;
    for (int64_t i = 0; i < kh; ++i) {
      const int8_t* t = rows[i] + ox * step;
      for (int64_t g = 0; g < groups; ++g, t += 4 * 64, w += 4 * 64)
        for (int k = 0; k < 4; ++k)
          acc[k] = _mm512_dpbusd_epi32(acc[k], _mm512_loadu_si512(t + 64 * k),
                                       _mm512_loadu_si512(w + 64 * k));
    }
    char* out = y + (ox * channels + b.c0) * out_size;
    __m512 v[4];
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[k]), mul[k], add[k]);
      if constexpr (!Fold) {
        v[k] = activate(v[k], s.act);
        if constexpr (O != kF32) v[k] = _mm512_fmadd_ps(v[k], inv, zp);
      }
      // 8-bit outputs are clamped as bytes after packing (rounding is monotone, so that is
      // the same), in floats as well only where a value could leave the int32 range.
      if constexpr (O == kF32 && Fold) v[k] = _mm512_min_ps(hi, _mm512_max_ps(v[k], lo));
      if constexpr (O != kF32)
        if (float_clamp) v[k] = _mm512_min_ps(hi, _mm512_max_ps(v[k], lo));
    }
    if constexpr (O == kF32) {
      // Lane L of vector k holds channels 16L + 4k + i: a 4x4 transpose of 128-bit lanes.
      const __m512 t0 = _mm512_shuffle_f32x4(v[0], v[1], 0x44),
                   t1 = _mm512_shuffle_f32x4(v[2], v[3], 0x44),
                   t2 = _mm512_shuffle_f32x4(v[0], v[1], 0xEE),
                   t3 = _mm512_shuffle_f32x4(v[2], v[3], 0xEE);
      float* f = reinterpret_cast<float*>(out);
      _mm512_mask_storeu_ps(f, b.natural[0], _mm512_shuffle_f32x4(t0, t1, 0x88));
      _mm512_mask_storeu_ps(f + 16, b.natural[1], _mm512_shuffle_f32x4(t0, t1, 0xDD));
      _mm512_mask_storeu_ps(f + 32, b.natural[2], _mm512_shuffle_f32x4(t2, t3, 0x88));
      _mm512_mask_storeu_ps(f + 48, b.natural[3], _mm512_shuffle_f32x4(t2, t3, 0xDD));
    } else {
      const __m512i p0 = _mm512_packs_epi32(_mm512_cvtps_epi32(v[0]), _mm512_cvtps_epi32(v[1]));
      const __m512i p1 = _mm512_packs_epi32(_mm512_cvtps_epi32(v[2]), _mm512_cvtps_epi32(v[3]));
      const __m512i q =
          O == kU8 ? _mm512_min_epu8(_mm512_max_epu8(_mm512_packus_epi16(p0, p1), lo8), hi8)
                   : _mm512_min_epi8(_mm512_max_epi8(_mm512_packs_epi16(p0, p1), lo8), hi8);
      _mm512_mask_storeu_epi8(out, b.bytes, q);
    }
  }
}

template <bool Fold, OutKind O>
VISIONRT_VNNI void output_row_g(const QDwConvSpec& s, const Block& b, int64_t groups, float lo,
                                float hi, bool float_clamp, const int8_t* const* rows, char* y) {
  if (groups == 1)
    output_row<Fold, O, true>(s, b, groups, lo, hi, float_clamp, rows, y);
  else
    output_row<Fold, O, false>(s, b, groups, lo, hi, float_clamp, rows, y);
}

VISIONRT_VNNI void run_rows(const QDwConvSpec& s, const Block& b, int64_t groups, int64_t slots,
                            size_t slot_bytes, bool fold, float lo, float hi, bool float_clamp,
                            const uint8_t* x, char* y, int8_t* ring, const int8_t* zp_row,
                            int64_t* tags, int64_t oy0, int64_t oy1) {
  const __m512i zp =
      _mm512_set1_epi8(static_cast<char>((s.src_zero_point + (s.src_signed ? 128 : 0)) & 0xFF));
  const int64_t out_size = s.out == QDwConvSpec::Out::f32 ? 4 : 1;
  const OutKind o =
      s.out == QDwConvSpec::Out::f32 ? kF32 : (s.out == QDwConvSpec::Out::u8 ? kU8 : kS8);
  std::fill(tags, tags + slots, -1);
  const int8_t* rows[kMaxSlots];
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    for (int64_t i = 0; i < s.kh; ++i) {
      const int64_t r = oy * s.stride_h - s.pad_top + i * s.dil_h;
      if (r < 0 || r >= s.h) {
        rows[i] = zp_row;
        continue;
      }
      const int64_t slot = r % slots;
      int8_t* t = ring + static_cast<size_t>(slot) * slot_bytes;
      if (tags[slot] != r) {
        const uint8_t* src = x + r * s.w * s.channels + b.c0;
        if (s.src_signed)
          transform_row<true>(s, src, b, groups, zp, t);
        else
          transform_row<false>(s, src, b, groups, zp, t);
        tags[slot] = r;
      }
      rows[i] = t;
    }
    char* out = y + oy * s.ow * s.channels * out_size;
    if (fold) {
      if (o == kU8)
        output_row_g<true, kU8>(s, b, groups, lo, hi, float_clamp, rows, out);
      else if (o == kS8)
        output_row_g<true, kS8>(s, b, groups, lo, hi, float_clamp, rows, out);
      else
        output_row_g<true, kF32>(s, b, groups, lo, hi, float_clamp, rows, out);
    } else {
      if (o == kU8)
        output_row_g<false, kU8>(s, b, groups, lo, hi, float_clamp, rows, out);
      else if (o == kS8)
        output_row_g<false, kS8>(s, b, groups, lo, hi, float_clamp, rows, out);
      else
        output_row_g<false, kF32>(s, b, groups, lo, hi, float_clamp, rows, out);
    }
  }
}

VISIONRT_AVX512_END
#endif

}  // namespace

bool QDwConv::available() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return ok;
#else
  return false;
#endif
}

bool QDwConv::supports(const Activation& a) {
  switch (a.kind) {
    case Act::none:
    case Act::relu:
    case Act::leaky_relu:
    case Act::clip:
    case Act::swish:
    case Act::hard_swish:
    case Act::hard_sigmoid:
      return true;
    default:
      return false;
  }
}

bool QDwConv::supports(const QDwConvSpec& s) {
  return s.kh >= 1 && s.kw >= 1 && s.kw <= kMaxWidth && (s.kh - 1) * s.dil_h + 1 <= kMaxSlots &&
         s.stride_h >= 1 && s.stride_w >= 1 && s.dil_h >= 1 && s.dil_w >= 1 && s.channels > 0 &&
         s.oh > 0 && s.ow > 0 && supports(s.act);
}

QDwConv::QDwConv(QDwConvSpec spec, int threads) : s_(std::move(spec)) {
  if (!supports(s_)) throw Error("internal: unsupported depthwise convolution");
  const int64_t c = s_.channels;
  if (static_cast<int64_t>(s_.weights.size()) != c * s_.kh * s_.kw ||
      static_cast<int64_t>(s_.scale.size()) != c ||
      (!s_.bias.empty() && static_cast<int64_t>(s_.bias.size()) != c))
    throw Error("internal: depthwise convolution parameters of the wrong size");
  groups_ = div_up(s_.kw, 4);
  slots_ = (s_.kh - 1) * s_.dil_h + 1;
  blocks_ = div_up(c, kBlock);
  max_parts_ = std::max(1, threads);
  const int64_t padded = blocks_ * kBlock;
  packed_.assign(static_cast<size_t>(blocks_ * s_.kh * groups_ * 4 * 64), 0);
  neg_comp_.assign(static_cast<size_t>(padded), 0);
  mul_.assign(static_cast<size_t>(padded), 0.f);
  add_.assign(static_cast<size_t>(padded), 0.f);
  // The real value is (acc + bias) * scale (one multiply-add here). With none, relu or clip the
  // activation and the quantization fold: clamp(v, a, b) / y_scale + zp is the quantized value
  // clamped to the images of a and b, so one multiply-add gives it.
  const Act kind = s_.act.kind;
  fold_ = kind == Act::none || kind == Act::relu || kind == Act::clip;
  const bool quant = s_.out != QDwConvSpec::Out::f32;
  const double inv = quant ? s_.inv_out_scale : 1.0, zq = quant ? s_.out_zero_point : 0.0;
  const float inf = std::numeric_limits<float>::infinity();
  lo_ = s_.out == QDwConvSpec::Out::u8 ? 0.f : (quant ? -128.f : -inf);
  hi_ = s_.out == QDwConvSpec::Out::u8 ? 255.f : (quant ? 127.f : inf);
  if (fold_ && kind != Act::none) {
    const double a = kind == Act::relu ? 0.0 : s_.act.alpha;
    lo_ = std::max(lo_, static_cast<float>(a * inv + zq));
    if (kind == Act::clip) hi_ = std::min(hi_, static_cast<float>(s_.act.beta * inv + zq));
  }
  const int32_t zp = s_.src_zero_point + (s_.src_signed ? 128 : 0);
  for (int64_t ch = 0; ch < c; ++ch) {
    const int64_t b = ch / kBlock, at_block = b * kBlock + permuted(ch % kBlock);
    const int64_t j = (at_block % kBlock) / 16, lane = at_block % 16;
    int32_t sum = 0;
    for (int64_t i = 0; i < s_.kh; ++i)
      for (int64_t k = 0; k < s_.kw; ++k) {
        const int8_t w = s_.weights[static_cast<size_t>((ch * s_.kh + i) * s_.kw + k)];
        sum += w;
        const int64_t g = k / 4, at = ((((b * s_.kh + i) * groups_ + g) * 4 + j) * 16 + lane) * 4;
        packed_[static_cast<size_t>(at + k % 4)] = w;
      }
    neg_comp_[static_cast<size_t>(at_block)] = -zp * sum;
    const double sc = s_.scale[static_cast<size_t>(ch)];
    const double bias = s_.bias.empty() ? 0.0 : s_.bias[static_cast<size_t>(ch)];
    mul_[static_cast<size_t>(at_block)] = static_cast<float>(fold_ ? sc * inv : sc);
    add_[static_cast<size_t>(at_block)] =
        static_cast<float>(fold_ ? bias * sc * inv + zq : bias * sc);
  }
  // The largest 8-bit output value before saturation: |acc| <= kh kw 255 128, and no supported
  // activation grows a magnitude.
  double most = 0;
  for (int64_t ch = 0; ch < c; ++ch) {
    const double sc = std::fabs(s_.scale[static_cast<size_t>(ch)]);
    const double bias = s_.bias.empty() ? 0.0 : std::fabs(s_.bias[static_cast<size_t>(ch)]);
    most = std::max(most, (static_cast<double>(s_.kh * s_.kw) * 255 * 128 + bias) * sc);
  }
  float_clamp_ = quant && most * std::fabs(inv) + std::fabs(zq) >= 2147483520.0;
  slot_bytes_ = static_cast<size_t>(s_.ow * groups_ * 4 * 64);
  // A part: the ring, the zero-point row, the ring's tags.
  part_bytes_ = (static_cast<size_t>(slots_) + 1) * slot_bytes_ +
                static_cast<size_t>(div_up(slots_ * 8, 64) * 64);
}

// Work items: (image, channel block, band of output rows), split into `parts` contiguous runs,
// one per thread, each with its own scratch. One band per image and block unless that leaves
// threads idle.
void QDwConv::run(const void* x, void* y, void* scratch, int threads) const {
  const int parts_wanted = std::max(1, std::min(threads, max_parts_));
  const int64_t planes = s_.batch * blocks_;
  const int64_t row_chunks =
      parts_wanted == 1 ? 1 : std::min(s_.oh, div_up(2 * parts_wanted, planes));
  const int64_t items = planes * row_chunks;
  const int64_t parts = std::min<int64_t>(parts_wanted, items);
  const int64_t per = div_up(items, parts);
  parallel_for(parts, static_cast<int>(parts), [&](int64_t p) {
    run_part(static_cast<const uint8_t*>(x), static_cast<char*>(y),
             static_cast<char*>(scratch) + static_cast<size_t>(p) * part_bytes_, p * per,
             std::min(items, (p + 1) * per), row_chunks);
  });
}

void QDwConv::run_part(const uint8_t* x, char* y, char* scratch, int64_t first, int64_t last,
                       int64_t row_chunks) const {
#if defined(__x86_64__)
  int8_t* ring = reinterpret_cast<int8_t*>(scratch);
  int8_t* zp_row = ring + static_cast<size_t>(slots_) * slot_bytes_;
  int64_t* tags = reinterpret_cast<int64_t*>(zp_row + slot_bytes_);
  const uint8_t zp = static_cast<uint8_t>((s_.src_zero_point + (s_.src_signed ? 128 : 0)) & 0xFF);
  std::memset(zp_row, zp, slot_bytes_);
  const size_t out_size = s_.out == QDwConvSpec::Out::f32 ? 4 : 1;
  const int64_t rows_per = div_up(s_.oh, row_chunks);
  for (int64_t item = first; item < last; ++item) {
    const int64_t chunk = item % row_chunks, plane = item / row_chunks;
    const int64_t n = plane / blocks_, blk = plane % blocks_;
    const int64_t oy0 = chunk * rows_per, oy1 = std::min(s_.oh, oy0 + rows_per);
    if (oy0 >= oy1) continue;
    Block b;
    b.c0 = blk * kBlock;
    const int64_t lanes = std::min(kBlock, s_.channels - b.c0);
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t l = std::clamp<int64_t>(lanes - 16 * j, 0, 16);
      b.natural[j] = static_cast<__mmask16>(l == 16 ? 0xFFFFu : (1u << l) - 1u);
    }
    b.weights = packed_.data() + blk * s_.kh * groups_ * 4 * 64;
    b.neg_comp = neg_comp_.data() + b.c0;
    b.mul = mul_.data() + b.c0;
    b.add = add_.data() + b.c0;
    b.bytes = lanes == 64 ? ~__mmask64{0} : (__mmask64{1} << lanes) - 1;
    run_rows(s_, b, groups_, slots_, slot_bytes_, fold_, lo_, hi_, float_clamp_,
             x + n * s_.h * s_.w * s_.channels,
             y + n * s_.oh * s_.ow * s_.channels * static_cast<int64_t>(out_size), ring, zp_row,
             tags, oy0, oy1);
  }
#else
  (void)x, (void)y, (void)scratch, (void)first, (void)last, (void)row_chunks;
  throw Error("internal: the INT8 depthwise kernel needs AVX-512 VNNI");
#endif
}

}  // namespace visionrt
