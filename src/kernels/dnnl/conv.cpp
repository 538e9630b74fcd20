// oneDNN convolution for Conv and visionrt.FusedConv (2-D, static shapes, constant f32
// weights; f32, or bf16 source with bf16/f32 destination under INFERENCE_PRECISION bf16 (the
// weights are converted once, accumulation stays f32); grouped, depthwise, dilated and asymmetric
// pads included). Prepare once, execute many (ARCHITECTURE practice 4): the primitive is created
// and the weights reordered into the implementation's preferred layout at compile time. The fused
// activation is an eltwise post-op and the residual a binary-add post-op reading the residual
// tensor directly (oneDNN's sum post-op would need a copy into dst first, and its jit kernels
// accept it only before the activation). Source and destination are plain NCHW or blocked
// nChw16c/8c as the layout pass chose (Value::layout_block); blocked is what the fast jit kernels
// want. 3x3 stride-1 convolutions with enough channels run oneDNN's Winograd kernels
// (winograd_candidate).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "common/best_time.hpp"
#include "common/strings.hpp"
#include "kernels/cpu/activation_loop.hpp"
#include "kernels/dnnl/dnnl_common.hpp"
#include "ops/nn_shapes.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

class DnnlConv : public Kernel {
 public:
  DnnlConv(dnnl::convolution_forward::primitive_desc pd, memory weights, memory bias, bool has_bias,
           int sum_post_op, memory::desc residual_md, std::string layout)
      : pd_(std::move(pd)),
        prim_(pd_),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        has_bias_(has_bias),
        sum_post_op_(sum_post_op),
        residual_md_(std::move(residual_md)),
        layout_(std::move(layout)) {}

  // Staged mode: the convolution runs on NHWC copies in the request's scratch memory (oneDNN
  // has jit kernels for some shapes, large dilations for instance, only in NHWC).
  void stage(const memory::desc& in_md, const memory::desc& out_md) {
    staged_.init(in_md, pd_.src_desc(), pd_.dst_desc(), out_md);
  }
  // [staged source][staged destination] then one scratchpad for the primitives (they run one
  // after another).
  size_t scratch_bytes() const override {
    size_t pad = pd_.scratchpad_desc().get_size();
    if (has_tail_) pad = std::max(pad, tail_pd_.scratchpad_desc().get_size());
    return staged_.staged_bytes() + std::max(pad, staged_.pad_bytes());
  }

  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    void* src_ptr = const_cast<void*>(ctx.input(0).raw());
    void* dst_ptr = ctx.output(0).raw();
    char* scratch = static_cast<char*>(ctx.scratch);
    void* pad = scratch ? scratch + staged_.staged_bytes() : nullptr;
    if (staged_.active()) {
      if (!scratch) throw Error("internal: staged convolution without scratch memory");
      src_ptr = staged_.stage_in(src_ptr, scratch, pad).get_data_handle();
      dst_ptr = staged_.staged_dst(scratch).get_data_handle();
    }
    memory src(pd_.src_desc(), engine(), src_ptr);
    memory dst(pd_.dst_desc(), engine(), dst_ptr);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
    if (has_bias_) args[DNNL_ARG_BIAS] = bias_;
    bind_scratchpad(args, pd_.scratchpad_desc(), pad);
    if (sum_post_op_ >= 0)
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(sum_post_op_) | DNNL_ARG_SRC_1] =
          memory(residual_md_, engine(), const_cast<void*>(ctx.input(3).raw()));
    prim_.execute(stream(), args);
    if (own_act_) {
      stream().wait();
      own_activation_in_place(*own_act_, static_cast<float*>(dst_ptr),
                              static_cast<int64_t>(pd_.dst_desc().get_size() / sizeof(float)),
                              ctx.num_threads);
    }
    if (has_tail_) run_tail(ctx, dst, pad);
    if (staged_.active()) staged_.stage_out(dst, ctx.output(0).raw(), pad);
    stream().wait();
  }
  std::string layout() const override { return layout_; }
  bool reads_at_run_time(size_t input) const override { return input != 1 && input != 2; }

  // Winograd mode: the fused activation and residual the Winograd kernels cannot take as
  // post-ops run as one in-place pass over the destination afterwards: a binary add of the
  // residual (or of a zero scalar) carrying the activation, and the residual again as a
  // binary post-op when it comes after the activation.
  void set_tail(dnnl::binary::primitive_desc pd, memory zero, int residual_post_op) {
    tail_pd_ = std::move(pd);
    tail_ = dnnl::binary(tail_pd_);
    zero_ = std::move(zero);
    tail_residual_post_op_ = residual_post_op;
    has_tail_ = true;
  }
  // Own-pass mode: the primitive has no activation post-op; `a` runs over the (f32, dense)
  // destination afterwards (build_conv's timed choice).
  void set_own_activation(const Activation& a) { own_act_ = a; }

 private:
  void run_tail(KernelContext& ctx, memory& dst, void* pad) {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC_0, dst}, {DNNL_ARG_DST, dst}};
    bool residual = ctx.has_input(3);
    memory res = residual ? memory(pd_.dst_desc(), engine(), const_cast<void*>(ctx.input(3).raw()))
                          : memory();
    if (residual && tail_residual_post_op_ >= 0) {
      args[DNNL_ARG_SRC_1] = zero_;
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(tail_residual_post_op_) | DNNL_ARG_SRC_1] = res;
    } else {
      args[DNNL_ARG_SRC_1] = residual ? res : zero_;
    }
    bind_scratchpad(args, tail_pd_.scratchpad_desc(), pad);
    tail_.execute(stream(), args);
  }

  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward prim_;
  memory weights_, bias_;
  bool has_bias_;
  int sum_post_op_;           // index of the residual's binary-add post-op, -1 without
  memory::desc residual_md_;  // the residual's own type (f32 or bf16) in the destination layout
  bool has_tail_ = false;
  dnnl::binary::primitive_desc tail_pd_;
  dnnl::binary tail_;
  memory zero_;
  int tail_residual_post_op_ = -1;
  std::optional<Activation> own_act_;
  std::string layout_;
  StagedIo staged_;
};

