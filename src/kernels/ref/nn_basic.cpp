// Reference kernels for nn ops. Spatial ops treat 1-D/2-D/3-D alike as (D, H, W) with size-1
// leading dims; the inner loop runs over contiguous output columns so the reference is usable
// on real networks (it is the fallback for every shape the fast path declines).
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/ref/ref_util.hpp"
#include "ops/nn_shapes.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {
namespace {

// Spatial dims padded to 3 (D, H, W).
struct Geo {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1},
          d[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
};

Geo make_geo(const Shape& x, const Shape& y, const WindowParams& p) {
  Geo g;
  size_t nd = x.size() - 2, off = 3 - nd;
  for (size_t i = 0; i < nd; ++i) {
    g.in[off + i] = x[2 + i];
    g.out[off + i] = y[2 + i];
    g.k[off + i] = p.kernel[i];
    g.s[off + i] = p.strides[i];
    g.d[off + i] = p.dilations[i];
    g.pb[off + i] = p.pads_begin[i];
    g.pe[off + i] = p.pads_end[i];
  }
  return g;
}

// Output columns [lo, hi) for which input column ow*s - pb + kw*d lies inside [0, in).
void valid_range(int64_t in, int64_t out, int64_t s, int64_t pb, int64_t off, int64_t* lo,
                 int64_t* hi) {
  // need 0 <= ow*s - pb + off < in
  int64_t a = pb - off;  // ow*s >= a
  *lo = a <= 0 ? 0 : (a + s - 1) / s;
  int64_t b = in + pb - off;  // ow*s < b
  *hi = b <= 0 ? 0 : std::min(out, (b + s - 1) / s);
  if (*lo > *hi) *lo = *hi;
}

template <typename A>
void conv_core(const A* x, const A* w, const A* bias, A* y, int64_t n, int64_t cin, int64_t cout,
               int64_t group, const Geo& g, int threads = 1) {
  int64_t icg = cin / group, ocg = cout / group;
  int64_t in_sp = g.in[0] * g.in[1] * g.in[2], out_sp = g.out[0] * g.out[1] * g.out[2];
  int64_t ksz = g.k[0] * g.k[1] * g.k[2];
  // One (batch, output channel) plane per task: each plane is written by one thread only.
  parallel_for(n * cout, threads, [&](int64_t task) {
    int64_t b = task / cout, oc = task % cout;
    A* yo = y + (b * cout + oc) * out_sp;
    std::fill(yo, yo + out_sp, bias ? bias[oc] : A(0));
    int64_t grp = oc / ocg;
    for (int64_t ic = 0; ic < icg; ++ic) {
      const A* xi = x + (b * cin + grp * icg + ic) * in_sp;
      const A* wk = w + (oc * icg + ic) * ksz;
      for (int64_t kd = 0; kd < g.k[0]; ++kd)
        for (int64_t kh = 0; kh < g.k[1]; ++kh)
          for (int64_t kw = 0; kw < g.k[2]; ++kw) {
            A wv = wk[(kd * g.k[1] + kh) * g.k[2] + kw];
            if (wv == A(0)) continue;
            int64_t lo, hi;
            valid_range(g.in[2], g.out[2], g.s[2], g.pb[2], kw * g.d[2], &lo, &hi);
            for (int64_t od = 0; od < g.out[0]; ++od) {
              int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
              if (id < 0 || id >= g.in[0]) continue;
              for (int64_t oh = 0; oh < g.out[1]; ++oh) {
                int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
                if (ih < 0 || ih >= g.in[1]) continue;
                const A* xr = xi + (id * g.in[1] + ih) * g.in[2] - g.pb[2] + kw * g.d[2];
                A* yr = yo + (od * g.out[1] + oh) * g.out[2];
                const int64_t st = g.s[2];
                if (st == 1)
                  for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow];
                else
                  for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow * st];
              }
            }
          }
    }
  });
}

