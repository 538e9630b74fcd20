// DB text detection (PaddleOCR's detectors): probability map to text quadrilaterals.
#pragma once
#include <array>
#include <opencv2/core.hpp>
#include <vector>

namespace visionrt {

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
