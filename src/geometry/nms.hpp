// Greedy non-maximum suppression: the one implementation behind ONNX NonMaxSuppression, the
// YOLO/SSD/text post-processing and anything else that suppresses boxes. Semantics of
// torchvision.ops.nms / batched_nms and ONNX NonMaxSuppression: candidates sorted once by score,
// highest first, equal scores keep the lower index first (stable); a box is dropped when its IoU
// with an already kept box of the same class is strictly greater than the threshold; IoU of
// boxes with zero area is 0. Stops as soon as max_keep boxes are kept.
#pragma once
#include <cstdint>
#include <vector>

namespace visionrt {

struct BoxXYXY {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float area() const { return (x2 - x1) * (y2 - y1); }
};

// IoU in float as torchvision computes it: inter / (area_a + area_b - inter); 0 when either box
// has no area.
float box_iou_xyxy(const BoxXYXY& a, const BoxXYXY& b);

// boxes and scores have n entries; classes is empty (class-agnostic) or has n entries
// (suppression only within a class). max_keep < 0 means no limit. Returns the kept indices,
// highest score first.
std::vector<int32_t> nms(const std::vector<BoxXYXY>& boxes, const std::vector<float>& scores,
                         const std::vector<int32_t>& classes, float iou_threshold,
                         int64_t max_keep = -1);

}  // namespace visionrt
