// DeformConv (and mmcv's lowered visionrt.DeformConv) in f32 as a bilinear im2col plus oneDNN's
// sgemm, the way DCN implementations run it on GPUs: per tile of output positions, a table of
// the four neighbours and weights of every (offset group, tap, position) sample (mask folded
// into the weights, zeros outside the image as the reference), then per weight group a column
// matrix [channels x taps, positions] gathered through the table and one GEMM with the weights
// [out channels, channels x taps] straight into the output rows. Same semantics as
// kernels/ref/deform_conv.cpp, which the tests compare against.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/dnnl/dnnl_common.hpp"
#include "ops/nn_shapes.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

struct Tap {
  int32_t idx[4];  // y * W + x of the four neighbours (0 where the weight is 0)
  float w[4];
};

constexpr size_t kColumnBytes = size_t(2) << 20;  // the column tile stays in L2-ish sizes

class DeformConvGemm : public Kernel {
 public:
  DeformConvGemm(const Shape& x, const Shape& w, const Shape& y, const WindowParams& p,
                 int64_t group, int64_t og, bool bias, bool mask)
      : p_(p), group_(group), og_(og), has_bias_(bias), has_mask_(mask) {
    n_ = x[0];
    ch_ = x[1];
    h_ = x[2];
    wd_ = x[3];
    oc_ = w[0];
    kh_ = w[2];
    kw_ = w[3];
    oh_ = y[2];
    ow_ = y[3];
    taps_ = kh_ * kw_;
    cpg_ = ch_ / group_;
    const int64_t rows = cpg_ * taps_;
    const int64_t positions = oh_ * ow_;
    tile_ = std::clamp<int64_t>(
        static_cast<int64_t>(kColumnBytes / sizeof(float)) / std::max<int64_t>(rows, 1), 64,
        std::max<int64_t>(positions, 1));
    table_bytes_ = static_cast<size_t>(og_ * taps_ * tile_) * sizeof(Tap);
    cols_bytes_ = static_cast<size_t>(rows * tile_) * sizeof(float);
  }

  size_t scratch_bytes() const override { return scratch_align(table_bytes_) + cols_bytes_; }
  std::string layout() const override { return "plain (bilinear im2col + sgemm)"; }

