// The DB text detection family (family_db.hpp).
#include "vision/family_db.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "common/strings.hpp"
#include "vision/family.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

std::array<cv::Point2f, 4> mini_box(const cv::RotatedRect& r, float* short_side) {
  cv::Point2f p[4];
  r.points(p);
  std::array<cv::Point2f, 4> s{p[0], p[1], p[2], p[3]};
  std::stable_sort(s.begin(), s.end(),
                   [](const cv::Point2f& a, const cv::Point2f& b) { return a.x < b.x; });
  int i1 = 1, i4 = 0, i2 = 3, i3 = 2;
  if (s[1].y > s[0].y) {
    i1 = 0;
    i4 = 1;
  }
  if (s[3].y > s[2].y) {
    i2 = 2;
    i3 = 3;
  }
  *short_side = std::min(r.size.width, r.size.height);
  return {s[i1], s[i2], s[i3], s[i4]};
}

namespace {

int64_t clipper_round(double v) {
  return v < 0 ? static_cast<int64_t>(v - 0.5) : static_cast<int64_t>(v + 0.5);
}

// pyclipper's PyclipperOffset(JT_ROUND, ET_CLOSEDPOLYGON, ArcTolerance 0.25) of a convex
// polygon with integer vertices (Clipper's ClipperOffset::DoOffset/OffsetPoint/DoRound).
std::vector<cv::Point> clipper_round_offset(std::vector<cv::Point> poly, double delta) {
  // Drop repeated vertices; orient so the signed area is positive (Clipper's FixOrientations).
  std::vector<cv::Point> p;
  for (const auto& q : poly)
    if (p.empty() || q != p.back()) p.push_back(q);
  while (p.size() > 1 && p.front() == p.back()) p.pop_back();
  if (p.size() < 3) return p;
  double area = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const auto& a = p[i];
    const auto& b = p[(i + 1) % p.size()];
    area += static_cast<double>(a.x) * b.y - static_cast<double>(b.x) * a.y;
  }
  if (area < 0) std::reverse(p.begin(), p.end());
  const size_t n = p.size();
  std::vector<cv::Point2d> normals(n);
  for (size_t j = 0; j < n; ++j) {
    double dx = p[(j + 1) % n].x - p[j].x, dy = p[(j + 1) % n].y - p[j].y;
    double len = std::hypot(dx, dy);
    normals[j] = len == 0 ? cv::Point2d(0, 0) : cv::Point2d(dy / len, -dx / len);
  }
  const double kPi = 3.141592653589793, arc_tol = std::min(0.25, std::fabs(delta) * 0.25);
  double steps = kPi / std::acos(1 - arc_tol / std::fabs(delta));
  double sin_s = std::sin(2 * kPi / steps), cos_s = std::cos(2 * kPi / steps);
  double steps_per_rad = steps / (2 * kPi);
  std::vector<cv::Point> out;
  auto push = [&](double x, double y) {
    out.emplace_back(static_cast<int>(clipper_round(x)), static_cast<int>(clipper_round(y)));
  };
  size_t k = n - 1;
  for (size_t j = 0; j < n; ++j) {
    double sin_a = normals[k].x * normals[j].y - normals[j].x * normals[k].y;
    if (std::fabs(sin_a * delta) < 1.0) {
      double cos_a = normals[k].x * normals[j].x + normals[j].y * normals[k].y;
      if (cos_a > 0) {
        push(p[j].x + normals[k].x * delta, p[j].y + normals[k].y * delta);
        continue;  // k stays
      }
    } else if (sin_a > 1.0) {
      sin_a = 1.0;
    } else if (sin_a < -1.0) {
      sin_a = -1.0;
    }
    if (sin_a * delta < 0) {
      push(p[j].x + normals[k].x * delta, p[j].y + normals[k].y * delta);
      push(p[j].x, p[j].y);
      push(p[j].x + normals[j].x * delta, p[j].y + normals[j].y * delta);
    } else {
      double a = std::atan2(sin_a, normals[k].x * normals[j].x + normals[k].y * normals[j].y);
      int st = std::max(static_cast<int>(clipper_round(steps_per_rad * std::fabs(a))), 1);
      double x = normals[k].x, y = normals[k].y;
      for (int i = 0; i < st; ++i) {
        push(p[j].x + x * delta, p[j].y + y * delta);
        double x2 = x;
        x = x * cos_s - sin_s * y;
        y = x2 * sin_s + y * cos_s;
      }
      push(p[j].x + normals[j].x * delta, p[j].y + normals[j].y * delta);
    }
    k = j;
  }
  return out;
}

