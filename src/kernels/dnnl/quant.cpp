// oneDNN INT8 kernels: QLinearConv and visionrt.QConv (the QDQ fusion's quantized convolution)
// on oneDNN's VNNI int8 convolutions, and QuantizeLinear / DequantizeLinear with per-tensor
// parameters as oneDNN reorders (scale, zero point, and a layout change in the same pass).
//
// The convolution: u8 or s8 source with a zero point (oneDNN's runtime source zero point; the
// padding counts as the zero point, as in QLinearConv), s8 weights with per-tensor or
// per-output-channel scales and zero weight zero points, int32 accumulation. oneDNN 2.x applies
// the bias before the output scale (dst = oscale * (acc + bias)), so the output scale is
// x_scale * w_scale[c] and the bias is in accumulator units: QLinearConv's int32 bias as it is,
// a real-valued f32 bias divided by that scale. Then the fused activation as an eltwise post-op
// on the real value and, for a quantized output, a linear post-op v / y_scale + y_zero_point,
// then the conversion to u8/s8 rounding half to even and saturating. That is QuantizeLinear's
// result except at exact ties with an odd zero point (QuantizeLinear rounds before adding it:
// round(2.5) + 1 = 3, we give round(3.5) = 4): exact ties need scale ratios like powers of two,
// and quantizers that use those use zero point 0. oneDNN 2.6's eltwise_round post-op, which
// would separate the two steps, gives wrong results in the int8 kernels (measured).
// oneDNN's int8 jit kernels read channels-last (nhwc) tensors: the layout pass gives int8
// tensors between quantized convolutions that layout (kLayoutNhwc).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/best_time.hpp"
#include "common/strings.hpp"
#include "kernels/cpu/activation_loop.hpp"
#include "kernels/cpu/qdw_conv.hpp"
#include "kernels/dnnl/dnnl_common.hpp"
#include "ops/nn_shapes.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

bool is_int8(DType t) { return t == DType::u8 || t == DType::i8; }

// The output channels of int8 weights `w` ([oc, ...]) whose products could saturate a 16-bit
// pair sum: the two largest |w| of the channel add to more than 128.
std::vector<char> channels_at_risk(const Tensor& w) {
  const int64_t oc = w.dim(0), per = static_cast<int64_t>(w.numel()) / std::max<int64_t>(oc, 1);
  std::vector<char> risk(static_cast<size_t>(oc), 0);
  const int8_t* p = w.data<int8_t>();
  for (int64_t c = 0; c < oc; ++c) {
    int a = 0, b = 0;  // largest, second largest |w|
    for (int64_t i = 0; i < per; ++i) {
      const int v = std::abs(static_cast<int>(p[c * per + i]));
      if (v > a) {
        b = a;
        a = v;
      } else if (v > b) {
        b = v;
      }
    }
    risk[c] = a + b > 128;
  }
  return risk;
}

// `w` with the channels marked in `halve` divided by two, rounding half to even.
Tensor halved_channels(const Tensor& w, const std::vector<char>& halve) {
  Tensor h = w.clone();
  const int64_t oc = w.dim(0), per = static_cast<int64_t>(w.numel()) / std::max<int64_t>(oc, 1);
  int8_t* p = h.data<int8_t>();
  for (int64_t c = 0; c < oc; ++c)
    if (halve[c])
      for (int64_t i = 0; i < per; ++i)
        p[c * per + i] = static_cast<int8_t>(std::nearbyint(p[c * per + i] * 0.5f));
  return h;
}

// A swish convolution run in row bands (one thread): the int8 convolution, without its
// activation post-op, writes a band of output rows as f32 into a cache-sized buffer (or straight
// into an f32 output), and our own loop applies the swish (and the requantization) while those
// rows are still in cache. oneDNN's swish post-op computes an f32-exact exp and a division per
// value (0.4 ns here, a fifth of yolov8n's INT8 time); ours has no division and is as close
// (kernels/cpu/swish16.hpp), requantizing into an 8-bit output (swish_quantize.cpp) or in
// place for an f32 one. Each band's
// primitive has the padding that band needs (top, middle and bottom bands differ) and shares
// the layer's prepared weights. Compile times both ways per layer signature and keeps the
// faster (kernels/tuning_cache.hpp).
struct BandPlan {
  struct Band {
    int64_t in_row, out_row, rows;
    size_t prim;
  };
  std::vector<dnnl::convolution_forward::primitive_desc> pds;
  std::vector<dnnl::convolution_forward> prims;
  std::vector<Band> bands;
  int64_t batch = 1, in_image_bytes = 0, in_row_bytes = 0, out_row_values = 0, out_image_values = 0;
  size_t scratch = 0, buffer_values = 0;  // largest band scratchpad; f32 band buffer
  bool quant_out = false, out_unsigned = true;
  float inv_scale = 1, zero_point = 0;
  Activation act;

  size_t scratch_bytes() const {
    return quant_out ? scratch_align(scratch) + buffer_values * sizeof(float) : scratch;
  }
};

