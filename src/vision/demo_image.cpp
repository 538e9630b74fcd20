// Renders the built-in demo image (see demo_image.hpp) with OpenCV's Hershey fonts; each
// line's box is measured from the pixels actually drawn, not from font metrics.
#include "vision/demo_image.hpp"

#include <opencv2/imgproc.hpp>

namespace visionrt {

cv::Mat render_text_demo(std::vector<RenderedLine>* lines) {
  const int w = 960, h = 640;
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(236, 240, 244));
  // A soft deterministic texture so the background is not perfectly flat.
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      cv::Vec3b& p = img.at<cv::Vec3b>(y, x);
      int d = ((x * 7 + y * 13) % 17) - 8;
      for (int k = 0; k < 3; ++k) p[k] = cv::saturate_cast<uint8_t>(p[k] + d / 2);
    }
  cv::rectangle(img, cv::Rect(0, 0, w, 70), cv::Scalar(120, 60, 20), cv::FILLED);
  struct Spec {
    const char* text;
    cv::Point org;
    int font;
    double scale;
    int thick;
    cv::Scalar color;
  };
  const Spec specs[] = {
      {"VISIONRT DEMO", {30, 52}, cv::FONT_HERSHEY_DUPLEX, 1.5, 2, {255, 255, 255}},
      {"Fast detection on ordinary CPUs",
       {40, 150},
       cv::FONT_HERSHEY_SIMPLEX,
       1.2,
       2,
       {30, 30, 30}},
      {"Invoice 2026-11-29  Total: 1,234.56 EUR",
       {40, 240},
       cv::FONT_HERSHEY_COMPLEX,
       1.0,
       2,
       {20, 20, 120}},
      {"Text boxes from a DB detector", {40, 330}, cv::FONT_HERSHEY_TRIPLEX, 1.1, 2, {90, 40, 20}},
      {"PP-OCRv4 det + visionrt runtime",
       {40, 420},
       cv::FONT_HERSHEY_SIMPLEX,
       1.0,
       2,
       {10, 90, 10}},
      {"STOP", {628, 557}, cv::FONT_HERSHEY_DUPLEX, 1.6, 4, {255, 255, 255}},
      {"small print: 8 px strokes are fine",
       {40, 540},
       cv::FONT_HERSHEY_PLAIN,
       1.6,
       1,
       {60, 60, 60}},
  };
  cv::circle(img, cv::Point(700, 540), 90, cv::Scalar(30, 30, 200), cv::FILLED, cv::LINE_AA);
  cv::rectangle(img, cv::Rect(840, 120, 80, 12), cv::Scalar(30, 30, 200), cv::FILLED);
  for (const Spec& s : specs) {
    cv::Mat canvas(h, w, CV_8UC1, cv::Scalar(0));
    cv::putText(canvas, s.text, s.org, s.font, s.scale, cv::Scalar(255), s.thick, cv::LINE_AA);
    cv::putText(img, s.text, s.org, s.font, s.scale, s.color, s.thick, cv::LINE_AA);
    std::vector<cv::Point> on;
    cv::findNonZero(canvas, on);
    if (lines) lines->push_back({s.text, cv::boundingRect(on)});
  }
  return img;
}

}  // namespace visionrt
