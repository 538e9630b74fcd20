// Reference quantization kernels. QuantizeLinear/DequantizeLinear/DynamicQuantizeLinear as
// specified (round half to even, saturate). QLinearConv / QLinearMatMul: dequantize to double, run
// the reference Conv/MatMul (exact for integer products in double), add the dequantized bias,
// requantize with round-half-to-even and saturation. Slow and obviously correct: the oracle for
// INT8 kernels.
#include <cmath>
#include <cstring>

#include "common/strings.hpp"
#include "kernels/activation.hpp"
#include "kernels/node_runner.hpp"
#include "kernels/ref/ref_util.hpp"

namespace visionrt {
namespace {

// (q - zp) * scale, with scale/zp per tensor or per slice along `axis` (1-D of that length).
Tensor dequantize(const KernelContext& c, const Tensor& q, const Tensor& scale, const Tensor* zp,
                  int64_t axis, const char* what) {
  Tensor out(DType::f64, q.shape());
  double* o = out.data<double>();
  size_t n = scale.numel();
  if (zp && zp->numel() != n) c.fail(str_cat(what, ": zero point and scale sizes differ"));
  int64_t a = axis < 0 ? axis + static_cast<int64_t>(q.rank()) : axis;
  if (n != 1 &&
      (a < 0 || a >= static_cast<int64_t>(q.rank()) || static_cast<int64_t>(n) != q.dim(a)))
    c.fail(str_cat(what, ": scale has ", n, " values, expected 1 or ",
                   a >= 0 && a < static_cast<int64_t>(q.rank()) ? q.dim(a) : -1));
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(std::max<int64_t>(a, 0)) + 1; d < q.rank(); ++d)
    inner *= q.dim(d);
  for (size_t i = 0; i < q.numel(); ++i) {
    size_t k =
        n == 1 ? 0
               : static_cast<size_t>((static_cast<int64_t>(i) / inner) % static_cast<int64_t>(n));
    double z = zp ? zp->at_f64(k) : 0.0;
    o[i] = (q.at_f64(i) - z) * scale.at_f64(k);
  }
  return out;
}

void requantize(const KernelContext& c, const Tensor& v, const Tensor& scale, const Tensor& zp,
                Tensor& out) {
  if (scale.numel() != 1 || zp.numel() != 1) c.fail("output scale and zero point must be scalars");
  double s = scale.at_f64(0), z = zp.at_f64(0);
  if (!(s > 0)) c.fail("output scale must be positive");
  double lo = out.dtype() == DType::u8 ? 0 : -128, hi = out.dtype() == DType::u8 ? 255 : 127;
  const double* d = v.data<double>();
  for (size_t i = 0; i < out.numel(); ++i) {
    double q = std::nearbyint(d[i] / s) + z;  // default rounding mode: half to even
    q = std::min(hi, std::max(lo, q));
    if (out.dtype() == DType::u8)
      out.data<uint8_t>()[i] = static_cast<uint8_t>(q);
    else
      out.data<int8_t>()[i] = static_cast<int8_t>(q);
  }
}

bool int8_io(const KernelQuery& q, std::string* why) {
  for (size_t i : {size_t(0), size_t(3), size_t(7)}) {
    DType t = i < q.input_types.size() ? q.input_types[i].dtype : DType::undefined;
    if (i == 7 && t == DType::undefined && q.node->op_type == "visionrt.QConv") continue;
    if (t != DType::u8 && t != DType::i8) {
      *why = "inputs and output zero point must be u8 or i8";
      return false;
    }
  }
  return true;
}

// QLinearConv, and visionrt.QConv: the same with a fused activation on the real-valued result,
// an optional f32 output (no y_scale/y_zp) and an f32 bias in real units.
void qlinear_conv(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(3);
  Tensor xf = dequantize(c, x, c.input(1), c.has_input(2) ? &c.input(2) : nullptr, 1, "x");
  Tensor wf = dequantize(c, w, c.input(4), c.has_input(5) ? &c.input(5) : nullptr, 0, "w");
  Node conv = *c.node;
  conv.op_type = "Conv";
  conv.inputs = {0, 1};
  Activation act;
  if (!fused_activation(*c.node, &act)) c.fail("unknown activation");
  conv.attrs.erase("activation");
  conv.attrs.erase("alpha");
  conv.attrs.erase("beta");
  std::vector<const Tensor*> ins = {&xf, &wf};
  Tensor bias;
  if (c.has_input(8)) {
    const Tensor& b = c.input(8);
    if (b.rank() != 1 || b.dim(0) != w.dim(0))
      c.fail("B must be 1-D with one value per output channel");
    bias = Tensor(DType::f64, b.shape());
    const Tensor& ws = c.input(4);
    double xs = c.input(1).at_f64(0);
    for (size_t m = 0; m < b.numel(); ++m)
      bias.data<double>()[m] = b.dtype() == DType::f32
                                   ? b.at_f64(m)
                                   : b.at_f64(m) * xs * ws.at_f64(ws.numel() == 1 ? 0 : m);
    conv.inputs.push_back(2);
    ins.push_back(&bias);
  }
  std::vector<Tensor> y = run_node_ref(conv, c.opset, ins);
  double* d = y[0].data<double>();
  if (act.kind != Act::none)
    for (size_t i = 0; i < y[0].numel(); ++i) d[i] = apply_act(act, static_cast<float>(d[i]));
  if (c.has_input(9)) {  // visionrt.QConv's residual
    const Tensor& r = c.input(9);
    if (r.dtype() != DType::f32 || r.shape() != y[0].shape())
      c.fail("the residual R must be f32 of the output's shape");
    for (size_t i = 0; i < y[0].numel(); ++i) d[i] += r.data<float>()[i];
  }
  if (!c.has_input(6)) {
    float* o = c.output(0).data<float>();
    for (size_t i = 0; i < y[0].numel(); ++i) o[i] = static_cast<float>(d[i]);
    return;
  }
  requantize(c, y[0], c.input(6), c.input(7), c.output(0));
}

void qlinear_matmul(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(3);
  // a: per-tensor or per-row (axis -2); b: per-tensor or per-column (axis -1).
  Tensor af = dequantize(c, a, c.input(1), c.has_input(2) ? &c.input(2) : nullptr,
                         static_cast<int64_t>(a.rank()) - 2, "a");
  Tensor bf = dequantize(c, b, c.input(4), c.has_input(5) ? &c.input(5) : nullptr,
                         static_cast<int64_t>(b.rank()) - 1, "b");
  Node mm = *c.node;
  mm.op_type = "MatMul";
  mm.inputs = {0, 1};
  std::vector<Tensor> y = run_node_ref(mm, c.opset, {&af, &bf});
  requantize(c, y[0], c.input(6), c.input(7), c.output(0));
}

// Scale/zero point per tensor or per slice along `axis` (1-D of that dim's length).
void quantize_linear(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", 1), static_cast<int64_t>(x.rank()));
  const Tensor& s = c.input(1);
  const Tensor* zp = c.has_input(2) ? &c.input(2) : nullptr;
  size_t n = s.numel();
  if (n != 1 && (axis < 0 || axis >= static_cast<int64_t>(x.rank()) ||
                 static_cast<int64_t>(n) != x.dim(axis)))
    c.fail("y_scale must be a scalar or have one value per slice along axis");
  if (zp && zp->numel() != n) c.fail("y_zero_point and y_scale sizes differ");
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(std::max<int64_t>(axis, 0)) + 1; d < x.rank(); ++d)
    inner *= x.dim(d);
  double lo = y.dtype() == DType::u8 ? 0 : -128, hi = y.dtype() == DType::u8 ? 255 : 127;
  for (size_t i = 0; i < x.numel(); ++i) {
    size_t k =
        n == 1 ? 0
               : static_cast<size_t>((static_cast<int64_t>(i) / inner) % static_cast<int64_t>(n));
    double quot = x.dtype() == DType::f64 ? x.at_f64(i) / s.at_f64(k)
                                          : static_cast<double>(static_cast<float>(x.at_f64(i)) /
                                                                static_cast<float>(s.at_f64(k)));
    double q = std::nearbyint(quot) + (zp ? zp->at_f64(k) : 0.0);
    q = std::min(hi, std::max(lo, q));
    if (y.dtype() == DType::u8)
      y.data<uint8_t>()[i] = static_cast<uint8_t>(q);
    else
      y.data<int8_t>()[i] = static_cast<int8_t>(q);
  }
}