// f32 output bytes per band: 1 MiB (yolov8n INT8 at one thread here: 64 KiB bands 31.7 ms,
// 256 KiB 30.6, 1 MiB 29.8, one band per layer 29.7: the gain is the cheaper swish, the bands
// bound the buffer). VISIONRT_QCONV_BAND_BYTES sets it (tests: many bands on small maps).
// Part of the remembered choice's key: a change of the band loop's speed bumps it, so that
// choices timed against an older version are made again.
constexpr int kBandsVersion = 1;

int64_t band_bytes() {
  const char* env = std::getenv("VISIONRT_QCONV_BAND_BYTES");
  const long long v = env ? std::atoll(env) : 0;
  return v > 0 ? static_cast<int64_t>(v) : int64_t{1} << 20;
}

// The bands of a convolution from `xd` (nhwc, `src_dt`) to `yd` whose primitives use
// `weights_md`; nullopt where oneDNN offers no non-reference kernel for some band.
std::optional<BandPlan> make_bands(const Shape& xd, DT src_dt, const Shape& yd,
                                   const ConvGeometry& g, const memory::desc& weights_md,
                                   const memory::desc* bias_md, const dnnl::primitive_attr& attr) {
  using CF = dnnl::convolution_forward;
  const int64_t hin = xd[2], win = xd[3], cin = xd[1], hout = yd[2], wout = yd[3], cout = yd[1];
  const size_t nw = g.weights.size();
  const int64_t kh = g.weights[nw - 2], dh = g.dilations[0] + 1, sh = g.strides[0];
  const int64_t ext = (kh - 1) * dh + 1, pt = g.pads_begin[0];
  BandPlan p;
  p.batch = xd[0];
  p.in_row_bytes = win * cin * static_cast<int64_t>(memory::data_type_size(src_dt));
  p.in_image_bytes = hin * p.in_row_bytes;
  p.out_row_values = wout * cout;
  p.out_image_values = hout * p.out_row_values;
  const int64_t per = std::clamp<int64_t>(band_bytes() / (p.out_row_values * 4), 1, hout);
  std::map<std::array<int64_t, 4>, size_t> made;  // (rows, in_rows, pad top, pad bottom)
  for (int64_t r0 = 0; r0 < hout; r0 += per) {
    const int64_t rows = std::min(per, hout - r0);
    const int64_t first = r0 * sh - pt, last = (r0 + rows - 1) * sh - pt + ext - 1;
    const int64_t top = std::max<int64_t>(0, -first), bottom = std::max<int64_t>(0, last - hin + 1);
    const int64_t start = std::max<int64_t>(0, first),
                  in_rows = std::min(last, hin - 1) - start + 1;
    if (in_rows <= 0) return std::nullopt;
    const std::array<int64_t, 4> key{rows, in_rows, top, bottom};
    auto it = made.find(key);
    if (it == made.end()) {
      memory::desc src({1, cin, in_rows, win}, src_dt, Tag::nhwc);
      memory::desc dst({1, cout, rows, wout}, DT::f32, Tag::nhwc);
      memory::dims pb = g.pads_begin, pe = g.pads_end;
      pb[0] = top;
      pe[0] = bottom;
      const auto prop = dnnl::prop_kind::forward_inference;
      const auto alg = dnnl::algorithm::convolution_direct;
      CF::desc d =
          bias_md
              ? CF::desc(prop, alg, src, weights_md, *bias_md, dst, g.strides, g.dilations, pb, pe)
              : CF::desc(prop, alg, src, weights_md, dst, g.strides, g.dilations, pb, pe);
      CF::primitive_desc pd(d, attr, engine());
      if (std::string(pd.impl_info_str()).find("ref") != std::string::npos) return std::nullopt;
      p.scratch = std::max(p.scratch, pd.scratchpad_desc().get_size());
      it = made.emplace(key, p.pds.size()).first;
      p.prims.emplace_back(pd);
      p.pds.push_back(std::move(pd));
    }
    p.bands.push_back({start, r0, rows, it->second});
    p.buffer_values = std::max(p.buffer_values, static_cast<size_t>(rows * p.out_row_values));
  }
  return p;
}

// Runs `p` from `x` to `y` with the layer's weights, bias and source zero point.
void run_bands(const BandPlan& p, const char* x, void* y, const memory& weights, const memory* bias,
               const memory* src_zp, void* scratch) {
  float* buffer =
      p.quant_out ? reinterpret_cast<float*>(static_cast<char*>(scratch) + scratch_align(p.scratch))
                  : nullptr;
  for (int64_t n = 0; n < p.batch; ++n)
    for (const BandPlan::Band& b : p.bands) {
      const auto& pd = p.pds[b.prim];
      const int64_t at = n * p.out_image_values + b.out_row * p.out_row_values;
      float* out = p.quant_out ? buffer : static_cast<float*>(y) + at;
      memory src(pd.src_desc(), engine(),
                 const_cast<char*>(x + n * p.in_image_bytes + b.in_row * p.in_row_bytes));
      memory dst(pd.dst_desc(), engine(), out);
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
      if (bias) args[DNNL_ARG_BIAS] = *bias;
      if (src_zp) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = *src_zp;
      bind_scratchpad(args, pd.scratchpad_desc(), scratch);
      p.prims[b.prim].execute(stream(), args);
      stream().wait();
      const int64_t count = b.rows * p.out_row_values;
      if (p.quant_out)
        swish_quantize(out, static_cast<char*>(y) + at, count, p.inv_scale, p.zero_point,
                       p.out_unsigned);
      else
        own_activation_in_place(p.act, out, count, 1);
    }
}