float box_score_fast(const cv::Mat& prob, const std::array<cv::Point2f, 4>& box) {
  const int h = prob.rows, w = prob.cols;
  float minx = box[0].x, maxx = box[0].x, miny = box[0].y, maxy = box[0].y;
  for (const auto& q : box) {
    minx = std::min(minx, q.x);
    maxx = std::max(maxx, q.x);
    miny = std::min(miny, q.y);
    maxy = std::max(maxy, q.y);
  }
  int xmin = std::clamp(static_cast<int>(std::floor(minx)), 0, w - 1);
  int xmax = std::clamp(static_cast<int>(std::ceil(maxx)), 0, w - 1);
  int ymin = std::clamp(static_cast<int>(std::floor(miny)), 0, h - 1);
  int ymax = std::clamp(static_cast<int>(std::ceil(maxy)), 0, h - 1);
  cv::Mat mask(ymax - ymin + 1, xmax - xmin + 1, CV_8UC1, cv::Scalar(0));
  std::vector<cv::Point> pts;
  for (const auto& q : box)  // numpy astype(int32): truncation toward zero
    pts.emplace_back(static_cast<int>(q.x - xmin), static_cast<int>(q.y - ymin));
  cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{pts}, cv::Scalar(1));
  return static_cast<float>(
      cv::mean(prob(cv::Range(ymin, ymax + 1), cv::Range(xmin, xmax + 1)), mask)[0]);
}

}  // namespace

