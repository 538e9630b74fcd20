// Softmax along an axis that is not the innermost (YOLOv8's DFL head: [1,16,4,8400] along 16).
// oneDNN's softmax walks such an axis element by element; here every pass runs over the
// contiguous inner dimension, so max, exp and sum vectorize. The innermost-axis case stays with
// oneDNN. f32, static shapes, plain layout; opset >= 13 semantics (one axis).
#include <algorithm>
#include <vector>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

// Softmax over n rows of `w` contiguous columns (row stride `stride`).
VISIONRT_MULTIVERSION void columns(const float* xb, float* yb, int64_t n, int64_t stride,
                                   int64_t w) {
  float m[1024], s[1024];
  for (int64_t i = 0; i < w; ++i) m[i] = xb[i];
  for (int64_t j = 1; j < n; ++j)
    for (int64_t i = 0; i < w; ++i) m[i] = std::max(m[i], xb[j * stride + i]);
  for (int64_t i = 0; i < w; ++i) s[i] = 0;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < w; ++i) {
      float e = cpu::exp_approx(xb[j * stride + i] - m[i]);
      yb[j * stride + i] = e;
      s[i] += e;
    }
  for (int64_t i = 0; i < w; ++i) s[i] = 1.0f / s[i];
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < w; ++i) yb[j * stride + i] *= s[i];
}

class StridedSoftmax : public Kernel {
 public:
  StridedSoftmax(int64_t outer, int64_t n, int64_t inner) : outer_(outer), n_(n), inner_(inner) {}

  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    // Work items: (outer, chunk of the inner dimension), 1024 columns at a time.
    const int64_t cols = 1024, chunks = (inner_ + cols - 1) / cols;
    const int64_t items = outer_ * chunks;
    const int threads = items * n_ * cols >= (int64_t{1} << 16) ? ctx.num_threads : 1;
    parallel_for(items, threads, [&](int64_t it) {
      const int64_t o = it / chunks, c0 = (it % chunks) * cols;
      columns(x + o * n_ * inner_ + c0, y + o * n_ * inner_ + c0, n_, inner_,
              std::min(cols, inner_ - c0));
    });
  }
  std::string layout() const override { return "plain (strided axis)"; }

 private:
  int64_t outer_, n_, inner_;
};

std::unique_ptr<Kernel> create_softmax(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.opset < 13) return *why = "opset < 13 flattens the axes", nullptr;
  const TensorType& t = q.input_types[0];
  if (t.dtype != DType::f32 || !t.fully_known() || t.dims.empty())
    return *why = "needs a static f32 tensor", nullptr;
  int64_t r = static_cast<int64_t>(t.dims.size());
  int64_t axis = q.node->attr_i("axis", -1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return *why = "axis out of range", nullptr;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= t.dims[i];
  for (int64_t i = axis + 1; i < r; ++i) inner *= t.dims[i];
  if (inner == 1) return *why = "innermost axis (oneDNN's case)", nullptr;
  if (t.dims[axis] == 0 || outer == 0) return *why = "empty tensor", nullptr;
  return std::make_unique<StridedSoftmax>(outer, t.dims[axis], inner);
}

// visionrt.SoftmaxExpectation: per column, max, then exp, its sum and its weighted sum in one
// pass; the softmax itself is never written.
VISIONRT_MULTIVERSION void expectation_columns(const float* xb, float* yb, int64_t n,
                                               int64_t stride, int64_t w, const float* wt,
                                               float bias) {
  float m[1024], s[1024], t[1024];
  for (int64_t i = 0; i < w; ++i) m[i] = xb[i];
  for (int64_t j = 1; j < n; ++j)
    for (int64_t i = 0; i < w; ++i) m[i] = std::max(m[i], xb[j * stride + i]);
  for (int64_t i = 0; i < w; ++i) s[i] = t[i] = 0;
  for (int64_t j = 0; j < n; ++j) {
    const float wj = wt[j];
    for (int64_t i = 0; i < w; ++i) {
      const float e = cpu::exp_approx(xb[j * stride + i] - m[i]);
      s[i] += e;
      t[i] += wj * e;
    }
  }
  for (int64_t i = 0; i < w; ++i) yb[i] = t[i] / s[i] + bias;
}

class SoftmaxExpectation : public Kernel {
 public:
  SoftmaxExpectation(int64_t batch, int64_t n, int64_t inner, std::vector<float> w, float bias)
      : batch_(batch), n_(n), inner_(inner), w_(std::move(w)), bias_(bias) {}
  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    const int64_t cols = 1024, chunks = (inner_ + cols - 1) / cols, items = batch_ * chunks;
    const int threads = items * n_ * cols >= (int64_t{1} << 16) ? ctx.num_threads : 1;
    parallel_for(items, threads, [&](int64_t it) {
      const int64_t b = it / chunks, c0 = (it % chunks) * cols;
      expectation_columns(x + b * n_ * inner_ + c0, y + b * inner_ + c0, n_, inner_,
                          std::min(cols, inner_ - c0), w_.data(), bias_);
    });
  }
  std::string layout() const override { return "plain"; }
  bool reads_at_run_time(size_t input) const override { return input == 0; }

 private:
  int64_t batch_, n_, inner_;
  std::vector<float> w_;
  float bias_;
};

std::unique_ptr<Kernel> create_expectation(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const TensorType& t = q.input_types[0];
  if (t.dtype != DType::f32 || !t.fully_known() || t.dims.size() != 4)
    return *why = "needs a static 4-D f32 tensor", nullptr;
  const Tensor* w = q.input_constants.size() > 1 ? q.input_constants[1] : nullptr;
  if (!w || w->dtype() != DType::f32 || static_cast<int64_t>(w->numel()) != t.dims[1])
    return *why = "weights are not f32 constants, one per channel", nullptr;
  const bool has_bias = q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined;
  const Tensor* b = has_bias ? q.input_constants[2] : nullptr;
  if (has_bias && (!b || b->dtype() != DType::f32 || b->numel() != 1))
    return *why = "bias is not one f32 constant", nullptr;
  if (t.dims[1] == 0 || t.dims[0] == 0) return *why = "empty tensor", nullptr;
  return std::make_unique<SoftmaxExpectation>(
      t.dims[0], t.dims[1], t.dims[2] * t.dims[3],
      std::vector<float>(w->data<float>(), w->data<float>() + w->numel()),
      b ? b->data<float>()[0] : 0.0f);
}

}  // namespace

void register_cpu_softmax(KernelRegistry& r) {
  r.add("Softmax", {"cpu", create_softmax, nullptr});
  r.add("visionrt.SoftmaxExpectation", {"cpu", create_expectation, nullptr});
}

}  // namespace visionrt
