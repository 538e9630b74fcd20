// Resize of the two spatial axes of an NCHW f32 tensor, nearest or (bi)linear, for every
// coordinate transformation except tf_crop_and_resize (align_corners included: TF-converted
// DeepLab models use it, and oneDNN has no such mode). The taps come from the same geometry as
// the reference kernel (ops/resample_shapes), computed once at compile time; execution is two
// taps per axis in float, planes in parallel.
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

VISIONRT_MULTIVERSION void resize_plane(const float* x, float* y, int64_t iw, int64_t ow,
                                        const Taps2& ty, const Taps2& tx, float* row) {
  const int64_t oh = static_cast<int64_t>(ty.i0.size());
  for (int64_t r = 0; r < oh; ++r) {
    const float* a = x + ty.i0[r] * iw;
    const float* b = x + ty.i1[r] * iw;
    const float wa = ty.w0[r], wb = ty.w1[r];
    for (int64_t c = 0; c < iw; ++c) row[c] = wa * a[c] + wb * b[c];
    float* out = y + r * ow;
    for (int64_t c = 0; c < ow; ++c) out[c] = tx.w0[c] * row[tx.i0[c]] + tx.w1[c] * row[tx.i1[c]];
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
      thread_local std::vector<float> row;
      if (row.size() < static_cast<size_t>(iw_)) row.resize(static_cast<size_t>(iw_));
      resize_plane(x + p * ih_ * iw_, y + p * oh_ * ow_, iw_, ow_, ty_, tx_, row.data());
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