// Weights reordered once from their ONNX layout (`user`) into the one the implementation wants;
// the bias (may be null) copied into oneDNN-owned memory.
void prepare_weights(const Tensor& w, const memory::desc& user, const memory::desc& wanted,
                     const Tensor* b, const memory::desc& b_md, memory* weights, memory* bias) {
  memory user_w(user, engine(), const_cast<void*>(w.raw()));
  *weights = memory(wanted, engine());
  reorder_weights(user_w, *weights);
  if (b) {
    *bias = memory(b_md, engine());
    std::memcpy(bias->get_data_handle(), b->raw(), b->nbytes());
  }
}

// Winograd (oneDNN's F(2x2,3x3) and F(4x4,3x3) jit kernels, 2.25x and 4x fewer multiplications
// than direct) for 3x3 stride-1 convolutions between blocked tensors. On this class of CPU
// (bench/dnnl_precision_probe) it beats the direct kernel, tail pass included, by 1.5-2.8x
// from 32 input and 64 output channels up (VGG's 64-512 channel layers, YOLOv8's 64/80/128
// channel heads and bottlenecks); with fewer channels the transforms cost more than they save.
// Layers whose transformed weights exceed 16x their output stay direct (build_conv).
// Outputs differ from the direct kernel's by rounding (~1e-6 relative). VISIONRT_WINOGRAD=0
// turns it off. f32 only: oneDNN has no bf16 Winograd.
bool winograd_candidate(const ConvGeometry& g, const Tensor& w, bool src_f32, int in_block,
                        int out_block) {
  if (const char* env = std::getenv("VISIONRT_WINOGRAD"); env && std::string(env) == "0")
    return false;
  return g.group == 1 && src_f32 && in_block == 16 && out_block == 16 && w.dim(2) == 3 &&
         w.dim(3) == 3 && g.strides == memory::dims{1, 1} && g.dilations == memory::dims{0, 0} &&
         w.dim(1) >= 32 && w.dim(0) >= 64;
}