// "bands" where `p` runs faster than the post-op primitive `pd` on one thread (zeroed
// activations, the layer's weights), else "post-op".
std::string time_bands_against(const dnnl::convolution_forward::primitive_desc& pd,
                               const BandPlan& p, const memory& weights, const memory* bias,
                               int32_t src_zp, const std::string& name) {
  std::vector<std::pair<int, memory::desc>> extra;
  if (src_zp != 0)
    extra.push_back({DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, {{1}, DT::s32, Tag::x}});
  const double t_post = time_conv(pd, extra);
  std::vector<char> x(pd.src_desc().get_size(), 0), y(pd.dst_desc().get_size(), 0),
      scratch_bytes(p.scratch_bytes() + 64, 0);
  // 64-byte aligned, as a request's arena gives it.
  void* scratch =
      scratch_bytes.data() + (64 - reinterpret_cast<uintptr_t>(scratch_bytes.data()) % 64) % 64;
  memory zp({{1}, DT::s32, Tag::x}, engine());
  std::memcpy(zp.get_data_handle(), &src_zp, sizeof src_zp);
  const double t_bands = best_seconds(2, 0.05, [&] {
    run_bands(p, x.data(), y.data(), weights, bias, src_zp != 0 ? &zp : nullptr, scratch);
  });
  const bool bands = t_bands < t_post;
  if (verbose_env())
    std::fprintf(stderr, "visionrt: qconv %s: swish post-op %.3f ms, %zu row bands %.3f ms -> %s\n",
                 name.c_str(), t_post * 1e3, p.bands.size(), t_bands * 1e3,
                 bands ? "bands" : "post-op");
  return bands ? "bands" : "post-op";
}

class DnnlQConv : public Kernel {
 public:
  DnnlQConv(dnnl::convolution_forward::primitive_desc pd, memory weights, memory bias,
            bool has_bias, int32_t src_zp, std::string layout, int residual_post_op = -1,
            memory::desc residual_md = {})
      : pd_(std::move(pd)),
        prim_(pd_),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        has_bias_(has_bias),
        src_zp_(src_zp),
        layout_(std::move(layout)),
        residual_post_op_(residual_post_op),
        residual_md_(std::move(residual_md)) {
    zp_mem_ = memory({{1}, DT::s32, Tag::x}, engine());
    std::memcpy(zp_mem_.get_data_handle(), &src_zp_, sizeof src_zp_);
  }
  // One-thread executions run `bands` instead of the post-op primitive.
  void set_bands(BandPlan bands) { bands_ = std::move(bands); }
  // Every execution runs our depthwise kernel instead of the primitive.
  void set_own_depthwise(std::unique_ptr<QDwConv> dw) { dw_ = std::move(dw); }
  size_t scratch_bytes() const override {
    return std::max({pd_.scratchpad_desc().get_size(), bands_ ? bands_->scratch_bytes() : 0,
                     dw_ ? dw_->scratch_bytes() : 0});
  }
  void execute(KernelContext& ctx) override {
    if (dw_) {
      dw_->run(ctx.input(0).raw(), ctx.output(0).raw(), ctx.scratch, ctx.num_threads);
      return;
    }
    set_threads(ctx.num_threads);
    if (bands_ && ctx.num_threads == 1) {
      run_bands(*bands_, static_cast<const char*>(ctx.input(0).raw()), ctx.output(0).raw(),
                weights_, has_bias_ ? &bias_ : nullptr, src_zp_ != 0 ? &zp_mem_ : nullptr,
                ctx.scratch);
      return;
    }
    memory src(pd_.src_desc(), engine(), const_cast<void*>(ctx.input(0).raw()));
    memory dst(pd_.dst_desc(), engine(), ctx.output(0).raw());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
    if (has_bias_) args[DNNL_ARG_BIAS] = bias_;
    if (src_zp_ != 0) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zp_mem_;
    if (residual_post_op_ >= 0)
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(residual_post_op_) | DNNL_ARG_SRC_1] =
          memory(residual_md_, engine(), const_cast<void*>(ctx.input(9).raw()));
    bind_scratchpad(args, pd_.scratchpad_desc(), ctx.scratch);
    prim_.execute(stream(), args);
    stream().wait();
  }
  std::string layout() const override {
    if (dw_) return str_cat(layout_, " (own VNNI depthwise kernel)");
    return bands_
               ? str_cat(layout_, " (own pass in ", bands_->bands.size(), " row bands at 1 thread)")
               : layout_;
  }
  // Everything but the activation source (and the residual) is a compile-time constant.
  bool reads_at_run_time(size_t input) const override { return input == 0 || input == 9; }

 private:
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward prim_;
  memory weights_, bias_, zp_mem_;
  bool has_bias_;
  int32_t src_zp_;
  std::string layout_;
  int residual_post_op_;  // the residual's binary-add post-op, -1 without one
  memory::desc residual_md_;
  std::optional<BandPlan> bands_;
  std::unique_ptr<QDwConv> dw_;
};