std::vector<TextBox> db_boxes(const float* prob_data, int h, int w, int src_w, int src_h,
                              const DbParams& p) {
  cv::Mat prob(h, w, CV_32FC1, const_cast<float*>(prob_data));
  cv::Mat bitmap = prob > p.thresh;  // 0/255
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(bitmap, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
  std::vector<TextBox> out;
  const size_t nc = std::min(contours.size(), static_cast<size_t>(std::max(0, p.max_candidates)));
  for (size_t ci = 0; ci < nc; ++ci) {
    float sside;
    auto box = mini_box(cv::minAreaRect(contours[ci]), &sside);
    if (sside < p.min_size) continue;
    float score = box_score_fast(prob, box);
    if (p.box_thresh > score) continue;
    // unclip: distance = area * ratio / perimeter (shapely), offset with round joins.
    double area = 0, len = 0;
    for (int i = 0; i < 4; ++i) {
      const auto& a = box[i];
      const auto& b = box[(i + 1) % 4];
      area += static_cast<double>(a.x) * b.y - static_cast<double>(b.x) * a.y;
      len += std::hypot(static_cast<double>(b.x) - a.x, static_cast<double>(b.y) - a.y);
    }
    area = std::fabs(area) / 2;
    if (len <= 0) continue;
    std::vector<cv::Point> ipoly;
    for (const auto& q : box) ipoly.emplace_back(static_cast<int>(q.x), static_cast<int>(q.y));
    std::vector<cv::Point> expanded = clipper_round_offset(ipoly, area * p.unclip_ratio / len);
    if (expanded.size() < 3) continue;
    auto big = mini_box(cv::minAreaRect(expanded), &sside);
    if (sside < p.min_size + 2) continue;
    TextBox tb;
    tb.score = score;
    for (int i = 0; i < 4; ++i) {
      double x = std::nearbyint(static_cast<double>(big[i].x) / w * src_w);
      double y = std::nearbyint(static_cast<double>(big[i].y) / h * src_h);
      tb.pts[i] =
          cv::Point2f(static_cast<float>(static_cast<int>(std::clamp(x, 0.0, double(src_w)))),
                      static_cast<float>(static_cast<int>(std::clamp(y, 0.0, double(src_h)))));
    }
    // TextDetector.filter_tag_det_res: clockwise order, clip to the image, drop thin boxes.
    std::array<cv::Point2f, 4> s = tb.pts;
    std::stable_sort(s.begin(), s.end(),
                     [](const cv::Point2f& a, const cv::Point2f& b) { return a.x < b.x; });
    cv::Point2f l0 = s[0], l1 = s[1], r0 = s[2], r1 = s[3];
    if (l1.y < l0.y) std::swap(l0, l1);
    if (r1.y < r0.y) std::swap(r0, r1);
    tb.pts = {l0, r0, r1, l1};  // tl, tr, br, bl
    for (auto& q : tb.pts) {
      q.x = std::min(std::max(q.x, 0.f), static_cast<float>(src_w - 1));
      q.y = std::min(std::max(q.y, 0.f), static_cast<float>(src_h - 1));
    }
    int rw = static_cast<int>(cv::norm(tb.pts[0] - tb.pts[1]));
    int rh = static_cast<int>(cv::norm(tb.pts[0] - tb.pts[3]));
    if (rw <= 3 || rh <= 3) continue;
    out.push_back(tb);
  }
  // sorted_boxes: by (y, x) of the first corner, then neighbours within 10 px swapped by x.
  std::stable_sort(out.begin(), out.end(), [](const TextBox& a, const TextBox& b) {
    if (a.pts[0].y != b.pts[0].y) return a.pts[0].y < b.pts[0].y;
    return a.pts[0].x < b.pts[0].x;
  });
  for (size_t i = 0; i + 1 < out.size(); ++i)
    for (size_t j = i + 1; j-- > 0;) {
      if (std::fabs(out[j + 1].pts[0].y - out[j].pts[0].y) < 10 &&
          out[j + 1].pts[0].x < out[j].pts[0].x)
        std::swap(out[j], out[j + 1]);
      else
        break;
    }
  return out;
}

// ---- the family ----
namespace {

// One probability map [1, 1, h, w] (PaddleOCR's DB detectors, dynamic input size).
class DbFamily : public Family {
 public:
  DbFamily(const ModelView& m, FamilySetup* s) {
    PreprocessConfig& pre = s->pre;
    pre.resize = PreprocessConfig::Resize::multiple;
    pre.width = pre.height = m.opt.imgsz > 0 ? m.opt.imgsz : 960;
    pre.rgb = false;  // PaddleOCR normalizes cv2's BGR pixels with the ImageNet RGB mean/std
    pre.mean = {123.675f, 116.28f, 103.53f};
    pre.std = {58.395f, 57.12f, 57.375f};
    s->task = Task::text;
    s->default_names = {"text"};
    s->default_names_source = "DB text detector";
  }

  void decode(InferRequest& req, const DecodeContext& c, Prediction* out) const override {
    Tensor t = req.get_output_tensor(0);
    c.check(t, 4, "probability", "db");
    DbParams dp;
    dp.thresh = c.opt.db_thresh;
    dp.box_thresh = c.opt.db_box_thresh ? *c.opt.db_box_thresh : 0.6f;
    dp.unclip_ratio = c.opt.db_unclip_ratio;
    dp.max_candidates = c.opt.db_max_candidates;
    for (const TextBox& b : db_boxes(t.data<float>(), static_cast<int>(t.dim(2)),
                                     static_cast<int>(t.dim(3)), c.g.src_w, c.g.src_h, dp)) {
      Detection d;
      d.polygon.assign(b.pts.begin(), b.pts.end());
      d.x1 = d.x2 = b.pts[0].x;
      d.y1 = d.y2 = b.pts[0].y;
      for (const auto& q : b.pts) {
        d.x1 = std::min(d.x1, q.x);
        d.y1 = std::min(d.y1, q.y);
        d.x2 = std::max(d.x2, q.x);
        d.y2 = std::max(d.y2, q.y);
      }
      d.score = b.score;
      d.label = c.label_of(0);
      out->detections.push_back(std::move(d));
    }
  }
};

bool recognise(const ModelView& m) { return m.rank(0) == 4 && m.dim(0, 1) == 1; }

}  // namespace

FamilyInfo db_family() {
  return {"db", recognise, [](const ModelView& m, FamilySetup* s) {
            return std::unique_ptr<Family>(new DbFamily(m, s));
          }};
}

}  // namespace visionrt
