// Grouped convolution with four channels per group (ResNeXt-50 32x4d's first stage: 128
// channels in 32 groups) on the blocked nChw8c layout of AVX2 machines. oneDNN 2.6 has no jit
// kernel for groups that split an 8-channel block: it stages the tensor to nhwc and runs its
// gemm path, 10.5-10.9 ms per such layer on an AVX2 EPYC for 14.5 M multiply-adds (ResNeXt-50
// at 0.80-0.87x ONNX Runtime). Here one 8-lane block holds two whole groups, so an output block
// needs only its own input block: for each tap and each of the four input channels of a group,
// an in-lane shuffle (vpermilps) puts that channel of each group under its group's four output
// lanes, and one FMA with the packed weights adds it. Interior pixels go four at a time.
// Conv / FusedConv with group = C_in / 4 = C_out / 4, C a multiple of 8, no dilation, constant
// weights and bias, activation none/relu/clip, no residual sum; f32.
#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/activation.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"
#include "ops/nn_shapes.hpp"

namespace visionrt {
namespace {

struct Geo : Window2d {
  int64_t n = 0, blocks = 0;
  int act = 0;  // 0 none, 1 relu, 2 clip
  float lo = 0, hi = 0;
};

#if defined(__x86_64__)
VISIONRT_AVX2 inline __m256 finish(__m256 v, const Geo& g) {
  if (g.act == 1) return _mm256_max_ps(v, _mm256_setzero_ps());
  if (g.act == 2)
    return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(g.lo)), _mm256_set1_ps(g.hi));
  return v;
}

// Adds one tap for R pixels whose sources are x[r * step]: acc[r] += sum_i w[i] * lane i of each
// group of x[r].
template <int R>
VISIONRT_AVX2 inline void tap(const float* x, int64_t step, const float* w, __m256* acc) {
  __m256 xv[R];
  for (int r = 0; r < R; ++r) xv[r] = _mm256_loadu_ps(x + r * step);
  const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
  const __m256 w2 = _mm256_loadu_ps(w + 16), w3 = _mm256_loadu_ps(w + 24);
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm256_fmadd_ps(w0, _mm256_permute_ps(xv[r], 0x00), acc[r]);
    acc[r] = _mm256_fmadd_ps(w1, _mm256_permute_ps(xv[r], 0x55), acc[r]);
    acc[r] = _mm256_fmadd_ps(w2, _mm256_permute_ps(xv[r], 0xAA), acc[r]);
    acc[r] = _mm256_fmadd_ps(w3, _mm256_permute_ps(xv[r], 0xFF), acc[r]);
  }
}

// One output row of one block. x: the input block's plane [ih][iw][8]; w: [kh][kw][4][8];
// y: [ow][8].
VISIONRT_AVX2 void conv_row(const Geo& g, const float* x, const float* w, const float* bias,
                            float* y, int64_t oh) {
  const int64_t ih0 = oh * g.sh - g.ph;
  const int64_t kh0 = std::max<int64_t>(0, -ih0), kh1 = std::min<int64_t>(g.kh, g.ih - ih0);
  const __m256 b = _mm256_loadu_ps(bias);
  const int64_t step = g.sw * 8;
  int64_t o = 0;
  while (o < g.ow) {
    const int64_t iw0 = o * g.sw - g.pw;
    if (o + 4 <= g.ow && iw0 >= 0 && (o + 3) * g.sw - g.pw + g.kw <= g.iw) {
      __m256 acc[4] = {b, b, b, b};
      for (int64_t kh = kh0; kh < kh1; ++kh)
        for (int64_t kw = 0; kw < g.kw; ++kw)
          tap<4>(x + ((ih0 + kh) * g.iw + iw0 + kw) * 8, step, w + (kh * g.kw + kw) * 32, acc);
      for (int r = 0; r < 4; ++r) _mm256_storeu_ps(y + (o + r) * 8, finish(acc[r], g));
      o += 4;
      continue;
    }
    const int64_t kw0 = std::max<int64_t>(0, -iw0), kw1 = std::min<int64_t>(g.kw, g.iw - iw0);
    __m256 acc[1] = {b};
    for (int64_t kh = kh0; kh < kh1; ++kh)
      for (int64_t kw = kw0; kw < kw1; ++kw)
        tap<1>(x + ((ih0 + kh) * g.iw + iw0 + kw) * 8, step, w + (kh * g.kw + kw) * 32, acc);
    _mm256_storeu_ps(y + o * 8, finish(acc[0], g));
    ++o;
  }
}
#endif

class Group4Conv : public Kernel {
 public:
  Group4Conv(Geo g, std::vector<float> w, std::vector<float> b)
      : g_(g), w_(std::move(w)), b_(std::move(b)) {}