// The depthwise kernel's description of a QConv (see build_qconv for the parameters), or nullopt
// where it does not apply: not depthwise with multiplier 1, not 2-D, an output that is not
// channels-last, an activation or a window it does not compute.
std::optional<QDwConvSpec> own_depthwise_spec(const Shape& xd, DType xt, const Shape& yd, DType yt,
                                              int out_layout, const ConvGeometry& g,
                                              const Tensor& w, const std::vector<float>& oscale,
                                              const float* bias, double zx, double sy, double zy,
                                              const Activation& act) {
  if (!QDwConv::available() || g.weights.size() != 5 || g.group <= 1 || g.group != g.oc ||
      g.icg != 1 || out_layout != kLayoutNhwc || xd[0] != yd[0])
    return std::nullopt;
  QDwConvSpec s;
  s.batch = xd[0];
  s.channels = xd[1];
  s.h = xd[2];
  s.w = xd[3];
  s.oh = yd[2];
  s.ow = yd[3];
  s.kh = w.dim(2);
  s.kw = w.dim(3);
  s.stride_h = g.strides[0];
  s.stride_w = g.strides[1];
  s.dil_h = g.dilations[0] + 1;
  s.dil_w = g.dilations[1] + 1;
  s.pad_top = g.pads_begin[0];
  s.pad_left = g.pads_begin[1];
  s.src_signed = xt == DType::i8;
  s.src_zero_point = static_cast<int32_t>(zx);
  const int8_t* wp = w.data<int8_t>();
  s.weights.assign(wp, wp + w.numel());
  s.scale = oscale;
  if (bias) s.bias.assign(bias, bias + s.channels);
  s.act = act;
  s.out = yt == DType::f32 ? QDwConvSpec::Out::f32
                           : (yt == DType::u8 ? QDwConvSpec::Out::u8 : QDwConvSpec::Out::s8);
  s.inv_out_scale = static_cast<float>(1.0 / sy);
  s.out_zero_point = static_cast<float>(zy);
  if (!QDwConv::supports(s)) return std::nullopt;
  return s;
}

// Seconds one run of our depthwise kernel for `s` takes on one thread on zeroed buffers.
double time_own_depthwise(const QDwConvSpec& s) {
  QDwConv k(s, 1);
  const size_t out_size = s.out == QDwConvSpec::Out::f32 ? 4 : 1;
  std::vector<char> x(static_cast<size_t>(s.batch * s.channels * s.h * s.w), 0),
      y(static_cast<size_t>(s.batch * s.channels * s.oh * s.ow) * out_size),
      scratch_bytes(k.scratch_bytes() + 64);
  void* scratch =
      scratch_bytes.data() + (64 - reinterpret_cast<uintptr_t>(scratch_bytes.data()) % 64) % 64;
  return best_seconds(2, 0.05, [&] { k.run(x.data(), y.data(), scratch, 1); });
}

