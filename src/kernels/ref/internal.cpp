// Reference kernels of the internal ops (ops/internal.cpp). visionrt.FusedConv runs the
// reference Conv, then the fused residual sum and activation in the order the pass recorded, so
// every fusion has an independent reference path.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/strings.hpp"
#include "kernels/activation.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

class RefFusedConv : public Kernel {
 public:
  RefFusedConv(std::unique_ptr<Kernel> conv, Activation act, bool sum_first)
      : conv_(std::move(conv)), act_(act), sum_first_(sum_first) {}

  void execute(KernelContext& ctx) override {
    KernelContext inner = ctx;
    inner.inputs.resize(std::min<size_t>(3, ctx.inputs.size()));
    conv_->execute(inner);
    Tensor& y = ctx.output(0);
    float* py = y.data<float>();
    const float* sum = nullptr;
    if (ctx.has_input(3)) {
      const Tensor& s = ctx.input(3);
      if (s.shape() != y.shape() || s.dtype() != DType::f32)
        ctx.fail(str_cat("residual ", s.describe(), " does not match the output ", y.describe()));
      sum = s.data<float>();
    }
    for (size_t i = 0; i < y.numel(); ++i) {
      float v = py[i];
      if (sum && sum_first_) v += sum[i];
      v = apply_act(act_, v);
      if (sum && !sum_first_) v += sum[i];
      py[i] = v;
    }
  }

 private:
  std::unique_ptr<Kernel> conv_;
  Activation act_;
  bool sum_first_;
};

std::unique_ptr<Kernel> create_fused_conv(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "reference kernels read plain layouts only", nullptr;
  if (q.input_types.empty() || q.input_types[0].dtype != DType::f32)
    return *why = "fused convolutions are f32", nullptr;
  Activation act;
  if (!fused_activation(*q.node, &act))
    return *why = "unknown activation '" + q.node->attr_s("activation", "") + "'", nullptr;
  const auto* cands = KernelRegistry::instance().find("Conv");
  for (const auto& c : *cands) {
    if (c.name != "ref") continue;
    KernelQuery inner = q;
    auto k = c.create(inner, why);
    if (!k) return nullptr;
    return std::make_unique<RefFusedConv>(std::move(k), act, q.node->attr_i("sum_first", 0) != 0);
  }
  return *why = "no reference Conv", nullptr;
}

Activation node_act(const Node& n) {
  Activation a;
  if (!fused_activation(n, &a))
    throw ModelError(
        str_cat("node ", n.label(), ": unknown activation '", n.attr_s("activation", ""), "'"));
  return a;
}

bool f32_input(const KernelQuery& q, std::string* why) {
  if (q.input_types.empty() || q.input_types[0].dtype != DType::f32)
    return *why = "f32 only", false;
  return true;
}

void activation_kernel(KernelContext& c) {
  const Activation a = node_act(*c.node);
  const float* x = c.input(0).data<float>();
  float* y = c.output(0).data<float>();
  for (size_t i = 0, n = c.input(0).numel(); i < n; ++i) y[i] = apply_act(a, x[i]);
}

void scale_shift_kernel(KernelContext& c) {
  const Activation a = node_act(*c.node);
  const Tensor& x = c.input(0);
  const Shape& d = x.shape();
  const int64_t ch = d[1];
  if (c.input(1).numel() != static_cast<size_t>(ch) ||
      c.input(2).numel() != static_cast<size_t>(ch))
    c.fail("scale and shift must have one value per channel");
  int64_t inner = 1;
  for (size_t i = 2; i < d.size(); ++i) inner *= d[i];
  const float* px = x.data<float>();
  const float* s = c.input(1).data<float>();
  const float* b = c.input(2).data<float>();
  float* py = c.output(0).data<float>();
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t k = 0; k < ch; ++k)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t at = (n * ch + k) * inner + i;
        py[at] = apply_act(a, px[at] * s[k] + b[k]);
      }
}

