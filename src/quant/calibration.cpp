#include "quant/calibration.hpp"

#include <algorithm>
#include <cmath>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

bool parse_range_method(const std::string& s, RangeMethod* out) {
  if (s == "minmax") return *out = RangeMethod::minmax, true;
  if (s == "mean-minmax") return *out = RangeMethod::mean_minmax, true;
  if (s == "percentile") return *out = RangeMethod::percentile, true;
  return false;
}

RangeObserver::RangeObserver(RangeMethod method, double percentile)
    : method_(method), percentile_(percentile) {
  if (!(percentile > 50 && percentile <= 100))
    throw InputError(str_cat("percentile ", percentile, " must be in (50, 100]"));
}

void RangeObserver::observe(const std::string& name, const Tensor& t) {
  if (t.dtype() != DType::f32 || t.numel() == 0)
    throw InputError(str_cat("calibration tensor '", name, "' is not a non-empty f32 tensor"));
  const float* d = t.data<float>();
  const size_t n = t.numel();
  double lo, hi;
  if (method_ == RangeMethod::percentile) {
    std::vector<float> v(d, d + n);
    for (float x : v)
      if (!std::isfinite(x))
        throw InputError(str_cat("calibration tensor '", name, "' has NaN or Inf values"));
    auto at = [&](double q) {
      size_t k = static_cast<size_t>(std::llround(q / 100.0 * static_cast<double>(n - 1)));
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
      return static_cast<double>(v[k]);
    };
    hi = at(percentile_);
    lo = at(100.0 - percentile_);
  } else {
    float mn = d[0], mx = d[0];
    bool finite = true;
    for (size_t i = 0; i < n; ++i) {
      mn = std::min(mn, d[i]);
      mx = std::max(mx, d[i]);
      finite = finite && std::isfinite(d[i]);
    }
    if (!finite) throw InputError(str_cat("calibration tensor '", name, "' has NaN or Inf values"));
    lo = mn;
    hi = mx;
  }
  Acc& a = acc_[name];
  a.lo_min = a.n ? std::min(a.lo_min, lo) : lo;
  a.hi_max = a.n ? std::max(a.hi_max, hi) : hi;
  a.lo_sum += lo;
  a.hi_sum += hi;
  ++a.n;
}

size_t RangeObserver::images(const std::string& name) const {
  auto it = acc_.find(name);
  return it == acc_.end() ? 0 : it->second.n;
}

std::map<std::string, ActivationRange> RangeObserver::ranges() const {
  std::map<std::string, ActivationRange> r;
  for (const auto& [name, a] : acc_) {
    if (method_ == RangeMethod::minmax)
      r[name] = {static_cast<float>(a.lo_min), static_cast<float>(a.hi_max)};
    else
      r[name] = {static_cast<float>(a.lo_sum / static_cast<double>(a.n)),
                 static_cast<float>(a.hi_sum / static_cast<double>(a.n))};
  }
  return r;
}

}  // namespace visionrt