// Runs `fn` on f32 (or f64) copies of float inputs and stores the result in y's dtype.
template <typename F>
void with_compute_type(KernelContext& c, const std::vector<size_t>& in_idx, F&& fn) {
  DType t = c.output(0).dtype();
  DType ct = t == DType::f64 ? DType::f64 : DType::f32;
  std::vector<Tensor> ins;
  for (size_t i : in_idx) ins.push_back(c.has_input(i) ? c.input(i).cast(ct) : Tensor());
  Tensor out(ct, c.output(0).shape());
  if (ct == DType::f64)
    fn(ins, out, double{});
  else
    fn(ins, out, float{});
  if (ct == t)
    std::memcpy(c.output(0).raw(), out.raw(), out.nbytes());
  else {
    Tensor r = out.cast(t);
    std::memcpy(c.output(0).raw(), r.raw(), r.nbytes());
  }
}

// Window geometry and group of a Conv/ConvInteger node, checked against X and W.
WindowParams conv_setup(const KernelContext& c, int64_t* group) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  WindowParams p;
  std::string err;
  if (!conv_window(*c.node, x.shape(), Shape(w.shape().begin() + 2, w.shape().end()), false, &p,
                   &err))
    c.fail(err);
  *group = c.node->attr_i("group", 1);
  if (x.dim(1) != w.dim(1) * *group) c.fail("input channels do not match the weights");
  return p;
}

void conv_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  Tensor& y = c.output(0);
  int64_t group;
  WindowParams p = conv_setup(c, &group);
  if (c.has_input(2) && static_cast<int64_t>(c.input(2).numel()) != w.dim(0))
    c.fail("bias has the wrong size");
  Geo g = make_geo(x.shape(), y.shape(), p);
  with_compute_type(c, {0, 1, 2}, [&](std::vector<Tensor>& in, Tensor& out, auto tag) {
    using A = decltype(tag);
    conv_core<A>(in[0].data<A>(), in[1].data<A>(), in[2].empty() ? nullptr : in[2].data<A>(),
                 out.data<A>(), x.dim(0), x.dim(1), w.dim(0), group, g, c.num_threads);
  });
}

void conv_integer_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  Tensor& y = c.output(0);
  int64_t group;
  WindowParams p = conv_setup(c, &group);
  // Integers minus zero points, convolved exactly in double.
  double xz = c.has_input(2) ? c.input(2).at_f64(0) : 0;
  Tensor xd(DType::f64, x.shape()), wd(DType::f64, w.shape()), yd(DType::f64, y.shape());
  for (size_t i = 0; i < x.numel(); ++i) xd.data<double>()[i] = x.at_f64(i) - xz;
  int64_t per_oc = static_cast<int64_t>(w.numel()) / std::max<int64_t>(1, w.dim(0));
  for (size_t i = 0; i < w.numel(); ++i) {
    double wz = 0;
    if (c.has_input(3)) {
      const Tensor& z = c.input(3);
      wz = z.at_f64(z.numel() == 1 ? 0 : static_cast<size_t>(static_cast<int64_t>(i) / per_oc));
    }
    wd.data<double>()[i] = w.at_f64(i) - wz;
  }
  conv_core<double>(xd.data<double>(), wd.data<double>(), nullptr, yd.data<double>(), x.dim(0),
                    x.dim(1), w.dim(0), group, make_geo(x.shape(), y.shape(), p));
  for (size_t i = 0; i < y.numel(); ++i)
    y.data<int32_t>()[i] = static_cast<int32_t>(yd.data<double>()[i]);
}

