// oneDNN-backed Conv: the first candidate for 2-D f32 convolutions with static shapes and
// constant weights (ARCHITECTURE practice 2: it declines anything else with a reason and the
// reference kernel takes over). Prepare once, execute many (practice 4): the primitive is built
// and the weights reordered into oneDNN's preferred layout at compile time; execute only wraps
// the request's buffers. Activations stay in plain NCHW for now: blocked layouts flowing
// between layers, post-op fusion and the other ops belong to the fast-path work (issue 3).
#include <dnnl.hpp>

#include "common/strings.hpp"
#include "kernels/kernel.hpp"
#include "ops/nn_shapes.hpp"

// Debian's oneDNN runs on GNU OpenMP (libgomp); its team size is the calling thread's
// nthreads ICV. Declared here rather than via <omp.h>, which clang builds do not have.
extern "C" void omp_set_num_threads(int) noexcept;

namespace visionrt {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;

// One CPU engine for the process: created once, never modified.
const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

class DnnlConv : public Kernel {
 public:
  DnnlConv(dnnl::convolution_forward::primitive_desc pd, memory weights, memory bias, bool has_bias)
      : pd_(std::move(pd)),
        prim_(pd_),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        has_bias_(has_bias) {}

  void execute(KernelContext& ctx) override {
    omp_set_num_threads(std::max(1, ctx.num_threads));
    dnnl::stream s(cpu_engine());
    memory src(pd_.src_desc(), cpu_engine(), const_cast<void*>(ctx.input(0).raw()));
    memory dst(pd_.dst_desc(), cpu_engine(), ctx.output(0).raw());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
    if (has_bias_) args[DNNL_ARG_BIAS] = bias_;
    prim_.execute(s, args);
    s.wait();
  }

 private:
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward prim_;
  memory weights_, bias_;
  bool has_bias_;
};

std::unique_ptr<Kernel> create_conv(const KernelQuery& q, std::string* why) {
  const Node& n = *q.node;
  const TensorType& x = q.input_types[0];
  if (x.dtype != DType::f32)
    return *why = str_cat("input is ", dtype_name(x.dtype), ", not f32"), nullptr;
  if (!x.fully_known() || q.output_types.empty() || !q.output_types[0].fully_known())
    return *why = "input or output shape is not static", nullptr;
  if (x.dims.size() != 4) return *why = "only 2-D convolutions", nullptr;
  const Tensor* w = q.input_constants.size() > 1 ? q.input_constants[1] : nullptr;
  if (!w || w->dtype() != DType::f32) return *why = "weights are not constant f32", nullptr;
  bool has_bias = q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined;
  const Tensor* b = has_bias ? q.input_constants[2] : nullptr;
  if (has_bias && (!b || b->dtype() != DType::f32))
    return *why = "bias is not constant f32", nullptr;
  WindowParams p;
  std::string err;
  if (!conv_window(n, x.dims, Shape(w->shape().begin() + 2, w->shape().end()), false, &p, &err))
    return *why = err, nullptr;
  int64_t g = n.attr_i("group", 1), oc = w->dim(0), icg = w->dim(1);
  if (g <= 0 || x.dims[1] != icg * g || oc % g != 0)
    return *why = "channels do not match groups", nullptr;
  const Shape& y = q.output_types[0].dims;
  memory::dims wdims = g > 1 ? memory::dims{g, oc / g, icg, w->dim(2), w->dim(3)}
                             : memory::dims{oc, icg, w->dim(2), w->dim(3)};
  memory::desc src_md({x.dims[0], x.dims[1], x.dims[2], x.dims[3]}, DT::f32, Tag::nchw);
  memory::desc dst_md({y[0], y[1], y[2], y[3]}, DT::f32, Tag::nchw);
  memory::desc w_any(wdims, DT::f32, Tag::any);
  memory::desc b_md({oc}, DT::f32, Tag::x);
  memory::dims strides = {p.strides[0], p.strides[1]};
  memory::dims dil = {p.dilations[0] - 1, p.dilations[1] - 1};
  memory::dims pl = {p.pads_begin[0], p.pads_begin[1]}, pr = {p.pads_end[0], p.pads_end[1]};
  try {
    auto d = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                        dnnl::algorithm::convolution_direct, src_md,
                                                        w_any, b_md, dst_md, strides, dil, pl, pr)
                      : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                        dnnl::algorithm::convolution_direct, src_md,
                                                        w_any, dst_md, strides, dil, pl, pr);
    dnnl::convolution_forward::primitive_desc pd(d, cpu_engine());
    // Weights reordered once into the layout the chosen implementation wants.
    dnnl::stream s(cpu_engine());
    memory user_w({wdims, DT::f32, g > 1 ? Tag::goihw : Tag::oihw}, cpu_engine(),
                  const_cast<void*>(w->raw()));
    memory weights(pd.weights_desc(), cpu_engine());
    dnnl::reorder(user_w, weights).execute(s, user_w, weights);
    memory bias;
    if (has_bias) {
      bias = memory(b_md, cpu_engine());
      std::memcpy(bias.get_data_handle(), b->raw(), b->nbytes());
    }
    s.wait();
    return std::make_unique<DnnlConv>(std::move(pd), std::move(weights), std::move(bias), has_bias);
  } catch (const dnnl::error& e) {
    *why = str_cat("oneDNN: ", e.what());
    return nullptr;
  }
}

}  // namespace

void register_dnnl_kernels(KernelRegistry& r) { r.add("Conv", {"dnnl", create_conv}); }

}  // namespace visionrt