struct Tail {
  dnnl::binary::primitive_desc pd;
  memory zero;
  int residual_post_op = -1;
};

// The in-place pass after a Winograd convolution: dst = act(dst + residual) when the residual
// comes first (it is the binary's second source), dst = act(dst + 0) + residual otherwise
// (residual as a binary post-op). Empty when oneDNN has only its reference binary for it.
std::optional<Tail> make_tail(const Activation& act, bool has_sum, bool residual_first,
                              const memory::desc& dst_md) {
  Tail t;
  // Debian's oneDNN 2.6 jit binary skips its post-ops in a partial last channel block (72
  // channels in nChw16c: channels 64-71 came out without the activation; found by
  // FastPath.WinogradConvolutionsMatchReference), so a tail with post-ops needs whole blocks.
  if ((act.kind != Act::none || (has_sum && !residual_first)) && dst_md.data.dims[1] % 16 != 0)
    return std::nullopt;
  // A broadcast scalar in the destination's blocked layout: oneDNN's jit binary kernels take
  // none in plain layout against a blocked source.
  memory::desc zero_md({1, 1, 1, 1}, DT::f32, Tag::nChw16c);
  dnnl::post_ops po;
  append_activation(act, &po);
  if (has_sum && !residual_first) {
    t.residual_post_op = po.len();
    po.append_binary(dnnl::algorithm::binary_add, dst_md);
  }
  dnnl::primitive_attr attr = user_scratchpad();
  attr.set_post_ops(po);
  t.pd = dnnl::binary::primitive_desc(dnnl::binary::desc(dnnl::algorithm::binary_add, dst_md,
                                                         residual_first ? dst_md : zero_md, dst_md),
                                      attr, engine());
  if (std::string(t.pd.impl_info_str()).find("ref") != std::string::npos) return std::nullopt;
  t.zero = memory(zero_md, engine());
  std::memset(t.zero.get_data_handle(), 0, zero_md.get_size());
  return t;
}

// Everything the layout pass needs to know without building a primitive.
// Sources are f32, or bf16 (INFERENCE_PRECISION bf16) with a bf16 or f32 destination.
bool conv_eligible(const KernelQuery& q, std::string* why) {
  if (!all_static_float(q, why)) return false;
  const TensorType& x = q.input_types[0];
  if (x.dims.size() != 4) return *why = "only 2-D convolutions", false;
  if (x.dtype == DType::f32 && q.output_types[0].dtype != DType::f32)
    return *why = "an f32 source needs an f32 destination", false;
  const Tensor* w = q.input_constants.size() > 1 ? q.input_constants[1] : nullptr;
  if (!w || w->dtype() != DType::f32 || w->rank() != 4)
    return *why = "weights are not constant 4-D f32", false;
  bool has_bias = q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined;
  if (has_bias && !q.input_constants[2]) return *why = "bias is not constant", false;
  return true;
}