void conv_transpose_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  Tensor& y = c.output(0);
  WindowParams p;
  std::string err;
  if (!conv_transpose_window(*c.node, x.shape(), Shape(w.shape().begin() + 2, w.shape().end()), &p,
                             &err))
    c.fail(err);
  int64_t group = c.node->attr_i("group", 1);
  if (x.dim(1) != w.dim(0)) c.fail("input channels do not match the weights");
  Geo g = make_geo(x.shape(), y.shape(), p);
  int64_t n = x.dim(0), cin = x.dim(1), cout = y.dim(1), icg = cin / group, ocg = cout / group;
  int64_t in_sp = g.in[0] * g.in[1] * g.in[2], out_sp = g.out[0] * g.out[1] * g.out[2];
  int64_t ksz = g.k[0] * g.k[1] * g.k[2];
  with_compute_type(c, {0, 1, 2}, [&](std::vector<Tensor>& in, Tensor& out, auto tag) {
    using A = decltype(tag);
    const A* xd = in[0].data<A>();
    const A* wd = in[1].data<A>();
    A* yd = out.data<A>();
    for (int64_t b = 0; b < n; ++b)
      for (int64_t oc = 0; oc < cout; ++oc) {
        A* yo = yd + (b * cout + oc) * out_sp;
        std::fill(yo, yo + out_sp, in[2].empty() ? A(0) : in[2].data<A>()[oc]);
        int64_t grp = oc / ocg, ocl = oc % ocg;
        for (int64_t icl = 0; icl < icg; ++icl) {
          int64_t ic = grp * icg + icl;
          const A* xi = xd + (b * cin + ic) * in_sp;
          const A* wk = wd + (ic * ocg + ocl) * ksz;
          for (int64_t id = 0; id < g.in[0]; ++id)
            for (int64_t ih = 0; ih < g.in[1]; ++ih)
              for (int64_t iw = 0; iw < g.in[2]; ++iw) {
                A xv = xi[(id * g.in[1] + ih) * g.in[2] + iw];
                for (int64_t kd = 0; kd < g.k[0]; ++kd) {
                  int64_t od = id * g.s[0] - g.pb[0] + kd * g.d[0];
                  if (od < 0 || od >= g.out[0]) continue;
                  for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                    int64_t oh = ih * g.s[1] - g.pb[1] + kh * g.d[1];
                    if (oh < 0 || oh >= g.out[1]) continue;
                    for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                      int64_t ow = iw * g.s[2] - g.pb[2] + kw * g.d[2];
                      if (ow < 0 || ow >= g.out[2]) continue;
                      yo[(od * g.out[1] + oh) * g.out[2] + ow] +=
                          xv * wk[(kd * g.k[1] + kh) * g.k[2] + kw];
                    }
                  }
                }
              }
        }
      }
  });
}

void pool_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  const std::string& op = c.node->op_type;
  WindowParams p;
  std::string err;
  if (!conv_window(*c.node, x.shape(), c.node->attr_is("kernel_shape"), true, &p, &err))
    c.fail(err);
  Geo g = make_geo(x.shape(), y.shape(), p);
  bool include_pad = c.node->attr_i("count_include_pad", 0) != 0;
  double lp = static_cast<double>(c.node->attr_i("p", 2));
  bool col_major = c.node->attr_i("storage_order", 0) != 0;
  bool want_idx = op == "MaxPool" && c.num_outputs() > 1 && !c.output(1).empty();
  int64_t planes = x.dim(0) * x.dim(1);
  int64_t in_sp = g.in[0] * g.in[1] * g.in[2], out_sp = g.out[0] * g.out[1] * g.out[2];
  std::vector<double> xv(x.numel());
  for (size_t i = 0; i < x.numel(); ++i) xv[i] = x.at_f64(i);
  std::vector<double> out(y.numel());
  std::vector<int64_t> idx(want_idx ? y.numel() : 0);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t od = 0; od < g.out[0]; ++od)
      for (int64_t oh = 0; oh < g.out[1]; ++oh)
        for (int64_t ow = 0; ow < g.out[2]; ++ow) {
          double acc = op == "MaxPool" ? -std::numeric_limits<double>::infinity() : 0;
          int64_t best = -1, count = 0, padded = 0;
          for (int64_t kd = 0; kd < g.k[0]; ++kd)
            for (int64_t kh = 0; kh < g.k[1]; ++kh)
              for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
                int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
                int64_t iw = ow * g.s[2] - g.pb[2] + kw * g.d[2];
                // Positions inside input+pads count for count_include_pad.
                if (id >= -g.pb[0] && id < g.in[0] + g.pe[0] && ih >= -g.pb[1] &&
                    ih < g.in[1] + g.pe[1] && iw >= -g.pb[2] && iw < g.in[2] + g.pe[2])
                  ++padded;
                if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || iw < 0 || iw >= g.in[2])
                  continue;
                int64_t off = (id * g.in[1] + ih) * g.in[2] + iw;
                double v = xv[static_cast<size_t>(pl * in_sp + off)];
                ++count;
                if (op == "MaxPool") {
                  if (v > acc || best < 0) {
                    acc = v;
                    best = col_major ? (iw * g.in[1] + ih) * g.in[0] + id : off;
                  }
                } else if (op == "LpPool") {
                  acc += std::pow(std::fabs(v), lp);
                } else {
                  acc += v;
                }
              }
          size_t o = static_cast<size_t>(pl * out_sp + (od * g.out[1] + oh) * g.out[2] + ow);
          if (op == "AveragePool")
            acc = acc / static_cast<double>(std::max<int64_t>(1, include_pad ? padded : count));
          if (op == "LpPool") acc = std::pow(acc, 1.0 / lp);
          out[o] = acc;
          if (want_idx) idx[o] = pl * in_sp + std::max<int64_t>(best, 0);
        }
  ref::dispatch_numeric(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = y.data<T>();
    for (size_t i = 0; i < out.size(); ++i) o[i] = ref::store<T>(out[i]);
  });
  if (want_idx) std::memcpy(c.output(1).raw(), idx.data(), idx.size() * sizeof(int64_t));
}

