// What the families' post-processing shares: detection candidates, Ultralytics-style NMS over
// them (geometry/nms underneath) and bilinear sampling weights as PyTorch's interpolate computes
// them. The rules per family live in family_*.hpp, each tested on hand-computed tensors.
#pragma once
#include <cstdint>
#include <vector>

#include "geometry/nms.hpp"

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

bool class_wanted(const std::vector<int>& classes, int c);
// Highest scores first, at most max_nms, NMS per class (or agnostic), at most max_det.
std::vector<Candidate> run_nms(std::vector<Candidate> cand, const NmsParams& p);

// Bilinear sample position `src` on an axis of `size` samples (PyTorch interpolate,
// align_corners=False: negative positions clamp to 0, the far neighbour to the last index):
// neighbours *i0, *i1 and the weight *f of *i1.
void axis_weights(double src, int size, int* i0, int* i1, float* f);

}  // namespace visionrt
