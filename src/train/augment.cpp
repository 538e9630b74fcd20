// Mosaic and random affine augmentation (augment.hpp).
#include "train/augment.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/strings.hpp"
#include "data/image_io.hpp"
#include "geometry/rle.hpp"
#include "vision/preprocess.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

Labeled read_labeled(const Sample& s, bool masks) {
  Labeled l;
  l.bgr = read_image(s.path);
  l.boxes = s.labels;
  if (masks)
    for (const Rle& r : s.masks) {
      cv::Mat m = cv::Mat::zeros(l.bgr.rows, l.bgr.cols, CV_8UC1);
      if (static_cast<int>(r.h) == l.bgr.rows && static_cast<int>(r.w) == l.bgr.cols) {
        std::vector<uint8_t> dense = rle_decode(r);
        cv::Mat(m.rows, m.cols, CV_8UC1, dense.data()).copyTo(m);
      }
      l.masks.push_back(m);
    }
  return l;
}

namespace {

// Every box and mask through x' = a x + bx, y' = a y + by (a resize and a shift).
Labeled place(const Labeled& l, cv::Mat bgr, double a, double bx, double by, cv::Size mask_size) {
  Labeled r;
  r.bgr = std::move(bgr);
  for (const auto& b : l.boxes)
    r.boxes.push_back({b[0], static_cast<float>(b[1] * a + bx), static_cast<float>(b[2] * a + by),
                       static_cast<float>(b[3] * a + bx), static_cast<float>(b[4] * a + by)});
  const cv::Matx23d m(a, 0, bx, 0, a, by);
  for (const cv::Mat& k : l.masks) {
    cv::Mat o;
    cv::warpAffine(k, o, m, mask_size, cv::INTER_NEAREST, cv::BORDER_CONSTANT, 0);
    r.masks.push_back(o);
  }
  return r;
}

}  // namespace