void global_pool_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  const std::string& op = c.node->op_type;
  int64_t planes = x.dim(0) * x.dim(1);
  int64_t sp = planes ? static_cast<int64_t>(x.numel()) / planes : 0;
  double lp = static_cast<double>(c.node->attr_i("p", 2));
  ref::dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = x.data<T>();
    T* o = y.data<T>();
    for (int64_t pl = 0; pl < planes; ++pl) {
      double acc = op == "GlobalMaxPool" ? -std::numeric_limits<double>::infinity() : 0;
      for (int64_t i = 0; i < sp; ++i) {
        double v = static_cast<double>(ref::load(a[pl * sp + i]));
        if (op == "GlobalMaxPool")
          acc = std::max(acc, v);
        else if (op == "GlobalLpPool")
          acc += std::pow(std::fabs(v), lp);
        else
          acc += v;
      }
      if (op == "GlobalAveragePool") acc /= static_cast<double>(std::max<int64_t>(1, sp));
      if (op == "GlobalLpPool") acc = std::pow(acc, 1.0 / lp);
      o[pl] = ref::store<T>(acc);
    }
  });
}

void batchnorm_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t ch = x.rank() > 1 ? x.dim(1) : 1;
  for (size_t i = 1; i <= 4; ++i)
    if (static_cast<int64_t>(c.input(i).numel()) != ch)
      c.fail("scale/B/mean/var must have one value per channel");
  double eps = c.node->attr_f("epsilon", 1e-5f);
  auto s = ref::to_doubles(c.input(1)), b = ref::to_doubles(c.input(2)),
       m = ref::to_doubles(c.input(3)), v = ref::to_doubles(c.input(4));
  auto xv = ref::to_doubles(x);
  int64_t sp = 1;
  for (size_t d = 2; d < x.rank(); ++d) sp *= x.dim(d);
  for (size_t i = 0; i < xv.size(); ++i) {
    int64_t k = (static_cast<int64_t>(i) / sp) % ch;
    xv[i] = (xv[i] - m[k]) / std::sqrt(v[k] + eps) * s[k] + b[k];
  }
  ref::from_doubles(c.output(0), xv);
}

bool batchnorm_accepts(const KernelQuery& q, std::string* why) {
  if (q.node->attr_i("training_mode", 0) != 0 || q.node->attr_i("is_test", 1) == 0) {
    *why = "training mode is not supported (inference only)";
    return false;
  }
  return true;
}

void instancenorm_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t n = x.dim(0), ch = x.dim(1), sp = 1;
  for (size_t d = 2; d < x.rank(); ++d) sp *= x.dim(d);
  double eps = c.node->attr_f("epsilon", 1e-5f);
  auto s = ref::to_doubles(c.input(1)), b = ref::to_doubles(c.input(2)), xv = ref::to_doubles(x);
  if (static_cast<int64_t>(s.size()) != ch || static_cast<int64_t>(b.size()) != ch)
    c.fail("scale/B size mismatch");
  for (int64_t p = 0; p < n * ch; ++p) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < sp; ++i) mean += xv[p * sp + i];
    mean /= static_cast<double>(std::max<int64_t>(1, sp));
    for (int64_t i = 0; i < sp; ++i) var += (xv[p * sp + i] - mean) * (xv[p * sp + i] - mean);
    var /= static_cast<double>(std::max<int64_t>(1, sp));
    for (int64_t i = 0; i < sp; ++i)
      xv[p * sp + i] = (xv[p * sp + i] - mean) / std::sqrt(var + eps) * s[p % ch] + b[p % ch];
  }
  ref::from_doubles(c.output(0), xv);
}

