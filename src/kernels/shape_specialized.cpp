// Convolutions and Resize whose sizes are only known at run time (an R-CNN mask head runs on as
// many RoIs as survived detection; its paste loop resizes each mask to its box): the fast kernel
// is built for the concrete input sizes at the first call with those sizes and kept (a few per
// node), instead of running the reference loops. The constant weights are reordered once per
// specialization. Small run-time inputs that fast kernels read as constants (Resize's scales
// and sizes) are part of the specialization's key and given to it as constants. Specializations are
// shared by concurrent requests (built under a lock, executed outside it) and each call brings its
// own scratch memory.
#include <cstring>
#include <map>
#include <mutex>

#include "common/strings.hpp"
#include "kernels/node_runner.hpp"

namespace visionrt {
namespace {

class ShapeSpecialized : public Kernel {
 public:
  explicit ShapeSpecialized(const KernelQuery& q) : opset_(q.opset) {
    for (const Tensor* t : q.input_constants) consts_.push_back(t ? *t : Tensor());
  }

  void execute(KernelContext& ctx) override {
    std::vector<int64_t> key{ctx.num_threads};
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      key.push_back(-2);  // separator
      if (!ctx.inputs[i]) continue;
      for (int64_t d : ctx.inputs[i]->shape()) key.push_back(d);
      if (baked(i, ctx)) {
        key.push_back(-3);
        for (size_t e = 0; e < ctx.inputs[i]->numel(); ++e) {
          const double v = ctx.inputs[i]->at_f64(e);
          int64_t bits;
          std::memcpy(&bits, &v, sizeof bits);
          key.push_back(bits);
        }
      }
    }
    std::shared_ptr<Kernel> k;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = built_.find(key);
      if (it != built_.end()) k = it->second;
    }
    if (!k) {
      k = build(ctx);
      std::lock_guard<std::mutex> lock(mu_);
      if (built_.size() >= 8) built_.clear();  // running calls hold their own reference
      built_.emplace(key, k);
    }
    OwnedScratch scratch(k->scratch_bytes());
    KernelContext inner = ctx;
    inner.scratch = scratch.get();
    k->execute(inner);
  }
  std::string layout() const override { return "plain (built per run-time size)"; }

 private:
  std::shared_ptr<Kernel> build(const KernelContext& ctx) const {
    KernelQuery q;
    q.node = ctx.node;
    q.opset = opset_;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      TensorType t;
      if (ctx.inputs[i]) {
        t.dtype = ctx.inputs[i]->dtype();
        t.has_rank = true;
        t.dims = ctx.inputs[i]->shape();
      }
      q.input_types.push_back(t);
      const bool known = i < consts_.size() && !consts_[i].empty();
      q.input_constants.push_back(known ? &consts_[i] : baked(i, ctx) ? ctx.inputs[i] : nullptr);
    }
    q.output_types = infer_node_types(*ctx.node, opset_, ctx.inputs);
    q.input_layouts.assign(q.input_types.size(), 0);
    q.output_layouts.assign(q.output_types.size(), 0);
    std::string chosen, why;
    std::unique_ptr<Kernel> k;
    {
      // Concrete sizes: this candidate declines (it takes unknown sizes only); the first of the
      // others that accepts is built.
      KernelThreadsScope threads(ctx.num_threads);
      k = select_kernel(q, "", &chosen, &why);
    }
    if (!k) ctx.fail(str_cat("no kernel for sizes ", shape_str(q.input_types[0].dims), ": ", why));
    return std::shared_ptr<Kernel>(std::move(k));
  }

  // A small input that is not a compile-time constant: its values join the key and the query.
  bool baked(size_t i, const KernelContext& ctx) const {
    return i > 0 && ctx.inputs[i] && (i >= consts_.size() || consts_[i].empty()) &&
           ctx.inputs[i]->numel() <= 64 && ctx.inputs[i]->dtype() != DType::undefined;
  }

  int64_t opset_;
  std::vector<Tensor> consts_;
  mutable std::mutex mu_;
  std::map<std::vector<int64_t>, std::shared_ptr<Kernel>> built_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.input_types.empty() || q.input_types[0].dtype != DType::f32 || !q.input_types[0].has_rank ||
      q.input_types[0].dims.size() != 4)
    return *why = "f32 4-D source only", nullptr;
  if (q.input_types[0].fully_known()) return *why = "static sizes: the direct kernel's", nullptr;
  if (q.node->op_type != "Resize" && (q.input_constants.size() < 2 || !q.input_constants[1]))
    return *why = "weights must be constant", nullptr;
  return std::make_unique<ShapeSpecialized>(q);
}

}  // namespace

void register_shape_specialized(KernelRegistry& r) {
  for (const char* op : {"Conv", "visionrt.FusedConv", "ConvTranspose", "Resize"})
    r.add(op, {"per_size", create, nullptr});
}

}  // namespace visionrt