std::unique_ptr<Kernel> build_qconv(const KernelQuery& q, std::string* why, bool probe) {
  const Node& n = *q.node;
  auto input_type = [&](size_t i) {
    return i < q.input_types.size() ? q.input_types[i].dtype : DType::undefined;
  };
  const TensorType& x = q.input_types[0];
  if (!is_int8(x.dtype) || !x.fully_known() || x.dims.size() != 4)
    return *why = "source is not a static 4-D u8/i8 tensor", nullptr;
  const TensorType& yt = q.output_types[0];
  const bool quant_out = input_type(7) != DType::undefined;
  if (!yt.fully_known() || (quant_out ? !is_int8(yt.dtype) : yt.dtype != DType::f32))
    return *why = "output is not a static u8/i8 (or f32 without y_scale) tensor", nullptr;
  double sx, zx, sy = 1, zy = 0;
  if (!q.constant_scalar(1, &sx) || !(sx > 0)) return *why = "x_scale is not a constant", nullptr;
  if (input_type(2) == DType::undefined)
    zx = 0;
  else if (!q.constant_scalar(2, &zx))
    return *why = "x_zero_point is not a constant scalar", nullptr;
  if (quant_out && (!q.constant_scalar(6, &sy) || !(sy > 0) || !q.constant_scalar(7, &zy)))
    return *why = "y_scale / y_zero_point are not constant scalars", nullptr;
  const Tensor* w = q.input_constants.size() > 3 ? q.input_constants[3] : nullptr;
  if (!w || w->dtype() != DType::i8 || w->rank() != 4)
    return *why = "weights are not constant 4-D int8", nullptr;
  const int64_t oc = w->dim(0);
  const Tensor* ws = q.input_constants.size() > 4 ? q.input_constants[4] : nullptr;
  if (!ws || (ws->numel() != 1 && static_cast<int64_t>(ws->numel()) != oc))
    return *why = "w_scale is not a constant scalar or per-output-channel vector", nullptr;
  if (input_type(5) != DType::undefined) {
    const Tensor* wz = q.input_constants[5];
    if (!wz) return *why = "w_zero_point is not constant", nullptr;
    for (size_t i = 0; i < wz->numel(); ++i)
      if (wz->at_f64(i) != 0) return *why = "nonzero weight zero points", nullptr;
  }
  const bool has_bias = input_type(8) != DType::undefined;
  const Tensor* b = has_bias ? q.input_constants[8] : nullptr;
  if (has_bias && (!b || static_cast<int64_t>(b->numel()) != oc ||
                   (b->dtype() != DType::i32 && b->dtype() != DType::f32)))
    return *why = "bias is not a constant int32/f32 vector of one value per channel", nullptr;
  Activation act;
  if (!fused_activation(n, &act)) return *why = "unknown activation", nullptr;
  ConvGeometry g;
  if (!conv_geometry(n, x.dims, *w, &g, why)) return nullptr;
  const int in_l = q.input_layout(0), out_l = q.output_layout(0);
  // The residual (fuse_qconv_residual): f32 of the output's dims, in the output's layout, added
  // by a binary post-op after the activation.
  const bool has_residual = input_type(9) != DType::undefined;
  if (has_residual && (q.input_types[9].dtype != DType::f32 || q.input_types[9].dims != yt.dims ||
                       q.input_layout(9) != out_l))
    return *why = "the residual must be f32 of the output's dims and layout", nullptr;
  if (in_l != kLayoutNhwc) return *why = "int8 source must be channels-last (nhwc)", nullptr;
  if (quant_out && out_l != kLayoutNhwc)
    return *why = "int8 destination must be channels-last (nhwc)", nullptr;

  std::vector<float> oscale(static_cast<size_t>(oc));
  for (int64_t c = 0; c < oc; ++c)
    oscale[c] = static_cast<float>(sx * ws->at_f64(ws->numel() == 1 ? 0 : c));
  // Without VNNI (int8_pairs_saturate, kernel.hpp), oneDNN's int8 kernels add each two
  // neighbouring u8 x s8 products in saturating 16 bits (vpmaddubsw): 255 * 127 * 2 = 64770 does
  // not fit in 32767. An output channel whose two largest |w| add to more than 128 (whatever
  // pairs oneDNN forms) can run on round_half_even(w / 2) with twice the scale: no pair exceeds
  // 255 * 128 = 32640, exactly, at one bit less. Done by default in the first layers
  // (visionrt_first_layer, passes/fuse_qdq.cpp), whose image values saturate pairs all the time:
  // deeper activations are sparse and rarely fill a pair, and halving them everywhere costs more
  // than their saturation (int8_halve_every_layer: yolov8n 0.377 none, 0.437 every layer, 0.453
  // first layers). A model quantized with 7-bit weights where asked (`visionrt quantize
  // --overflow-fix`) runs unchanged. s8 sources are not ours to fix: oneDNN adds 128 to them and
  // halves every weight itself there ("scale adjust").
  const bool halve_here = int8_pairs_saturate() && x.dtype == DType::u8 &&
                          (n.attr_i("visionrt_first_layer", 0) != 0 || int8_halve_every_layer());
  const std::vector<char> halve =
      halve_here ? channels_at_risk(*w) : std::vector<char>(static_cast<size_t>(oc), 0);
  const int64_t n_halved = std::count(halve.begin(), halve.end(), 1);
  for (int64_t c = 0; c < oc; ++c)
    if (halve[c]) oscale[c] *= 2;
  const int scale_mask = ws->numel() == 1 && n_halved == 0 ? 0 : 2;
  memory::desc src_md = md(x.dims, in_l, dt_of(x.dtype));
  memory::desc dst_md = md(yt.dims, out_l, dt_of(yt.dtype));
  memory::desc w_any(g.weights, DT::s8, Tag::any), b_md({oc}, DT::f32, Tag::x);
  try {
    dnnl::primitive_attr attr = user_scratchpad();
    attr.set_output_scales(scale_mask, oscale);
    if (zx != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::post_ops po;
    append_activation(act, &po);
    int residual_post_op = -1;
    const memory::desc residual_md = md(yt.dims, out_l, DT::f32);
    if (has_residual) {
      residual_post_op = po.len();
      po.append_binary(dnnl::algorithm::binary_add, residual_md);
    }
    if (quant_out)
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, static_cast<float>(1.0 / sy),
                        static_cast<float>(zy));
    attr.set_post_ops(po);
    std::vector<std::pair<int, memory::desc>> post_op_args;
    if (has_residual)
      post_op_args.push_back(
          {DNNL_ARG_ATTR_MULTIPLE_POST_OP(residual_post_op) | DNNL_ARG_SRC_1, residual_md});
    using CF = dnnl::convolution_forward;
    CF::desc d = has_bias ? CF::desc(dnnl::prop_kind::forward_inference,
                                     dnnl::algorithm::convolution_direct, src_md, w_any, b_md,
                                     dst_md, g.strides, g.dilations, g.pads_begin, g.pads_end)
                          : CF::desc(dnnl::prop_kind::forward_inference,
                                     dnnl::algorithm::convolution_direct, src_md, w_any, dst_md,
                                     g.strides, g.dilations, g.pads_begin, g.pads_end);
    // The layout pass only asks whether it can run: oneDNN's first choice answers that.
    auto make = [&] { return CF::primitive_desc(d, attr, engine()); };
    const std::string choice_key = conv_key(
        x.dims, g,
        str_cat("qconv|", dtype_name(x.dtype), "|", dtype_name(yt.dtype), "|", act_name(act.kind),
                "|", zx != 0, has_bias, has_residual ? "|residual" : ""));
    CF::primitive_desc pd = probe ? make() : fastest_conv(make, zx != 0, choice_key, post_op_args);
    std::string impl = pd.impl_info_str();
    if (impl.find("ref") != std::string::npos)
      return *why = str_cat("oneDNN offers only its reference implementation (", impl, ")"),
             nullptr;
    if (probe) return std::make_unique<DnnlQConv>(std::move(pd), memory(), memory(), false, 0, "");
    Tensor w7;
    if (n_halved > 0) {
      w7 = halved_channels(*w, halve);
      w = &w7;
    }
    memory weights = prepared_conv_weights(*w, g, DT::s8, pd.weights_desc()), bias;
    if (has_bias) {
      bias = memory(b_md, engine());
      float* bb = static_cast<float*>(bias.get_data_handle());
      for (int64_t c = 0; c < oc; ++c)
        bb[c] = b->dtype() == DType::i32
                    ? static_cast<float>(b->at_f64(c) / (halve[c] ? 2 : 1))
                    : static_cast<float>(b->at_f64(c) / (sx * ws->at_f64(ws->numel() == 1 ? 0 : c) *
                                                         (halve[c] ? 2 : 1)));
    }
    std::string layout = str_cat(
        layout_name(in_l, 4), " ", dtype_name(x.dtype), " -> ", layout_name(out_l, 4), " ",
        dtype_name(yt.dtype), " ", impl,
        act.kind != Act::none ? str_cat(" +", act_name(act.kind)) : "",
        has_residual ? " +residual" : "",
        n_halved > 0 ? str_cat(" 7-bit weights in ", n_halved, "/", oc, " channels (no VNNI)")
                     : "");
    // Depthwise layers on our own VNNI kernel where it times faster than oneDNN's (both on one
    // thread; the choice is remembered per layer signature). VISIONRT_QDW_CONV=1 or 0 forces.
    std::unique_ptr<QDwConv> dw;
    const std::optional<QDwConvSpec> dw_spec =
        has_residual ? std::nullopt
                     : own_depthwise_spec(
                           x.dims, x.dtype, yt.dims, yt.dtype, out_l, g, *w, oscale,
                           has_bias ? static_cast<const float*>(bias.get_data_handle()) : nullptr,
                           zx, sy, zy, act);
    if (dw_spec) {
      const char* force_dw = std::getenv("VISIONRT_QDW_CONV");
      bool use = force_dw ? std::string(force_dw) != "0" : true;
      if (!force_dw && conv_autotune())
        use =
            remembered_choice(str_cat(choice_key, "|own-dw-v", QDwConv::kVersion), [&] {
              OneThread one;
              std::vector<std::pair<int, memory::desc>> extra;
              if (zx != 0)
                extra.push_back({DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, {{1}, DT::s32, Tag::x}});
              const double t_dnnl = time_conv(fastest_conv(make, zx != 0, choice_key), extra);
              const double t_own = time_own_depthwise(*dw_spec);
              if (verbose_env())
                std::fprintf(stderr, "visionrt: qconv %s: oneDNN %.3f ms, own depthwise %.3f ms\n",
                             n.name.c_str(), t_dnnl * 1e3, t_own * 1e3);
              return t_own < t_dnnl ? "own" : "dnnl";
            }) == "own";
      if (use) dw = std::make_unique<QDwConv>(*dw_spec, std::max(1, omp_get_max_threads()));
    }
    // Row bands with our own swish (BandPlan) for a layer compiled for one thread, where they
    // time faster. VISIONRT_CONV_OWN_ACTIVATION=1 or 0 forces them (tests), as for float convs.
    std::optional<BandPlan> plan;
    const char* force = std::getenv("VISIONRT_CONV_OWN_ACTIVATION");
    const bool own_act = quant_out
                             ? act.kind == Act::swish && swish_quantize_available()
                             : act.kind == Act::swish && own_activation_in_place_available(act);
    if (!dw && !has_residual && own_act && omp_get_max_threads() == 1 &&
        (force ? std::string(force) != "0" : conv_autotune())) {
      dnnl::primitive_attr battr = user_scratchpad();
      battr.set_output_scales(scale_mask, oscale);
      if (zx != 0) battr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
      plan = make_bands(x.dims, dt_of(x.dtype), yt.dims, g, pd.weights_desc(),
                        has_bias ? &b_md : nullptr, battr);
      if (plan) {
        plan->quant_out = quant_out;
        plan->out_unsigned = yt.dtype == DType::u8;
        plan->inv_scale = static_cast<float>(1.0 / sy);
        plan->zero_point = static_cast<float>(zy);
        plan->act = act;
        const std::string key =
            conv_key(x.dims, g,
                     str_cat("qbands-v", kBandsVersion, "|", dtype_name(x.dtype), "|",
                             dtype_name(yt.dtype), "|", zx != 0, has_bias));
        const bool use =
            force || remembered_choice(key, [&] {
                       return time_bands_against(pd, *plan, weights, has_bias ? &bias : nullptr,
                                                 static_cast<int32_t>(zx), n.name);
                     }) == "bands";
        if (!use) plan.reset();
      }
    }
    auto k = std::make_unique<DnnlQConv>(std::move(pd), std::move(weights), std::move(bias),
                                         has_bias, static_cast<int32_t>(zx), layout,
                                         residual_post_op, residual_md);
    if (plan) k->set_bands(std::move(*plan));
    if (dw) k->set_own_depthwise(std::move(dw));
    return k;
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

std::unique_ptr<Kernel> create_qconv(const KernelQuery& q, std::string* why) {
  return build_qconv(q, why, false);
}
bool qconv_layouts_ok(const KernelQuery& q) {
  std::string why;
  return build_qconv(q, &why, true) != nullptr;
}

// ConvInteger (dynamically quantized exports: DynamicQuantizeLinear -> ConvInteger -> Cast ->
// Mul by the scales): u8/i8 source in plain NCHW with a zero point that is a run-time tensor (the
// DynamicQuantizeLinear output), constant i8 weights with zero weight zero points, int32 result.
// oneDNN's int8 kernels read and write channels-last, so the source and the result are staged
// through NHWC copies in the request's scratch memory; the integers are exact.
class DnnlConvInteger : public Kernel {
 public:
  DnnlConvInteger(dnnl::convolution_forward::primitive_desc pd, memory weights, memory::desc in_md,
                  memory::desc out_md, bool has_zp, std::string layout)
      : pd_(std::move(pd)),
        prim_(pd_),
        weights_(std::move(weights)),
        has_zp_(has_zp),
        layout_(std::move(layout)) {
    staged_.init(in_md, pd_.src_desc(), pd_.dst_desc(), out_md);
  }
  size_t scratch_bytes() const override {
    return staged_.staged_bytes() + std::max(pd_.scratchpad_desc().get_size(), staged_.pad_bytes());
  }
  void execute(KernelContext& ctx) override {
    if (!ctx.scratch) throw Error("internal: ConvInteger without scratch memory");
    set_threads(ctx.num_threads);
    char* scratch = static_cast<char*>(ctx.scratch);
    void* pad = scratch + staged_.staged_bytes();
    memory src = staged_.stage_in(ctx.input(0).raw(), scratch, pad);
    memory dst = staged_.staged_dst(scratch);
    int32_t zp = 0;
    if (has_zp_) {
      const Tensor& z = ctx.input(2);
      if (z.numel() != 1) ctx.fail("x_zero_point must be a scalar");
      zp = static_cast<int32_t>(z.at_f64(0));
    }
    memory zp_mem({{1}, DT::s32, Tag::x}, engine(), &zp);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},
                                         {DNNL_ARG_WEIGHTS, weights_},
                                         {DNNL_ARG_DST, dst},
                                         {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zp_mem}};
    bind_scratchpad(args, pd_.scratchpad_desc(), pad);
    prim_.execute(stream(), args);
    staged_.stage_out(dst, ctx.output(0).raw(), pad);
    stream().wait();
  }
  std::string layout() const override { return layout_; }
  bool reads_at_run_time(size_t input) const override { return input == 0 || input == 2; }

 private:
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward prim_;
  memory weights_;
  bool has_zp_;
  std::string layout_;
  StagedIo staged_;
};

