// oneDNN elementwise kernels: unary activations (eltwise primitive) and binary arithmetic with
// numpy broadcasting (binary primitive; oneDNN broadcasts src1 only, so a broadcast first operand
// is swapped for commutative ops and declined otherwise). Both run on plain or blocked layouts.
#include <cfloat>

#include "common/strings.hpp"
#include "kernels/dnnl/dnnl_common.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

// ---- unary ----

bool const_scalar_input(const KernelQuery& q, size_t k, float def, float* out) {
  if (k >= q.input_types.size() || q.input_types[k].dtype == DType::undefined)
    return *out = def, true;
  double v;
  if (q.input_types[k].dtype != DType::f32 || !q.constant_scalar(k, &v)) return false;
  return *out = static_cast<float>(v), true;
}

// Activations of the table (kernels/activation.hpp: Relu, Clip, HardSwish, Mish,
// visionrt.Activation's GELU/swish, ...) map through eltwise_alg; the math ops below have an
// eltwise algorithm of their own.
bool unary_alg(const KernelQuery& q, dnnl::algorithm* alg, float* alpha, float* beta,
               std::string* why) {
  using A = dnnl::algorithm;
  const Node& n = *q.node;
  const std::string& op = n.op_type;
  *alpha = 0;
  *beta = 0;
  Activation act;
  auto scalar = [&q](size_t k, float def, float* out) {
    return const_scalar_input(q, k, def, out);
  };
  if (node_activation(n, q.opset, scalar, &act)) {
    // Hard-sigmoid is eltwise_linear plus a clip post-op, which Debian's oneDNN 2.6 eltwise
    // primitive ignores (conformance test_hardsigmoid_example): convolutions fuse it, a
    // standalone one stays with the reference kernel.
    if (act.kind == Act::hard_sigmoid || !eltwise_alg(act, alg, alpha, beta))
      return *why = str_cat("no oneDNN eltwise algorithm for ", act_name(act.kind)), false;
    return true;
  }
  if (op == "Clip") return *why = "min/max are not constant f32 scalars, or min > max", false;
  if (op == "Exp") return *alg = A::eltwise_exp, true;
  if (op == "Abs") return *alg = A::eltwise_abs, true;
  if (op == "Sqrt") return *alg = A::eltwise_sqrt, true;
  if (op == "Neg") return *alg = A::eltwise_linear, *alpha = -1.0f, true;
  if (op == "Softplus") return *alg = A::eltwise_soft_relu, true;
  if (op == "Pow") {
    // Exact forms only (oneDNN's general pow goes through exp/log: wrong for negative bases).
    float e = 0;
    if (!const_scalar_input(q, 1, 0, &e) || q.input_types.size() != 2)
      return *why = "exponent is not a constant f32 scalar", false;
    if (e == 2.0f) return *alg = A::eltwise_square, true;
    if (e == 1.0f) return *alg = A::eltwise_linear, *alpha = 1.0f, true;
    if (e == 0.5f) return *alg = A::eltwise_sqrt, true;
    return *why = "exponent other than 0.5, 1 or 2", false;
  }
  return *why = "not an eltwise op", false;
}

// f32, or bf16 in and out (INFERENCE_PRECISION bf16; oneDNN computes in f32 in between).
std::unique_ptr<Kernel> create_unary(const KernelQuery& q, std::string* why) {
  if (!all_static_float(q, why)) return nullptr;
  if (q.input_types[0].dtype != q.output_types[0].dtype)
    return *why = "input and output types differ", nullptr;
  dnnl::algorithm alg;
  float alpha, beta;
  if (!unary_alg(q, &alg, &alpha, &beta, why)) return nullptr;
  const int block = q.input_layout(0);
  if (block != q.output_layout(0)) return *why = "input and output layouts differ", nullptr;
  const Shape& dims = q.input_types[0].dims;
  try {
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg,
                                  md_of(q.input_types[0], block), alpha, beta);
    dnnl::eltwise_forward::primitive_desc pd(d, user_scratchpad(), engine());
    return std::make_unique<SrcDstKernel<dnnl::eltwise_forward>>(
        std::move(pd), str_cat(layout_name(block, dims.size()), " ", pd.impl_info_str()));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

bool unary_layouts(const KernelQuery& q) {
  std::string why;
  dnnl::algorithm alg;
  float a, b;
  return all_static_float(q, &why) && q.input_types[0].dtype == q.output_types[0].dtype &&
         unary_alg(q, &alg, &a, &b, &why) && q.input_types[0].dims.size() == 4 &&
         q.input_layout(0) == q.output_layout(0);
}

// ---- binary ----

class DnnlBinary : public Kernel {
 public:
  DnnlBinary(dnnl::binary::primitive_desc pd, bool swap, std::string layout)
      : pd_(std::move(pd)), prim_(pd_), swap_(swap), layout_(std::move(layout)) {}
  size_t scratch_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    const void* a = ctx.input(swap_ ? 1 : 0).raw();
    const void* b = ctx.input(swap_ ? 0 : 1).raw();
    memory s0(pd_.src_desc(0), engine(), const_cast<void*>(a));
    memory s1(pd_.src_desc(1), engine(), const_cast<void*>(b));
    memory dst(pd_.dst_desc(), engine(), ctx.output(0).raw());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC_0, s0}, {DNNL_ARG_SRC_1, s1}, {DNNL_ARG_DST, dst}};
    bind_scratchpad(args, pd_.scratchpad_desc(), ctx.scratch);
    prim_.execute(stream(), args);
    stream().wait();
  }
  std::string layout() const override { return layout_; }

 private:
  dnnl::binary::primitive_desc pd_;
  dnnl::binary prim_;
  bool swap_;
  std::string layout_;
};

