// Greedy NMS (see nms.hpp): one sort, per-class suppression without coordinate offsets (no
// precision lost on large images), early exit at max_keep.
#include "geometry/nms.hpp"

#include <algorithm>
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
  for (size_t oi = 0; oi < n; ++oi) {
    int32_t i = order[oi];
    if (suppressed[i]) continue;
    kept.push_back(i);
    if (max_keep > 0 && static_cast<int64_t>(kept.size()) >= max_keep) break;
    const BoxXYXY& bi = boxes[i];
    const float ai = bi.area();
    if (!(ai > 0)) continue;  // suppresses nothing
    for (size_t oj = oi + 1; oj < n; ++oj) {
      int32_t j = order[oj];
      if (suppressed[j] || (!classes.empty() && classes[j] != classes[i])) continue;
      const BoxXYXY& bj = boxes[j];
      float iw = std::min(bi.x2, bj.x2) - std::max(bi.x1, bj.x1);
      if (!(iw > 0)) continue;
      float ih = std::min(bi.y2, bj.y2) - std::max(bi.y1, bj.y1);
      if (!(ih > 0)) continue;
      float aj = bj.area();
      if (!(aj > 0)) continue;
      float inter = iw * ih;
      if (inter / (ai + aj - inter) > iou_threshold) suppressed[j] = 1;
    }
  }
  return kept;
}

}  // namespace visionrt