void layernorm_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", -1), r);
  int64_t outer = 1, inner = 1;
  outer = ref::outer_size(x.shape(), axis);
  for (int64_t d = axis; d < r; ++d) inner *= x.dim(d);
  double eps = c.node->attr_f("epsilon", 1e-5f);
  auto xv = ref::to_doubles(x), s = ref::to_doubles(c.input(1));
  std::vector<double> b = c.has_input(2) ? ref::to_doubles(c.input(2)) : std::vector<double>();
  // Scale and bias broadcast unidirectionally over the normalized dims.
  Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  auto sst = ref::broadcast_strides(c.input(1).shape(), norm_shape);
  std::vector<int64_t> bst =
      c.has_input(2) ? ref::broadcast_strides(c.input(2).shape(), norm_shape) : sst;
  std::vector<double> mean(static_cast<size_t>(outer)), inv(static_cast<size_t>(outer));
  for (int64_t o = 0; o < outer; ++o) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < inner; ++i) m += xv[o * inner + i];
    m /= static_cast<double>(std::max<int64_t>(1, inner));
    for (int64_t i = 0; i < inner; ++i) v += (xv[o * inner + i] - m) * (xv[o * inner + i] - m);
    v /= static_cast<double>(std::max<int64_t>(1, inner));
    mean[o] = m;
    inv[o] = 1.0 / std::sqrt(v + eps);
    ref::MultiIndex it(norm_shape, {sst, bst});
    for (int64_t i = 0; i < inner; ++i, it.next()) {
      double& e = xv[o * inner + i];
      e = (e - m) * inv[o] * s[it.offset(0)] + (b.empty() ? 0 : b[it.offset(1)]);
    }
  }
  ref::from_doubles(c.output(0), xv);
  if (c.num_outputs() > 1 && !c.output(1).empty()) ref::from_doubles(c.output(1), mean);
  if (c.num_outputs() > 2 && !c.output(2).empty()) ref::from_doubles(c.output(2), inv);
}

void mvn_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> axes = c.node->attr_is("axes", {0, 2, 3});
  int64_t r = static_cast<int64_t>(x.rank());
  std::vector<bool> red(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    a = ref::norm_axis(a, r);
    if (a < 0 || a >= r) c.fail("axis out of range");
    red[a] = true;
  }
  // Group elements by their non-reduced coordinates.
  Shape kept = x.shape();
  for (int64_t d = 0; d < r; ++d)
    if (red[d]) kept[d] = 1;
  auto ks = ref::strides_of(kept);
  std::vector<int64_t> map_st(static_cast<size_t>(r));
  for (int64_t d = 0; d < r; ++d) map_st[d] = red[d] ? 0 : ks[d];
  auto xv = ref::to_doubles(x);
  size_t groups = shape_numel(kept);
  std::vector<double> sum(groups, 0), sq(groups, 0), cnt(groups, 0);
  ref::MultiIndex it(x.shape(), {map_st});
  for (size_t i = 0; i < xv.size(); ++i, it.next()) {
    sum[it.offset(0)] += xv[i];
    cnt[it.offset(0)] += 1;
  }
  ref::MultiIndex it2(x.shape(), {map_st});
  for (size_t i = 0; i < xv.size(); ++i, it2.next()) {
    double m = sum[it2.offset(0)] / cnt[it2.offset(0)];
    sq[it2.offset(0)] += (xv[i] - m) * (xv[i] - m);
  }
  ref::MultiIndex it3(x.shape(), {map_st});
  for (size_t i = 0; i < xv.size(); ++i, it3.next()) {
    size_t g = static_cast<size_t>(it3.offset(0));
    double m = sum[g] / cnt[g];
    xv[i] = (xv[i] - m) / (std::sqrt(sq[g] / cnt[g]) + 1e-9);
  }
  ref::from_doubles(c.output(0), xv);
}