std::unique_ptr<Kernel> create_conv_integer(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const TensorType& x = q.input_types[0];
  if (!is_int8(x.dtype) || !x.fully_known() || x.dims.size() != 4)
    return *why = "source is not a static 4-D u8/i8 tensor", nullptr;
  const TensorType& yt = q.output_types[0];
  if (yt.dtype != DType::i32 || !yt.fully_known()) return *why = "output is not i32", nullptr;
  const Tensor* w = q.input_constants.size() > 1 ? q.input_constants[1] : nullptr;
  if (!w || w->dtype() != DType::i8 || w->rank() != 4)
    return *why = "weights are not constant 4-D int8", nullptr;
  const bool has_zp = q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined;
  if (q.input_types.size() > 3 && q.input_types[3].dtype != DType::undefined) {
    const Tensor* wz = q.input_constants[3];
    if (!wz) return *why = "w_zero_point is not constant", nullptr;
    for (size_t i = 0; i < wz->numel(); ++i)
      if (wz->at_f64(i) != 0) return *why = "nonzero weight zero points", nullptr;
  }
  // Its int32 result is exact: where this CPU's int8 kernels could saturate (see
  // int8_pairs_saturate) or halve the weights themselves (s8 sources), the reference runs it.
  if (int8_pairs_saturate()) {
    if (x.dtype != DType::u8)
      return *why = "no VNNI: oneDNN halves the weights of s8 sources", nullptr;
    const std::vector<char> risk = channels_at_risk(*w);
    if (std::find(risk.begin(), risk.end(), 1) != risk.end())
      return *why =
                 "no VNNI: oneDNN's 16-bit pair sums could saturate with these weights (|w| > 64)",
             nullptr;
  }
  ConvGeometry g;
  if (!conv_geometry(*q.node, x.dims, *w, &g, why)) return nullptr;
  try {
    dnnl::primitive_attr attr = user_scratchpad();
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    using CF = dnnl::convolution_forward;
    CF::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
               md(x.dims, kLayoutNhwc, dt_of(x.dtype)), memory::desc(g.weights, DT::s8, Tag::any),
               md(yt.dims, kLayoutNhwc, DT::s32), g.strides, g.dilations, g.pads_begin, g.pads_end);
    CF::primitive_desc pd(d, attr, engine());
    std::string impl = pd.impl_info_str();
    if (impl.find("ref") != std::string::npos)
      return *why = str_cat("oneDNN offers only its reference implementation (", impl, ")"),
             nullptr;
    memory weights = prepared_conv_weights(*w, g, DT::s8, pd.weights_desc());
    return std::make_unique<DnnlConvInteger>(
        std::move(pd), std::move(weights), md(x.dims, 0, dt_of(x.dtype)), md(yt.dims, 0, DT::s32),
        has_zp, str_cat("nchw ", dtype_name(x.dtype), " -> nchw i32, nhwc-staged ", impl));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

// QuantizeLinear (f32 -> u8/i8) and DequantizeLinear (u8/i8/i32 -> f32) with a per-tensor
// scale and zero point, as one oneDNN reorder: y = saturate(round(x / s) + zp) and
// y = (x - zp) * s. The reorder also changes layout (nhwc int8 <-> blocked f32), so a
// quantized tensor crosses into the float part of the network in one pass.
class DnnlQuantReorder : public Kernel {
 public:
  DnnlQuantReorder(dnnl::reorder::primitive_desc pd, int32_t src_zp, int32_t dst_zp,
                   std::string layout)
      : pd_(std::move(pd)), prim_(pd_), layout_(std::move(layout)) {
    auto scalar = [](int32_t v) {
      memory m({{1}, DT::s32, Tag::x}, engine());
      std::memcpy(m.get_data_handle(), &v, sizeof v);
      return m;
    };
    if (src_zp != 0) src_zp_ = scalar(src_zp);
    if (dst_zp != 0) dst_zp_ = scalar(dst_zp);
  }
  size_t scratch_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    memory src(pd_.src_desc(), engine(), const_cast<void*>(ctx.input(0).raw()));
    memory dst(pd_.dst_desc(), engine(), ctx.output(0).raw());
    std::unordered_map<int, memory> args{{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    if (src_zp_) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_FROM] = src_zp_;
    if (dst_zp_) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_TO] = dst_zp_;
    bind_scratchpad(args, pd_.scratchpad_desc(), ctx.scratch);
    prim_.execute(stream(), args);
    stream().wait();
  }
  std::string layout() const override { return layout_; }
  bool reads_at_run_time(size_t input) const override { return input == 0; }

 private:
  dnnl::reorder::primitive_desc pd_;
  dnnl::reorder prim_;
  memory src_zp_, dst_zp_;  // empty when the zero point is 0
  std::string layout_;
};

