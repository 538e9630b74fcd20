// Resize of the two spatial axes of an NCHW f32 tensor, nearest or (bi)linear, for every
// coordinate transformation except tf_crop_and_resize (align_corners included: TF-converted
// DeepLab models use it, and oneDNN has no such mode). The taps come from the same geometry as
// the reference kernel (ops/resample_shapes), computed once at compile time; execution is two
// taps per axis in float (each source row interpolated along W once, then output rows blended
// from two of those), planes in parallel.
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

// One row of the plane, interpolated along W: y[c] = w0[c]·x[i0[c]] + w1[c]·x[i1[c]].
VISIONRT_MULTIVERSION void resize_row(const float* x, float* y, const Taps2& tx) {
  const int64_t ow = static_cast<int64_t>(tx.i0.size());
  for (int64_t c = 0; c < ow; ++c) y[c] = tx.w0[c] * x[tx.i0[c]] + tx.w1[c] * x[tx.i1[c]];
}

// Separable: each source row a tap needs is interpolated along W once (the taps' rows never
// decrease with the output row, so two cached rows hold every row still needed: an upsampling
// by 4 interpolates each source row once instead of four times), then each output row is a
// contiguous blend of two of them.
VISIONRT_MULTIVERSION void resize_plane(const float* x, float* y, int64_t iw, const Taps2& ty,
                                        const Taps2& tx, float* rows) {
  const int64_t oh = static_cast<int64_t>(ty.i0.size()), ow = static_cast<int64_t>(tx.i0.size());
  int32_t held[2] = {-1, -1};
  int next = 0;
  auto row = [&](int32_t src, int32_t keep) -> const float* {
    for (int k = 0; k < 2; ++k)
      if (held[k] == src) return rows + k * ow;
    const int k = held[0] == keep ? 1 : held[1] == keep ? 0 : next;
    next = 1 - k;
    held[k] = src;
    resize_row(x + src * iw, rows + k * ow, tx);
    return rows + k * ow;
  };
  for (int64_t r = 0; r < oh; ++r) {
    const float* a = row(ty.i0[r], ty.i1[r]);
    const float* b = row(ty.i1[r], ty.i0[r]);
    const float wa = ty.w0[r], wb = ty.w1[r];
    float* out = y + r * ow;
    for (int64_t c = 0; c < ow; ++c) out[c] = wa * a[c] + wb * b[c];
  }
}

class FastResize : public Kernel {
 public:
  FastResize(int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow, Taps2 ty, Taps2 tx,
             std::string mode)
      : planes_(planes),
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
    const int threads = planes_ * oh_ * ow_ >= (int64_t{1} << 15) ? ctx.num_threads : 1;
    parallel_for(planes_, threads, [&](int64_t p) {
      thread_local std::vector<float> rows;
      if (rows.size() < 2 * static_cast<size_t>(ow_)) rows.resize(2 * static_cast<size_t>(ow_));
      resize_plane(x + p * ih_ * iw_, y + p * oh_ * ow_, iw_, ty_, tx_, rows.data());
    });
  }
  std::string layout() const override { return "nchw " + mode_; }

 private:
  int64_t planes_, ih_, iw_, oh_, ow_;
  Taps2 ty_, tx_;
  std::string mode_;
};

std::unique_ptr<Kernel> create_resize(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
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
  return std::make_unique<FastResize>(
      x[0] * x[1], x[2], x[3], y[2], y[3], make_taps(a, x[2], y[2], plan.scale[2]),
      make_taps(a, x[3], y[3], plan.scale[3]), a.mode + " " + a.coord);
}

}  // namespace

void register_cpu_resize(KernelRegistry& r) { r.add("Resize", {"cpu", create_resize, nullptr}); }

}  // namespace visionrt