// visionrt.QConcat: the reference Concat, then the reference QuantizeLinear.
void qconcat(KernelContext& c) {
  const size_t n = c.num_inputs();
  if (n < 3) c.fail("needs at least one data input, y_scale and y_zero_point");
  Node cat = *c.node;
  cat.op_type = "Concat";
  cat.domain.clear();
  cat.inputs.resize(n - 2);
  std::vector<const Tensor*> data(c.inputs.begin(), c.inputs.begin() + static_cast<long>(n - 2));
  Tensor joined = run_node_ref(cat, 13, data)[0];
  Node q = cat;
  q.op_type = "QuantizeLinear";
  q.attrs.clear();
  q.inputs = {0, 1, 2};
  Tensor y = run_node_ref(q, 13, {&joined, &c.input(n - 2), &c.input(n - 1)})[0];
  if (y.shape() != c.output(0).shape() || y.dtype() != c.output(0).dtype())
    c.fail("inferred output differs from the computed one");
  std::memcpy(c.output(0).raw(), y.raw(), y.nbytes());
}

void dequantize_linear(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t axis = c.node->attr_i("axis", 1);
  Tensor d = dequantize(c, x, c.input(1), c.has_input(2) ? &c.input(2) : nullptr,
                        c.input(1).numel() == 1 ? 0 : axis, "x");
  Tensor out = d.cast(c.output(0).dtype());
  std::memcpy(c.output(0).raw(), out.raw(), out.nbytes());
}

