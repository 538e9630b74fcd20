// Image -> input tensor: the resize rule of each model family (Ultralytics LetterBox exactly,
// stretch, PaddleOCR's multiple-of-32 resize) as a pure geometry computation, and the fill of an
// NCHW float tensor. ImageGeometry maps network coordinates back to the original image.
#pragma once
#include <opencv2/core.hpp>

#include "visionrt/tensor.hpp"
#include "visionrt/vision.hpp"

namespace visionrt {

struct ImageGeometry {
  int src_w = 0, src_h = 0;       // original image
  int net_w = 0, net_h = 0;       // network input
  int new_w = 0, new_h = 0;       // resized image inside the network input
  int left = 0, top = 0;          // padding before (letterbox)
  int right = 0, bottom = 0;      // padding after
  double gain_x = 1, gain_y = 1;  // network pixels per original pixel
  float to_src_x(float x) const { return static_cast<float>((x - left) / gain_x); }
  float to_src_y(float y) const { return static_cast<float>((y - top) / gain_y); }
};

// Ultralytics LetterBox(auto=False, scaleup=True, center=True): r = min(H/h, W/w); resized to
// (round(w r), round(h r)) with round-half-even as Python's round; padding split as
// round(d/2 - 0.1) before and round(d/2 + 0.1) after. Mapping back uses gain r and the padding
// before, as Ultralytics' scale_boxes does.
ImageGeometry letterbox_geometry(int src_w, int src_h, int net_w, int net_h);
ImageGeometry stretch_geometry(int src_w, int src_h, int net_w, int net_h);
// PaddleOCR DetResizeForTest, limit_type 'max': ratio = limit / max(h, w) if the longest side
// exceeds it; sides int(side * ratio), then rounded to a multiple of 32 (at least 32).
ImageGeometry multiple_geometry(int src_w, int src_h, int limit);

ImageGeometry compute_geometry(const PreprocessConfig& cfg, int src_w, int src_h);

// Converts an 8-bit image (1, 3 or 4 channels; BGR order as OpenCV reads) to the 1x3xHxW float
// tensor `cfg` describes. Throws InputError for an empty or non-8-bit image.
Tensor make_input_tensor(const cv::Mat& image, const PreprocessConfig& cfg,
                         const ImageGeometry& geo);

}  // namespace visionrt
