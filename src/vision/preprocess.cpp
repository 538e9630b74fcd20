// Resize geometry and tensor fill (see preprocess.hpp).
#include "vision/preprocess.hpp"

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

namespace {
// Python 3's round(): halves to even. nearbyint rounds that way in the default FP mode.
int py_round(double v) { return static_cast<int>(std::nearbyint(v)); }
}  // namespace

ImageGeometry letterbox_geometry(int src_w, int src_h, int net_w, int net_h) {
  ImageGeometry g;
  g.src_w = src_w;
  g.src_h = src_h;
  g.net_w = net_w;
  g.net_h = net_h;
  double r = std::min(static_cast<double>(net_h) / src_h, static_cast<double>(net_w) / src_w);
  g.new_w = py_round(src_w * r);
  g.new_h = py_round(src_h * r);
  double dw = (net_w - g.new_w) / 2.0, dh = (net_h - g.new_h) / 2.0;
  g.top = py_round(dh - 0.1);
  g.bottom = py_round(dh + 0.1);
  g.left = py_round(dw - 0.1);
  g.right = py_round(dw + 0.1);
  g.gain_x = g.gain_y = r;
  return g;
}

ImageGeometry stretch_geometry(int src_w, int src_h, int net_w, int net_h) {
  ImageGeometry g;
  g.src_w = src_w;
  g.src_h = src_h;
  g.net_w = g.new_w = net_w;
  g.net_h = g.new_h = net_h;
  g.gain_x = static_cast<double>(net_w) / src_w;
  g.gain_y = static_cast<double>(net_h) / src_h;
  return g;
}

ImageGeometry multiple_geometry(int src_w, int src_h, int limit) {
  double ratio = 1.0;
  if (std::max(src_h, src_w) > limit) ratio = static_cast<double>(limit) / std::max(src_h, src_w);
  int rh = static_cast<int>(src_h * ratio), rw = static_cast<int>(src_w * ratio);
  rh = std::max(py_round(rh / 32.0) * 32, 32);
  rw = std::max(py_round(rw / 32.0) * 32, 32);
  return stretch_geometry(src_w, src_h, rw, rh);
}

ImageGeometry compute_geometry(const PreprocessConfig& cfg, int src_w, int src_h) {
  switch (cfg.resize) {
    case PreprocessConfig::Resize::letterbox:
      return letterbox_geometry(src_w, src_h, cfg.width, cfg.height);
    case PreprocessConfig::Resize::stretch:
      return stretch_geometry(src_w, src_h, cfg.width, cfg.height);
    case PreprocessConfig::Resize::multiple:
      return multiple_geometry(src_w, src_h, cfg.width);
  }
  return {};
}

Tensor make_input_tensor(const cv::Mat& image, const PreprocessConfig& cfg,
                         const ImageGeometry& g) {
  if (image.empty()) throw InputError("empty image");
  if (image.depth() != CV_8U)
    throw InputError(str_cat("image depth ", image.depth(), " is not 8-bit"));
  cv::Mat bgr;
  switch (image.channels()) {
    case 1:
      cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
      break;
    case 3:
      bgr = image;
      break;
    case 4:
      cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
      break;
    default:
      throw InputError(str_cat("image has ", image.channels(), " channels (1, 3 or 4 expected)"));
  }
  cv::Mat resized;
  if (g.new_w != bgr.cols || g.new_h != bgr.rows) {
    // Antialiased (area) shrinking where the family was trained that way; INTER_LINEAR as
    // Ultralytics otherwise.
    bool shrink = g.new_w < bgr.cols && g.new_h < bgr.rows;
    cv::resize(bgr, resized, cv::Size(g.new_w, g.new_h), 0, 0,
               cfg.antialias && shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  } else
    resized = bgr;
  if (g.left || g.top || g.right || g.bottom) {
    cv::Mat padded;
    cv::copyMakeBorder(resized, padded, g.top, g.bottom, g.left, g.right, cv::BORDER_CONSTANT,
                       cv::Scalar::all(cfg.pad_value));
    resized = padded;
  }
  if (resized.cols != g.net_w || resized.rows != g.net_h)
    throw InputError(str_cat("internal: resized image is ", resized.cols, "x", resized.rows,
                             ", expected ", g.net_w, "x", g.net_h));
  Tensor t = Tensor::zeros(DType::f32, {1, 3, g.net_h, g.net_w});
  float* out = t.data<float>();
  const size_t plane = static_cast<size_t>(g.net_h) * g.net_w;
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.f / cfg.std[c];
    shift[c] = -cfg.mean[c] / cfg.std[c];
  }
  for (int y = 0; y < g.net_h; ++y) {
    const uint8_t* row = resized.ptr<uint8_t>(y);
    for (int c = 0; c < 3; ++c) {
      int src_c = cfg.rgb ? 2 - c : c;  // OpenCV pixels are BGR
      float* dst = out + c * plane + static_cast<size_t>(y) * g.net_w;
      for (int x = 0; x < g.net_w; ++x) dst[x] = row[x * 3 + src_c] * scale[c] + shift[c];
    }
  }
  return t;
}

}  // namespace visionrt
