// GridSample in f32 (opset 16/20; every mode and padding mode, both align_corners): the sample
// positions depend on the grid only, so per image a table of taps (input index and weight: 1 for
// nearest, 4 for bilinear, 16 for bicubic) is built once over the output pixels, then every
// channel is a weighted gather through it. Dynamic snake convolution (DSConv) and deformable
// attention sample many channels at the same positions: the per-channel work is the gather.
// Semantics as kernels/ref/detection_basic.cpp (the coordinates in double, as there).
#include <algorithm>
#include <cmath>

#include "common/parallel.hpp"
#include "kernels/kernel.hpp"
#include "ops/resample_shapes.hpp"

namespace visionrt {
namespace {

enum class Mode { nearest, bilinear, bicubic };
enum class Pad { zeros, border, reflection };

class GridSampleCpu : public Kernel {
 public:
  GridSampleCpu(Mode mode, Pad pad, bool align, const Shape& x, const Shape& grid)
      : mode_(mode), pad_(pad), align_(align) {
    n_ = x[0];
    ch_ = x[1];
    h_ = x[2];
    w_ = x[3];
    oh_ = grid[1];
    ow_ = grid[2];
    taps_ = mode == Mode::nearest ? 1 : mode == Mode::bilinear ? 4 : 16;
    entries_ = static_cast<size_t>(oh_ * ow_ * taps_);
  }

  size_t scratch_bytes() const override {
    return scratch_align(entries_ * sizeof(int32_t)) + entries_ * sizeof(float);
  }

  void execute(KernelContext& c) override {
    const float* x = c.input(0).data<float>();
    const float* grid = c.input(1).data<float>();
    float* y = c.output(0).data<float>();
    int32_t* idx = static_cast<int32_t*>(c.scratch);
    float* wt = reinterpret_cast<float*>(static_cast<uint8_t*>(c.scratch) +
                                         scratch_align(entries_ * sizeof(int32_t)));
    const int64_t positions = oh_ * ow_;
    const int threads = c.num_threads;
    for (int64_t b = 0; b < n_; ++b) {
      const float* g = grid + b * positions * 2;
      parallel_for(positions, positions * taps_ >= 4096 ? threads : 1, [&](int64_t p) {
        taps_of(g[p * 2], g[p * 2 + 1], idx + p * taps_, wt + p * taps_);
      });
      const float* xb = x + b * ch_ * h_ * w_;
      float* yb = y + b * ch_ * positions;
      parallel_for(ch_, ch_ * positions * taps_ >= 4096 ? threads : 1, [&](int64_t k) {
        const float* plane = xb + k * h_ * w_;
        float* out = yb + k * positions;
        if (taps_ == 4) {
          for (int64_t p = 0; p < positions; ++p) {
            const int32_t* i = idx + p * 4;
            const float* f = wt + p * 4;
            out[p] =
                f[0] * plane[i[0]] + f[1] * plane[i[1]] + f[2] * plane[i[2]] + f[3] * plane[i[3]];
          }
          return;
        }
        for (int64_t p = 0; p < positions; ++p) {
          float s = 0.f;
          for (int64_t t = 0; t < taps_; ++t) s += wt[p * taps_ + t] * plane[idx[p * taps_ + t]];
          out[p] = s;
        }
      });
    }
  }

  std::string layout() const override { return "plain (tap table per image)"; }