Labeled resize_long_side(const Labeled& l, int size) {
  const double r = static_cast<double>(size) / std::max(l.bgr.cols, l.bgr.rows);
  if (r == 1) return l;
  const int w = std::min(size, static_cast<int>(std::ceil(l.bgr.cols * r)));
  const int h = std::min(size, static_cast<int>(std::ceil(l.bgr.rows * r)));
  cv::Mat out;
  cv::resize(l.bgr, out, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  return place(l, out, r, 0, 0, out.size());
}

Labeled letterbox(const Labeled& l, int size) {
  PreprocessConfig cfg;
  cfg.width = cfg.height = size;
  const ImageGeometry g = compute_geometry(cfg, l.bgr.cols, l.bgr.rows);
  cv::Mat resized, out;
  cv::resize(l.bgr, resized, cv::Size(g.new_w, g.new_h), 0, 0, cv::INTER_LINEAR);
  cv::copyMakeBorder(resized, out, g.top, g.bottom, g.left, g.right, cv::BORDER_CONSTANT,
                     cv::Scalar(114, 114, 114));
  Labeled r = place(l, out, g.gain_x, g.left, g.top, out.size());
  // gain_y may differ from gain_x by rounding: the boxes' y take the exact one.
  for (size_t i = 0; i < l.boxes.size(); ++i) {
    r.boxes[i][2] = static_cast<float>(l.boxes[i][2] * g.gain_y + g.top);
    r.boxes[i][4] = static_cast<float>(l.boxes[i][4] * g.gain_y + g.top);
  }
  return r;
}

Labeled mosaic4(const std::array<Labeled, 4>& images, int s, cv::Point c) {
  Labeled r;
  r.bgr = cv::Mat(2 * s, 2 * s, CV_8UC3, cv::Scalar(114, 114, 114));
  const int xc = c.x, yc = c.y;
  for (int i = 0; i < 4; ++i) {
    const Labeled& im = images[static_cast<size_t>(i)];
    const int w = im.bgr.cols, h = im.bgr.rows;
    int x1a, y1a, x2a, y2a, x1b, y1b, x2b, y2b;
    if (i == 0) {
      x1a = std::max(xc - w, 0), y1a = std::max(yc - h, 0), x2a = xc, y2a = yc;
      x1b = w - (x2a - x1a), y1b = h - (y2a - y1a), x2b = w, y2b = h;
    } else if (i == 1) {
      x1a = xc, y1a = std::max(yc - h, 0), x2a = std::min(xc + w, 2 * s), y2a = yc;
      x1b = 0, y1b = h - (y2a - y1a), x2b = std::min(w, x2a - x1a), y2b = h;
    } else if (i == 2) {
      x1a = std::max(xc - w, 0), y1a = yc, x2a = xc, y2a = std::min(2 * s, yc + h);
      x1b = w - (x2a - x1a), y1b = 0, x2b = w, y2b = std::min(y2a - y1a, h);
    } else {
      x1a = xc, y1a = yc, x2a = std::min(xc + w, 2 * s), y2a = std::min(2 * s, yc + h);
      x1b = 0, y1b = 0, x2b = std::min(w, x2a - x1a), y2b = std::min(y2a - y1a, h);
    }
    if (x2a <= x1a || y2a <= y1a) continue;
    im.bgr(cv::Rect(x1b, y1b, x2b - x1b, y2b - y1b))
        .copyTo(r.bgr(cv::Rect(x1a, y1a, x2a - x1a, y2a - y1a)));
    const int padw = x1a - x1b, padh = y1a - y1b;
    const cv::Rect region(x1a, y1a, x2a - x1a, y2a - y1a);
    for (size_t k = 0; k < im.boxes.size(); ++k) {
      const auto& b = im.boxes[k];
      // Ultralytics clips the mosaic's labels to the canvas (not to the quadrant).
      const float fs = static_cast<float>(2 * s);
      std::array<float, 5> o{b[0], std::clamp(b[1] + padw, 0.f, fs),
                             std::clamp(b[2] + padh, 0.f, fs), std::clamp(b[3] + padw, 0.f, fs),
                             std::clamp(b[4] + padh, 0.f, fs)};
      if (o[3] - o[1] <= 0 || o[4] - o[2] <= 0) continue;
      r.boxes.push_back(o);
      if (k < im.masks.size()) {
        cv::Mat m = cv::Mat::zeros(2 * s, 2 * s, CV_8UC1);
        im.masks[k](cv::Rect(x1b, y1b, x2b - x1b, y2b - y1b)).copyTo(m(region));
        r.masks.push_back(m);
      }
    }
  }
  return r;
}

Labeled warp_affine(const Labeled& l, int out, const cv::Matx23d& m, double gain) {
  Labeled r;
  cv::warpAffine(l.bgr, r.bgr, m, cv::Size(out, out), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                 cv::Scalar(114, 114, 114));
  const bool segments = !l.masks.empty();
  const double area_thr = segments ? 0.01 : 0.10;
  const float fo = static_cast<float>(out);
  for (size_t k = 0; k < l.boxes.size(); ++k) {
    const auto& b = l.boxes[k];
    float x1 = 1e30f, y1 = 1e30f, x2 = -1e30f, y2 = -1e30f;
    for (const auto& p :
         {std::array<float, 2>{b[1], b[2]}, {b[3], b[2]}, {b[1], b[4]}, {b[3], b[4]}}) {
      const float x = static_cast<float>(m(0, 0) * p[0] + m(0, 1) * p[1] + m(0, 2));
      const float y = static_cast<float>(m(1, 0) * p[0] + m(1, 1) * p[1] + m(1, 2));
      x1 = std::min(x1, x), x2 = std::max(x2, x), y1 = std::min(y1, y), y2 = std::max(y2, y);
    }
    cv::Mat mask;
    if (k < l.masks.size()) {
      cv::warpAffine(l.masks[k], mask, m, cv::Size(out, out), cv::INTER_NEAREST,
                     cv::BORDER_CONSTANT, 0);
      const cv::Rect bb = cv::boundingRect(mask);
      if (bb.area() > 0)  // the tighter box of the warped object, as from its polygon
        x1 = static_cast<float>(bb.x), y1 = static_cast<float>(bb.y),
        x2 = static_cast<float>(bb.x + bb.width), y2 = static_cast<float>(bb.y + bb.height);
    }
    x1 = std::clamp(x1, 0.f, fo), x2 = std::clamp(x2, 0.f, fo);
    y1 = std::clamp(y1, 0.f, fo), y2 = std::clamp(y2, 0.f, fo);
    // Ultralytics' box_candidates(wh_thr 2, ar_thr 100, area_thr).
    const double w1 = (b[3] - b[1]) * gain, h1 = (b[4] - b[2]) * gain;
    const double w2 = x2 - x1, h2 = y2 - y1;
    const double ar = std::max(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16));
    if (!(w2 > 2 && h2 > 2 && w2 * h2 / (w1 * h1 + 1e-16) > area_thr && ar < 100)) continue;
    r.boxes.push_back({b[0], x1, y1, x2, y2});
    if (!mask.empty()) r.masks.push_back(mask);
  }
  return r;
}

Labeled random_affine(const Labeled& l, int out, const AffineOptions& o, std::mt19937_64& rng) {
  auto uniform = [&](double a, double b) {
    return std::uniform_real_distribution<double>(a, b)(rng);
  };
  const double kPi = 3.14159265358979323846;
  cv::Matx33d c = cv::Matx33d::eye();
  c(0, 2) = -l.bgr.cols / 2.0;
  c(1, 2) = -l.bgr.rows / 2.0;
  const double angle = uniform(-o.degrees, o.degrees);
  const double gain = uniform(1 - o.scale, 1 + o.scale);
  const cv::Mat rot = cv::getRotationMatrix2D(cv::Point2f(0, 0), angle, gain);
  cv::Matx33d r = cv::Matx33d::eye();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) r(i, j) = rot.at<double>(i, j);
  cv::Matx33d sh = cv::Matx33d::eye();
  sh(0, 1) = std::tan(uniform(-o.shear, o.shear) * kPi / 180);
  sh(1, 0) = std::tan(uniform(-o.shear, o.shear) * kPi / 180);
  cv::Matx33d t = cv::Matx33d::eye();
  t(0, 2) = uniform(0.5 - o.translate, 0.5 + o.translate) * out;
  t(1, 2) = uniform(0.5 - o.translate, 0.5 + o.translate) * out;
  const cv::Matx33d m = t * sh * r * c;
  return warp_affine(l, out, cv::Matx23d(m(0, 0), m(0, 1), m(0, 2), m(1, 0), m(1, 1), m(1, 2)),
                     gain);
}

}  // namespace visionrt::train
