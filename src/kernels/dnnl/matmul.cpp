// oneDNN matmul for MatMul (numpy broadcasting of batch dimensions, operands of rank >= 2),
// Gemm (transA/transB through strides, alpha = 1, C added as a broadcast bias when beta = 1) and
// visionrt.FusedMatMul (MatMul with a bias [N] and an activation post-op: transformer and
// ConvNeXt MLPs' Linear -> GELU, fused by passes/fuse_matmul.cpp).
// Constant B matrices (the usual case: weights) are reordered once at compile time into the
// layout the implementation prefers. f32, static shapes, plain layouts; under INFERENCE_PRECISION
// bf16 a product by constant weights also takes a bf16 A (weights converted once, f32
// accumulation and bias) and writes bf16 or f32.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/strings.hpp"
#include "kernels/dnnl/dnnl_common.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

class DnnlMatMul : public Kernel {
 public:
  // `pd` is a matmul's primitive descriptor, or a 1x1 convolution's over the same bytes (see
  // conv_for_product); both bind source, weights, bias and destination by the same arguments.
  template <class PD, class Prim>
  DnnlMatMul(const PD& pd, Prim prim, memory weights, bool const_b, int bias_input,
             std::string layout)
      : src_md_(pd.src_desc()),
        weights_md_(pd.weights_desc()),
        bias_md_(pd.bias_desc()),
        dst_md_(pd.dst_desc()),
        scratch_md_(pd.scratchpad_desc()),
        prim_(std::move(prim)),
        weights_(std::move(weights)),
        const_b_(const_b),
        bias_input_(bias_input),
        layout_(std::move(layout)) {}
  size_t scratch_bytes() const override { return scratch_md_.get_size(); }
  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    memory a(src_md_, engine(), const_cast<void*>(ctx.input(0).raw()));
    memory y(dst_md_, engine(), ctx.output(0).raw());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, a}, {DNNL_ARG_DST, y}};
    args[DNNL_ARG_WEIGHTS] =
        const_b_ ? weights_ : memory(weights_md_, engine(), const_cast<void*>(ctx.input(1).raw()));
    if (bias_input_ >= 0)
      args[DNNL_ARG_BIAS] =
          memory(bias_md_, engine(), const_cast<void*>(ctx.input(bias_input_).raw()));
    bind_scratchpad(args, scratch_md_, ctx.scratch);
    prim_.execute(stream(), args);
    stream().wait();
  }
  std::string layout() const override { return layout_; }
  bool reads_at_run_time(size_t input) const override { return input != 1 || !const_b_; }

 private:
  memory::desc src_md_, weights_md_, bias_md_, dst_md_, scratch_md_;
  dnnl::primitive prim_;
  memory weights_;
  bool const_b_;
  int bias_input_;
  std::string layout_;
};

// A [M, K] x [K, N] product as a 1x1 convolution over the same bytes: A row-major is an nhwc
// image of 1 x M pixels and K channels, the result one of N channels. oneDNN 2.6 on AVX2 runs
// f32 matmuls on its gemm at about half the rate of its 1x1 convolution kernel (ViT-B/16's MLP
// [197, 768] x [768, 3072]: 22.7 against 11.2 ms on an AVX2 EPYC, ORT 12.2), so products by
// constant weights take whichever times faster here (remembered per shape).
dnnl::convolution_forward::primitive_desc conv_for_product(int64_t m, int64_t k, int64_t n,
                                                           bool bias,
                                                           const dnnl::primitive_attr& attr) {
  using CF = dnnl::convolution_forward;
  const memory::desc src({1, k, 1, m}, DT::f32, Tag::nhwc), dst({1, n, 1, m}, DT::f32, Tag::nhwc);
  const memory::desc w({n, k, 1, 1}, DT::f32, Tag::any), b({n}, DT::f32, Tag::x);
  const memory::dims ones{1, 1}, zeros{0, 0};
  CF::desc d =
      bias ? CF::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                      w, b, dst, ones, zeros, zeros, zeros)
           : CF::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                      w, dst, ones, zeros, zeros, zeros);
  return CF::primitive_desc(d, attr, engine());
}

