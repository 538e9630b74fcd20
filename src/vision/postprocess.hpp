// Tensor-level post-processing per model family, independent of images and models so each rule
// is tested on hand-computed tensors: YOLOv8/YOLOv5 decoding with Ultralytics'
// non_max_suppression rules, instance masks from prototypes, SSD prior boxes and variance
// decoding, semantic label maps, PaddleOCR's DB post-processing.
#pragma once
#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <vector>

#include "geometry/nms.hpp"
#include "vision/preprocess.hpp"

namespace visionrt {

struct Candidate {
  BoxXYXY box;  // network input pixels (YOLO) or normalized 0..1 (SSD)
  float score = 0;
  int32_t cls = 0;
  int32_t anchor = 0;  // column of the prediction (mask coefficients live there)
};

struct NmsParams {
  float conf = 0.25f;
  float iou = 0.7f;
  int64_t max_det = 300;
  bool agnostic = false;
  bool multi_label = false;      // every class above conf (Ultralytics val), not only the best
  std::vector<int> classes;      // keep only these (empty: all)
  int64_t max_nms = 30000;       // candidates kept (highest scores) before NMS
  int64_t per_class_topk = 200;  // SSD: candidates per class before NMS (0: all)
};

// YOLOv8 head [4 + nc + nm, n] (channel-major, xywh in input pixels, sigmoid scores) or, with
// v5_layout, YOLOv5's [n, 5 + nc + nm] (objectness; score = obj * cls; candidates need
// obj > conf). Ultralytics non_max_suppression: score > conf, class filter, top max_nms, NMS per
// class (or agnostic), max_det.
std::vector<Candidate> decode_yolo(const float* pred, int64_t n, int64_t nc, int64_t nm,
                                   bool v5_layout, const NmsParams& p);

// Instance mask of one detection from prototypes [nm, mh, mw] (network input pnet_w x net_h
// covered) and its coefficients (stride `coef_stride` apart). Ultralytics process_mask: logits
// cropped to the box at prototype resolution (zero outside), padding removed, bilinear
// (half-pixel) to the original image, > 0; or, with `retina`, process_mask_native: full logits
// upsampled first, then cropped to the box at native resolution. `box_src` is the box in
// original pixels, `box_net` in network pixels. Returns a 0/1 CV_8UC1 mask over *roi.
cv::Mat instance_mask(const float* protos, int64_t nm, int64_t mh, int64_t mw, const float* coefs,
                      int64_t coef_stride, const BoxXYXY& box_net, const BoxXYXY& box_src,
                      const ImageGeometry& g, bool retina, cv::Rect* roi);

// ---- SSD ----
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

// ---- Semantic segmentation ----
// Logits [c, lh, lw] covering the network input: bilinear (half-pixel) to the original image
// through the letterbox/resize geometry, then argmax. Labels [lh, lw]: nearest.
cv::Mat semantic_from_logits(const float* logits, int64_t c, int64_t lh, int64_t lw,
                             const ImageGeometry& g);
cv::Mat semantic_from_labels(const int64_t* labels, int64_t lh, int64_t lw, const ImageGeometry& g);

// ---- DB text detection (PaddleOCR DBPostProcess, box_type quad, score_mode fast) ----
struct DbParams {
  float thresh = 0.3f;
  float box_thresh = 0.6f;
  float unclip_ratio = 1.5f;
  int max_candidates = 1000;
  int min_size = 3;
};
struct TextBox {
  std::array<cv::Point2f, 4> pts;  // original image pixels, clockwise from top-left
  float score = 0;
};
// prob: [h, w] map at network resolution; boxes scaled to src_w x src_h. Reading order (top to
// bottom, then left to right within 10 px rows) as PaddleOCR's sorted_boxes.
std::vector<TextBox> db_boxes(const float* prob, int h, int w, int src_w, int src_h,
                              const DbParams& p);
// get_mini_boxes: the four corners of the minimum-area rectangle, ordered TL, TR, BR, BL as
// PaddleOCR orders them; *short_side gets the rectangle's shorter side.
std::array<cv::Point2f, 4> mini_box(const cv::RotatedRect& r, float* short_side);

}  // namespace visionrt
