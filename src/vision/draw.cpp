// Rendering of predictions: Ultralytics' 20-colour palette for instances, the Pascal VOC
// colour map for label maps (with a legend of the classes present), line width and font scale
// from the image size (Ultralytics: lw = max(round((h + w) / 2 * 0.003), 2)).
#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "visionrt/vision.hpp"

namespace visionrt {

namespace {

cv::Scalar instance_color(int i) {
  static const uint32_t kHex[] = {0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231,
                                  0x48F90A, 0x92CC17, 0x3DDB86, 0x1A9334, 0x00D4BB,
                                  0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF, 0x0018EC,
                                  0x8438FF, 0x520085, 0xCB38FF, 0xFF95C8, 0xFF37C7};
  uint32_t h = kHex[((i % 20) + 20) % 20];
  return cv::Scalar(h & 0xFF, (h >> 8) & 0xFF, (h >> 16) & 0xFF);  // BGR
}

// Pascal VOC colour map (bit-interleaved class index), as the VOC devkit's labelcolormap.
cv::Vec3b voc_color(int label) {
  int r = 0, g = 0, b = 0, c = label;
  for (int j = 0; j < 8; ++j) {
    r |= ((c >> 0) & 1) << (7 - j);
    g |= ((c >> 1) & 1) << (7 - j);
    b |= ((c >> 2) & 1) << (7 - j);
    c >>= 3;
  }
  return cv::Vec3b(static_cast<uint8_t>(b), static_cast<uint8_t>(g), static_cast<uint8_t>(r));
}

void label_box(cv::Mat& img, cv::Point at, const std::string& text, const cv::Scalar& color,
               int lw) {
  double fs = std::max(lw / 3.0, 0.4);
  int tf = std::max(lw - 1, 1), base = 0;
  cv::Size sz = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, fs, tf, &base);
  bool outside = at.y - sz.height - 3 >= 0;
  cv::Point p1(at.x, outside ? at.y - sz.height - 3 : at.y);
  cv::Point p2(at.x + sz.width, outside ? at.y : at.y + sz.height + 3);
  cv::rectangle(img, p1, p2, color, cv::FILLED, cv::LINE_AA);
  double lum = 0.299 * color[2] + 0.587 * color[1] + 0.114 * color[0];
  cv::putText(img, text, cv::Point(p1.x, outside ? at.y - 2 : at.y + sz.height + 2),
              cv::FONT_HERSHEY_SIMPLEX, fs,
              lum > 150 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255), tf, cv::LINE_AA);
}

// Cityscapes train ids 0..18 (road ... bicycle), RGB.
const uint8_t kCityscapes[19][3] = {
    {128, 64, 128},  {244, 35, 232}, {70, 70, 70},  {102, 102, 156}, {190, 153, 153},
    {153, 153, 153}, {250, 170, 30}, {220, 220, 0}, {107, 142, 35},  {152, 251, 152},
    {70, 130, 180},  {220, 20, 60},  {255, 0, 0},   {0, 0, 142},     {0, 0, 70},
    {0, 60, 100},    {0, 80, 100},   {0, 0, 230},   {119, 11, 32}};

}  // namespace

cv::Vec3b palette_color(Palette palette, int label) {
  if (palette == Palette::cityscapes) {
    if (label < 0 || label >= 19) return cv::Vec3b(0, 0, 0);
    const uint8_t* c = kCityscapes[label];
    return cv::Vec3b(c[2], c[1], c[0]);
  }
  return voc_color(label);
}

cv::Mat image_mask(const Detection& d, cv::Size image_size) {
  cv::Mat m(image_size, CV_8UC1, cv::Scalar(0));
  const cv::Rect r = d.mask_roi & cv::Rect(0, 0, image_size.width, image_size.height);
  if (!d.mask.empty() && r == d.mask_roi && d.mask.size() == r.size()) d.mask.copyTo(m(r));
  return m;
}

void draw_prediction(cv::Mat& img, const Prediction& p, const std::vector<std::string>& names,
                     float alpha, Palette palette) {
  if (palette == Palette::automatic)
    palette = names.size() == 19 ? Palette::cityscapes : Palette::voc;
  // VOC's class 0 is background (not drawn); 255 is "ignore" in both.
  const int first = palette == Palette::voc ? 1 : 0;
  if (img.empty() || img.type() != CV_8UC3) return;
  const int lw = std::max(static_cast<int>(std::lround((img.rows + img.cols) / 2.0 * 0.003)), 2);
  alpha = std::min(1.f, std::max(0.f, alpha));
  if (!p.labels.empty() && p.labels.size() == img.size()) {
    std::vector<int> present;
    for (int y = 0; y < img.rows; ++y) {
      const int32_t* l = p.labels.ptr<int32_t>(y);
      cv::Vec3b* px = img.ptr<cv::Vec3b>(y);
      for (int x = 0; x < img.cols; ++x) {
        if (l[x] < first || l[x] == 255) continue;  // background stays as it is
        cv::Vec3b c = palette_color(palette, l[x]);
        for (int k = 0; k < 3; ++k)
          px[x][k] = static_cast<uint8_t>(px[x][k] * (1 - alpha) + c[k] * alpha + 0.5f);
        if (std::find(present.begin(), present.end(), l[x]) == present.end())
          present.push_back(l[x]);
      }
    }
    std::sort(present.begin(), present.end());
    int y = lw * 2;
    for (int c : present) {
      std::string name = c < static_cast<int>(names.size()) ? names[c] : std::to_string(c);
      cv::Vec3b v = palette_color(palette, c);
      label_box(img, cv::Point(lw * 2, y + lw * 8), name, cv::Scalar(v[0], v[1], v[2]), lw);
      y += lw * 8 + 4;
    }
  }
  // Masks first, then boxes and labels on top; lowest score drawn first.
  for (auto it = p.detections.rbegin(); it != p.detections.rend(); ++it) {
    const Detection& d = *it;
    if (d.mask.empty() || d.mask_roi.empty()) continue;
    cv::Rect r = d.mask_roi & cv::Rect(0, 0, img.cols, img.rows);
    if (r != d.mask_roi) continue;
    cv::Scalar c = instance_color(d.class_id);
    for (int y = 0; y < r.height; ++y) {
      const uint8_t* m = d.mask.ptr<uint8_t>(y);
      cv::Vec3b* px = img.ptr<cv::Vec3b>(r.y + y) + r.x;
      for (int x = 0; x < r.width; ++x)
        if (m[x])
          for (int k = 0; k < 3; ++k)
            px[x][k] = static_cast<uint8_t>(px[x][k] * (1 - alpha) + c[k] * alpha + 0.5f);
    }
  }
  for (auto it = p.detections.rbegin(); it != p.detections.rend(); ++it) {
    const Detection& d = *it;
    cv::Scalar c = instance_color(d.class_id);
    if (!d.polygon.empty()) {
      std::vector<cv::Point> pts;
      for (const auto& q : d.polygon) pts.emplace_back(cvRound(q.x), cvRound(q.y));
      cv::polylines(img, pts, true, cv::Scalar(0, 255, 0), lw, cv::LINE_AA);
      continue;
    }
    cv::Point p1(cvRound(d.x1), cvRound(d.y1)), p2(cvRound(d.x2), cvRound(d.y2));
    cv::rectangle(img, p1, p2, c, lw, cv::LINE_AA);
    char conf[16];
    std::snprintf(conf, sizeof conf, "%.2f", d.score);
    label_box(img, p1, d.label + " " + conf, c, lw);
  }
}

}  // namespace visionrt