// Row-major descriptor of `dims`, optionally with the last two axes transposed (a view of a
// stored [.., cols, rows] matrix).
memory::desc matrix_md(const Shape& dims, bool transposed, DT dt = DT::f32) {
  memory::dims d(dims.begin(), dims.end()), strides(d.size(), 1);
  Shape stored = dims;
  if (transposed) std::swap(stored[stored.size() - 1], stored[stored.size() - 2]);
  std::vector<int64_t> st(d.size(), 1);
  for (size_t i = d.size() - 1; i > 0; --i) st[i - 1] = st[i] * stored[i];
  for (size_t i = 0; i < d.size(); ++i) strides[i] = st[i];
  if (transposed) std::swap(strides[d.size() - 1], strides[d.size() - 2]);
  return memory::desc(d, dt, strides);
}

// With `probe`, stops before preparing the weights and returns a placeholder when oneDNN has a
// fast implementation (the precision pass asks many times).
std::unique_ptr<Kernel> build_matmul(const KernelQuery& q, std::string* why, bool probe) {
  if (!all_static_float(q, why)) return nullptr;
  for (size_t i = 1; i < q.input_types.size(); ++i)
    if (q.input_types[i].dtype != DType::undefined && q.input_types[i].dtype != DType::f32)
      return *why = str_cat("input ", i, " is not f32"), nullptr;
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const Node& n = *q.node;
  const bool gemm = n.op_type == "Gemm";
  const bool fused = n.op_type == "visionrt.FusedMatMul";
  Shape a = q.input_types[0].dims, b = q.input_types[1].dims;
  const Shape& y = q.output_types[0].dims;
  if (a.size() < 2 || b.size() < 2) return *why = "1-D operands", nullptr;
  if (a.size() > 6 || b.size() > 6) return *why = "rank above 6", nullptr;
  for (const Shape* s : {static_cast<const Shape*>(&a), static_cast<const Shape*>(&b), &y})
    for (int64_t d : *s)
      if (d == 0) return *why = "empty tensor", nullptr;
  bool ta = false, tb = false;
  int bias_input = -1;
  Shape y_flat = y;
  memory::desc bias_md;
  if (gemm) {
    if (n.attr_f("alpha", 1.0f) != 1.0f) return *why = "alpha != 1", nullptr;
    ta = n.attr_i("transA", 0) != 0;
    tb = n.attr_i("transB", 0) != 0;
    if (q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined) {
      if (n.attr_f("beta", 1.0f) != 1.0f) return *why = "beta != 1", nullptr;
      Shape c = q.input_types[2].dims;
      if (c.size() > 2) return *why = "C has rank > 2", nullptr;
      while (c.size() < 2) c.insert(c.begin(), 1);
      if ((c[0] != 1 && c[0] != y[0]) || (c[1] != 1 && c[1] != y[1]))
        return *why = "C does not broadcast to [M, N]", nullptr;
      bias_md = matrix_md(c, false);
      bias_input = 2;
    }
  } else {
    if (fused && q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined) {
      // Bias [N]: broadcast over every row of the output.
      const Shape& c = q.input_types[2].dims;
      if (c.size() != 1 || c[0] != y.back()) return *why = "bias is not [N]", nullptr;
      bias_input = 2;
    }
    // A [.., M, K] times a matrix B [K, N] is one [prod(..) * M, K] x [K, N] product: a batch
    // of 1-row products (PyTorch's sequence-first attention projections: [197, 1, 768] x [768,
    // 2304]) runs about 5x slower than the same FLOPs as one matrix.
    bool b_matrix = true;
    for (size_t i = 0; i + 2 < b.size(); ++i) b_matrix = b_matrix && b[i] == 1;
    if (b_matrix && a.size() > 2) {
      int64_t rows = 1;
      for (size_t i = 0; i + 1 < a.size(); ++i) rows *= a[i];
      a = {rows, a.back()};
      b = {b[b.size() - 2], b.back()};
      y_flat = {rows, y.back()};
    }
    // numpy: align batch dimensions on the right.
    while (a.size() < b.size()) a.insert(a.begin(), 1);
    while (b.size() < a.size()) b.insert(b.begin(), 1);
    for (size_t i = 0; i + 2 < a.size(); ++i)
      if (a[i] != b[i] && a[i] != 1 && b[i] != 1)
        return *why = "batch dims do not broadcast", nullptr;
  }
  Shape a_logical = a, b_logical = b;
  if (ta) std::swap(a_logical[0], a_logical[1]);
  if (tb) std::swap(b_logical[0], b_logical[1]);
  Shape y_md = y_flat;
  while (y_md.size() < a.size()) y_md.insert(y_md.begin(), 1);
  if (fused && bias_input >= 0) {
    Shape c(y_md.size(), 1);
    c.back() = y_md.back();
    bias_md = md(c, 0);
  }
  Activation act;
  if (fused && !fused_activation(n, &act)) return *why = "unknown activation", nullptr;
  const Tensor* bconst = q.input_constants.size() > 1 ? q.input_constants[1] : nullptr;
  bool batch_b = false;
  for (size_t i = 0; i + 2 < b.size(); ++i) batch_b = batch_b || b[i] != 1;
  const bool const_b = bconst && !batch_b;
  const DT a_dt = dt_of(q.input_types[0].dtype), y_dt = dt_of(q.output_types[0].dtype);
  if (a_dt == DT::bf16 && !const_b)
    return *why = "bf16 only for products by constant weights", nullptr;
  if (a_dt == DT::f32 && y_dt != DT::f32)
    return *why = "an f32 product needs an f32 destination", nullptr;
  try {
    memory::desc b_md =
        const_b ? memory::desc(memory::dims(b_logical.begin(), b_logical.end()), a_dt, Tag::any)
                : matrix_md(b_logical, tb);
    memory::desc a_md = matrix_md(a_logical, ta, a_dt), y_desc = matrix_md(y_md, false, y_dt);
    dnnl::matmul::desc d = bias_input >= 0 ? dnnl::matmul::desc(a_md, b_md, bias_md, y_desc)
                                           : dnnl::matmul::desc(a_md, b_md, y_desc);
    dnnl::primitive_attr attr;
    dnnl::post_ops po;
    if (append_activation(act, &po)) attr.set_post_ops(po);
    dnnl::matmul::primitive_desc pd(d, user_scratchpad(attr), engine());
    std::string impl = pd.impl_info_str();
    if (impl.find("ref") != std::string::npos)
      return *why = str_cat("oneDNN offers only its reference implementation (", impl, ")"),
             nullptr;
    if (probe) return std::make_unique<DnnlMatMul>(pd, dnnl::matmul(pd), memory(), false, -1, "");
    // One f32 matrix by constant weights, its bias one value per column: also a 1x1 convolution
    // (conv_for_product), kept where it times faster. VISIONRT_MATMUL_AS_CONV=1|0 forces.
    const bool vector_bias =
        bias_input < 0 ||
        (bias_md.dims().size() == 2 && bias_md.dims()[0] == 1 && bias_md.dims()[1] == b_logical[1]);
    if (const_b && !ta && a_dt == DT::f32 && y_dt == DT::f32 && a_logical.size() == 2 &&
        vector_bias) {
      const int64_t m = a_logical[0], k = a_logical[1], cols = b_logical[1];
      const char* force = std::getenv("VISIONRT_MATMUL_AS_CONV");
      bool as_conv = force && std::string(force) != "0";
      if (!force && conv_autotune())
        as_conv =
            remembered_choice(
                str_cat("matmul-as-conv|", m, "|", k, "|", cols, "|", act_name(act.kind), "|",
                        bias_input >= 0),
                [&] {
                  OneThread one;
                  const dnnl::primitive_attr a1 = user_scratchpad(attr);
                  const double t_mm = time_matmul(dnnl::matmul::primitive_desc(d, a1, engine()));
                  const double t_conv =
                      time_conv(conv_for_product(m, k, cols, bias_input >= 0, a1));
                  if (verbose_env())
                    std::fprintf(stderr, "visionrt: matmul %s: matmul %.3f ms, 1x1 conv %.3f ms\n",
                                 n.name.c_str(), t_mm * 1e3, t_conv * 1e3);
                  return std::string(t_conv < 0.95 * t_mm ? "conv" : "matmul");
                }) == "conv";
      if (as_conv) {
        auto cpd = conv_for_product(m, k, cols, bias_input >= 0, user_scratchpad(attr));
        const std::string cimpl = cpd.impl_info_str();
        if (cimpl.find("ref") == std::string::npos) {
          // B [K, N] (or [N, K] with transB) read as the convolution's [N, K, 1, 1] weights.
          const memory::desc user_w({cols, k, 1, 1}, DT::f32,
                                    tb ? memory::dims{k, 1, 1, 1} : memory::dims{1, cols, 1, 1});
          memory user(user_w, engine(), const_cast<void*>(bconst->raw()));
          memory weights(cpd.weights_desc(), engine());
          reorder_weights(user, weights);
          return std::make_unique<DnnlMatMul>(
              cpd, dnnl::convolution_forward(cpd), std::move(weights), true, bias_input,
              str_cat("plain ", shape_str(a_logical), "x", shape_str(b_logical), " as 1x1 conv ",
                      cimpl, " (B prepacked)",
                      act.kind != Act::none ? str_cat(" +", act_name(act.kind)) : std::string()));
        }
      }
    }
    memory weights;
    if (const_b) {
      memory user(matrix_md(b_logical, tb), engine(), const_cast<void*>(bconst->raw()));
      weights = memory(pd.weights_desc(), engine());
      reorder_weights(user, weights);
    }
    return std::make_unique<DnnlMatMul>(
        pd, dnnl::matmul(pd), std::move(weights), const_b, bias_input,
        str_cat("plain ", shape_str(a_logical), "x", shape_str(b_logical),
                a_dt == DT::bf16 ? " bf16" : "", y_dt == DT::bf16 ? " -> bf16" : "", " ", impl,
                const_b ? " (B prepacked)" : "",
                act.kind != Act::none ? str_cat(" +", act_name(act.kind)) : std::string()));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

// Gemm and MatMul whose shapes are only known at run time (detection heads after RoIAlign: the
// number of proposals is data-dependent, so these nodes are dynamic steps): oneDNN's sgemm on
// the concrete sizes of each call, multithreaded, instead of the reference loops. f32; Gemm with
// any transA/transB/alpha/beta and C broadcast to [M, N]; MatMul with A of rank >= 2 (its
// leading dimensions fold into M) and a 2-D B.
class DnnlSgemm : public Kernel {
 public:
  explicit DnnlSgemm(bool gemm) : gemm_(gemm) {}
  void execute(KernelContext& c) override {
    const Tensor& a = c.input(0);
    const Tensor& b = c.input(1);
    Tensor& y = c.output(0);
    const Node& n = *c.node;
    const bool ta = gemm_ && n.attr_i("transA", 0) != 0, tb = gemm_ && n.attr_i("transB", 0) != 0;
    const float alpha = gemm_ ? n.attr_f("alpha", 1.f) : 1.f;
    const float beta = gemm_ ? n.attr_f("beta", 1.f) : 0.f;
    if (b.rank() != 2 || a.rank() < 2 || (gemm_ && a.rank() != 2))
      c.fail("unexpected operand ranks");
    const int64_t k = ta ? a.dim(0) : a.dim(a.rank() - 1);
    int64_t m = ta ? a.dim(1) : 1;  // A's rows (leading dimensions folded), even when K is 0
    if (!ta)
      for (size_t d = 0; d + 1 < a.rank(); ++d) m *= a.dim(d);
    const int64_t nn = tb ? b.dim(0) : b.dim(1);
    if ((tb ? b.dim(1) : b.dim(0)) != k || static_cast<int64_t>(y.numel()) != m * nn)
      c.fail(str_cat("operands ", shape_str(a.shape()), " and ", shape_str(b.shape()),
                     " do not multiply into ", shape_str(y.shape())));
    float* out = y.data<float>();
    float acc_beta = 0.f;
    if (gemm_ && c.has_input(2) && beta != 0.f) {
      const Tensor& cc = c.input(2);
      const float* cv = cc.data<float>();
      const Shape& cs = cc.shape();
      const int64_t cn = static_cast<int64_t>(cc.numel());
      auto row_bias = cn == nn && (cs.size() == 1 || (cs.size() == 2 && cs[0] == 1));
      auto col_bias = cs.size() == 2 && cs[0] == m && cs[1] == 1;
      if (cn == 1) {
        std::fill(out, out + m * nn, beta * cv[0]);
      } else if (row_bias) {
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < nn; ++j) out[i * nn + j] = beta * cv[j];
      } else if (col_bias) {
        for (int64_t i = 0; i < m; ++i) std::fill(out + i * nn, out + (i + 1) * nn, beta * cv[i]);
      } else if (cs == Shape{m, nn}) {
        for (int64_t i = 0; i < m * nn; ++i) out[i] = beta * cv[i];
      } else {
        c.fail(str_cat("C ", shape_str(cs), " does not broadcast to [", m, ",", nn, "]"));
      }
      acc_beta = 1.f;
    }
    if (m == 0 || nn == 0) return;
    if (k == 0) {
      if (acc_beta == 0.f) std::fill(out, out + m * nn, 0.f);
      return;
    }
    set_threads(c.num_threads);
    const dnnl_status_t st =
        dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, nn, k, alpha, a.data<float>(), ta ? m : k,
                   b.data<float>(), tb ? k : nn, acc_beta, out, nn);
    if (st != dnnl_success) c.fail(str_cat("oneDNN sgemm failed (status ", int(st), ")"));
  }
  std::string layout() const override { return "plain (sgemm, run-time sizes)"; }

 private:
  bool gemm_;
};

