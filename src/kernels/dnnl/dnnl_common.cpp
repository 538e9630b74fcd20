// oneDNN plumbing shared by the kernels (see dnnl_common.hpp).
#include "kernels/dnnl/dnnl_common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "common/best_time.hpp"
#include "common/strings.hpp"
#include "ops/nn_shapes.hpp"

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

std::string conv_key(const Shape& x, const ConvGeometry& g, const std::string& extra) {
  auto dims = [](const auto& d) {
    std::string s;
    for (auto v : d) s += std::to_string(v) + ",";
    return s;
  };
  return str_cat(dims(x), "|", dims(g.weights), "|", dims(g.strides), "|", dims(g.dilations), "|",
                 dims(g.pads_begin), "|", dims(g.pads_end), "|", g.group, "|", extra);
}

bool conv_autotune() {
  static const bool on = [] {
    const char* env = std::getenv("VISIONRT_CONV_AUTOTUNE");
    return !env || std::string(env) != "0";
  }();
  return on;
}

bool verbose_env() {
  static const bool on = [] {
    const char* v = std::getenv("VISIONRT_VERBOSE");
    return v && std::string(v) != "0";
  }();
  return on;
}

namespace {

// Seconds `prim` (made from `pd`) takes on zeroed buffers for its descriptors and `extra`.
template <class PD, class Prim>
double time_on_zeros(const PD& pd, const std::vector<std::pair<int, memory::desc>>& extra) {
  auto zeroed = [](const memory::desc& d) {
    memory m(d, engine());
    std::memset(m.get_data_handle(), 0, d.get_size());
    return m;
  };
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, zeroed(pd.src_desc())},
                                       {DNNL_ARG_WEIGHTS, zeroed(pd.weights_desc())},
                                       {DNNL_ARG_DST, zeroed(pd.dst_desc())}};
  if (pd.bias_desc().get_size() > 0) args[DNNL_ARG_BIAS] = zeroed(pd.bias_desc());
  if (pd.scratchpad_desc().get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = zeroed(pd.scratchpad_desc());
  for (const auto& [arg, d] : extra) args[arg] = zeroed(d);
  Prim prim(pd);
  return best_seconds(2, 0.05, [&] {
    prim.execute(stream(), args);
    stream().wait();
  });
}

}  // namespace

double time_conv(const dnnl::convolution_forward::primitive_desc& pd,
                 const std::vector<std::pair<int, memory::desc>>& extra) {
  return time_on_zeros<dnnl::convolution_forward::primitive_desc, dnnl::convolution_forward>(pd,
                                                                                             extra);
}

double time_matmul(const dnnl::matmul::primitive_desc& pd) {
  return time_on_zeros<dnnl::matmul::primitive_desc, dnnl::matmul>(pd, {});
}

dnnl::convolution_forward::primitive_desc fastest_conv(
    const std::function<dnnl::convolution_forward::primitive_desc()>& make, bool src_zero_point,
    const std::string& key, const std::vector<std::pair<int, memory::desc>>& post_op_args) {
  using PD = dnnl::convolution_forward::primitive_desc;
  if (!conv_autotune()) return make();
  // next_impl() moves the descriptor itself, so each walk over the candidates makes its own.
  auto walk = [&make](const std::function<bool(PD&)>& visit) {
    PD pd = make();
    do {
      if (visit(pd)) return pd;
    } while (pd.next_impl());
    return make();  // not found: oneDNN's first choice
  };
  // Decided once per layer signature and process: the names of the candidates, then their
  // times. Only the ISA of oneDNN's first choice counts ("brgconv:avx512_core_vnni" and
  // "jit_int8:avx512_core_vnni", not their avx2/sse41 versions), never a reference one.
  const std::string best = remembered_choice(key, [&] {
    auto isa = [](const std::string& impl) {
      const size_t colon = impl.rfind(':');
      return colon == std::string::npos ? std::string() : impl.substr(colon + 1);
    };
    std::vector<std::string> names;
    std::optional<std::string> first_isa;
    walk([&](PD& pd) {
      const std::string impl = pd.impl_info_str();
      if (!first_isa) first_isa = isa(impl);
      if (impl.find("ref") == std::string::npos && isa(impl) == *first_isa &&
          std::find(names.begin(), names.end(), impl) == names.end())
        names.push_back(impl);
      return false;
    });
    if (names.size() < 2) return std::string();  // nothing to choose
    auto tw = std::chrono::steady_clock::now();
    std::optional<OneThread> one_thread(std::in_place);
    std::string best;
    double best_s = 0;
    walk([&](PD& pd) {
      const std::string impl = pd.impl_info_str();
      if (std::find(names.begin(), names.end(), impl) == names.end()) return false;
      std::vector<std::pair<int, memory::desc>> extra = post_op_args;
      if (src_zero_point)
        extra.push_back({DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, {{1}, DT::s32, Tag::x}});
      const double fastest = time_conv(pd, extra);
      if (best.empty() || fastest < best_s) best = impl, best_s = fastest;
      return false;
    });
    one_thread.reset();
    if (verbose_env()) {
      std::string all;
      for (auto& n : names) all += n + " ";
      std::fprintf(
          stderr, "visionrt: conv timed in %.1f ms: %s-> %s (%.3f ms)\n",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - tw).count() * 1e3,
          all.c_str(), best.c_str(), best_s * 1e3);
    }
    return best;
  });
  if (best.empty()) return make();
  // Not offered at this thread count: oneDNN's first choice.
  return walk([&best](PD& pd) { return pd.impl_info_str() == best; });
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