  void execute(KernelContext& ctx) override {
#if defined(__x86_64__)
    const float* x = static_cast<const float*>(ctx.input(0).raw());
    float* y = static_cast<float*>(ctx.output(0).raw());
    const Geo& g = g_;
    const int64_t rows = g.n * g.blocks * g.oh;
    parallel_for(rows, ctx.num_threads, [&](int64_t r) {
      const int64_t plane = r / g.oh, oh = r % g.oh, blk = plane % g.blocks;
      conv_row(g, x + plane * g.ih * g.iw * 8, w_.data() + blk * g.kh * g.kw * 32,
               b_.data() + blk * 8, y + (plane * g.oh + oh) * g.ow * 8, oh);
    });
#else
    (void)ctx;
#endif
  }
  std::string layout() const override { return "nChw8c -> nChw8c own group-4"; }
  bool reads_at_run_time(size_t input) const override { return input == 0; }

 private:
  Geo g_;
  std::vector<float> w_, b_;  // w: [blocks][kh][kw][4][8]; b: [blocks * 8]
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
#if !defined(__x86_64__)
  return *why = "x86-64 only", nullptr;
#else
  if (cpu::own_vector_lanes() < 8) return *why = "no AVX2/FMA", nullptr;
  const Node& n = *q.node;
  const int64_t group = n.attr_i("group", 1);
  if (group == 1) return *why = "not grouped", nullptr;
  if (q.input_types.size() < 2 || q.input_types.size() > 3 || q.output_types.size() != 1)
    return *why = "a residual sum input", nullptr;
  if (q.input_layout(0) != 8 || q.output_layout(0) != 8) return *why = "not nChw8c", nullptr;
  const TensorType& xt = q.input_types[0];
  const TensorType& yt = q.output_types[0];
  if (xt.dtype != DType::f32 || yt.dtype != DType::f32 || !xt.fully_known() || !yt.fully_known() ||
      xt.dims.size() != 4)
    return *why = "not a static 4-D f32 tensor", nullptr;
  const Tensor* w = q.input_constants.size() > 1 ? q.input_constants[1] : nullptr;
  const Tensor* b = q.input_constants.size() > 2 ? q.input_constants[2] : nullptr;
  if (!w || w->dtype() != DType::f32 || w->rank() != 4)
    return *why = "weights not constant", nullptr;
  if (q.input_types.size() == 3 && (!b || b->dtype() != DType::f32))
    return *why = "bias not constant", nullptr;
  const int64_t c = xt.dims[1], oc = yt.dims[1];
  if (c != oc || c % 8 != 0 || c / group != 4 || w->dim(0) != oc || w->dim(1) != 4)
    return *why = "not four input and four output channels per group", nullptr;
  Activation act;
  if (n.op_type == "visionrt.FusedConv") {
    if (!fused_activation(n, &act)) return *why = "unknown activation", nullptr;
  } else {
    act.kind = Act::none;
  }
  Geo g;
  if (act.kind == Act::relu) {
    g.act = 1;
  } else if (act.kind == Act::clip) {
    g.act = 2;
    g.lo = act.alpha;
    g.hi = act.beta;
  } else if (act.kind != Act::none) {
    return *why = "activation other than relu/clip", nullptr;
  }
  WindowParams p;
  std::string err;
  if (!conv_window(n, xt.dims, {w->dim(2), w->dim(3)}, false, &p, &err)) return *why = err, nullptr;
  for (int64_t d : p.dilations)
    if (d != 1) return *why = "dilated", nullptr;
  g.n = xt.dims[0];
  g.blocks = c / 8;
  static_cast<Window2d&>(g) = window_2d(xt.dims, yt.dims, p);
  // Packed weights: lane l of block k, tap t, input channel i = w[8k + l, i, t].
  std::vector<float> wp(static_cast<size_t>(oc * g.kh * g.kw * 4));
  const float* wd = w->data<float>();
  const int64_t taps = g.kh * g.kw;
  for (int64_t o = 0; o < oc; ++o)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t t = 0; t < taps; ++t)
        wp[static_cast<size_t>((((o / 8) * taps + t) * 4 + i) * 8 + o % 8)] =
            wd[(o * 4 + i) * taps + t];
  std::vector<float> bp(static_cast<size_t>(oc), 0.f);
  if (b)
    for (int64_t o = 0; o < oc; ++o) bp[static_cast<size_t>(o)] = b->data<float>()[o];
  return std::make_unique<Group4Conv>(g, std::move(wp), std::move(bp));
#endif
}

}  // namespace

void register_cpu_group4_conv(KernelRegistry& r) {
  for (const char* op : {"Conv", "visionrt.FusedConv"})
    r.add(op, KernelCandidate::checked_by_create("cpu", create));
}

}  // namespace visionrt
