// Greedy NMS (see nms.hpp): one sort, per-class suppression without coordinate offsets (no
// precision lost on large images), early exit at max_keep.
#include "geometry/nms.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

namespace visionrt {

float box_iou_xyxy(const BoxXYXY& a, const BoxXYXY& b) {
  float aa = a.area(), ab = b.area();
  if (!(aa > 0) || !(ab > 0)) return 0.f;
  float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (!(iw > 0) || !(ih > 0)) return 0.f;
  float inter = iw * ih;
  return inter / (aa + ab - inter);
}

namespace {

// Whether kept box bi (area ai > 0) suppresses bj: IoU above the threshold, with the early
// exits of box_iou_xyxy (no overlap, no area) in its order of arithmetic.
inline bool suppresses(const BoxXYXY& bi, float ai, const BoxXYXY& bj, float iou_threshold) {
  const float iw = std::min(bi.x2, bj.x2) - std::max(bi.x1, bj.x1);
  if (!(iw > 0)) return false;
  const float ih = std::min(bi.y2, bj.y2) - std::max(bi.y1, bj.y1);
  if (!(ih > 0)) return false;
  const float aj = bj.area();
  if (!(aj > 0)) return false;
  const float inter = iw * ih;
  return inter / (ai + aj - inter) > iou_threshold;
}

// Greedy suppression with the candidates a kept box can overlap found through an index sorted
// by x1: a box j overlaps box i only if x1_j is in (x1_i - widest, x2_i), so a kept box visits
// that window instead of every later box. The same pairs are tested with the same arithmetic
// as the plain loop below, so the result is identical; it pays on many boxes spread out in x,
// above all the class-offset layout of batched NMS exports (torchvision's batched_nms: boxes of
// class c shifted by c * (max coordinate + 1), so each window holds about one class).
bool greedy_windowed(const std::vector<BoxXYXY>& boxes, const std::vector<int32_t>& order,
                     float iou_threshold, int64_t max_keep, std::vector<char>& suppressed,
                     std::vector<int32_t>* kept) {
  float widest = 0;
  for (int32_t i : order) {
    const BoxXYXY& b = boxes[i];
    if (!std::isfinite(b.x1) || !std::isfinite(b.x2) || !std::isfinite(b.y1) ||
        !std::isfinite(b.y2))
      return false;  // sorting by x1 needs finite coordinates: the plain loop takes it
    widest = std::max(widest, b.x2 - b.x1);
  }
  std::vector<int32_t> by_x(order);
  std::stable_sort(by_x.begin(), by_x.end(),
                   [&](int32_t p, int32_t q) { return boxes[p].x1 < boxes[q].x1; });
  std::vector<float> xs(by_x.size());
  for (size_t k = 0; k < by_x.size(); ++k) xs[k] = boxes[by_x[k]].x1;
  std::vector<int32_t> rank(boxes.size(), -1);
  for (size_t r = 0; r < order.size(); ++r) rank[order[r]] = static_cast<int32_t>(r);
  int64_t count = 0;
  for (size_t oi = 0; oi < order.size(); ++oi) {
    int32_t i = order[oi];
    if (suppressed[i]) continue;
    kept->push_back(i);
    if (max_keep > 0 && ++count >= max_keep) return true;
    const BoxXYXY& bi = boxes[i];
    const float ai = bi.area();
    if (!(ai > 0)) continue;
    // Widened by a rounding margin: including extra boxes is harmless (they are tested).
    const float from = bi.x1 - widest - (std::fabs(bi.x1) + widest) * 1e-5f - 1e-30f;
    const size_t lo =
        static_cast<size_t>(std::lower_bound(xs.begin(), xs.end(), from) - xs.begin());
    const size_t hi =
        static_cast<size_t>(std::lower_bound(xs.begin(), xs.end(), bi.x2) - xs.begin());
    for (size_t k = lo; k < hi; ++k) {
      int32_t j = by_x[k];
      if (rank[j] <= static_cast<int32_t>(oi) || suppressed[j]) continue;
      if (suppresses(bi, ai, boxes[j], iou_threshold)) suppressed[j] = 1;
    }
  }
  return true;
}

// Greedy suppression over `order` (indices sorted by score), all of one class.
void greedy(const std::vector<BoxXYXY>& boxes, const std::vector<int32_t>& order,
            float iou_threshold, int64_t max_keep, std::vector<char>& suppressed,
            std::vector<int32_t>* kept) {
  if (order.size() >= 512 &&
      greedy_windowed(boxes, order, iou_threshold, max_keep, suppressed, kept))
    return;
  int64_t count = 0;
  for (size_t oi = 0; oi < order.size(); ++oi) {
    int32_t i = order[oi];
    if (suppressed[i]) continue;
    kept->push_back(i);
    if (max_keep > 0 && ++count >= max_keep) return;
    const BoxXYXY& bi = boxes[i];
    const float ai = bi.area();
    if (!(ai > 0)) continue;  // suppresses nothing
    for (size_t oj = oi + 1; oj < order.size(); ++oj) {
      int32_t j = order[oj];
      if (suppressed[j]) continue;
      if (suppresses(bi, ai, boxes[j], iou_threshold)) suppressed[j] = 1;
    }
  }
}

}  // namespace

std::vector<int32_t> nms(const std::vector<BoxXYXY>& boxes, const std::vector<float>& scores,
                         const std::vector<int32_t>& classes, float iou_threshold,
                         int64_t max_keep) {
  const size_t n = boxes.size();
  if (scores.size() != n || (!classes.empty() && classes.size() != n))
    throw std::invalid_argument("nms: boxes, scores and classes differ in length");
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // NaN scores sort last and are never kept ahead of real ones.
  std::stable_sort(order.begin(), order.end(), [&](int32_t p, int32_t q) {
    float a = scores[p], b = scores[q];
    if (a != a) return false;
    if (b != b) return true;
    return a > b;
  });
  std::vector<int32_t> kept;
  std::vector<char> suppressed(n, 0);
  if (max_keep == 0) return kept;
  if (classes.empty()) {
    greedy(boxes, order, iou_threshold, max_keep, suppressed, &kept);
    return kept;
  }
  // Per class (suppression never crosses classes), each in the global order; the kept boxes of
  // all classes merged back into that order equal the global greedy result, and its first
  // max_keep are what the global loop would have kept before stopping.
  std::vector<int32_t> rank(n);
  for (size_t r = 0; r < n; ++r) rank[order[r]] = static_cast<int32_t>(r);
  std::map<int32_t, std::vector<int32_t>> by_class;
  for (int32_t i : order) by_class[classes[i]].push_back(i);
  for (const auto& kv : by_class)
    greedy(boxes, kv.second, iou_threshold, max_keep, suppressed, &kept);
  std::sort(kept.begin(), kept.end(), [&](int32_t a, int32_t b) { return rank[a] < rank[b]; });
  if (max_keep > 0 && static_cast<int64_t>(kept.size()) > max_keep)
    kept.resize(static_cast<size_t>(max_keep));
  return kept;
}

}  // namespace visionrt