void lrn_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t size = c.node->attr_i("size", 0);
  if (size <= 0) c.fail("size must be positive");
  double alpha = c.node->attr_f("alpha", 1e-4f), beta = c.node->attr_f("beta", 0.75f),
         bias = c.node->attr_f("bias", 1.0f);
  int64_t n = x.dim(0), ch = x.dim(1), sp = 1;
  for (size_t d = 2; d < x.rank(); ++d) sp *= x.dim(d);
  auto xv = ref::to_doubles(x);
  std::vector<double> out(xv.size());
  int64_t lo_off = (size - 1) / 2, hi_off = size - 1 - lo_off;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < ch; ++k)
      for (int64_t i = 0; i < sp; ++i) {
        double sq = 0;
        for (int64_t j = std::max<int64_t>(0, k - lo_off); j <= std::min(ch - 1, k + hi_off); ++j) {
          double v = xv[(b * ch + j) * sp + i];
          sq += v * v;
        }
        size_t o = static_cast<size_t>((b * ch + k) * sp + i);
        out[o] = xv[o] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta);
      }
  ref::from_doubles(c.output(0), out);
}

void softmax_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const std::string& op = c.node->op_type;
  int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", c.opset >= 13 ? -1 : 1), r);
  if (axis < 0 || axis >= std::max<int64_t>(r, 1)) c.fail("axis out of range");
  int64_t outer = 1, n = 1, inner = 1;
  if (c.opset < 13) {  // coerce to 2-D [prod(dims < axis), prod(dims >= axis)]
    outer = ref::outer_size(x.shape(), axis);
    for (int64_t d = axis; d < r; ++d) n *= x.dim(d);
  } else {
    outer = ref::outer_size(x.shape(), axis);
    n = r ? x.dim(axis) : 1;
    inner = ref::inner_size(x.shape(), axis);
  }
  auto xv = ref::to_doubles(x);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) -> double& { return xv[(o * n + k) * inner + i]; };
      double mx = -std::numeric_limits<double>::infinity();
      int64_t arg = 0;
      for (int64_t k = 0; k < n; ++k)
        if (at(k) > mx) {
          mx = at(k);
          arg = k;
        }
      if (op == "Hardmax") {
        for (int64_t k = 0; k < n; ++k) at(k) = k == arg ? 1 : 0;
        continue;
      }
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(at(k) - mx);
      for (int64_t k = 0; k < n; ++k)
        at(k) = op == "Softmax" ? std::exp(at(k) - mx) / sum : at(k) - mx - std::log(sum);
    }
  ref::from_doubles(c.output(0), xv);
}

// Batched matmul over broadcast batch dims; a and b already promoted to rank >= 2.
template <typename A>
void matmul_core(const Tensor& a, const Tensor& b, Tensor& y,
                 const std::function<A(const Tensor&, size_t)>& get_a,
                 const std::function<A(const Tensor&, size_t)>& get_b, std::vector<A>* out) {
  Shape as = a.shape(), bs = b.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  Shape batch;
  broadcast_shapes(Shape(as.begin(), as.end() - 2), Shape(bs.begin(), bs.end() - 2), &batch);
  auto ast = ref::broadcast_strides(Shape(as.begin(), as.end() - 2), batch);
  auto bst = ref::broadcast_strides(Shape(bs.begin(), bs.end() - 2), batch);
  size_t nb = shape_numel(batch);
  out->assign(nb * static_cast<size_t>(m * n), A(0));
  std::vector<A> arow(static_cast<size_t>(k)), bmat(static_cast<size_t>(k * n));
  ref::MultiIndex it(batch, {ast, bst});
  for (size_t bi = 0; bi < nb; ++bi, it.next()) {
    int64_t aoff = it.offset(0) * m * k, boff = it.offset(1) * k * n;
    for (int64_t t = 0; t < k * n; ++t) bmat[t] = get_b(b, static_cast<size_t>(boff + t));
    for (int64_t i = 0; i < m; ++i) {
      A* yr = out->data() + bi * static_cast<size_t>(m * n) + i * n;
      for (int64_t p = 0; p < k; ++p) {
        A av = get_a(a, static_cast<size_t>(aoff + i * k + p));
        const A* br = bmat.data() + p * n;
        for (int64_t j = 0; j < n; ++j) yr[j] += av * br[j];
      }
    }
  }
  (void)y;
}

