// Resize/Upsample output sizes (see resample_shapes.hpp).
#include "ops/resample_shapes.hpp"

#include <algorithm>
#include <cmath>

#include "common/strings.hpp"

namespace visionrt {

bool resize_plan(const Node& n, int64_t opset, const Shape& in, const Tensor* scales,
                 const Tensor* sizes, ResizePlan* plan, std::string* err) {
  size_t r = in.size();
  std::vector<int64_t> axes = opset >= 18 ? n.attr_is("axes") : std::vector<int64_t>{};
  if (axes.empty())
    for (size_t i = 0; i < r; ++i) axes.push_back(static_cast<int64_t>(i));
  for (auto& a : axes) {
    if (a < 0) a += static_cast<int64_t>(r);
    if (a < 0 || a >= static_cast<int64_t>(r)) {
      *err = "axes out of range";
      return false;
    }
  }
  plan->out = in;
  plan->scale.assign(r, 1.0);
  if (sizes && sizes->numel() > 0) {
    if (scales && scales->numel() > 0) {
      *err = "only one of scales and sizes may be given";
      return false;
    }
    if (sizes->numel() != axes.size()) {
      *err = str_cat("sizes has ", sizes->numel(), " values, expected ", axes.size());
      return false;
    }
    std::vector<int64_t> sz = sizes->to_i64_vector();
    std::string policy = opset >= 18 ? n.attr_s("keep_aspect_ratio_policy", "stretch") : "stretch";
    if (policy != "stretch") {
      double s = policy == "not_larger" ? 1e300 : 0;
      for (size_t i = 0; i < axes.size(); ++i) {
        double v = static_cast<double>(sz[i]) / static_cast<double>(in[axes[i]]);
        s = policy == "not_larger" ? std::min(s, v) : std::max(s, v);
      }
      for (size_t i = 0; i < axes.size(); ++i) {
        sz[i] = static_cast<int64_t>(std::round(s * static_cast<double>(in[axes[i]])));
        plan->scale[axes[i]] = s;
      }
    }
    for (size_t i = 0; i < axes.size(); ++i) {
      if (sz[i] <= 0) {
        *err = "sizes must be positive";
        return false;
      }
      plan->out[axes[i]] = sz[i];
      if (policy == "stretch")
        plan->scale[axes[i]] = static_cast<double>(sz[i]) / static_cast<double>(in[axes[i]]);
    }
    return true;
  }
  if (!scales || scales->numel() == 0) {
    *err = "neither scales nor sizes is given";
    return false;
  }
  if (scales->numel() != axes.size()) {
    *err = str_cat("scales has ", scales->numel(), " values, expected ", axes.size());
    return false;
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    double s = scales->at_f64(i);
    if (!(s > 0) || !std::isfinite(s)) {
      *err = "scales must be positive";
      return false;
    }
    plan->scale[axes[i]] = s;
    double o = std::floor(static_cast<double>(in[axes[i]]) * s);
    if (o > 1e9) {
      *err = "output size is too large";
      return false;
    }
    plan->out[axes[i]] = static_cast<int64_t>(o);
  }
  return true;
}

ResizeAttrs resize_attrs(const Node& n, int64_t opset) {
  ResizeAttrs a;
  a.mode = n.attr_s("mode", "nearest");
  if (a.mode == "bilinear") a.mode = "linear";
  a.legacy = n.op_type == "Upsample" || opset < 11;
  a.coord = a.legacy ? "asymmetric" : n.attr_s("coordinate_transformation_mode", "half_pixel");
  a.nearest = n.attr_s("nearest_mode", "round_prefer_floor");
  a.cubic_a = n.attr_f("cubic_coeff_a", -0.75f);
  a.exclude_outside = n.attr_i("exclude_outside", 0) != 0;
  a.extrapolation = n.attr_f("extrapolation_value", 0.0f);
  return a;
}

double reflect(double x, double lo, double hi) {
  double span = hi - lo;
  if (span <= 0) return lo;
  double d = std::fabs(x - lo);
  double flips = std::floor(d / span);
  double extra = d - flips * span;
  return static_cast<int64_t>(flips) % 2 == 0 ? lo + extra : hi - extra;
}

double cubic_weight(double t, double a) {  // |t| in [0, 2]
  t = std::fabs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

double to_original(const ResizeAttrs& a, double x, int64_t in, int64_t out, double s, size_t axis,
                   size_t rank, bool* outside) {
  *outside = false;
  const std::string& m = a.coord;
  // The resized length as the ONNX reference uses it: input * scale, not the floored output
  // size (they differ when scales, not sizes, were given).
  double len = static_cast<double>(in) * s;
  if (m == "half_pixel") return (x + 0.5) / s - 0.5;
  if (m == "half_pixel_symmetric") {
    // Opset 19: half_pixel, shifted so the sampled span is centred when the output length was
    // rounded (adjustment = integer output length / exact one).
    const double adjustment = static_cast<double>(out) / len;
    const double center = static_cast<double>(in) / 2;
    return center * (1 - adjustment) + (x + 0.5) / s - 0.5;
  }
  if (m == "pytorch_half_pixel") return len > 1 ? (x + 0.5) / s - 0.5 : 0.0;
  if (m == "align_corners") return len == 1 ? 0.0 : x * static_cast<double>(in - 1) / (len - 1);
  if (m == "asymmetric") return x / s;
  if (m == "tf_half_pixel_for_nearest" || m == "tf_half_pixel_for_nn") return (x + 0.5) / s;
  // tf_crop_and_resize
  double start = a.roi.size() == 2 * rank ? a.roi[axis] : 0,
         end = a.roi.size() == 2 * rank ? a.roi[axis + rank] : 1;
  double v = len > 1 ? start * static_cast<double>(in - 1) +
                           x * (end - start) * static_cast<double>(in - 1) / (len - 1)
                     : 0.5 * (start + end) * static_cast<double>(in - 1);
  if (v < 0 || v > static_cast<double>(in - 1)) *outside = true;
  return v;
}

int64_t nearest_index(const ResizeAttrs& a, double x, double scale) {
  if (a.legacy) return static_cast<int64_t>(scale < 1 ? std::ceil(x) : std::floor(x));
  const std::string& m = a.nearest;
  if (m == "floor") return static_cast<int64_t>(std::floor(x));
  if (m == "ceil") return static_cast<int64_t>(std::ceil(x));
  double f = std::floor(x);
  if (x - f == 0.5) return static_cast<int64_t>(m == "round_prefer_ceil" ? f + 1 : f);
  return static_cast<int64_t>(std::round(x));
}

std::vector<Tap> axis_taps(const ResizeAttrs& a, int64_t x, int64_t in, int64_t out, double s,
                           size_t axis, size_t rank, bool* outside) {
  double xo = to_original(a, static_cast<double>(x), in, out, s, axis, rank, outside);
  std::vector<Tap> taps;
  if (a.mode == "nearest") {
    int64_t i = std::clamp<int64_t>(nearest_index(a, xo, s), 0, in - 1);
    taps.push_back({i, 1.0});
  } else if (a.mode == "linear") {
    double xc = std::clamp(xo, 0.0, static_cast<double>(in - 1));
    int64_t x0 = static_cast<int64_t>(std::floor(xc));
    double t = xc - static_cast<double>(x0);
    taps.push_back({x0, 1 - t});
    if (t > 0) taps.push_back({std::min(x0 + 1, in - 1), t});
  } else {  // cubic
    int64_t x0 = static_cast<int64_t>(std::floor(xo));
    double t = xo - static_cast<double>(x0);
    double sum = 0;
    for (int64_t k = -1; k <= 2; ++k) {
      double w = cubic_weight(t - static_cast<double>(k), a.cubic_a);
      int64_t idx = x0 + k;
      if (idx < 0 || idx >= in) {
        if (a.exclude_outside) continue;
        idx = std::clamp<int64_t>(idx, 0, in - 1);
      }
      if (w != 0) taps.push_back({idx, w});
      sum += w;
    }
    if (a.exclude_outside && sum != 0)
      for (auto& tp : taps) tp.weight /= sum;
  }
  return taps;
}

}  // namespace visionrt