std::unique_ptr<Kernel> create_quant_reorder(const KernelQuery& q, std::string* why) {
  const bool quantize = q.node->op_type == "QuantizeLinear";
  const TensorType& x = q.input_types[0];
  const TensorType& y = q.output_types[0];
  if (!x.fully_known() || !y.fully_known() || x.dims.empty())
    return *why = "shapes are not static", nullptr;
  if (quantize ? (x.dtype != DType::f32 || !is_int8(y.dtype))
               : (!is_int8(x.dtype) && x.dtype != DType::i32) || y.dtype != DType::f32)
    return *why = "only f32 <-> u8/i8 (and i32 -> f32)", nullptr;
  double s, zp = 0;
  if (!q.constant_scalar(1, &s) || !(s > 0))
    return *why = "scale is not a positive constant scalar", nullptr;
  if (q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined &&
      !q.constant_scalar(2, &zp))
    return *why = "zero point is not a constant scalar", nullptr;
  const int in_l = q.input_layout(0), out_l = q.output_layout(0);
  try {
    dnnl::primitive_attr attr = user_scratchpad();
    attr.set_output_scales(0, {static_cast<float>(quantize ? 1.0 / s : s)});
    const int32_t z = static_cast<int32_t>(zp);
    if (z != 0)
      attr.set_zero_points(quantize ? DNNL_ARG_TO : DNNL_ARG_FROM, 0, {DNNL_RUNTIME_S32_VAL});
    memory::desc from = md(x.dims, in_l, dt_of(x.dtype)), to = md(y.dims, out_l, dt_of(y.dtype));
    dnnl::reorder::primitive_desc pd(engine(), from, engine(), to, attr);
    return std::make_unique<DnnlQuantReorder>(
        pd, quantize ? 0 : z, quantize ? z : 0,
        str_cat(layout_name(in_l, x.dims.size()), " ", dtype_name(x.dtype), " -> ",
                layout_name(out_l, y.dims.size()), " ", dtype_name(y.dtype)));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

}  // namespace

void register_dnnl_quant(KernelRegistry& r) {
  for (const char* op : {"QLinearConv", "visionrt.QConv"})
    r.add(op, {"dnnl", create_qconv, qconv_layouts_ok});
  r.add("ConvInteger", {"dnnl", create_conv_integer, nullptr});
  for (const char* op : {"QuantizeLinear", "DequantizeLinear"})
    r.add(op, KernelCandidate::checked_by_create("dnnl", create_quant_reorder));
}

}  // namespace visionrt
