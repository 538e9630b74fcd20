// Reference kernels of the internal ops (ops/internal.cpp). visionrt.FusedConv runs the
// reference Conv, then the fused residual sum and activation in the order the pass recorded, so
// every fusion has an independent reference path.
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
  if (!parse_act(q.node->attr_s("activation", ""), &act.kind))
    return *why = "unknown activation '" + q.node->attr_s("activation", "") + "'", nullptr;
  act.alpha = q.node->attr_f("alpha", 0);
  act.beta = q.node->attr_f("beta", 0);
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

}  // namespace

void register_ref_internal(KernelRegistry& r) {
  r.add("visionrt.FusedConv", {"ref", create_fused_conv, nullptr});
  r.add_ref("visionrt.Reorder", [](KernelContext& c) {
    std::memcpy(c.output(0).raw(), c.input(0).raw(), c.input(0).nbytes());
  });
}

}  // namespace visionrt