bool conv_geometry(const Node& n, const Shape& x, const Tensor& w, ConvGeometry* g,
                   std::string* why) {
  WindowParams p;
  if (!conv_window(n, x, Shape(w.shape().begin() + 2, w.shape().end()), false, &p, why))
    return false;
  g->group = n.attr_i("group", 1);
  g->oc = w.dim(0);
  g->icg = w.dim(1);
  if (g->group <= 0 || x.size() < 2 || x[1] != g->icg * g->group || g->oc % g->group != 0)
    return *why = "channels do not match groups", false;
  g->weights = g->group > 1 ? memory::dims{g->group, g->oc / g->group, g->icg, w.dim(2), w.dim(3)}
                            : memory::dims{g->oc, g->icg, w.dim(2), w.dim(3)};
  g->strides.clear();
  g->dilations.clear();
  g->pads_begin.clear();
  g->pads_end.clear();
  for (size_t a = 0; a < p.strides.size(); ++a) {
    g->strides.push_back(p.strides[a]);
    g->dilations.push_back(p.dilations[a] - 1);
    g->pads_begin.push_back(p.pads_begin[a]);
    g->pads_end.push_back(p.pads_end[a]);
  }
  return true;
}

memory prepared_conv_weights(const Tensor& w, const ConvGeometry& g, DT dt,
                             const memory::desc& to) {
  memory user({g.weights, dt, g.user_weights_tag()}, engine(), const_cast<void*>(w.raw()));
  memory weights(to, engine());
  reorder_weights(user, weights);
  return weights;
}

void StagedIo::init(const memory::desc& user_src, const memory::desc& src, const memory::desc& dst,
                    const memory::desc& user_dst) {
  user_src_ = user_src;
  user_dst_ = user_dst;
  src_ = src;
  dst_ = dst;
  to_pd_ = dnnl::reorder::primitive_desc(engine(), user_src, engine(), src, user_scratchpad());
  from_pd_ = dnnl::reorder::primitive_desc(engine(), dst, engine(), user_dst, user_scratchpad());
  to_ = dnnl::reorder(to_pd_);
  from_ = dnnl::reorder(from_pd_);
  src_bytes_ = (src.get_size() + 63) / 64 * 64;
  staged_bytes_ = src_bytes_ + (dst.get_size() + 63) / 64 * 64;
  active_ = true;
}

size_t StagedIo::pad_bytes() const {
  if (!active_) return 0;
  return std::max(to_pd_.scratchpad_desc().get_size(), from_pd_.scratchpad_desc().get_size());
}

memory StagedIo::stage_in(const void* user_src, char* scratch, void* pad) {
  memory from(user_src_, engine(), const_cast<void*>(user_src));
  memory to(src_, engine(), scratch);
  std::unordered_map<int, memory> args{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  bind_scratchpad(args, to_pd_.scratchpad_desc(), pad);
  to_.execute(stream(), args);
  return to;
}

memory StagedIo::staged_dst(char* scratch) const {
  return memory(dst_, engine(), scratch + src_bytes_);
}

void StagedIo::stage_out(const memory& dst, void* user_dst, void* pad) {
  memory to(user_dst_, engine(), user_dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_FROM, dst}, {DNNL_ARG_TO, to}};
  bind_scratchpad(args, from_pd_.scratchpad_desc(), pad);
  from_.execute(stream(), args);
}

}  // namespace visionrt::dnnl_k
