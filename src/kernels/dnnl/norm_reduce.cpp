// oneDNN normalization and reduction kernels:
//   LayerNormalization (ONNX opset 17, and the decomposed form fuse_layer_norm recognises): the
//   normalized trailing dimensions are flattened into one, so any `axis` is oneDNN's last-axis
//   layer normalization over [outer, inner], with per-element scale and shift of the normalized
//   shape (given in full or broadcast: expanded once at compile time when constant).
//   ReduceMean / ReduceSum / ReduceMax / ReduceMin / ReduceProd / ReduceL1 / ReduceL2 /
//   ReduceSumSquare... over any set of axes: oneDNN's reduction primitive, plain layout, or the
//   blocked layout when only spatial axes of a 4-D tensor are reduced with keepdims and oneDNN
//   has a jit kernel for it (Debian's 2.6 offers only its reference one for blocked
//   reductions, so a squeeze-excitation's mean over H and W still runs plain for now).
#include "common/strings.hpp"
#include "kernels/dnnl/dnnl_common.hpp"
#include "kernels/reduce_axes.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

// ---- LayerNormalization ----

class LayerNorm : public Kernel {
 public:
  LayerNorm(dnnl::layer_normalization_forward::primitive_desc pd, std::vector<float> scale,
            std::vector<float> shift, int64_t inner, bool scale_runtime, bool shift_runtime)
      : pd_(std::move(pd)),
        prim_(pd_),
        scale_(std::move(scale)),
        shift_(std::move(shift)),
        inner_(inner),
        scale_runtime_(scale_runtime),
        shift_runtime_(shift_runtime) {}
  size_t scratch_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  bool reads_at_run_time(size_t input) const override {
    return input == 0 || (input == 1 && scale_runtime_) || (input == 2 && shift_runtime_);
  }
  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    memory::desc vec({inner_}, DT::f32, Tag::a);
    memory src(pd_.src_desc(), engine(), const_cast<void*>(ctx.input(0).raw()));
    memory dst(pd_.dst_desc(), engine(), ctx.output(0).raw());
    const void* s = scale_runtime_ ? ctx.input(1).raw() : scale_.data();
    const void* b = shift_runtime_ ? ctx.input(2).raw() : shift_.data();
    memory ms(vec, engine(), const_cast<void*>(s));
    memory mb(vec, engine(), const_cast<void*>(b));
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, ms}, {DNNL_ARG_SHIFT, mb}};
    bind_scratchpad(args, pd_.scratchpad_desc(), ctx.scratch);
    prim_.execute(stream(), args);
    stream().wait();
  }
  std::string layout() const override { return "plain"; }

 private:
  dnnl::layer_normalization_forward::primitive_desc pd_;
  dnnl::layer_normalization_forward prim_;
  std::vector<float> scale_, shift_;
  int64_t inner_;
  bool scale_runtime_, shift_runtime_;
};

// Values of constant `t` broadcast (numpy, unidirectional) to `inner` trailing elements of
// shape `norm`; false when it does not broadcast.
bool expand_to(const Tensor& t, const Shape& norm, std::vector<float>* out) {
  const Shape& s = t.shape();
  if (s.size() > norm.size()) return false;
  std::vector<int64_t> stride(norm.size(), 0);
  int64_t st = 1;
  for (size_t i = s.size(); i-- > 0;) {
    const size_t a = norm.size() - s.size() + i;
    if (s[i] != 1 && s[i] != norm[a]) return false;
    stride[a] = s[i] == 1 ? 0 : st;
    st *= s[i];
  }
  const int64_t n = shape_numel(norm);
  out->resize(static_cast<size_t>(n));
  for (int64_t e = 0; e < n; ++e) {
    int64_t rem = e, off = 0;
    for (size_t a = norm.size(); a-- > 0;) {
      off += (rem % norm[a]) * stride[a];
      rem /= norm[a];
    }
    (*out)[e] = t.data<float>()[off];
  }
  return true;
}

