// A test image the project renders itself (README's demo and the text-detection tests): lines
// of printed text at several sizes, fonts and angles-free layouts on a light, slightly textured
// background, with the exact box of every line as ground truth.
#pragma once
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace visionrt {

struct RenderedLine {
  std::string text;
  cv::Rect box;  // tight box of the rendered glyphs, image pixels
};

cv::Mat render_text_demo(std::vector<RenderedLine>* lines);

}  // namespace visionrt
