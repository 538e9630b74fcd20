// RLE masks on hand-computed cases: column-major runs, the compressed string form, polygon
// rasterization of integer boxes (pycocotools gives exactly w*h pixels and the same box back),
// union/intersection areas by inclusion-exclusion, IoU with crowd. The full pycocotools
// agreement (polygons, multi-part, RLE kinds, crowds) is the segm golden case in coco_eval_test.
#include <gtest/gtest.h>

#include <random>

#include "geometry/rle.hpp"
#include "visionrt/error.hpp"

using namespace visionrt;

TEST(Rle, ColumnMajorRunsAndStringForm) {
  // 3x3 mask with only the centre pixel: column-major 0,0,0, 0,1,0, 0,0,0 -> runs 4,1,4.
  std::vector<uint8_t> m(9, 0);
  m[4] = 1;
  Rle r = rle_encode(m, 3, 3);
  EXPECT_EQ(r.counts, (std::vector<uint32_t>{4, 1, 4}));
  EXPECT_EQ(rle_area(r), 1u);
  // 6 bits per char from '0': 4 -> '4', 1 -> '1', 4 -> '4' (deltas from two runs back start at
  // the fourth run). A longer case: runs 4,1,4,2 -> the fourth is stored as 2 - 1 = 1.
  EXPECT_EQ(rle_to_string(r), "414");
  EXPECT_EQ(rle_from_string("414", 3, 3).counts, r.counts);
  EXPECT_EQ(rle_to_string(Rle{11, 1, {4, 1, 4, 2}}), "4141");
  // 40 = 0b101000: low 5 bits 8 with the continuation bit (0x20) -> '0' + 40 = 'X', then 1 -> '1'.
  EXPECT_EQ(rle_to_string(Rle{41, 1, {40, 1}}), "X11");
  EXPECT_EQ(rle_decode(r), m);
  BoxXYWH b = rle_to_box(r);
  EXPECT_EQ(b.x, 1);
  EXPECT_EQ(b.y, 1);
  EXPECT_EQ(b.w, 1);
  EXPECT_EQ(b.h, 1);
  // Malformed strings and runs that do not cover the mask are errors.
  EXPECT_THROW(rle_from_string("41", 3, 3), InputError);
  EXPECT_THROW(rle_from_string("4\x7f", 3, 3), InputError);
}

// The extremes of 32-bit counts take seven characters each way (a delta needs 33 bits plus the
// sign); an eighth continuation character is an error, not a shift past 64 bits (the fuzzer's
// UBSan report: "623hhh...").
TEST(Rle, LargestCountsRoundTripAndOverlongNumbersFail) {
  const uint32_t h = 65537, w = 65535;  // h * w = 2^32 - 1
  for (Rle r : {Rle{h, w, {h * w}}, Rle{h, w, {0, h * w}}, Rle{h, w, {0, h * w - 1, 1}},
                Rle{h, w, {h * w - 2, 1, 0, 1}}}) {
    std::string s = rle_to_string(r);
    EXPECT_LE(s.size(), 7 * r.counts.size());
    EXPECT_EQ(rle_from_string(s, h, w).counts, r.counts) << s;
  }
  EXPECT_THROW(rle_from_string("623hhhhhhhhhhhhhhhhhhhhhhhh0m0", 5, 9), InputError);
  EXPECT_THROW(rle_from_string("hhhhhhh0", 1, 1), InputError);
}

TEST(Rle, RandomMasksRoundTrip) {
  std::mt19937 rng(3);
  for (int t = 0; t < 50; ++t) {
    uint32_t h = 1 + rng() % 40, w = 1 + rng() % 40;
    std::vector<uint8_t> m(h * w);
    size_t ones = 0;
    for (auto& v : m) ones += v = (rng() % 3 == 0);
    Rle r = rle_encode(m, h, w);
    EXPECT_EQ(rle_area(r), ones);
    EXPECT_EQ(rle_decode(r), m);
    EXPECT_EQ(rle_from_string(rle_to_string(r), h, w).counts, r.counts);
  }
}

TEST(Rle, IntegerBoxPolygonsCoverExactlyTheirPixels) {
  // Box [1,1,2,3] on a 5-high, 6-wide image as pycocotools' frBbox polygon.
  Rle r = rle_from_polygon({1, 1, 1, 4, 3, 4, 3, 1}, 5, 6);
  EXPECT_EQ(rle_area(r), 6u);
  BoxXYWH b = rle_to_box(r);
  EXPECT_EQ(b.x, 1);
  EXPECT_EQ(b.y, 1);
  EXPECT_EQ(b.w, 2);
  EXPECT_EQ(b.h, 3);
  std::vector<uint8_t> m = rle_decode(r);
  for (uint32_t y = 0; y < 5; ++y)
    for (uint32_t x = 0; x < 6; ++x)
      EXPECT_EQ(m[y * 6 + x], (x >= 1 && x < 3 && y >= 1 && y < 4) ? 1 : 0) << x << "," << y;
  // Clockwise or counter-clockwise: the same pixels.
  EXPECT_EQ(rle_from_polygon({1, 1, 3, 1, 3, 4, 1, 4}, 5, 6).counts, r.counts);
}

TEST(Rle, MergeAndIou) {
  Rle a = rle_from_polygon({0, 0, 0, 4, 4, 4, 4, 0}, 10, 10);  // 16 px
  Rle b = rle_from_polygon({2, 2, 2, 6, 6, 6, 6, 2}, 10, 10);  // 16 px, overlap 2x2 = 4
  EXPECT_EQ(rle_area(rle_merge({a, b})), 28u);
  EXPECT_EQ(rle_area(rle_merge({a, b}, true)), 4u);
  EXPECT_DOUBLE_EQ(rle_iou(a, b, false), 4.0 / 28);
  // Crowd ground truth: intersection over the detection's area.
  EXPECT_DOUBLE_EQ(rle_iou(a, b, true), 4.0 / 16);
  Rle far = rle_from_polygon({7, 7, 7, 9, 9, 9, 9, 7}, 10, 10);
  EXPECT_EQ(rle_iou(a, far, false), 0);
  Rle other_size = rle_from_polygon({0, 0, 0, 4, 4, 4, 4, 0}, 12, 10);
  EXPECT_EQ(rle_iou(a, other_size, false), -1);
  EXPECT_EQ(rle_merge({a, other_size}).counts.size(), 0u);
  // A vertex millions of pixels away is an error, not gigabytes of boundary points.
  EXPECT_THROW(rle_from_polygon({0, 0, 4e8, 0, 4e8, 4e8}, 10, 10), InputError);
}