 private:
  double denorm(double g, int64_t size) const {
    return align_ ? (g + 1) / 2 * static_cast<double>(size - 1)
                  : ((g + 1) * static_cast<double>(size) - 1) / 2;
  }
  double bound(double v, int64_t size) const {
    if (pad_ == Pad::border) return std::clamp(v, 0.0, static_cast<double>(size - 1));
    if (pad_ == Pad::reflection) {
      v = align_ ? reflect(v, 0, static_cast<double>(size - 1))
                 : reflect(v, -0.5, static_cast<double>(size) - 0.5);
      return std::clamp(v, 0.0, static_cast<double>(size - 1));
    }
    return v;
  }
  // One tap at integer position (yy, xx): out-of-image taps are bounded by the padding mode,
  // or weigh nothing with zeros padding.
  void tap(int64_t yy, int64_t xx, double weight, int32_t* i, float* f) const {
    if (pad_ != Pad::zeros) {
      xx = static_cast<int64_t>(bound(static_cast<double>(xx), w_));
      yy = static_cast<int64_t>(bound(static_cast<double>(yy), h_));
    }
    if (yy < 0 || yy >= h_ || xx < 0 || xx >= w_) {
      *i = 0;
      *f = 0.f;
      return;
    }
    *i = static_cast<int32_t>(yy * w_ + xx);
    *f = static_cast<float>(weight);
  }
  void taps_of(float gx, float gy, int32_t* i, float* f) const {
    if (!std::isfinite(gx) || !std::isfinite(gy)) {
      std::fill(i, i + taps_, 0);
      std::fill(f, f + taps_, 0.f);
      return;
    }
    // Beyond +-1e15 (exact integers in double, far outside any image) the reference's integer
    // casts would overflow; clamping there changes nothing a real grid can reach.
    double xx = std::clamp(denorm(gx, w_), -1e15, 1e15),
           yy = std::clamp(denorm(gy, h_), -1e15, 1e15);
    if (mode_ == Mode::nearest) {
      xx = bound(xx, w_);
      yy = bound(yy, h_);
      tap(static_cast<int64_t>(std::nearbyint(yy)), static_cast<int64_t>(std::nearbyint(xx)), 1.0,
          i, f);
    } else if (mode_ == Mode::bilinear) {
      xx = bound(xx, w_);
      yy = bound(yy, h_);
      const int64_t x0 = static_cast<int64_t>(std::floor(xx)),
                    y0 = static_cast<int64_t>(std::floor(yy));
      const double lx = xx - static_cast<double>(x0), ly = yy - static_cast<double>(y0);
      tap(y0, x0, (1 - ly) * (1 - lx), i, f);
      tap(y0, x0 + 1, (1 - ly) * lx, i + 1, f + 1);
      tap(y0 + 1, x0, ly * (1 - lx), i + 2, f + 2);
      tap(y0 + 1, x0 + 1, ly * lx, i + 3, f + 3);
    } else {  // bicubic: taps bounded individually
      const int64_t x0 = static_cast<int64_t>(std::floor(xx)),
                    y0 = static_cast<int64_t>(std::floor(yy));
      const double tx = xx - static_cast<double>(x0), ty = yy - static_cast<double>(y0);
      int t = 0;
      for (int64_t p = -1; p <= 2; ++p)
        for (int64_t q = -1; q <= 2; ++q, ++t)
          tap(y0 + p, x0 + q,
              cubic_weight(ty - static_cast<double>(p), -0.75) *
                  cubic_weight(tx - static_cast<double>(q), -0.75),
              i + t, f + t);
    }
  }

  Mode mode_;
  Pad pad_;
  bool align_;
  int64_t n_ = 0, ch_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0, taps_ = 4;
  size_t entries_ = 0;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.input_types.size() < 2 || q.output_types.empty()) return *why = "needs X and grid", nullptr;
  const TensorType &x = q.input_types[0], &g = q.input_types[1];
  if (x.dtype != DType::f32 || g.dtype != DType::f32) return *why = "f32 only", nullptr;
  if (!x.fully_known() || !g.fully_known()) return *why = "needs static shapes", nullptr;
  if (x.dims.size() != 4 || g.dims.size() != 4 || g.dims[3] != 2 || g.dims[0] != x.dims[0])
    return *why = "4-D input with an [N, H_out, W_out, 2] grid only", nullptr;
  if (x.dims[2] * x.dims[3] > INT32_MAX) return *why = "plane beyond 32-bit indices", nullptr;
  std::string m = q.node->attr_s("mode", "bilinear");
  if (m == "linear") m = "bilinear";  // opset 20's names
  if (m == "cubic") m = "bicubic";
  const std::string p = q.node->attr_s("padding_mode", "zeros");
  Mode mode;
  if (m == "nearest")
    mode = Mode::nearest;
  else if (m == "bilinear")
    mode = Mode::bilinear;
  else if (m == "bicubic")
    mode = Mode::bicubic;
  else
    return *why = "mode '" + m + "'", nullptr;
  Pad pad;
  if (p == "zeros")
    pad = Pad::zeros;
  else if (p == "border")
    pad = Pad::border;
  else if (p == "reflection")
    pad = Pad::reflection;
  else
    return *why = "padding_mode '" + p + "'", nullptr;
  return std::make_unique<GridSampleCpu>(mode, pad, q.node->attr_i("align_corners", 0) != 0, x.dims,
                                         g.dims);
}

}  // namespace

void register_cpu_grid_sample(KernelRegistry& r) { r.add("GridSample", {"cpu", create, nullptr}); }

}  // namespace visionrt
