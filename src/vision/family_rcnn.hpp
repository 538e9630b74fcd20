// End-to-end detectors whose graph ends in their own post-processing (NMS inside the model):
// torchvision's Faster/Mask R-CNN, RetinaNet, FCOS and SSD exports (boxes [N,4], labels [N],
// scores [N], masks [N,1,H,W] probabilities pasted at input resolution) and mmdeploy's end2end
// layout (dets [1,N,5] = box + score, labels [1,N], masks [1,N,h,w] at input resolution or per
// RoI). Boxes are in network-input pixels.
#pragma once
#include <opencv2/core.hpp>

#include "vision/postprocess.hpp"
#include "vision/preprocess.hpp"

namespace visionrt {

// A soft mask > 0.5 over the original image, sampled bilinearly (pixel centres, PyTorch's
// align_corners=False) within `*roi` (clamped to the image), which the caller sets to the
// region the mask may cover. `mask` is [mh, mw]: with `box_net` null it covers the network input
// (mh x mw spans net_h x net_w); otherwise it covers that box in network pixels, pasted as
// mmdetection's _do_paste_mask does (grid_sample, zeros outside).
cv::Mat paste_soft_mask(const float* mask, int64_t mh, int64_t mw, const ImageGeometry& g,
                        const BoxXYXY* box_net, cv::Rect* roi);

// torchvision's COCO_V1 categories (index = label, "__background__" at 0, "N/A" for the gaps):
// the labels its COCO detectors emit.
const std::vector<std::string>& torchvision_coco_names();

}  // namespace visionrt