  void execute(KernelContext& c) override {
    const float* x = c.input(0).data<float>();
    const float* w = c.input(1).data<float>();
    const float* off = c.input(2).data<float>();
    const float* bias = has_bias_ && c.has_input(3) ? c.input(3).data<float>() : nullptr;
    const float* mask = has_mask_ && c.has_input(4) ? c.input(4).data<float>() : nullptr;
    float* y = c.output(0).data<float>();
    Tap* table = static_cast<Tap*>(c.scratch);
    float* cols =
        reinterpret_cast<float*>(static_cast<uint8_t*>(c.scratch) + scratch_align(table_bytes_));
    const int64_t positions = oh_ * ow_, opg = oc_ / group_, cpog = ch_ / og_;
    const int64_t rows = cpg_ * taps_;
    const int threads = c.num_threads;
    set_threads(threads);
    for (int64_t n = 0; n < n_; ++n) {
      const float* xn = x + n * ch_ * h_ * wd_;
      const float* offn = off + n * og_ * taps_ * 2 * positions;
      const float* maskn = mask ? mask + n * og_ * taps_ * positions : nullptr;
      float* yn = y + n * oc_ * positions;
      for (int64_t p0 = 0; p0 < positions; p0 += tile_) {
        const int64_t pt = std::min(tile_, positions - p0);
        // Sampling table of this tile: (offset group, tap) rows of pt entries.
        parallel_for(og_ * taps_, threads, [&](int64_t gt) {
          const int64_t grp = gt / taps_, t = gt % taps_, a = t / kw_, b = t % kw_;
          const float* dy = offn + (grp * taps_ + t) * 2 * positions;
          const float* dx = dy + positions;
          const float* m = maskn ? maskn + (grp * taps_ + t) * positions : nullptr;
          Tap* row = table + gt * tile_;
          for (int64_t q = 0; q < pt; ++q) {
            const int64_t pos = p0 + q, i = pos / ow_, j = pos % ow_;
            const float py =
                static_cast<float>(i * p_.strides[0] - p_.pads_begin[0] + a * p_.dilations[0]) +
                dy[pos];
            const float px =
                static_cast<float>(j * p_.strides[1] - p_.pads_begin[1] + b * p_.dilations[1]) +
                dx[pos];
            Tap& e = row[q];
            std::memset(&e, 0, sizeof(Tap));
            if (!(py > -1.f && py < static_cast<float>(h_) && px > -1.f &&
                  px < static_cast<float>(wd_)))
              continue;
            const float fy = std::floor(py), fx = std::floor(px);
            const int64_t y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
            const float ly = py - fy, lx = px - fx, s = m ? m[pos] : 1.f;
            const float wt[4] = {(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx};
            for (int k = 0; k < 4; ++k) {
              const int64_t yy = y0 + k / 2, xx = x0 + k % 2;
              if (yy < 0 || yy >= h_ || xx < 0 || xx >= wd_) continue;
              e.idx[k] = static_cast<int32_t>(yy * wd_ + xx);
              e.w[k] = wt[k] * s;
            }
          }
        });
        for (int64_t g = 0; g < group_; ++g) {
          // Columns: row (ci * taps + t) holds channel g*cpg+ci sampled at tap t.
          parallel_for(rows, threads, [&](int64_t r) {
            const int64_t ci = r / taps_, t = r % taps_, k = g * cpg_ + ci, grp = k / cpog;
            const float* plane = xn + k * h_ * wd_;
            const Tap* row = table + (grp * taps_ + t) * tile_;
            float* out = cols + r * pt;
            for (int64_t q = 0; q < pt; ++q) {
              const Tap& e = row[q];
              out[q] = e.w[0] * plane[e.idx[0]] + e.w[1] * plane[e.idx[1]] +
                       e.w[2] * plane[e.idx[2]] + e.w[3] * plane[e.idx[3]];
            }
          });
          float* yg = yn + g * opg * positions + p0;
          const float beta = bias ? 1.f : 0.f;
          if (bias)
            for (int64_t o = 0; o < opg; ++o)
              std::fill(yg + o * positions, yg + o * positions + pt, bias[g * opg + o]);
          const dnnl_status_t st = dnnl_sgemm('N', 'N', opg, pt, rows, 1.f, w + g * opg * rows,
                                              rows, cols, pt, beta, yg, positions);
          if (st != dnnl_success) c.fail(str_cat("oneDNN sgemm failed (status ", int(st), ")"));
        }
      }
    }
  }

 private:
  WindowParams p_;
  int64_t group_, og_;
  bool has_bias_, has_mask_;
  int64_t n_ = 0, ch_ = 0, h_ = 0, wd_ = 0, oc_ = 0, kh_ = 0, kw_ = 0, oh_ = 0, ow_ = 0;
  int64_t taps_ = 0, cpg_ = 0, tile_ = 0;
  size_t table_bytes_ = 0, cols_bytes_ = 0;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.input_types.size() < 3) return *why = "needs X, W and offset", nullptr;
  for (size_t i = 0; i < q.input_types.size(); ++i) {
    const TensorType& t = q.input_types[i];
    if (t.dtype == DType::undefined && i >= 3) continue;  // absent optional input
    if (t.dtype != DType::f32) return *why = "f32 only", nullptr;
    if (!t.fully_known()) return *why = "needs static shapes", nullptr;
  }
  if (q.output_types.empty() || !q.output_types[0].fully_known())
    return *why = "needs static shapes", nullptr;
  const Shape &x = q.input_types[0].dims, &w = q.input_types[1].dims, &y = q.output_types[0].dims;
  if (x.size() != 4 || w.size() != 4 || y.size() != 4)
    return *why = "2-D deformable convolution only", nullptr;
  WindowParams p;
  std::string err;
  if (!conv_window(*q.node, x, {w[2], w[3]}, false, &p, &err)) return *why = err, nullptr;
  const int64_t group = q.node->attr_i("group", 1), og = q.node->attr_i("offset_group", 1);
  if (group <= 0 || og <= 0 || x[1] % group || x[1] % og || w[0] % group || w[1] * group != x[1])
    return *why = "channels do not split into the groups", nullptr;
  if (x[2] * x[3] > INT32_MAX) return *why = "image plane beyond 32-bit indices", nullptr;
  const int64_t taps = w[2] * w[3];
  if (q.input_types[2].dims != Shape{x[0], og * taps * 2, y[2], y[3]})
    return *why = "offset shape does not fit", nullptr;
  const bool mask = q.input_types.size() > 4 && q.input_types[4].dtype != DType::undefined;
  if (mask && q.input_types[4].dims != Shape{x[0], og * taps, y[2], y[3]})
    return *why = "mask shape does not fit", nullptr;
  const bool bias = q.input_types.size() > 3 && q.input_types[3].dtype != DType::undefined;
  if (bias && q.input_types[3].dims != Shape{w[0]})
    return *why = "bias shape does not fit", nullptr;
  return std::make_unique<DeformConvGemm>(x, w, y, p, group, og, bias, mask);
}

}  // namespace

void register_dnnl_deform_conv(KernelRegistry& r) {
  for (const char* op : {"DeformConv", "visionrt.DeformConv"}) r.add(op, {"dnnl", create, nullptr});
}

}  // namespace visionrt
