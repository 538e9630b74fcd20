// Polygon area and multi-part polygon merging (see polygon.hpp).
#include "geometry/polygon.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "geometry/rle.hpp"

namespace visionrt {

double polygon_area(const std::vector<std::vector<double>>& polys, int64_t w, int64_t h) {
  std::vector<Rle> parts;
  for (const auto& p : polys)
    parts.push_back(rle_from_polygon(p, static_cast<uint32_t>(h), static_cast<uint32_t>(w)));
  return static_cast<double>(rle_area(rle_merge(parts)));
}

std::vector<double> merge_polygon_parts(const std::vector<std::vector<double>>& parts_in) {
  using Pts = std::vector<std::array<double, 2>>;
  std::vector<Pts> seg;
  for (const auto& p : parts_in) {
    Pts q;
    for (size_t i = 0; i + 1 < p.size(); i += 2) q.push_back({p[i], p[i + 1]});
    if (!q.empty()) seg.push_back(q);
  }
  if (seg.empty()) return {};
  if (seg.size() == 1) {
    std::vector<double> out;
    for (const auto& p : seg[0]) out.insert(out.end(), {p[0], p[1]});
    return out;
  }
  const size_t n = seg.size();
  std::vector<std::vector<size_t>> idx(n);
  for (size_t i = 1; i < n; ++i) {  // closest points of consecutive parts (first minimum)
    double best = INFINITY;
    size_t bi = 0, bj = 0;
    for (size_t a = 0; a < seg[i - 1].size(); ++a)
      for (size_t b = 0; b < seg[i].size(); ++b) {
        double dx = seg[i - 1][a][0] - seg[i][b][0], dy = seg[i - 1][a][1] - seg[i][b][1];
        double d2 = dx * dx + dy * dy;
        if (d2 < best) {
          best = d2;
          bi = a;
          bj = b;
        }
      }
    idx[i - 1].push_back(bi);
    idx[i].push_back(bj);
  }
  std::vector<Pts> s;
  // Forward pass: rotate each part to start at its first bridge point, close it.
  for (size_t i = 0; i < n; ++i) {
    auto& id = idx[i];
    if (id.size() == 2 && id[0] > id[1]) {
      std::reverse(id.begin(), id.end());
      std::reverse(seg[i].begin(), seg[i].end());
    }
    std::rotate(seg[i].begin(), seg[i].begin() + static_cast<long>(id[0]), seg[i].end());
    seg[i].push_back(seg[i][0]);
    if (i == 0 || i == n - 1) {
      s.push_back(seg[i]);
    } else {
      size_t end = id[1] - id[0];
      s.push_back(Pts(seg[i].begin(), seg[i].begin() + static_cast<long>(end + 1)));
    }
  }
  // Backward pass: the rest of each middle part on the way back.
  for (size_t k = n; k-- > 0;) {
    if (k == 0 || k == n - 1) continue;
    size_t nidx = idx[k][1] > idx[k][0] ? idx[k][1] - idx[k][0] : idx[k][0] - idx[k][1];
    s.push_back(Pts(seg[k].begin() + static_cast<long>(nidx), seg[k].end()));
  }
  std::vector<double> out;
  for (const auto& part : s)
    for (const auto& p : part) out.insert(out.end(), {p[0], p[1]});
  return out;
}

}  // namespace visionrt
