// Axis-aligned boxes in COCO's [x, y, w, h] convention and their IoU with pycocotools' maskApi
// semantics (bbIou): widths/heights of the intersection clipped at 0, and for a crowd ground
// truth the union is the detection's own area ("intersection over detection").
#pragma once
#include <algorithm>

namespace visionrt {

struct BoxXYWH {
  double x = 0, y = 0, w = 0, h = 0;
  double area() const { return w * h; }
};

inline double box_iou(const BoxXYWH& d, const BoxXYWH& g, bool g_is_crowd) {
  double iw = std::min(d.x + d.w, g.x + g.w) - std::max(d.x, g.x);
  if (iw <= 0) return 0;
  double ih = std::min(d.y + d.h, g.y + g.h) - std::max(d.y, g.y);
  if (ih <= 0) return 0;
  double inter = iw * ih;
  double uni = g_is_crowd ? d.area() : d.area() + g.area() - inter;
  return inter / uni;
}

}  // namespace visionrt
