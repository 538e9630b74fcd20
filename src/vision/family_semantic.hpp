// Semantic segmentation (DeepLab, FCN, LRASPP, PaddleSeg): logits or labels to a label map over
// the original image.
#pragma once
#include <opencv2/core.hpp>

#include "vision/preprocess.hpp"

namespace visionrt {

// Logits [c, lh, lw] covering the network input: bilinear (half-pixel) to the original image
// through the letterbox/resize geometry, then argmax. Labels [lh, lw]: nearest.
cv::Mat semantic_from_logits(const float* logits, int64_t c, int64_t lh, int64_t lw,
                             const ImageGeometry& g);
cv::Mat semantic_from_labels(const int64_t* labels, int64_t lh, int64_t lw, const ImageGeometry& g);

}  // namespace visionrt