// Builds the primitive; with `probe` stops after choosing the implementation (no weights) and
// returns a non-null placeholder when it is not oneDNN's reference one.
std::unique_ptr<Kernel> build_conv(const KernelQuery& q, std::string* why, bool probe) {
  if (!conv_eligible(q, why)) return nullptr;
  const Node& n = *q.node;
  const TensorType& x = q.input_types[0];
  const Tensor* w = q.input_constants[1];
  bool has_bias = q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined;
  const Tensor* b = has_bias ? q.input_constants[2] : nullptr;
  bool has_sum = q.input_types.size() > 3 && q.input_types[3].dtype != DType::undefined;
  Activation act;
  if (!fused_activation(n, &act)) return *why = "unknown activation", nullptr;
  ConvGeometry g;
  if (!conv_geometry(n, x.dims, *w, &g, why)) return nullptr;
  const int64_t oc = g.oc;
  if (has_bias && static_cast<int64_t>(b->numel()) != oc)
    return *why = "bias has the wrong size", nullptr;
  const Shape& y = q.output_types[0].dims;
  const int in_block = q.input_layout(0);
  const int out_block = q.output_layout(0);
  if (has_sum && (q.input_layout(3) != out_block || q.input_types[3].dims != y))
    return *why = "residual must match the output's shape and layout", nullptr;
  const DT src_dt = dt_of(x.dtype), dst_dt = dt_of(q.output_types[0].dtype);
  memory::desc src_md = md(x.dims, in_block, src_dt), dst_md = md(y, out_block, dst_dt);
  memory::desc res_md = has_sum ? md_of(q.input_types[3], out_block) : memory::desc();
  memory::desc w_any(g.weights, src_dt, Tag::any);
  memory::desc b_md({oc}, DT::f32, Tag::x);
  try {
    using CF = dnnl::convolution_forward;
    auto make_desc = [&](const memory::desc& s_md, const memory::desc& d_md,
                         dnnl::algorithm alg = dnnl::algorithm::convolution_direct) {
      return has_bias ? CF::desc(dnnl::prop_kind::forward_inference, alg, s_md, w_any, b_md, d_md,
                                 g.strides, g.dilations, g.pads_begin, g.pads_end)
                      : CF::desc(dnnl::prop_kind::forward_inference, alg, s_md, w_any, d_md,
                                 g.strides, g.dilations, g.pads_begin, g.pads_end);
    };
    dnnl::post_ops po;
    const bool has_act = act.kind != Act::none;
    bool sum_first = n.attr_i("sum_first", 0) != 0;
    int sum_idx = -1;
    if (has_sum && (sum_first || !has_act)) {
      sum_idx = po.len();
      po.append_binary(dnnl::algorithm::binary_add, res_md);
    }
    if (has_act) append_activation(act, &po);
    if (has_sum && sum_idx < 0) {
      sum_idx = po.len();
      po.append_binary(dnnl::algorithm::binary_add, res_md);
    }
    dnnl::primitive_attr attr = user_scratchpad();
    attr.set_post_ops(po);
    CF::primitive_desc pd(make_desc(src_md, dst_md), attr, engine());
    std::string impl = pd.impl_info_str();
    bool staged = false;
    if (impl.find("ref") != std::string::npos && !has_sum) {
      // No jit kernel for this layout: try NHWC, staged through scratch memory.
      memory::desc s_nhwc(memory::dims(x.dims.begin(), x.dims.end()), src_dt, Tag::nhwc);
      memory::desc d_nhwc(memory::dims(y.begin(), y.end()), dst_dt, Tag::nhwc);
      CF::primitive_desc alt(make_desc(s_nhwc, d_nhwc), attr, engine());
      if (std::string(alt.impl_info_str()).find("ref") == std::string::npos) {
        pd = alt;
        impl = str_cat("nhwc-staged ", alt.impl_info_str());
        staged = true;
      }
    }
    if (impl.find("ref") != std::string::npos)
      return *why = str_cat("oneDNN offers only its reference implementation (", impl, ")"),
             nullptr;
    if (probe)
      return std::make_unique<DnnlConv>(std::move(pd), memory(), memory(), false, -1,
                                        memory::desc(), "");
    std::optional<Tail> tail;
    if (!staged && winograd_candidate(g, *w, x.dtype == DType::f32 && dst_dt == DT::f32, in_block,
                                      out_block)) {
      // Winograd takes a plain ReLU as a post-op; anything else runs in the tail pass.
      const bool relu_post_op = act.kind == Act::relu && act.alpha == 0 && !has_sum;
      dnnl::post_ops wpo;
      if (relu_post_op) wpo.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      dnnl::primitive_attr wattr = user_scratchpad();
      wattr.set_post_ops(wpo);
      try {
        CF::primitive_desc wpd(make_desc(src_md, dst_md, dnnl::algorithm::convolution_winograd),
                               wattr, engine());
        std::string wimpl = wpd.impl_info_str();
        // Weight-bound layers (a small map, many channels: VGG's 512-channel 19x19 ones) save
        // little time and pay F(4x4,3x3)'s 4x larger weights: 38 MB instead of 9.4 MB each.
        bool weights_fit = wpd.weights_desc().get_size() <= 16 * dst_md.get_size();
        // Otherwise the machine decides: Winograd where it saves at least a fifth of the
        // direct kernel's time (FCN-ResNet50's 3x3 2048->512 head on a 40x40 map: 263 -> 103
        // ms, 151 MB of transformed weights), direct where it does not (VGG's small maps).
        if (!weights_fit && wimpl.find("wino") != std::string::npos && conv_autotune()) {
          const std::string key = conv_key(
              x.dims, g, str_cat("wino|", act_name(act.kind), "|", sum_idx, "|", has_bias));
          weights_fit =
              remembered_choice(key, [&] {
                OneThread one;
                CF::primitive_desc d1(make_desc(src_md, dst_md), attr, engine());
                CF::primitive_desc w1(
                    make_desc(src_md, dst_md, dnnl::algorithm::convolution_winograd), wattr,
                    engine());
                std::vector<std::pair<int, memory::desc>> extra;
                if (sum_idx >= 0)
                  extra.push_back(
                      {DNNL_ARG_ATTR_MULTIPLE_POST_OP(sum_idx) | DNNL_ARG_SRC_1, res_md});
                const double td = time_conv(d1, extra), tw = time_conv(w1);
                const bool wino = tw < 0.8 * td;
                if (verbose_env())
                  std::fprintf(stderr,
                               "visionrt: conv %s: direct %.2f ms, winograd %.2f ms -> %s\n",
                               n.name.c_str(), td * 1e3, tw * 1e3, wino ? "winograd" : "direct");
                return std::string(wino ? "winograd" : "direct");
              }) == "winograd";
        }
        if (wimpl.find("wino") != std::string::npos && weights_fit &&
            (relu_post_op || (!has_act && !has_sum) ||
             (tail = make_tail(act, has_sum, has_sum && (sum_first || !has_act), dst_md)))) {
          pd = wpd;
          impl = wimpl;
          sum_idx = -1;
        }
      } catch (const dnnl::error&) {
        // No Winograd kernel for this case: the direct one stays.
      }
    }
    // A transcendental activation (swish, GELU, mish...) as oneDNN's eltwise post-op or as our
    // own AVX-512 pass over the finished output: timed once per layer signature, on one
    // thread. On an AVX-512 EPYC the post-op costs 0.7 ms inside EfficientNet-B0's 16 -> 96
    // 1x1 at 112x112 (0.36 ms without it) and the own pass 0.31 ms; elsewhere the post-op may
    // win. The activation must come last (no residual added after it).
    // VISIONRT_CONV_OWN_ACTIVATION=1 or 0 forces one of them (tests).
    bool own_act = false;
    const char* force = std::getenv("VISIONRT_CONV_OWN_ACTIVATION");
    if (!staged && !tail && impl.find("wino") == std::string::npos && dst_dt == DT::f32 &&
        has_act && (!has_sum || sum_first) && own_activation_in_place_available(act) &&
        (force ? std::string(force) != "0" : conv_autotune())) {
      dnnl::post_ops po2;
      if (has_sum) po2.append_binary(dnnl::algorithm::binary_add, res_md);
      dnnl::primitive_attr attr2 = user_scratchpad();
      attr2.set_post_ops(po2);
      CF::primitive_desc pd2(make_desc(src_md, dst_md), attr2, engine());
      if (pd2.impl_info_str() == impl) {
        const std::string key =
            conv_key(x.dims, g,
                     str_cat("ownact|", act_name(act.kind), "|", act.alpha, "|", has_sum, "|",
                             has_bias, "|", in_block, "|", out_block, "|", dtype_name(x.dtype)));
        own_act =
            force ||
            remembered_choice(key, [&] {
              // Descriptors made under OneThread: one made for the caller's thread count
              // would start its own OpenMP team on this thread (and slow every later
              // primitive: EfficientNet-B0 at 2 threads 6.1 -> 10.5 ms).
              OneThread one;
              std::vector<std::pair<int, memory::desc>> extra;
              if (has_sum)
                extra.push_back({DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, res_md});
              const double t_post =
                  time_conv(CF::primitive_desc(make_desc(src_md, dst_md), attr, engine()), extra);
              const double t_conv =
                  time_conv(CF::primitive_desc(make_desc(src_md, dst_md), attr2, engine()), extra);
              std::vector<float> out(pd2.dst_desc().get_size() / sizeof(float), 0.0f);
              const double t_act = best_seconds(2, 0.05, [&] {
                own_activation_in_place(act, out.data(), static_cast<int64_t>(out.size()), 1);
              });
              const bool own = t_conv + t_act < t_post;
              if (verbose_env())
                std::fprintf(stderr,
                             "visionrt: conv %s: %s post-op %.3f ms, own pass %.3f + %.3f "
                             "ms -> %s\n",
                             n.name.c_str(), act_name(act.kind), t_post * 1e3, t_conv * 1e3,
                             t_act * 1e3, own ? "own pass" : "post-op");
              return std::string(own ? "own" : "post-op");
            }) == "own";
        if (own_act) pd = pd2;
      }
    }
    memory weights = prepared_conv_weights(*w, g, DT::f32, pd.weights_desc()), bias;
    if (b) {
      bias = memory(b_md, engine());
      std::memcpy(bias.get_data_handle(), b->raw(), b->nbytes());
    }
    auto dt_name = [](DT t) { return t == DT::bf16 ? " bf16" : ""; };
    std::string layout =
        str_cat(layout_name(in_block, 4), dt_name(src_dt), " -> ", layout_name(out_block, 4),
                dt_name(dst_dt), " ", impl,
                has_act ? str_cat(" +", act_name(act.kind), own_act ? " (own pass)" : "") : "",
                has_sum ? " +sum" : "");
    auto k = std::make_unique<DnnlConv>(std::move(pd), std::move(weights), std::move(bias),
                                        has_bias, sum_idx, res_md, layout);
    if (staged) k->stage(src_md, dst_md);
    if (tail) k->set_tail(std::move(tail->pd), std::move(tail->zero), tail->residual_post_op);
    if (own_act) k->set_own_activation(act);
    return k;
  } catch (const dnnl::error& e) {
    *why = str_cat("oneDNN: ", e.what());
    return nullptr;
  }
}

