// RoiAlign (opset 10 and 16, avg and max, both coordinate modes) on f32 in plain NCHW, for
// sizes known only at run time (the number of proposals is data-dependent in two-stage
// detectors). The reference's arithmetic (kernels/ref/detection_basic.cpp): per roi, the
// sampling points of every output cell and their four bilinear corners and weights are computed
// once (in double, as the reference) and shared by all channels; channels accumulate in float,
// in parallel over (roi, channel).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

struct Tap {
  int32_t i[4];
  float w[4];
};

class RoiAlignCpu : public Kernel {
 public:
  void execute(KernelContext& c) override {
    const Tensor& x = c.input(0);
    const Tensor& rois = c.input(1);
    const Tensor& bidx = c.input(2);
    Tensor& y = c.output(0);
    if (x.rank() != 4) c.fail("X must be 4-D");
    if (rois.rank() != 2 || rois.dim(1) != 4) c.fail("rois must be [num_rois, 4]");
    if (static_cast<int64_t>(bidx.numel()) != rois.dim(0))
      c.fail("batch_indices must have one value per roi");
    const Node& n = *c.node;
    const bool max_mode = n.attr_s("mode", "avg") == "max";
    const int64_t oh = y.dim(2), ow = y.dim(3), sr = n.attr_i("sampling_ratio", 0);
    const double scale = n.attr_f("spatial_scale", 1.0f);
    const bool half =
        c.opset >= 16 && n.attr_s("coordinate_transformation_mode", "half_pixel") == "half_pixel";
    const int64_t ch = x.dim(1), h = x.dim(2), w = x.dim(3), nr = rois.dim(0);
    if (h * w > (int64_t(1) << 30)) c.fail("feature map too large");
    const double offset = half ? 0.5 : 0.0;
    const float* xv = x.data<float>();
    const float* rv = rois.data<float>();
    float* out = y.data<float>();
    // Sampling taps of every roi: [roi][cell][sample]; per roi its grid size.
    std::vector<std::vector<Tap>> taps(static_cast<size_t>(nr));
    std::vector<int64_t> samples(static_cast<size_t>(nr)), batch(static_cast<size_t>(nr));
    for (int64_t r = 0; r < nr; ++r) {
      const int64_t b = bidx.at_i64(static_cast<size_t>(r));
      if (b < 0 || b >= x.dim(0)) c.fail(str_cat("batch index ", b, " out of range"));
      batch[r] = b;
      const double x1 = rv[r * 4] * scale - offset, y1 = rv[r * 4 + 1] * scale - offset;
      const double x2 = rv[r * 4 + 2] * scale - offset, y2 = rv[r * 4 + 3] * scale - offset;
      double rw = x2 - x1, rh = y2 - y1;
      if (!half) {
        rw = std::max(rw, 1.0);
        rh = std::max(rh, 1.0);
      }
      const double bh = rh / static_cast<double>(oh), bw = rw / static_cast<double>(ow);
      int64_t gh = sr > 0 ? sr : static_cast<int64_t>(std::ceil(rh / static_cast<double>(oh)));
      int64_t gw = sr > 0 ? sr : static_cast<int64_t>(std::ceil(rw / static_cast<double>(ow)));
      gh = std::max<int64_t>(gh, 1);
      gw = std::max<int64_t>(gw, 1);
      if (gh * gw > (int64_t(1) << 20)) c.fail("roi sampling grid too large");
      samples[r] = gh * gw;
      std::vector<Tap>& t = taps[r];
      t.resize(static_cast<size_t>(oh * ow * gh * gw));
      size_t k = 0;
      for (int64_t ph = 0; ph < oh; ++ph)
        for (int64_t pw = 0; pw < ow; ++pw)
          for (int64_t iy = 0; iy < gh; ++iy) {
            const double yy = y1 + static_cast<double>(ph) * bh +
                              (static_cast<double>(iy) + 0.5) * bh / static_cast<double>(gh);
            for (int64_t ix = 0; ix < gw; ++ix, ++k) {
              const double xx = x1 + static_cast<double>(pw) * bw +
                                (static_cast<double>(ix) + 0.5) * bw / static_cast<double>(gw);
              Tap& tp = t[k];
              if (yy < -1.0 || yy > static_cast<double>(h) || xx < -1.0 ||
                  xx > static_cast<double>(w)) {
                tp = Tap{{0, 0, 0, 0}, {0, 0, 0, 0}};
                continue;
              }
              double ycl = std::max(yy, 0.0), xcl = std::max(xx, 0.0);
              int64_t y0 = static_cast<int64_t>(ycl), x0 = static_cast<int64_t>(xcl), y1i, x1i;
              if (y0 >= h - 1) {
                y0 = y1i = h - 1;
                ycl = static_cast<double>(y0);
              } else {
                y1i = y0 + 1;
              }
              if (x0 >= w - 1) {
                x0 = x1i = w - 1;
                xcl = static_cast<double>(x0);
              } else {
                x1i = x0 + 1;
              }
              const double ly = ycl - static_cast<double>(y0), lx = xcl - static_cast<double>(x0);
              const double hy = 1 - ly, hx = 1 - lx;
              tp.i[0] = static_cast<int32_t>(y0 * w + x0);
              tp.i[1] = static_cast<int32_t>(y0 * w + x1i);
              tp.i[2] = static_cast<int32_t>(y1i * w + x0);
              tp.i[3] = static_cast<int32_t>(y1i * w + x1i);
              tp.w[0] = static_cast<float>(hy * hx);
              tp.w[1] = static_cast<float>(hy * lx);
              tp.w[2] = static_cast<float>(ly * hx);
              tp.w[3] = static_cast<float>(ly * lx);
            }
          }
    }
    const int64_t cells = oh * ow;
    const int threads = nr * ch * cells >= 4096 ? c.num_threads : 1;
    parallel_for(nr * ch, threads, [&](int64_t rc) {
      const int64_t r = rc / ch, k = rc % ch;
      const float* plane = xv + (batch[r] * ch + k) * h * w;
      const Tap* t = taps[r].data();
      const int64_t g = samples[r];
      const float inv = 1.f / static_cast<float>(g);
      float* o = out + rc * cells;
      for (int64_t cell = 0; cell < cells; ++cell) {
        const Tap* s = t + cell * g;
        if (max_mode) {
          float acc = 0;
          for (int64_t q = 0; q < g; ++q) {
            const Tap& tp = s[q];
            const float v = std::max(std::max(tp.w[0] * plane[tp.i[0]], tp.w[1] * plane[tp.i[1]]),
                                     std::max(tp.w[2] * plane[tp.i[2]], tp.w[3] * plane[tp.i[3]]));
            acc = q == 0 ? v : std::max(acc, v);
          }
          o[cell] = acc;
        } else {
          float acc = 0;
          for (int64_t q = 0; q < g; ++q) {
            const Tap& tp = s[q];
            acc += tp.w[0] * plane[tp.i[0]] + tp.w[1] * plane[tp.i[1]] + tp.w[2] * plane[tp.i[2]] +
                   tp.w[3] * plane[tp.i[3]];
          }
          o[cell] = acc * inv;
        }
      }
    });
  }
  std::string layout() const override { return "plain"; }
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.input_types.size() < 3 || q.input_types[0].dtype != DType::f32 ||
      q.input_types[1].dtype != DType::f32 || q.output_types[0].dtype != DType::f32)
    return *why = "f32 X and rois only", nullptr;
  const TensorType& x = q.input_types[0];
  if (x.has_rank && x.dims.size() == 4 && x.fully_known() &&
      x.dims[2] * x.dims[3] > (int64_t(1) << 30))
    return *why = "feature map too large for 32-bit offsets", nullptr;
  return std::make_unique<RoiAlignCpu>();
}

}  // namespace

void register_cpu_roi_align(KernelRegistry& r) { r.add("RoiAlign", {"cpu", create, nullptr}); }

}  // namespace visionrt