// Each operand and the output f32 or bf16 (INFERENCE_PRECISION bf16: a squeeze-excitation
// scale multiplying a bf16 feature map; oneDNN computes in f32).
std::unique_ptr<Kernel> make_binary(const KernelQuery& q, std::string* why) {
  if (!all_static_float(q, why)) return nullptr;
  if (q.input_types.size() != 2) return *why = "needs exactly two inputs", nullptr;
  using A = dnnl::algorithm;
  const std::string& op = q.node->op_type;
  A alg;
  bool commutative = true;
  if (op == "Add")
    alg = A::binary_add;
  else if (op == "Mul")
    alg = A::binary_mul;
  else if (op == "Max")
    alg = A::binary_max;
  else if (op == "Min")
    alg = A::binary_min;
  else if (op == "Sub")
    alg = A::binary_sub, commutative = false;
  else if (op == "Div")
    alg = A::binary_div, commutative = false;
  else
    return *why = "not a binary op", nullptr;
  const Shape& y = q.output_types[0].dims;
  bool swap = false;
  if (q.input_types[0].dims != y) {
    if (!commutative || q.input_types[1].dims != y)
      return *why = "the first operand is broadcast (oneDNN broadcasts the second only)", nullptr;
    swap = true;
  }
  const size_t i0 = swap ? 1 : 0, i1 = swap ? 0 : 1;
  Shape d1 = q.input_types[i1].dims;
  const int b0 = q.input_layout(i0), b1 = q.input_layout(i1);
  const int bo = q.output_layout(0);
  if (b0 != bo) return *why = "first operand and output layouts differ", nullptr;
  // A blocked second operand is either the output's shape or per-channel [N,C,1,1] in the same
  // blocked layout (a squeeze-excitation scale: the jit kernel broadcasts it over H and W).
  const bool per_channel =
      d1.size() == 4 && y.size() == 4 && d1[0] == y[0] && d1[1] == y[1] && d1[2] == 1 && d1[3] == 1;
  if (b1 && d1 != y && !(per_channel && b1 == b0))
    return *why = "a blocked second operand must be full-size or per-channel", nullptr;
  if (d1.size() > y.size()) return *why = "second operand has a higher rank", nullptr;
  d1.insert(d1.begin(), y.size() - d1.size(), 1);  // numpy: align trailing dimensions
  if (y.empty()) return *why = "scalar", nullptr;
  try {
    memory::desc m1 = md(d1, b1, dt_of(q.input_types[i1].dtype));
    dnnl::binary::desc d(alg, md(y, b0, dt_of(q.input_types[i0].dtype)), m1,
                         md_of(q.output_types[0], bo));
    dnnl::binary::primitive_desc pd(d, user_scratchpad(), engine());
    std::string impl = pd.impl_info_str();
    if (impl.find("ref") != std::string::npos)
      return *why = str_cat("oneDNN offers only its reference implementation (", impl, ")"),
             nullptr;
    return std::make_unique<DnnlBinary>(std::move(pd), swap,
                                        str_cat(layout_name(b0, y.size()), " ", impl));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

}  // namespace

void register_dnnl_eltwise(KernelRegistry& r) {
  for (const char* op :
       {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Abs", "Sqrt", "Neg", "Elu", "HardSwish",
        "Mish", "Clip", "Pow", "Softplus", "Gelu", "visionrt.Activation"})
    r.add(op, {"dnnl", create_unary, unary_layouts});
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min"})
    r.add(op, KernelCandidate::checked_by_create("dnnl", make_binary));
}

}  // namespace visionrt