std::unique_ptr<Kernel> create_conv(const KernelQuery& q, std::string* why) {
  return build_conv(q, why, false);
}

// Blocked layouts are fine where oneDNN has a real (jit) implementation for them: not for
// every dilation/padding combination.
bool conv_blocked_ok(const KernelQuery& q) {
  std::string why;
  return build_conv(q, &why, true) != nullptr;
}

// ---- ConvTranspose (oneDNN deconvolution) ----

class DnnlDeconv : public Kernel {
 public:
  DnnlDeconv(dnnl::deconvolution_forward::primitive_desc pd, memory weights, memory bias,
             bool has_bias, std::string layout)
      : pd_(std::move(pd)),
        prim_(pd_),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        has_bias_(has_bias),
        layout_(std::move(layout)) {}
  size_t scratch_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    memory src(pd_.src_desc(), engine(), const_cast<void*>(ctx.input(0).raw()));
    memory dst(pd_.dst_desc(), engine(), ctx.output(0).raw());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
    if (has_bias_) args[DNNL_ARG_BIAS] = bias_;
    bind_scratchpad(args, pd_.scratchpad_desc(), ctx.scratch);
    prim_.execute(stream(), args);
    stream().wait();
  }
  std::string layout() const override { return layout_; }
  bool reads_at_run_time(size_t input) const override { return input != 1 && input != 2; }

 private:
  dnnl::deconvolution_forward::primitive_desc pd_;
  dnnl::deconvolution_forward prim_;
  memory weights_, bias_;
  bool has_bias_;
  std::string layout_;
};

