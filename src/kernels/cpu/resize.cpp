// Resize of the two spatial axes of an NCHW or NHWC f32 tensor, nearest or (bi)linear, for every
// coordinate transformation except tf_crop_and_resize (align_corners included: TF-converted
// DeepLab models use it, and oneDNN has no such mode). The taps come from the same geometry as
// the reference kernel (ops/resample_shapes), computed once at compile time; execution is two
// taps per axis in float (each source row interpolated along W once, then output rows blended
// from two of those), planes in parallel; channels-last (the float ops between the int8
// convolutions of a QDQ model: DeepLab's upsamplings before a quantizing Concat) moves whole
// pixels of C values, in bands of output rows in parallel.
#include <algorithm>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"
#include "kernels/resize_query.hpp"

namespace visionrt {
namespace {

struct Taps2 {
  std::vector<int32_t> i0, i1;
  std::vector<float> w0, w1;
};

Taps2 make_taps(const ResizeAttrs& a, int64_t in, int64_t out, double scale) {
  Taps2 t;
  for (int64_t o = 0; o < out; ++o) {
    bool outside = false;
    std::vector<Tap> taps = axis_taps(a, o, in, out, scale, 0, 1, &outside);
    t.i0.push_back(static_cast<int32_t>(taps[0].index));
    t.w0.push_back(static_cast<float>(taps[0].weight));
    t.i1.push_back(static_cast<int32_t>(taps.size() > 1 ? taps[1].index : taps[0].index));
    t.w1.push_back(static_cast<float>(taps.size() > 1 ? taps[1].weight : 0.0));
  }
  return t;
}

// One row of the plane, interpolated along W: y[o] = w0[o]·x[i0[o]] + w1[o]·x[i1[o]], each
// position `pixel` values (1 in NCHW, C in NHWC).
VISIONRT_MULTIVERSION void resize_row(const float* x, float* y, const Taps2& tx, int64_t pixel) {
  const int64_t ow = static_cast<int64_t>(tx.i0.size());
  if (pixel == 1) {
    for (int64_t c = 0; c < ow; ++c) y[c] = tx.w0[c] * x[tx.i0[c]] + tx.w1[c] * x[tx.i1[c]];
    return;
  }
  for (int64_t o = 0; o < ow; ++o) {
    const float w0 = tx.w0[o], w1 = tx.w1[o];
    const float* a = x + tx.i0[o] * pixel;
    const float* b = x + tx.i1[o] * pixel;
    float* d = y + o * pixel;
    for (int64_t c = 0; c < pixel; ++c) d[c] = w0 * a[c] + w1 * b[c];
  }
}

// Separable: each source row a tap needs is interpolated along W once (the taps' rows never
// decrease with the output row, so two cached rows hold every row still needed: an upsampling
// by 4 interpolates each source row once instead of four times), then each output row is a
// contiguous blend of two of them.
// Output rows [r0, r1) of a plane whose positions hold `pixel` values.
VISIONRT_MULTIVERSION void resize_plane(const float* x, float* y, int64_t iw, int64_t pixel,
                                        const Taps2& ty, const Taps2& tx, float* rows, int64_t r0,
                                        int64_t r1) {
  const int64_t ow = static_cast<int64_t>(tx.i0.size()) * pixel;
  int32_t held[2] = {-1, -1};
  int next = 0;
  auto row = [&](int32_t src, int32_t keep) -> const float* {
    for (int k = 0; k < 2; ++k)
      if (held[k] == src) return rows + k * ow;
    const int k = held[0] == keep ? 1 : held[1] == keep ? 0 : next;
    next = 1 - k;
    held[k] = src;
    resize_row(x + src * iw * pixel, rows + k * ow, tx, pixel);
    return rows + k * ow;
  };
  for (int64_t r = r0; r < r1; ++r) {
    const float* a = row(ty.i0[r], ty.i1[r]);
    const float* b = row(ty.i1[r], ty.i0[r]);
    const float wa = ty.w0[r], wb = ty.w1[r];
    float* out = y + r * ow;
    for (int64_t c = 0; c < ow; ++c) out[c] = wa * a[c] + wb * b[c];
  }
}

class FastResize : public Kernel {
 public:
  // `pixel`: values per position (1: NCHW planes; C: NHWC images).
  FastResize(int64_t planes, int64_t pixel, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
             Taps2 ty, Taps2 tx, std::string mode)
      : planes_(planes),
        pixel_(pixel),
        ih_(ih),
        iw_(iw),
        oh_(oh),
        ow_(ow),
        ty_(std::move(ty)),
        tx_(std::move(tx)),
        mode_(std::move(mode)) {}

  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    const int threads = planes_ * pixel_ * oh_ * ow_ >= (int64_t{1} << 15) ? ctx.num_threads : 1;
    // NHWC images are few (one, mostly): bands of output rows, each with its own cached rows.
    const int64_t bands = pixel_ > 1 ? std::clamp<int64_t>(threads, 1, oh_) : 1;
    parallel_for(planes_ * bands, threads, [&](int64_t i) {
      const int64_t p = i / bands, band = i % bands;
      thread_local std::vector<float> rows;
      const size_t need = 2 * static_cast<size_t>(ow_ * pixel_);
      if (rows.size() < need) rows.resize(need);
      resize_plane(x + p * ih_ * iw_ * pixel_, y + p * oh_ * ow_ * pixel_, iw_, pixel_, ty_, tx_,
                   rows.data(), band * oh_ / bands, (band + 1) * oh_ / bands);
    });
  }
  std::string layout() const override { return (pixel_ > 1 ? "nhwc " : "nchw ") + mode_; }

