// SSD: prior boxes (classic SSD300 and torchvision's SSDlite), variance decoding and per-class
// selection, or already-decoded boxes (TF Object Detection API exports).
#pragma once
#include <array>
#include <string>
#include <vector>

#include "vision/postprocess.hpp"

namespace visionrt {

// Prior boxes (cx, cy, w, h), normalized. Classic SSD (ssd.pytorch / Caffe PriorBox): per cell
// min size, sqrt(min*max), then each aspect ratio and its flip; clip clamps all four values.
struct SsdPriorConfig {
  int image_size = 300;
  std::vector<int> feature_maps{38, 19, 10, 5, 3, 1};
  std::vector<int> steps{8, 16, 32, 64, 100, 300};
  std::vector<float> min_sizes{30, 60, 111, 162, 213, 264};
  std::vector<float> max_sizes{60, 111, 162, 213, 264, 315};
  std::vector<std::vector<float>> aspect_ratios{{2}, {2, 3}, {2, 3}, {2, 3}, {2}, {2}};
  bool clip = true;
};
std::vector<std::array<float, 4>> ssd_priors(const SsdPriorConfig& c);
// torchvision's DefaultBoxGenerator (scales from min_ratio..max_ratio plus 1.0, steps=None,
// clip of w/h only) for the given grid sizes [h, w] on a square image.
std::vector<std::array<float, 4>> torchvision_default_boxes(
    const std::vector<std::vector<float>>& aspect_ratios, const std::vector<int>& grid_sizes,
    float min_ratio, float max_ratio, bool clip = true);

// The priors of a raw SSD head with `n` boxes on a `width`-wide square input: classic SSD300
// (8732 at 300) or torchvision's SSDlite (DefaultBoxGenerator([[2, 3]] * 6, 0.2, 0.95) on the
// stride-16/32 maps: 20, 10, 5, 3, 2, 1 for 320). ModelError when neither layout has `n` boxes.
std::vector<std::array<float, 4>> ssd_head_priors(int64_t n, int width, const std::string& path);

// Variance decoding: cx = p_cx + l0 * v0 * p_w, w = p_w * exp(l2 * v1) (torchvision's BoxCoder
// weights 10,10,5,5 are variances 0.1, 0.2, and it clamps l * v1 at log(1000/16)). `yx_order`:
// TF OD API encodings [ty, tx, th, tw] with priors [yc, xc, h, w]. Output normalized xyxy.
std::vector<BoxXYXY> decode_ssd_boxes(const float* loc,
                                      const std::vector<std::array<float, 4>>& priors, float v0,
                                      float v1, bool yx_order);

// Scores [n, c] (already probabilities) -> candidates of every non-background class above conf,
// at most per_class_topk per class, per-class NMS, at most max_det overall.
std::vector<Candidate> ssd_select(const std::vector<BoxXYXY>& boxes, const float* scores, int64_t n,
                                  int64_t c, int background, const NmsParams& p);
void softmax_rows(float* x, int64_t n, int64_t c);

}  // namespace visionrt