std::unique_ptr<Kernel> create_layer_norm(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (!all_static_f32(q, why, 1)) return nullptr;
  for (size_t o = 1; o < q.output_types.size(); ++o)
    if (q.node->outputs[o] >= 0) return *why = "mean/inv-std-dev outputs are used", nullptr;
  const Shape& x = q.input_types[0].dims;
  const int64_t r = static_cast<int64_t>(x.size());
  int64_t axis = q.node->attr_i("axis", -1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return *why = "axis out of range", nullptr;
  if (q.node->attr_i("stash_type", 1) != 1) return *why = "stash_type other than f32", nullptr;
  Shape norm(x.begin() + axis, x.end());
  int64_t outer = 1, inner = shape_numel(norm);
  for (int64_t d = 0; d < axis; ++d) outer *= x[d];
  if (inner <= 0 || outer <= 0) return *why = "empty tensor", nullptr;
  std::vector<float> scale, shift(static_cast<size_t>(inner), 0.0f);
  auto param = [&](size_t k, std::vector<float>* out, bool* runtime) {
    *runtime = false;
    if (k >= q.input_types.size() || q.input_types[k].dtype == DType::undefined) return true;
    if (q.input_types[k].dtype != DType::f32) return false;
    if (const Tensor* t = q.input_constants[k]) return expand_to(*t, norm, out);
    // At run time only in the full normalized shape (no broadcasting per call).
    *runtime = q.input_types[k].fully_known() &&
               static_cast<int64_t>(shape_numel(q.input_types[k].dims)) == inner;
    return *runtime;
  };
  bool scale_rt = false, shift_rt = false;
  if (!param(1, &scale, &scale_rt) || !param(2, &shift, &shift_rt))
    return *why = "scale/bias neither constant nor of the normalized shape", nullptr;
  try {
    memory::desc d({outer, inner}, DT::f32, Tag::ab);
    using LN = dnnl::layer_normalization_forward;
    const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    LN::desc desc(dnnl::prop_kind::forward_inference, d, q.node->attr_f("epsilon", 1e-5f), flags);
    LN::primitive_desc pd(desc, user_scratchpad(), engine());
    return std::make_unique<LayerNorm>(std::move(pd), std::move(scale), std::move(shift), inner,
                                       scale_rt, shift_rt);
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

// ---- reductions ----

bool reduce_alg(const std::string& op, dnnl::algorithm* alg, float* p) {
  using A = dnnl::algorithm;
  *p = 0;
  if (op == "ReduceMean") return *alg = A::reduction_mean, true;
  if (op == "ReduceSum") return *alg = A::reduction_sum, true;
  if (op == "ReduceMax") return *alg = A::reduction_max, true;
  if (op == "ReduceMin") return *alg = A::reduction_min, true;
  if (op == "ReduceProd") return *alg = A::reduction_mul, true;
  if (op == "ReduceL1") return *alg = A::reduction_norm_lp_sum, *p = 1, true;
  if (op == "ReduceL2") return *alg = A::reduction_norm_lp_sum, *p = 2, true;
  if (op == "ReduceSumSquare") return *alg = A::reduction_norm_lp_power_p_sum, *p = 2, true;
  return false;
}

std::unique_ptr<Kernel> create_reduce(const KernelQuery& q, std::string* why) {
  if (!all_static_f32(q, why, 1)) return nullptr;
  dnnl::algorithm alg;
  float p;
  if (!reduce_alg(q.node->op_type, &alg, &p)) return *why = "not a reduction", nullptr;
  const Shape& x = q.input_types[0].dims;
  if (x.empty() || shape_numel(x) == 0) return *why = "scalar or empty input", nullptr;
  std::vector<char> red;
  if (!reduced_axes(q, &red, why)) return nullptr;
  Shape y = x;
  for (size_t a = 0; a < x.size(); ++a)
    if (red[a]) y[a] = 1;
  const int bi = q.input_layout(0), bo = q.output_layout(0);
  if (bi != bo) return *why = "input and output layouts differ", nullptr;
  if (bi && (x.size() != 4 || red[0] || red[1] || q.node->attr_i("keepdims", 1) != 1))
    return *why = "blocked only for spatial axes of a 4-D tensor with keepdims", nullptr;
  try {
    dnnl::reduction::desc d(alg, md(x, bi), md(y, bo), p, 0.0f);
    dnnl::reduction::primitive_desc pd(d, user_scratchpad(), engine());
    std::string impl = pd.impl_info_str();
    if (impl.find("ref") != std::string::npos)
      return *why = str_cat("oneDNN offers only its reference implementation (", impl, ")"),
             nullptr;
    return std::make_unique<SrcDstKernel<dnnl::reduction>>(
        std::move(pd), str_cat(layout_name(bi, x.size()), " ", impl));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

}  // namespace

void register_dnnl_norm_reduce(KernelRegistry& r) {
  r.add("LayerNormalization", {"dnnl", create_layer_norm, nullptr});
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
                         "ReduceL1", "ReduceL2", "ReduceSumSquare"})
    r.add(op, KernelCandidate::checked_by_create("dnnl", create_reduce));
}

}  // namespace visionrt