void matmul_kernel(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  Tensor& y = c.output(0);
  if (dtype_is_float(y.dtype())) {
    with_compute_type(c, {0, 1}, [&](std::vector<Tensor>& in, Tensor& out, auto tag) {
      using A = decltype(tag);
      std::vector<A> res;
      auto get = [](const Tensor& t, size_t i) { return t.data<A>()[i]; };
      matmul_core<A>(in[0], in[1], out, get, get, &res);
      if (!res.empty()) std::memcpy(out.raw(), res.data(), res.size() * sizeof(A));
    });
    return;
  }
  std::vector<double> res;
  auto get = [](const Tensor& t, size_t i) { return t.at_f64(i); };
  matmul_core<double>(a, b, y, get, get, &res);
  ref::from_doubles(y, res);
}

void matmul_integer_kernel(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  Tensor& y = c.output(0);
  int64_t kdim = a.dim(a.rank() - 1), ncol = b.dim(b.rank() - 1);
  auto za = [&](size_t i) {
    if (!c.has_input(2)) return 0.0;
    const Tensor& z = c.input(2);
    return z.at_f64(
        z.numel() == 1 ? 0 : static_cast<size_t>(static_cast<int64_t>(i) / kdim) % z.numel());
  };
  auto zb = [&](size_t i) {
    if (!c.has_input(3)) return 0.0;
    const Tensor& z = c.input(3);
    return z.at_f64(z.numel() == 1 ? 0 : static_cast<size_t>(static_cast<int64_t>(i) % ncol));
  };
  std::vector<double> res;
  matmul_core<double>(
      a, b, y, [&](const Tensor& t, size_t i) { return t.at_f64(i) - za(i); },
      [&](const Tensor& t, size_t i) { return t.at_f64(i) - zb(i); }, &res);
  for (size_t i = 0; i < res.size(); ++i) y.data<int32_t>()[i] = static_cast<int32_t>(res[i]);
}

void gemm_kernel(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  Tensor& y = c.output(0);
  bool ta = c.node->attr_i("transA", 0) != 0, tb = c.node->attr_i("transB", 0) != 0;
  double alpha = c.node->attr_f("alpha", 1.0f), beta = c.node->attr_f("beta", 1.0f);
  int64_t m = y.dim(0), n = y.dim(1), k = ta ? a.dim(0) : a.dim(1);
  std::vector<double> av = ref::to_doubles(a), bv = ref::to_doubles(b),
                      out(static_cast<size_t>(m * n), 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      double x = av[ta ? p * m + i : i * k + p];
      for (int64_t j = 0; j < n; ++j) out[i * n + j] += x * bv[tb ? j * k + p : p * n + j];
    }
  for (auto& v : out) v *= alpha;
  if (c.has_input(2)) {
    const Tensor& cc = c.input(2);
    Shape tmp;
    if (!broadcast_shapes(cc.shape(), y.shape(), &tmp) || tmp != y.shape())
      c.fail("C does not broadcast to [M, N]");
    ref::MultiIndex it(y.shape(), {ref::broadcast_strides(cc.shape(), y.shape())});
    for (size_t i = 0; i < out.size(); ++i, it.next())
      out[i] += beta * cc.at_f64(static_cast<size_t>(it.offset(0)));
  }
  ref::from_doubles(y, out);
}

}  // namespace

void register_ref_nn_basic(KernelRegistry& r) {
  r.add_ref("Conv", conv_kernel);
  r.add_ref("ConvInteger", conv_integer_kernel);
  r.add_ref("ConvTranspose", conv_transpose_kernel);
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) r.add_ref(op, pool_kernel);
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
    r.add_ref(op, global_pool_kernel);
  r.add_ref("BatchNormalization", batchnorm_accepts, batchnorm_kernel);
  r.add_ref("InstanceNormalization", instancenorm_kernel);
  r.add_ref("LayerNormalization", layernorm_kernel);
  r.add_ref("MeanVarianceNormalization", mvn_kernel);
  r.add_ref("LRN", lrn_kernel);
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) r.add_ref(op, softmax_kernel);
  r.add_ref("MatMul", matmul_kernel);
  r.add_ref("MatMulInteger", matmul_integer_kernel);
  r.add_ref("Gemm", gemm_kernel);
}

}  // namespace visionrt
