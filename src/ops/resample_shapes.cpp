// Resize/Upsample output sizes (see resample_shapes.hpp).
#include "ops/resample_shapes.hpp"

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

}  // namespace visionrt
