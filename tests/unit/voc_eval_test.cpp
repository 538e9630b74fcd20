// Pascal VOC AP and segmentation metrics on hand-computed cases (derivations in the comments).
#include <gtest/gtest.h>

#include <cmath>

#include "eval/voc_eval.hpp"
#include "visionrt/error.hpp"

using namespace visionrt;

TEST(VocAp, HandComputedCaseWithDifficultDuplicateAndBoundaryIou) {
  // Image 1: A [0,0,9,9], B [20,20,29,29], C [40,40,49,49] difficult; image 2: D [0,0,9,9].
  // 3 positives (C is difficult).
  std::vector<VocGroundTruth> gt = {{1, {0, 0, 9, 9}, false},
                                    {1, {20, 20, 29, 29}, false},
                                    {1, {40, 40, 49, 49}, true},
                                    {2, {0, 0, 9, 9}, false}};
  std::vector<VocDetection> dt = {
      {1, 0.9, {0, 0, 9, 9}},      // A: TP             rec 1/3 prec 1
      {1, 0.8, {40, 40, 49, 49}},  // C is difficult: neither
      {1, 0.7, {0, 0, 9, 9}},      // A again: FP (dup) rec 1/3 prec 1/2
      {2, 0.6, {0, 0, 9, 4}},      // D: IoU 50/100 = 0.5 exactly, >= 0.5: TP  rec 2/3 prec 2/3
      {2, 0.5, {50, 50, 59, 59}},  // nothing: FP      rec 2/3 prec 1/2
      {1, 0.4, {20, 20, 29, 28}},  // B: IoU 90/100: TP rec 1 prec 3/5
  };
  VocApResult r = voc_ap(gt, dt);
  EXPECT_EQ(r.num_positives, 3);
  ASSERT_EQ(r.recall.size(), 5u);
  EXPECT_DOUBLE_EQ(r.precision[1], 0.5);
  EXPECT_DOUBLE_EQ(r.recall[4], 1.0);
  // 11-point: recall 0..0.3 -> 1 (4 points), 0.4..0.6 -> 2/3 (3), 0.7..1.0 -> 0.6 (4).
  EXPECT_NEAR(r.ap07, (4 + 3 * 2.0 / 3 + 4 * 0.6) / 11, 1e-12);
  // Envelope 1 on (0, 1/3], 2/3 on (1/3, 2/3], 0.6 on (2/3, 1]: 1/3 + 2/9 + 1/5 = 34/45.
  EXPECT_NEAR(r.ap, 34.0 / 45, 1e-12);
  EXPECT_DOUBLE_EQ(voc_iou({0, 0, 9, 9}, {0, 0, 9, 4}), 0.5);
}

TEST(VocAp, TiesKeepInputOrderAndBadInputIsAnError) {
  std::vector<VocGroundTruth> gt = {{1, {0, 0, 9, 9}, false}};
  // Equal confidences: the FP listed first is ranked first -> precision 1/2 at recall 1.
  VocApResult r = voc_ap(gt, {{1, 0.5, {50, 50, 60, 60}}, {1, 0.5, {0, 0, 9, 9}}});
  EXPECT_NEAR(r.ap, 0.5, 1e-12);
  VocApResult r2 = voc_ap(gt, {{1, 0.5, {0, 0, 9, 9}}, {1, 0.5, {50, 50, 60, 60}}});
  EXPECT_NEAR(r2.ap, 1.0, 1e-12);
  EXPECT_THROW(voc_ap(gt, {{1, NAN, {0, 0, 9, 9}}}), InputError);
  EXPECT_THROW(voc_ap(gt, {{1, 0.5, {9, 9, 0, 0}}}), InputError);
  // No detections: AP 0.
  EXPECT_EQ(voc_ap(gt, {}).ap, 0);
}

TEST(SegMetrics, HandComputedConfusionMatrix) {
  ConfusionMatrix cm(4);
  // gt/pred pixels: (0,0) (0,1) (1,1) (1,1) (2,0) and one ignored (255); class 3 never appears.
  cm.add({0, 0, 1, 1, 2, 255}, {0, 1, 1, 1, 0, 2});
  EXPECT_EQ(cm.ignored(), 1);
  EXPECT_EQ(cm.at(0, 1), 1);
  std::vector<double> iou = cm.iou();
  EXPECT_DOUBLE_EQ(iou[0], 1.0 / 3);  // tp 1 / (row 2 + col 2 - 1)
  EXPECT_DOUBLE_EQ(iou[1], 2.0 / 3);  // tp 2 / (2 + 3 - 2)
  EXPECT_DOUBLE_EQ(iou[2], 0.0);      // tp 0 / (1 + 0 - 0)
  EXPECT_EQ(iou[3], -1);              // absent everywhere: excluded from the mean
  EXPECT_DOUBLE_EQ(cm.mean_iou(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(cm.pixel_accuracy(), 3.0 / 5);
  EXPECT_DOUBLE_EQ(cm.mean_accuracy(), (0.5 + 1.0 + 0.0) / 3);
  EXPECT_THROW(cm.add({0, 1}, {0}), InputError);
  EXPECT_THROW(cm.add({0}, {7}), InputError);
  EXPECT_THROW(cm.add({-3}, {0}), InputError);
  EXPECT_THROW(ConfusionMatrix(0), InputError);
}