void dynamic_quantize_linear(KernelContext& c) {
  const Tensor& x = c.input(0);
  double mn = 0, mx = 0;  // the range always includes 0
  for (size_t i = 0; i < x.numel(); ++i) {
    double v = x.at_f64(i);
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  // The scale is a float32 output: quantize with exactly that value, as the spec's reference.
  double scale = static_cast<double>(static_cast<float>((mx - mn) / 255.0));
  double zp = scale == 0 ? 0 : std::min(255.0, std::max(0.0, std::nearbyint(-mn / scale)));
  uint8_t* y = c.output(0).data<uint8_t>();
  for (size_t i = 0; i < x.numel(); ++i) {
    // float32 division, as the float32 reference computes it (the quotient's rounding to
    // float32 decides ties like 25.4999991 -> 25.5 -> 26).
    double q = scale == 0 ? zp
                          : std::nearbyint(static_cast<double>(static_cast<float>(x.at_f64(i)) /
                                                               static_cast<float>(scale))) +
                                zp;
    y[i] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, q)));
  }
  c.output(1).data<float>()[0] = static_cast<float>(scale);
  c.output(2).data<uint8_t>()[0] = static_cast<uint8_t>(zp);
}

}  // namespace

void register_ref_quant_linear(KernelRegistry& r) {
  r.add_ref("QuantizeLinear", quantize_linear);
  r.add_ref("DequantizeLinear", dequantize_linear);
  r.add_ref("visionrt.QConcat", qconcat);
  r.add_ref("DynamicQuantizeLinear", dynamic_quantize_linear);
  r.add_ref("QLinearConv", int8_io, qlinear_conv);
  r.add_ref("visionrt.QConv", int8_io, qlinear_conv);
  r.add_ref("QLinearMatMul", int8_io, qlinear_matmul);
}

}  // namespace visionrt
