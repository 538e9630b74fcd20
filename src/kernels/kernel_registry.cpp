// The single list of kernel families, in priority order per op (fast candidates register first).
#include <cstdint>

#include "common/strings.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {

const Tensor& KernelContext::input(size_t i) const {
  if (i >= inputs.size() || inputs[i] == nullptr)
    fail(str_cat("required input ", i, " is missing"));
  return *inputs[i];
}

void KernelContext::fail(const std::string& msg) const {
  throw InputError(str_cat("node ", node ? node->label() : std::string("?"), ": ", msg));
}

int64_t KernelContext::axis(int64_t a, int64_t rank) const {
  if (a < -rank || a >= rank) fail(str_cat("axis ", a, " is out of range for rank ", rank));
  return a < 0 ? a + rank : a;
}

OwnedScratch::OwnedScratch(size_t bytes) : buf_(bytes ? bytes + 64 : 0) {
  if (buf_.empty()) return;
  const uintptr_t p = reinterpret_cast<uintptr_t>(buf_.data());
  ptr_ = buf_.data() + ((64 - p % 64) % 64);
}

bool KernelQuery::any_blocked() const {
  for (int l : input_layouts)
    if (l) return true;
  for (int l : output_layouts)
    if (l) return true;
  return false;
}

bool KernelQuery::constant_scalar(size_t i, double* v) const {
  if (i >= input_constants.size() || !input_constants[i]) return false;
  const Tensor& t = *input_constants[i];
  if (t.numel() != 1) return false;
  *v = t.at_f64(0);
  return true;
}

const KernelRegistry& KernelRegistry::instance() {
  static const KernelRegistry reg = [] {
    KernelRegistry r;
    // Fast candidates first; reference kernels last: they accept everything their op supports.
    register_cpu_kernels(r);
    register_dnnl_kernels(r);
    register_cpu_fallback_kernels(r);
    register_ref_elementwise_basic(r);
    register_ref_tensor_basic(r);
    register_ref_nn_basic(r);
    register_ref_reduce_basic(r);
    register_ref_detection_basic(r);
    register_ref_misc(r);
    register_ref_quant_linear(r);
    register_ref_einsum(r);
    register_ref_deform_conv(r);
    register_ref_control_flow(r);
    register_ref_internal(r);
    return r;
  }();
  return reg;
}

KernelCandidate KernelCandidate::checked_by_create(std::string name, CreateFn create) {
  KernelCandidate c;
  c.name = std::move(name);
  c.accepts_layouts = [create](const KernelQuery& q) {
    std::string why;
    return create(q, &why) != nullptr;
  };
  c.create = std::move(create);
  return c;
}

void KernelRegistry::add(const std::string& op, KernelCandidate c) {
  by_op_[op].push_back(std::move(c));
}

void KernelRegistry::add_ref(const std::string& op, std::function<void(KernelContext&)> fn) {
  add_ref(op, nullptr, std::move(fn));
}

void KernelRegistry::add_ref(const std::string& op,
                             std::function<bool(const KernelQuery&, std::string*)> accepts,
                             std::function<void(KernelContext&)> fn) {
  auto shared_fn = std::make_shared<std::function<void(KernelContext&)>>(std::move(fn));
  KernelCandidate c;
  c.name = "ref";
  c.create = [accepts, shared_fn](const KernelQuery& q,
                                  std::string* why) -> std::unique_ptr<Kernel> {
    if (q.any_blocked()) {
      *why = "reference kernels read plain layouts only";
      return nullptr;
    }
    if (accepts && !accepts(q, why)) return nullptr;
    struct Owning : Kernel {
      std::shared_ptr<std::function<void(KernelContext&)>> f;
      void execute(KernelContext& ctx) override { (*f)(ctx); }
    };
    auto k = std::make_unique<Owning>();
    k->f = shared_fn;
    return k;
  };
  add(op, std::move(c));
}

const std::vector<KernelCandidate>* KernelRegistry::find(const std::string& op) const {
  auto it = by_op_.find(op);
  return it == by_op_.end() ? nullptr : &it->second;
}

}  // namespace visionrt
