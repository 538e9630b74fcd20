// Run-length encoded binary masks with pycocotools' maskApi semantics: column-major runs
// starting with a run of zeros; polygons rasterized the way rleFrPoly does (5x upsampled
// boundary walk, pixel centres, y-boundary crossings), so areas and IoUs equal pycocotools'
// bit for bit; COCO's compressed string form (6 bits per char, deltas from two runs back).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "geometry/box.hpp"

namespace visionrt {

struct Rle {
  uint32_t h = 0, w = 0;
  std::vector<uint32_t> counts;  // alternating runs of 0s and 1s, column-major, zeros first
};

// One polygon [x0, y0, x1, y1, ...] (k = size / 2 points) on an h x w canvas. Coordinates must
// fit in int when scaled by 5; a boundary longer than 2^26 steps is an InputError.
Rle rle_from_polygon(const std::vector<double>& xy, uint32_t h, uint32_t w);
// Union (or intersection) of masks of the same size; empty input gives an empty 0x0 mask.
Rle rle_merge(const std::vector<Rle>& masks, bool intersect = false);
uint64_t rle_area(const Rle& r);
// Tight box of the mask's pixels [x, y, w, h] (maskApi's rleToBbox, including its quirk of
// spanning the full height when a column's run crosses into the next column).
BoxXYWH rle_to_box(const Rle& r);
// maskApi's rleIou: 0 when the boxes do not overlap; crowd ground truth divides by the
// detection's area. Masks of different sizes give -1.
double rle_iou(const Rle& dt, const Rle& gt, bool gt_is_crowd);
// COCO's compressed counts string <-> runs. Decoding throws InputError on a malformed string.
Rle rle_from_string(const std::string& s, uint32_t h, uint32_t w);
std::string rle_to_string(const Rle& r);
// Dense row-major h x w mask (0/1) <-> RLE.
Rle rle_encode(const std::vector<uint8_t>& row_major, uint32_t h, uint32_t w);
std::vector<uint8_t> rle_decode(const Rle& r);

}  // namespace visionrt
