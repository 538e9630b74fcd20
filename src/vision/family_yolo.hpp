// YOLOv8 / YOLOv5 (Ultralytics exports): box decoding with Ultralytics' non_max_suppression
// rules and instance masks from prototypes.
#pragma once
#include <opencv2/core.hpp>

#include "vision/postprocess.hpp"
#include "vision/preprocess.hpp"

namespace visionrt {

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

}  // namespace visionrt
