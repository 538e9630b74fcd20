// Calibration statistics for post-training quantization: the range of each activation tensor
// over the calibration images, by one of three rules (as NNCF/ORT name them):
//   minmax       the smallest and largest value seen over all images;
//   mean-minmax  the mean over images of each image's min and max (less sensitive to one
//                outlier image);
//   percentile   the mean over images of each image's p-th and (100-p)-th percentile (default
//                p = 99.99), which clips rare extreme activations.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "onnx/qdq_writer.hpp"
#include "visionrt/tensor.hpp"

namespace visionrt {

enum class RangeMethod { minmax, mean_minmax, percentile };
// "minmax", "mean-minmax", "percentile"; false for anything else.
bool parse_range_method(const std::string& s, RangeMethod* out);

class RangeObserver {
 public:
  explicit RangeObserver(RangeMethod method, double percentile = 99.99);
  // One calibration image's value of tensor `name` (f32). Throws InputError for NaN/Inf values
  // (a model or input problem that would make every scale meaningless).
  void observe(const std::string& name, const Tensor& t);
  size_t images(const std::string& name) const;
  std::map<std::string, ActivationRange> ranges() const;

 private:
  struct Acc {
    double lo_min = 0, hi_max = 0, lo_sum = 0, hi_sum = 0;
    size_t n = 0;
  };
  RangeMethod method_;
  double percentile_;
  std::map<std::string, Acc> acc_;
};

}  // namespace visionrt