std::unique_ptr<Kernel> create_sgemm(const KernelQuery& q, bool gemm, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.input_types.size() < 2) return *why = "needs A and B", nullptr;
  for (size_t i = 0; i < q.input_types.size(); ++i)
    if (q.input_types[i].dtype != DType::undefined && q.input_types[i].dtype != DType::f32)
      return *why = "f32 only", nullptr;
  if (q.output_types.empty() || q.output_types[0].dtype != DType::f32)
    return *why = "f32 only", nullptr;
  const TensorType &a = q.input_types[0], &b = q.input_types[1];
  if (!a.has_rank || !b.has_rank || b.dims.size() != 2 || a.dims.size() < 2 ||
      (gemm && a.dims.size() != 2))
    return *why = gemm ? "Gemm of 2-D operands of known rank" : "MatMul of A (rank >= 2) by 2-D B",
           nullptr;
  return std::make_unique<DnnlSgemm>(gemm);
}

}  // namespace

void register_dnnl_matmul(KernelRegistry& r) {
  auto create = [](const KernelQuery& q, std::string* why) { return build_matmul(q, why, false); };
  // Plain layouts only: the check exists for the precision pass (no weight preparation).
  auto probe = [](const KernelQuery& q) {
    std::string why;
    return build_matmul(q, &why, true) != nullptr;
  };
  for (const char* op : {"MatMul", "Gemm", "visionrt.FusedMatMul"})
    r.add(op, {"dnnl", create, probe});
  // Run-time sizes (dynamic steps): after the primitive, which wants static shapes.
  r.add("Gemm", {"dnnl_sgemm",
                 [](const KernelQuery& q, std::string* why) { return create_sgemm(q, true, why); },
                 nullptr});
  r.add("MatMul",
        {"dnnl_sgemm",
         [](const KernelQuery& q, std::string* why) { return create_sgemm(q, false, why); },
         nullptr});
}

}  // namespace visionrt