// visionrt.FusedMatMul: the reference MatMul, then bias and activation.
class RefFusedMatMul : public Kernel {
 public:
  RefFusedMatMul(std::unique_ptr<Kernel> mm, Activation act) : mm_(std::move(mm)), act_(act) {}
  void execute(KernelContext& ctx) override {
    KernelContext inner = ctx;
    inner.inputs.resize(2);
    mm_->execute(inner);
    Tensor& y = ctx.output(0);
    float* py = y.data<float>();
    const int64_t n = y.shape().empty() ? 1 : y.shape().back();
    const float* bias = ctx.has_input(2) ? ctx.input(2).data<float>() : nullptr;
    if (bias && static_cast<int64_t>(ctx.input(2).numel()) != n) ctx.fail("bias is not [N]");
    for (size_t i = 0; i < y.numel(); ++i)
      py[i] = apply_act(act_, py[i] + (bias ? bias[static_cast<int64_t>(i) % n] : 0.0f));
  }

 private:
  std::unique_ptr<Kernel> mm_;
  Activation act_;
};

std::unique_ptr<Kernel> create_fused_matmul(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "reference kernels read plain layouts only", nullptr;
  if (q.input_types.empty() || q.input_types[0].dtype != DType::f32)
    return *why = "fused matmuls are f32", nullptr;
  for (const auto& c : *KernelRegistry::instance().find("MatMul")) {
    if (c.name != "ref") continue;
    KernelQuery inner = q;
    inner.input_types.resize(2);
    inner.input_constants.resize(2);
    auto k = c.create(inner, why);
    if (!k) return nullptr;
    return std::make_unique<RefFusedMatMul>(std::move(k), node_act(*q.node));
  }
  return *why = "no reference MatMul", nullptr;
}

// visionrt.FlatConcat on plain inputs: element by element into each input's window.
void flat_concat_kernel(KernelContext& c) {
  Tensor& y = c.output(0);
  const int64_t N = y.shape()[0], C = y.shape()[1], L = y.shape()[2];
  const std::vector<int64_t> co = c.node->attr_is("channel_offsets");
  const std::vector<int64_t> po = c.node->attr_is("position_offsets");
  float* py = y.data<float>();
  for (size_t k = 0; k < c.num_inputs(); ++k) {
    const Tensor& x = c.input(k);
    const int64_t ck = x.dim(1), len = static_cast<int64_t>(x.numel()) / (N * ck);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t ch = 0; ch < ck; ++ch)
        for (int64_t p = 0; p < len; ++p)
          py[(n * C + co[k] + ch) * L + po[k] + p] =
              static_cast<float>(x.at_f64(static_cast<size_t>((n * ck + ch) * len + p)));
  }
}

// visionrt.SoftmaxExpectation in double: per position, the softmax over the channels, then the
// weighted sum.
void softmax_expectation_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  const int64_t N = x.dim(0), C = x.dim(1), P = x.dim(2) * x.dim(3);
  if (static_cast<int64_t>(w.numel()) != C) c.fail("weights must have one value per channel");
  const double b = c.has_input(2) ? c.input(2).at_f64(0) : 0.0;
  float* y = c.output(0).data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < P; ++p) {
      auto at = [&](int64_t ch) { return x.at_f64(static_cast<size_t>((n * C + ch) * P + p)); };
      double m = at(0), s = 0, t = 0;
      for (int64_t ch = 1; ch < C; ++ch) m = std::max(m, at(ch));
      for (int64_t ch = 0; ch < C; ++ch) {
        const double e = std::exp(at(ch) - m);
        s += e;
        t += e * w.at_f64(static_cast<size_t>(ch));
      }
      y[n * P + p] = static_cast<float>(t / s + b);
    }
}

}  // namespace

void register_ref_internal(KernelRegistry& r) {
  r.add_ref("visionrt.SoftmaxExpectation", softmax_expectation_kernel);
  r.add_ref("visionrt.FlatConcat", flat_concat_kernel);
  r.add("visionrt.FusedConv", {"ref", create_fused_conv, nullptr});
  r.add("visionrt.FusedMatMul", {"ref", create_fused_matmul, nullptr});
  r.add_ref("visionrt.Activation", f32_input, activation_kernel);
  r.add_ref("visionrt.ScaleShift", f32_input, scale_shift_kernel);
  // Plain to plain of one type (a layout or precision change is oneDNN's reorder).
  r.add_ref(
      "visionrt.Reorder",
      [](const KernelQuery& q, std::string* why) {
        if (q.any_blocked() || q.input_types[0].dtype != q.output_types[0].dtype)
          return *why = "changes layout or type", false;
        return true;
      },
      [](KernelContext& c) {
        std::memcpy(c.output(0).raw(), c.input(0).raw(), c.input(0).nbytes());
      });
}

}  // namespace visionrt
