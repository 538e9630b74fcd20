// Reference DeformConv (ONNX opset 19; torchvision.ops.deform_conv2d / DCNv2 semantics), in
// double: each kernel tap of each output position samples the input at its regular position
// plus a learned (dy, dx) offset, bilinearly, with zeros outside the image; the optional mask
// scales each sample (DCNv2). Offsets are [N, offset_group * kh * kw * 2, oH, oW], tap-major
// with dy before dx; input channels split into offset_group groups that share offsets, and into
// `group` groups for the weights as in Conv.
#include <cmath>

#include "common/strings.hpp"
#include "kernels/ref/ref_util.hpp"
#include "ops/nn_shapes.hpp"

namespace visionrt {
namespace {

void deform_conv_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  const Tensor& off = c.input(2);
  const Tensor* bias = c.has_input(3) ? &c.input(3) : nullptr;
  const Tensor* mask = c.has_input(4) ? &c.input(4) : nullptr;
  Tensor& y = c.output(0);
  WindowParams p;
  std::string err;
  if (x.rank() != 4 || w.rank() != 4) c.fail("only 2-D deformable convolution");
  if (!conv_window(*c.node, x.shape(), {w.dim(2), w.dim(3)}, false, &p, &err)) c.fail(err);
  const int64_t n_batch = x.dim(0), ch = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t oc = w.dim(0), kh = w.dim(2), kw = w.dim(3), taps = kh * kw;
  const int64_t oh = y.dim(2), ow = y.dim(3);
  const int64_t group = c.node->attr_i("group", 1), og = c.node->attr_i("offset_group", 1);
  const int64_t cpg = ch / group, opg = oc / group, cpog = ch / og;
  if (bias && static_cast<int64_t>(bias->numel()) != oc) c.fail("B must have one value per output");
  if (off.shape() != Shape{n_batch, og * taps * 2, oh, ow})
    c.fail(str_cat("offset has shape ", shape_str(off.shape()), ", expected ",
                   shape_str({n_batch, og * taps * 2, oh, ow})));
  if (mask && mask->shape() != Shape{n_batch, og * taps, oh, ow})
    c.fail(str_cat("mask has shape ", shape_str(mask->shape()), ", expected ",
                   shape_str({n_batch, og * taps, oh, ow})));
  const std::vector<double> xv = ref::to_doubles(x), wv = ref::to_doubles(w),
                            ov = ref::to_doubles(off);
  const std::vector<double> mv = mask ? ref::to_doubles(*mask) : std::vector<double>();
  const std::vector<double> bv = bias ? ref::to_doubles(*bias) : std::vector<double>();
  // Bilinear sample of channel `k` of image `n` at (py, px); neighbours outside are zero.
  auto sample = [&](int64_t n, int64_t k, double py, double px) {
    if (!(py > -1 && py < static_cast<double>(h) && px > -1 && px < static_cast<double>(wd)))
      return 0.0;
    const int64_t y0 = static_cast<int64_t>(std::floor(py)),
                  x0 = static_cast<int64_t>(std::floor(px));
    const double ly = py - static_cast<double>(y0), lx = px - static_cast<double>(x0);
    auto at = [&](int64_t yy, int64_t xx) {
      return yy >= 0 && yy < h && xx >= 0 && xx < wd ? xv[((n * ch + k) * h + yy) * wd + xx] : 0.0;
    };
    return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) +
           ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1);
  };
  std::vector<double> out(y.numel());
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t o = 0; o < oc; ++o) {
      const int64_t g = o / opg;
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double sum = bias ? bv[o] : 0.0;
          for (int64_t ci = 0; ci < cpg; ++ci) {
            const int64_t k = g * cpg + ci, grp = k / cpog;
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t b = 0; b < kw; ++b) {
                const int64_t t = a * kw + b;
                const size_t o_at = static_cast<size_t>(
                    ((n * og * taps * 2 + (grp * taps + t) * 2) * oh + i) * ow + j);
                const double dy = ov[o_at], dx = ov[o_at + static_cast<size_t>(oh * ow)];
                const double py =
                    static_cast<double>(i * p.strides[0] - p.pads_begin[0] + a * p.dilations[0]) +
                    dy;
                const double px =
                    static_cast<double>(j * p.strides[1] - p.pads_begin[1] + b * p.dilations[1]) +
                    dx;
                double v = sample(n, k, py, px);
                if (mask)
                  v *=
                      mv[static_cast<size_t>(((n * og * taps + grp * taps + t) * oh + i) * ow + j)];
                sum += wv[static_cast<size_t>(((o * cpg + ci) * kh + a) * kw + b)] * v;
              }
          }
          out[static_cast<size_t>(((n * oc + o) * oh + i) * ow + j)] = sum;
        }
    }
  ref::from_doubles(y, out);
}

}  // namespace

void register_ref_deform_conv(KernelRegistry& r) {
  for (const char* op : {"DeformConv", "visionrt.DeformConv"})
    r.add_ref(
        op,
        [](const KernelQuery& q, std::string* why) {
          const DType t = q.input_types[0].dtype;
          if (t != DType::f32 && t != DType::f64 && t != DType::f16)
            return *why = "X must be a float tensor", false;
          return true;
        },
        deform_conv_kernel);
}

}  // namespace visionrt
