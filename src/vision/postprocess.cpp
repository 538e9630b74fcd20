// Post-processing rules per model family (see postprocess.hpp for the semantics each follows).
#include "vision/postprocess.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

namespace {

bool class_wanted(const std::vector<int>& classes, int c) {
  return classes.empty() || std::find(classes.begin(), classes.end(), c) != classes.end();
}

std::vector<Candidate> run_nms(std::vector<Candidate> cand, const NmsParams& p) {
  std::stable_sort(cand.begin(), cand.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  if (p.max_nms > 0 && static_cast<int64_t>(cand.size()) > p.max_nms)
    cand.resize(static_cast<size_t>(p.max_nms));
  std::vector<BoxXYXY> boxes(cand.size());
  std::vector<float> scores(cand.size());
  std::vector<int32_t> cls;
  if (!p.agnostic) cls.resize(cand.size());
  for (size_t i = 0; i < cand.size(); ++i) {
    boxes[i] = cand[i].box;
    scores[i] = cand[i].score;
    if (!p.agnostic) cls[i] = cand[i].cls;
  }
  std::vector<Candidate> out;
  for (int32_t k : nms(boxes, scores, cls, p.iou, p.max_det)) out.push_back(cand[k]);
  return out;
}

}  // namespace

std::vector<Candidate> decode_yolo(const float* pred, int64_t n, int64_t nc, int64_t nm, bool v5,
                                   const NmsParams& p) {
  const int64_t ch = (v5 ? 5 : 4) + nc + nm;
  auto at = [&](int64_t k, int64_t i) { return v5 ? pred[i * ch + k] : pred[k * n + i]; };
  const int64_t c0 = v5 ? 5 : 4;
  std::vector<Candidate> cand;
  for (int64_t i = 0; i < n; ++i) {
    float obj = 1.f;
    if (v5) {
      obj = at(4, i);
      if (!(obj > p.conf)) continue;
    }
    Candidate c;
    float cx = at(0, i), cy = at(1, i), w = at(2, i), h = at(3, i);
    c.box = {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
    c.anchor = static_cast<int32_t>(i);
    if (p.multi_label) {
      for (int64_t j = 0; j < nc; ++j) {
        float s = at(c0 + j, i) * obj;
        if (s > p.conf && class_wanted(p.classes, static_cast<int>(j))) {
          c.score = s;
          c.cls = static_cast<int32_t>(j);
          cand.push_back(c);
        }
      }
      continue;
    }
    int64_t best = 0;
    float best_s = -INFINITY;
    for (int64_t j = 0; j < nc; ++j) {
      float s = at(c0 + j, i) * obj;
      if (s > best_s) {
        best_s = s;
        best = j;
      }
    }
    if (!(best_s > p.conf) || !class_wanted(p.classes, static_cast<int>(best))) continue;
    c.score = best_s;
    c.cls = static_cast<int32_t>(best);
    cand.push_back(c);
  }
  return run_nms(std::move(cand), p);
}

// ---- instance masks ----
namespace {

// Bilinear sample (PyTorch interpolate, align_corners=False: negative source coordinates
// clamp to 0, the far neighbour clamps to the last index) of a region of logits.
struct LogitPatch {
  cv::Mat m;  // CV_32F logits of proto rows r0.., cols c0..
  int r0 = 0, c0 = 0;
  int rows_max = 0, cols_max = 0;  // valid index range of the whole map (exclusive)
  float at(int r, int c) const {
    r -= r0;
    c -= c0;
    if (r < 0 || c < 0 || r >= m.rows || c >= m.cols) return 0.f;
    return m.at<float>(r, c);
  }
};

void axis_weights(double src, int size, int* i0, int* i1, float* f) {
  if (src < 0) src = 0;
  int a = static_cast<int>(std::floor(src));
  if (a > size - 1) a = size - 1;
  *i0 = a;
  *i1 = std::min(a + 1, size - 1);
  *f = static_cast<float>(src - a);
  if (*i1 == *i0) *f = 0.f;
}

}  // namespace

cv::Mat instance_mask(const float* protos, int64_t nm, int64_t mh, int64_t mw, const float* coefs,
                      int64_t coef_stride, const BoxXYXY& bn, const BoxXYXY& bs,
                      const ImageGeometry& g, bool retina, cv::Rect* roi) {
  const double sx = static_cast<double>(mw) / g.net_w, sy = static_cast<double>(mh) / g.net_h;
  const cv::Rect image(0, 0, g.src_w, g.src_h);
  // Region of the proto map that the original image maps onto, and the ROI of the output.
  double reg_x0, reg_y0, reg_w, reg_h;
  cv::Rect out;
  if (retina) {
    double gain = std::min(static_cast<double>(mh) / g.src_h, static_cast<double>(mw) / g.src_w);
    double pw = (mw - g.src_w * gain) / 2, ph = (mh - g.src_h * gain) / 2;
    int left = static_cast<int>(pw), top = static_cast<int>(ph);
    int right = static_cast<int>(mw - pw), bottom = static_cast<int>(mh - ph);
    reg_x0 = left;
    reg_y0 = top;
    reg_w = right - left;
    reg_h = bottom - top;
    // crop_mask at native resolution keeps x1 <= x < x2.
    int x0 = static_cast<int>(std::ceil(bs.x1)), y0 = static_cast<int>(std::ceil(bs.y1));
    int x1 = static_cast<int>(std::ceil(bs.x2)), y1 = static_cast<int>(std::ceil(bs.y2));
    out = cv::Rect(x0, y0, std::max(0, x1 - x0), std::max(0, y1 - y0)) & image;
  } else {
    reg_x0 = g.left * sx;
    reg_y0 = g.top * sy;
    reg_w = g.new_w * sx;
    reg_h = g.new_h * sy;
    // Bilinear reaches one proto cell beyond the crop: margin of one cell in source pixels.
    double mx = (reg_w > 0 ? g.src_w / reg_w : 1) + 1, my = (reg_h > 0 ? g.src_h / reg_h : 1) + 1;
    int x0 = static_cast<int>(std::floor(bs.x1 - mx)),
        y0 = static_cast<int>(std::floor(bs.y1 - my));
    int x1 = static_cast<int>(std::ceil(bs.x2 + mx)), y1 = static_cast<int>(std::ceil(bs.y2 + my));
    out = cv::Rect(x0, y0, std::max(0, x1 - x0), std::max(0, y1 - y0)) & image;
  }
  *roi = out;
  cv::Mat mask(out.height, out.width, CV_8UC1, cv::Scalar(0));
  if (out.empty() || reg_w <= 0 || reg_h <= 0) return mask;
  // Per-column and per-row sampling positions in the proto map.
  std::vector<int> cx0(out.width), cx1(out.width), ry0(out.height), ry1(out.height);
  std::vector<float> fx(out.width), fy(out.height);
  const int mwi = static_cast<int>(mw), mhi = static_cast<int>(mh);
  // Output pixel p (of src_len along one axis) -> proto cells and weight. Retina: the integer
  // padding-free region resized to the image (clamped inside it); otherwise the fractional
  // region mapped onto the whole map (clamped to the map).
  auto sample = [&](int p, double reg0, double reg_len, int src_len, int map_len, int* i0, int* i1,
                    float* f) {
    const double u = (p + 0.5) * reg_len / src_len - 0.5;
    if (retina) {
      axis_weights(u, static_cast<int>(std::lround(reg_len)), i0, i1, f);
      *i0 += static_cast<int>(reg0);
      *i1 += static_cast<int>(reg0);
    } else {
      axis_weights(reg0 + u, map_len, i0, i1, f);
    }
  };
  for (int x = 0; x < out.width; ++x)
    sample(out.x + x, reg_x0, reg_w, g.src_w, mwi, &cx0[x], &cx1[x], &fx[x]);
  for (int y = 0; y < out.height; ++y)
    sample(out.y + y, reg_y0, reg_h, g.src_h, mhi, &ry0[y], &ry1[y], &fy[y]);
  // Logits of the proto cells the samples touch.
  LogitPatch lp;
  lp.c0 = *std::min_element(cx0.begin(), cx0.end());
  int c_end = *std::max_element(cx1.begin(), cx1.end()) + 1;
  lp.r0 = *std::min_element(ry0.begin(), ry0.end());
  int r_end = *std::max_element(ry1.begin(), ry1.end()) + 1;
  lp.m = cv::Mat(r_end - lp.r0, c_end - lp.c0, CV_32F, cv::Scalar(0));
  // process_mask's crop at proto resolution: keep column c when x1 <= c < x2 (box scaled).
  const double bx1 = bn.x1 * sx, bx2 = bn.x2 * sx, by1 = bn.y1 * sy, by2 = bn.y2 * sy;
  const size_t plane = static_cast<size_t>(mh) * mw;
  for (int r = lp.r0; r < r_end; ++r)
    for (int c = lp.c0; c < c_end; ++c) {
      if (!retina && !(c >= bx1 && c < bx2 && r >= by1 && r < by2)) continue;
      const float* p = protos + static_cast<size_t>(r) * mw + c;
      float acc = 0;
      for (int64_t k = 0; k < nm; ++k) acc += coefs[k * coef_stride] * p[k * plane];
      lp.m.at<float>(r - lp.r0, c - lp.c0) = acc;
    }
  for (int y = 0; y < out.height; ++y) {
    uint8_t* row = mask.ptr<uint8_t>(y);
    const float wy = fy[y];
    const int ys = out.y + y;
    for (int x = 0; x < out.width; ++x) {
      if (retina) {  // crop_mask at native resolution
        int xs = out.x + x;
        if (!(xs >= bs.x1 && xs < bs.x2 && ys >= bs.y1 && ys < bs.y2)) continue;
      }
      const float wx = fx[x];
      float top = lp.at(ry0[y], cx0[x]) * (1 - wx) + lp.at(ry0[y], cx1[x]) * wx;
      float bot = lp.at(ry1[y], cx0[x]) * (1 - wx) + lp.at(ry1[y], cx1[x]) * wx;
      row[x] = (top * (1 - wy) + bot * wy) > 0.f ? 1 : 0;
    }
  }
  return mask;
}

// ---- SSD ----
std::vector<std::array<float, 4>> ssd_priors(const SsdPriorConfig& c) {
  const size_t k_n = c.feature_maps.size();
  if (c.steps.size() != k_n || c.min_sizes.size() != k_n || c.max_sizes.size() != k_n ||
      c.aspect_ratios.size() != k_n)
    throw InputError(
        "SSD prior config: feature_maps, steps, sizes and aspect ratios differ in length");
  std::vector<std::array<float, 4>> out;
  auto clip = [&](float v) { return c.clip ? std::min(1.f, std::max(0.f, v)) : v; };
  for (size_t k = 0; k < k_n; ++k) {
    const int f = c.feature_maps[k];
    const double f_k = static_cast<double>(c.image_size) / c.steps[k];
    const double s_k = c.min_sizes[k] / c.image_size;
    const double s_kp = std::sqrt(s_k * (c.max_sizes[k] / c.image_size));
    for (int i = 0; i < f; ++i)
      for (int j = 0; j < f; ++j) {
        float cx = static_cast<float>((j + 0.5) / f_k), cy = static_cast<float>((i + 0.5) / f_k);
        auto add = [&](double w, double h) {
          out.push_back(
              {clip(cx), clip(cy), clip(static_cast<float>(w)), clip(static_cast<float>(h))});
        };
        add(s_k, s_k);
        add(s_kp, s_kp);
        for (float ar : c.aspect_ratios[k]) {
          double r = std::sqrt(static_cast<double>(ar));
          add(s_k * r, s_k / r);
          add(s_k / r, s_k * r);
        }
      }
  }
  return out;
}

std::vector<std::array<float, 4>> torchvision_default_boxes(
    const std::vector<std::vector<float>>& aspect_ratios, const std::vector<int>& grid_sizes,
    float min_ratio, float max_ratio, bool clip) {
  const size_t n = aspect_ratios.size();
  if (grid_sizes.size() != n || n < 2)
    throw InputError("default boxes: one grid size per aspect-ratio list (at least two)");
  std::vector<double> scales;
  for (size_t k = 0; k < n; ++k)
    scales.push_back(min_ratio + (max_ratio - min_ratio) * k / (n - 1.0));
  scales.push_back(1.0);
  std::vector<std::array<float, 4>> out;
  for (size_t k = 0; k < n; ++k) {
    std::vector<std::pair<float, float>> wh;
    float s = static_cast<float>(scales[k]);
    float sp = static_cast<float>(std::sqrt(scales[k] * scales[k + 1]));
    wh.push_back({s, s});
    wh.push_back({sp, sp});
    for (float ar : aspect_ratios[k]) {
      float q = std::sqrt(ar);
      float w = s * q, h = s / q;
      wh.push_back({w, h});
      wh.push_back({h, w});
    }
    if (clip)
      for (auto& p : wh) {
        p.first = std::min(1.f, std::max(0.f, p.first));
        p.second = std::min(1.f, std::max(0.f, p.second));
      }
    const int f = grid_sizes[k];
    for (int i = 0; i < f; ++i)
      for (int j = 0; j < f; ++j)
        for (const auto& p : wh)
          out.push_back({static_cast<float>((j + 0.5) / f), static_cast<float>((i + 0.5) / f),
                         p.first, p.second});
  }
  return out;
}

std::vector<BoxXYXY> decode_ssd_boxes(const float* loc,
                                      const std::vector<std::array<float, 4>>& priors, float v0,
                                      float v1, bool yx) {
  const float clamp = std::log(1000.f / 16);
  std::vector<BoxXYXY> out(priors.size());
  for (size_t i = 0; i < priors.size(); ++i) {
    const float* l = loc + i * 4;
    const auto& p = priors[i];
    float pcx = yx ? p[1] : p[0], pcy = yx ? p[0] : p[1];
    float pw = yx ? p[3] : p[2], ph = yx ? p[2] : p[3];
    float lx = yx ? l[1] : l[0], ly = yx ? l[0] : l[1];
    float lw = yx ? l[3] : l[2], lh = yx ? l[2] : l[3];
    float cx = pcx + lx * v0 * pw, cy = pcy + ly * v0 * ph;
    float w = pw * std::exp(std::min(lw * v1, clamp)), h = ph * std::exp(std::min(lh * v1, clamp));
    out[i] = {cx - 0.5f * w, cy - 0.5f * h, cx + 0.5f * w, cy + 0.5f * h};
  }
  return out;
}

void softmax_rows(float* x, int64_t n, int64_t c) {
  for (int64_t i = 0; i < n; ++i) {
    float* r = x + i * c;
    float m = *std::max_element(r, r + c), s = 0;
    for (int64_t j = 0; j < c; ++j) s += (r[j] = std::exp(r[j] - m));
    for (int64_t j = 0; j < c; ++j) r[j] /= s;
  }
}

std::vector<Candidate> ssd_select(const std::vector<BoxXYXY>& boxes, const float* scores, int64_t n,
                                  int64_t c, int background, const NmsParams& p) {
  // Per class: scores above conf, the best `per_class_topk` of them (ssd.pytorch's top_k 200,
  // torchvision's topk_candidates), then per-class NMS over all classes and max_det overall.
  std::vector<Candidate> cand, cls;
  for (int64_t j = 0; j < c; ++j) {
    if (j == background || !class_wanted(p.classes, static_cast<int>(j))) continue;
    cls.clear();
    for (int64_t i = 0; i < n; ++i) {
      float s = scores[i * c + j];
      if (s > p.conf)
        cls.push_back(
            {boxes[static_cast<size_t>(i)], s, static_cast<int32_t>(j), static_cast<int32_t>(i)});
    }
    if (p.per_class_topk > 0 && static_cast<int64_t>(cls.size()) > p.per_class_topk) {
      std::stable_sort(cls.begin(), cls.end(),
                       [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
      cls.resize(static_cast<size_t>(p.per_class_topk));
    }
    cand.insert(cand.end(), cls.begin(), cls.end());
  }
  NmsParams q = p;
  q.max_nms = 0;
  return run_nms(std::move(cand), q);
}

// ---- semantic ----
namespace {
struct AxisMap {
  std::vector<int> i0, i1;
  std::vector<float> f;
};
// Original pixel -> logit-map sample position, through the letterbox or stretch.
AxisMap axis_map(int src, int new_sz, int pad, int net, int64_t logit_sz) {
  AxisMap m;
  m.i0.resize(src);
  m.i1.resize(src);
  m.f.resize(src);
  for (int x = 0; x < src; ++x) {
    double xn = (x + 0.5) * new_sz / src + pad;
    axis_weights(xn * logit_sz / net - 0.5, static_cast<int>(logit_sz), &m.i0[x], &m.i1[x],
                 &m.f[x]);
  }
  return m;
}
}  // namespace

cv::Mat semantic_from_logits(const float* logits, int64_t c, int64_t lh, int64_t lw,
                             const ImageGeometry& g) {
  AxisMap mx = axis_map(g.src_w, g.new_w, g.left, g.net_w, lw);
  AxisMap my = axis_map(g.src_h, g.new_h, g.top, g.net_h, lh);
  cv::Mat labels(g.src_h, g.src_w, CV_32SC1);
  const size_t plane = static_cast<size_t>(lh) * lw;
  std::vector<float> best(g.src_w);
  for (int y = 0; y < g.src_h; ++y) {
    int32_t* out = labels.ptr<int32_t>(y);
    std::fill(best.begin(), best.end(), -INFINITY);
    std::fill(out, out + g.src_w, 0);
    for (int64_t k = 0; k < c; ++k) {
      const float* r0 = logits + k * plane + static_cast<size_t>(my.i0[y]) * lw;
      const float* r1 = logits + k * plane + static_cast<size_t>(my.i1[y]) * lw;
      const float wy = my.f[y];
      for (int x = 0; x < g.src_w; ++x) {
        float wx = mx.f[x];
        float t = r0[mx.i0[x]] * (1 - wx) + r0[mx.i1[x]] * wx;
        float b = r1[mx.i0[x]] * (1 - wx) + r1[mx.i1[x]] * wx;
        float v = t * (1 - wy) + b * wy;
        if (v > best[x]) {  // first maximum wins, as argmax
          best[x] = v;
          out[x] = static_cast<int32_t>(k);
        }
      }
    }
  }
  return labels;
}

cv::Mat semantic_from_labels(const int64_t* lab, int64_t lh, int64_t lw, const ImageGeometry& g) {
  cv::Mat labels(g.src_h, g.src_w, CV_32SC1);
  std::vector<int> xs(g.src_w);
  for (int x = 0; x < g.src_w; ++x) {
    double xn = (x + 0.5) * g.new_w / g.src_w + g.left;
    xs[x] =
        std::min<int>(static_cast<int>(lw) - 1, std::max(0, static_cast<int>(xn * lw / g.net_w)));
  }
  for (int y = 0; y < g.src_h; ++y) {
    double yn = (y + 0.5) * g.new_h / g.src_h + g.top;
    int ys =
        std::min<int>(static_cast<int>(lh) - 1, std::max(0, static_cast<int>(yn * lh / g.net_h)));
    int32_t* out = labels.ptr<int32_t>(y);
    for (int x = 0; x < g.src_w; ++x) out[x] = static_cast<int32_t>(lab[ys * lw + xs[x]]);
  }
  return labels;
}

// ---- DB text detection ----
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

}  // namespace visionrt