 private:
  int64_t planes_, pixel_, ih_, iw_, oh_, ow_;
  Taps2 ty_, tx_;
  std::string mode_;
};

std::unique_ptr<Kernel> create_resize(const KernelQuery& q, std::string* why) {
  const int layout = q.input_layout(0);
  if (layout != q.output_layout(0) || (layout != 0 && layout != kLayoutNhwc))
    return *why = "plain or channels-last (nhwc) in and out only", nullptr;
  const Node& n = *q.node;
  const TensorType& xt = q.input_types[0];
  if (xt.dtype != DType::f32 || !xt.fully_known() || xt.dims.size() != 4)
    return *why = "needs a static 4-D f32 input", nullptr;
  const Shape& x = xt.dims;
  const Shape& y = q.output_types[0].dims;
  if (!q.output_types[0].fully_known() || y[0] != x[0] || y[1] != x[1])
    return *why = "resizes batch or channels", nullptr;
  ResizeAttrs a = resize_attrs(n, q.opset);
  if (a.mode != "nearest" && a.mode != "linear") return *why = "mode " + a.mode, nullptr;
  if (a.coord == "tf_crop_and_resize") return *why = "tf_crop_and_resize", nullptr;
  if (n.attr_i("antialias", 0) != 0) return *why = "antialias", nullptr;
  if (a.legacy || n.op_type != "Resize") return *why = "Upsample / Resize before opset 11", nullptr;
  ResizePlan plan;
  if (!constant_resize_plan(q, &plan, why)) return nullptr;
  if (plan.out != y) return *why = "planned size differs from the inferred output", nullptr;
  if (x[2] > INT32_MAX || x[3] > INT32_MAX || y[2] <= 0 || y[3] <= 0 || x[2] <= 0 || x[3] <= 0)
    return *why = "empty or huge spatial size", nullptr;
  const bool nhwc = layout == kLayoutNhwc;
  return std::make_unique<FastResize>(nhwc ? x[0] : x[0] * x[1], nhwc ? x[1] : 1, x[2], x[3], y[2],
                                      y[3], make_taps(a, x[2], y[2], plan.scale[2]),
                                      make_taps(a, x[3], y[3], plan.scale[3]),
                                      a.mode + " " + a.coord);
}

}  // namespace

void register_cpu_resize(KernelRegistry& r) {
  r.add("Resize", KernelCandidate::checked_by_create("cpu", create_resize));
}

}  // namespace visionrt