std::unique_ptr<Kernel> build_deconv(const KernelQuery& q, std::string* why, bool probe) {
  if (!conv_eligible(q, why)) return nullptr;
  const Node& n = *q.node;
  const Shape& x = q.input_types[0].dims;
  const Tensor* w = q.input_constants[1];
  bool has_bias = q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined;
  const Tensor* b = has_bias ? q.input_constants[2] : nullptr;
  WindowParams p;
  std::string err;
  if (!conv_transpose_window(n, x, Shape(w->shape().begin() + 2, w->shape().end()), &p, &err))
    return *why = err, nullptr;
  const int64_t g = n.attr_i("group", 1), ic = w->dim(0), ocg = w->dim(1);
  if (g <= 0 || x[1] != ic || ic % g != 0) return *why = "channels do not match groups", nullptr;
  const Shape& y = q.output_types[0].dims;
  const int64_t oc = ocg * g;
  if (y[1] != oc) return *why = "output channels do not match the weights", nullptr;
  if (has_bias && static_cast<int64_t>(b->numel()) != oc)
    return *why = "bias has the wrong size", nullptr;
  memory::dims strides, dil, pl, pr;
  for (int a = 0; a < 2; ++a) {
    strides.push_back(p.strides[a]);
    dil.push_back(p.dilations[a] - 1);
    pl.push_back(p.pads_begin[a]);
    // oneDNN: out = (in - 1) * s - pl - pr + (k - 1) * d + 1; output_padding goes into pr.
    int64_t r = (x[2 + a] - 1) * p.strides[a] + (p.kernel[a] - 1) * p.dilations[a] + 1 -
                p.pads_begin[a] - y[2 + a];
    if (r < 0 || p.pads_begin[a] < 0) return *why = "output padding beyond the pads", nullptr;
    pr.push_back(r);
  }
  const int in_block = q.input_layout(0);
  const int out_block = q.output_layout(0);
  // oneDNN's deconvolution weights are {OC, IC, KH, KW}; ONNX stores [IC][OC/g][KH][KW] (iohw).
  memory::dims wdims = g > 1 ? memory::dims{g, ocg, ic / g, w->dim(2), w->dim(3)}
                             : memory::dims{oc, ic, w->dim(2), w->dim(3)};
  const DT src_dt = dt_of(q.input_types[0].dtype), dst_dt = dt_of(q.output_types[0].dtype);
  memory::desc w_any(wdims, src_dt, Tag::any);
  memory::desc b_md({oc}, DT::f32, Tag::x);
  const memory::desc src_md = md(x, in_block, src_dt), dst_md = md(y, out_block, dst_dt);
  try {
    using DF = dnnl::deconvolution_forward;
    auto d =
        has_bias
            ? DF::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                       src_md, w_any, b_md, dst_md, strides, dil, pl, pr)
            : DF::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                       src_md, w_any, dst_md, strides, dil, pl, pr);
    DF::primitive_desc pd(d, user_scratchpad(), engine());
    std::string impl = pd.impl_info_str();
    if (impl.find("ref") != std::string::npos)
      return *why = str_cat("oneDNN offers only its reference implementation (", impl, ")"),
             nullptr;
    if (probe) return std::make_unique<DnnlDeconv>(std::move(pd), memory(), memory(), false, "");
    memory weights, bias;
    prepare_weights(*w, {wdims, DT::f32, g > 1 ? Tag::giohw : Tag::iohw}, pd.weights_desc(), b,
                    b_md, &weights, &bias);
    return std::make_unique<DnnlDeconv>(
        std::move(pd), std::move(weights), std::move(bias), has_bias,
        str_cat(layout_name(in_block, 4), src_dt == DT::bf16 ? " bf16" : "", " -> ",
                layout_name(out_block, 4), dst_dt == DT::bf16 ? " bf16" : "", " ", impl));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

std::unique_ptr<Kernel> create_deconv(const KernelQuery& q, std::string* why) {
  return build_deconv(q, why, false);
}
bool deconv_blocked_ok(const KernelQuery& q) {
  std::string why;
  return build_deconv(q, &why, true) != nullptr;
}

}  // namespace

void register_dnnl_conv(KernelRegistry& r) {
  for (const char* op : {"Conv", "visionrt.FusedConv"})
    r.add(op, {"dnnl", create_conv, conv_blocked_ok});
  r.add("ConvTranspose", {"dnnl", create_deconv, deconv_blocked_ok});
}

}  // namespace visionrt
