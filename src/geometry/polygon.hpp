// Polygon segments [x0, y0, x1, y1, ...] in pixels: the area of a multi-part polygon as
// pycocotools measures it (through its RLE mask), and the joining of parts into one polygon.
#pragma once
#include <cstdint>
#include <vector>

namespace visionrt {

// Pixels of the union of the parts' masks on a w x h image (rle_from_polygon, rle_merge).
double polygon_area(const std::vector<std::vector<double>>& polys, int64_t w, int64_t h);

// Ultralytics' merge_multi_segment: joins the parts of a multi-part polygon into one by
// bridging each pair of consecutive parts at their closest points (there and back).
std::vector<double> merge_polygon_parts(const std::vector<std::vector<double>>& parts);

}  // namespace visionrt
