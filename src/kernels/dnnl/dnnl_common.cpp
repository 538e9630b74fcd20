// oneDNN plumbing shared by the kernels (see dnnl_common.hpp).
#include "kernels/dnnl/dnnl_common.hpp"

#include <cstdlib>

#include "common/strings.hpp"

namespace visionrt::dnnl_k {

const dnnl::engine& engine() {
  static const dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

dnnl::primitive_attr user_scratchpad(dnnl::primitive_attr attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void bind_scratchpad(std::unordered_map<int, memory>& args, const memory::desc& d, void* ptr) {
  if (d.get_size() == 0) return;
  if (!ptr) throw Error("internal: a oneDNN primitive needs scratchpad memory it was not given");
  args[DNNL_ARG_SCRATCHPAD] = memory(d, engine(), ptr);
}

void set_threads(int n) {
  thread_local int current = -1;
  n = std::max(1, n);
  if (n != current) {
    omp_set_num_threads(n);
    current = n;
  }
}

void reorder_weights(const memory& from, const memory& to) {
  const int saved = omp_get_max_threads();
  set_threads(1);
  dnnl::reorder r(from, to);
  r.execute(stream(), const_cast<memory&>(from), const_cast<memory&>(to));
  stream().wait();
  set_threads(saved);
}

int preferred_block() {
  static const int block = [] {
    const char* env = std::getenv("VISIONRT_LAYOUT");
    if (env && std::string(env) == "plain") return 0;
    auto isa = dnnl::get_effective_cpu_isa();
    return isa >= dnnl::cpu_isa::avx512_core ? 16 : 8;
  }();
  return block;
}

}  // namespace visionrt::dnnl_k

namespace visionrt {
int preferred_layout_block() { return dnnl_k::preferred_block(); }

KernelThreadsScope::KernelThreadsScope(int threads) : saved_(omp_get_max_threads()) {
  dnnl_k::set_threads(threads);
}
KernelThreadsScope::~KernelThreadsScope() { dnnl_k::set_threads(saved_); }
}  // namespace visionrt

namespace visionrt::dnnl_k {

memory::desc md(const Shape& dims, int block, DT dt) {
  memory::dims d(dims.begin(), dims.end());
  if (block == 16 && d.size() == 4) return memory::desc(d, dt, Tag::nChw16c);
  if (block == 8 && d.size() == 4) return memory::desc(d, dt, Tag::nChw8c);
  if (block == kLayoutNhwc && d.size() == 4) return memory::desc(d, dt, Tag::nhwc);
  if (d.empty()) d = {1};
  static const Tag plain[] = {Tag::a,    Tag::a,     Tag::ab,    Tag::abc,
                              Tag::abcd, Tag::abcde, Tag::abcdef};
  if (d.size() > 6) {
    // Row-major strides for higher ranks.
    memory::dims strides(d.size(), 1);
    for (size_t i = d.size() - 1; i > 0; --i) strides[i - 1] = strides[i] * d[i];
    return memory::desc(d, dt, strides);
  }
  return memory::desc(d, dt, plain[d.size()]);
}

std::string layout_name(int block, size_t rank) {
  if (block == 16 && rank == 4) return "nChw16c";
  if (block == 8 && rank == 4) return "nChw8c";
  if (block == kLayoutNhwc && rank == 4) return "nhwc";
  static const char* names[] = {"scalar", "a", "ab", "abc", "nchw", "ncdhw"};
  return rank < 6 ? names[rank] : "plain";
}

bool eltwise_alg(const Activation& a, dnnl::algorithm* alg, float* alpha, float* beta) {
  using A = dnnl::algorithm;
  *alpha = 0;
  *beta = 0;
  switch (a.kind) {
    case Act::none:
      return false;
    case Act::relu:
      *alg = A::eltwise_relu;
      return true;
    case Act::leaky_relu:
      *alg = A::eltwise_relu, *alpha = a.alpha;
      return true;
    case Act::clip:
      *alg = A::eltwise_clip_v2, *alpha = a.alpha, *beta = a.beta;
      return true;
    case Act::sigmoid:
      *alg = A::eltwise_logistic;
      return true;
    case Act::swish:
      *alg = A::eltwise_swish, *alpha = 1.0f;
      return true;
    case Act::tanh:
      *alg = A::eltwise_tanh;
      return true;
    case Act::hard_swish:
      *alg = A::eltwise_hardswish;
      return true;
    case Act::elu:
      *alg = A::eltwise_elu, *alpha = a.alpha;
      return true;
    case Act::hard_sigmoid:
      *alg = A::eltwise_linear, *alpha = a.alpha, *beta = a.beta;
      return true;
    case Act::gelu_erf:
      *alg = A::eltwise_gelu_erf;
      return true;
    case Act::gelu_tanh:
      *alg = A::eltwise_gelu_tanh;
      return true;
    case Act::mish:
      *alg = A::eltwise_mish;
      return true;
  }
  return false;
}

bool append_activation(const Activation& a, dnnl::post_ops* po) {
  dnnl::algorithm alg;
  float alpha, beta;
  if (!eltwise_alg(a, &alg, &alpha, &beta)) return false;
  po->append_eltwise(1.0f, alg, alpha, beta);
  if (a.kind == Act::hard_sigmoid)
    po->append_eltwise(1.0f, dnnl::algorithm::eltwise_clip_v2, 0.0f, 1.0f);
  return true;
}

namespace {
bool all_static(const KernelQuery& q, std::string* why, size_t n_inputs, bool bf16_too) {
  auto ok = [&](DType t) { return t == DType::f32 || (bf16_too && t == DType::bf16); };
  const char* wanted = bf16_too ? "f32 or bf16" : "f32";
  for (size_t i = 0; i < q.input_types.size() && i < n_inputs; ++i) {
    const TensorType& t = q.input_types[i];
    if (t.dtype == DType::undefined) continue;  // absent optional input
    if (!ok(t.dtype))
      return *why = str_cat("input ", i, " is ", dtype_name(t.dtype), ", not ", wanted), false;
    if (!t.fully_known()) return *why = str_cat("input ", i, " shape is not static"), false;
  }
  for (const TensorType& t : q.output_types)
    if (!ok(t.dtype) || !t.fully_known())
      return *why = str_cat("output is not static ", wanted), false;
  return true;
}
}  // namespace

bool all_static_f32(const KernelQuery& q, std::string* why, size_t n_inputs) {
  return all_static(q, why, n_inputs, false);
}
bool all_static_float(const KernelQuery& q, std::string* why, size_t n_inputs) {
  return all_static(q, why, n_inputs, true);
}

DT dt_of(DType t) {
  switch (t) {
    case DType::bf16:
      return DT::bf16;
    case DType::u8:
      return DT::u8;
    case DType::i8:
      return DT::s8;
    case DType::i32:
      return DT::s32;
    default:
      return DT::f32;
  }
}

memory::desc md_of(const TensorType& t, int block) { return md(t.dims, block, dt_of(t.dtype)); }

}  // namespace visionrt::dnnl_k
