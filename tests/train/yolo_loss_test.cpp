// YOLOv8's loss pieces on hand-computed cases: CIoU, distribution focal loss, the task-aligned
// assignment on a 4x4 anchor grid, and the whole objective driving a tiny network to fit one
// labelled image.
#include <gtest/gtest.h>

#include <cmath>

#include "train/trainer.hpp"
#include "train/yolo.hpp"
#include "train/yolo_loss.hpp"

using namespace visionrt::train;

namespace {
torch::Tensor box(float x1, float y1, float x2, float y2) {
  return torch::tensor({x1, y1, x2, y2}, torch::kFloat32);
}
}  // namespace

TEST(TrainLoss, CiouOfHandComputedPairs) {
  // Same box: 1. Overlap 1 of union 7, centres 1.41 apart in a 3x3 enclosure: 1/7 - 2/18.
  EXPECT_NEAR(bbox_ciou(box(0, 0, 2, 2), box(0, 0, 2, 2)).item<float>(), 1.f, 1e-6);
  EXPECT_NEAR(bbox_ciou(box(0, 0, 2, 2), box(1, 1, 3, 3)).item<float>(), 1.0 / 7 - 2.0 / 18, 1e-6);
  // 4x2 against 2x4: IoU 1/3, distance term 2/32, aspect term v = 4/pi^2 (atan 2 - atan 1/2)^2
  // with alpha = v / (v - IoU + 1).
  const double v = 4 / (M_PI * M_PI) * std::pow(std::atan(0.5) - std::atan(2.0), 2);
  const double want = 1.0 / 3 - 2.0 / 32 - v * v / (v - 1.0 / 3 + 1);
  EXPECT_NEAR(bbox_ciou(box(0, 0, 4, 2), box(0, 0, 2, 4)).item<float>(), want, 1e-6);
  // Disjoint: IoU 0, centre distance^2 50 over diagonal^2 72.
  EXPECT_NEAR(bbox_ciou(box(0, 0, 1, 1), box(5, 5, 6, 6)).item<float>(), -50.0 / 72, 1e-6);
}

TEST(TrainLoss, DistributionFocalLoss) {
  // Uniform logits: cross entropy log(16) to either neighbour, whatever the split.
  torch::Tensor flat = torch::zeros({3, 16});
  torch::Tensor d = df_loss(flat, torch::tensor({0.f, 3.25f, 14.5f}));
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(d[i].item<float>(), std::log(16.0), 1e-5);
  // A confident bin 3 against target 3.0 (all weight on bin 3) and 3.5 (half on bin 4).
  torch::Tensor peak = torch::full({2, 16}, -20.f);
  peak.index_put_({torch::indexing::Slice(), 3}, 20.f);
  torch::Tensor e = df_loss(peak, torch::tensor({3.f, 3.5f}));
  EXPECT_NEAR(e[0].item<float>(), 0.f, 1e-5);
  EXPECT_NEAR(e[1].item<float>(), 0.5 * 40, 1e-3);  // log-softmax of bin 4 is -40
}

TEST(TrainLoss, TaskAlignedAssignmentOnAGrid) {
  // 32x32 image, stride 8: anchors at 4, 12, 20, 28 px in x and y (index = row * 4 + col);
  // make_anchors gives them in grid units, as Ultralytics.
  torch::Tensor grid, strides;
  make_anchors({{4, 4}}, {8}, &grid, &strides);
  ASSERT_EQ(grid.size(0), 16);
  EXPECT_EQ(grid[5][0].item<float>(), 1.5f);
  EXPECT_EQ(grid[6][0].item<float>(), 2.5f);
  EXPECT_EQ(grid[6][1].item<float>(), 1.5f);
  const torch::Tensor anchors = grid * strides;
  TaskAlignedAssigner tal;
  tal.num_classes = 3;
  // Every anchor predicts object A's box exactly (CIoU 1); class-2 scores differ per anchor.
  torch::Tensor a_box = box(0, 0, 16, 16);
  torch::Tensor pd_boxes = a_box.view({1, 1, 4}).expand({1, 16, 4}).clone();
  torch::Tensor scores = torch::full({1, 16, 3}, 0.5f);
  const float s[4] = {0.9f, 0.4f, 0.1f, 0.6f};  // anchors 0, 1, 4, 5: inside A
  const int in_a[4] = {0, 1, 4, 5};
  for (int i = 0; i < 4; ++i) scores[0][in_a[i]][2] = s[i];
  Assignment r = tal(scores, pd_boxes, anchors, torch::tensor({2.f}).view({1, 1, 1}),
                     a_box.view({1, 1, 4}), torch::ones({1, 1, 1}));
  EXPECT_EQ(r.fg_mask.sum().item<int64_t>(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(r.fg_mask[0][in_a[i]].item<bool>());
    // Alignment sqrt(score) * 1^6, normalized so the best anchor gets the best overlap (1).
    EXPECT_NEAR(r.target_scores[0][in_a[i]][2].item<float>(), std::sqrt(s[i] / 0.9f), 1e-5);
    EXPECT_NEAR(r.target_scores[0][in_a[i]][0].item<float>(), 0.f, 1e-7);
    EXPECT_TRUE(torch::allclose(r.target_bboxes[0][in_a[i]], a_box));
  }
  // A second object B (8,0)-(24,16) shares anchors 1 and 5 with A; they overlap A's box (the
  // prediction) with CIoU 1 and B's with 1/3 - 64/832: both stay with A; B gets 2 and 6.
  torch::Tensor gts = torch::stack({a_box, box(8, 0, 24, 16)}).view({1, 2, 4});
  r = tal(scores, pd_boxes, anchors, torch::tensor({2.f, 1.f}).view({1, 2, 1}), gts,
          torch::ones({1, 2, 1}));
  EXPECT_EQ(r.fg_mask.sum().item<int64_t>(), 6);
  for (int i : {0, 1, 4, 5}) EXPECT_EQ(r.target_gt_idx[0][i].item<int64_t>(), 0) << i;
  for (int i : {2, 6}) EXPECT_EQ(r.target_gt_idx[0][i].item<int64_t>(), 1) << i;
  // Padded objects (mask_gt 0) claim nothing.
  r = tal(scores, pd_boxes, anchors, torch::tensor({2.f, 1.f}).view({1, 2, 1}), gts,
          torch::tensor({1.f, 0.f}).view({1, 2, 1}));
  EXPECT_EQ(r.fg_mask.sum().item<int64_t>(), 4);
}

TEST(TrainLoss, TheObjectiveFitsOneLabelledImage) {
  // A tiny YOLOv8 (8..32 channels) and one 64x64 image with two objects: 60 Adam steps on the
  // loss must bring it well down, and an image without objects has only a class term.
  torch::manual_seed(0);
  YoloSpec spec = YoloSpec::scale('n', "detect", 2);
  spec.width = 0.0625;
  YoloV8 net(spec);
  net->train();
  DetectionLoss loss;
  loss.nc = 2;
  loss.assigner.num_classes = 2;
  torch::Tensor img = torch::rand({1, 3, 64, 64});
  torch::Tensor targets = torch::tensor({0.f, 0.f, 0.30f, 0.30f, 0.40f, 0.30f,  //
                                         0.f, 1.f, 0.70f, 0.65f, 0.35f, 0.50f})
                              .view({2, 6});
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    DetectionLossParts p = loss(net->forward(img), targets);
    p.total.backward();
    opt.step();
    (step == 0 ? first : last) = p.total.item<double>();
    ASSERT_TRUE(std::isfinite(last)) << step;
  }
  EXPECT_LT(last, 0.5 * first) << "first " << first << ", last " << last;
  DetectionLossParts empty = loss(net->forward(img), torch::zeros({0, 6}));
  EXPECT_GT(empty.cls, 0);
  EXPECT_EQ(empty.box, 0);
  EXPECT_EQ(empty.dfl, 0);
}

TEST(TrainLoss, MaskTermIsLog2PerAssignedAnchorForZeroCoefficients) {
  // Zero mask coefficients predict logit 0 everywhere: BCE log 2 per pixel whatever the truth.
  // Boxes on the prototype grid (multiples of 4 px): the crop keeps exactly the box, whose mean
  // over the map equals its normalized area, so each assigned anchor adds log 2; the mean over
  // the assigned anchors (Ultralytics' sum / fg_mask.sum()) times box gain 7.5.
  torch::manual_seed(0);
  YoloSpec spec = YoloSpec::scale('n', "segment", 2);
  spec.width = 0.0625;
  YoloV8 net(spec);
  net->train();
  std::vector<torch::Tensor> out = net->forward(torch::rand({1, 3, 64, 64}));
  ASSERT_EQ(out.size(), 5u);
  DetectionLoss loss;
  loss.nc = 2;
  loss.assigner.num_classes = 2;
  SegmentationInputs si;
  si.coefs = torch::zeros_like(out[3]);
  si.protos = out[4];
  ASSERT_EQ(si.protos.size(2), 16);
  torch::Tensor targets =
      torch::tensor({0.f, 1.f, 0.375f, 0.5f, 0.5f, 0.5f}).view({1, 6});  // 8..40 x 16..48
  si.masks = torch::zeros({1, 16, 16});
  si.masks.index_put_({0, torch::indexing::Slice(4, 12), torch::indexing::Slice(2, 10)}, 1.f);
  DetectionLossParts p = loss({out[0], out[1], out[2]}, targets, &si);
  ASSERT_GT(p.foreground, 0);
  EXPECT_NEAR(p.seg, 7.5 * std::log(2.0), 1e-5);
}

TEST(TrainLoss, TheSegmentationObjectiveFitsOneMask) {
  torch::manual_seed(0);
  YoloSpec spec = YoloSpec::scale('n', "segment", 1);
  spec.width = 0.0625;
  YoloV8 net(spec);
  net->train();
  DetectionLoss loss;
  loss.nc = 1;
  loss.assigner.num_classes = 1;
  torch::Tensor img = torch::rand({1, 3, 64, 64});
  torch::Tensor targets = torch::tensor({0.f, 0.f, 0.5f, 0.5f, 0.5f, 0.5f}).view({1, 6});
  torch::Tensor mask = torch::zeros({1, 16, 16});
  mask.index_put_({0, torch::indexing::Slice(4, 12), torch::indexing::Slice(6, 10)}, 1.f);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    std::vector<torch::Tensor> out = net->forward(img);
    SegmentationInputs si{out[3], out[4], mask};
    DetectionLossParts p = loss({out[0], out[1], out[2]}, targets, &si);
    p.total.backward();
    opt.step();
    (step == 0 ? first : last) = p.seg;
  }
  EXPECT_LT(last, 0.5 * first) << "mask term first " << first << ", last " << last;
}

TEST(TrainAugment, HsvGainsOnHandComputedPixels) {
  // Grey (100,100,100): hue 0, saturation 0, value 100. Value gain 1.5 -> 150; saturation has
  // nothing to scale. Pure blue (BGR 255,0,0) is OpenCV hue 120 (240 degrees): gain 1.25 -> 150
  // (300 degrees, magenta: BGR 255,0,255). Gains 1 leave any pixel unchanged.
  cv::Mat grey(1, 1, CV_8UC3, cv::Scalar(100, 100, 100));
  augment_hsv(grey, {1.0, 2.0, 1.5});
  EXPECT_EQ(grey.at<cv::Vec3b>(0, 0), cv::Vec3b(150, 150, 150));
  cv::Mat blue(1, 1, CV_8UC3, cv::Scalar(255, 0, 0));
  augment_hsv(blue, {1.25, 1.0, 1.0});
  EXPECT_EQ(blue.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 255));
  cv::Mat same(1, 1, CV_8UC3, cv::Scalar(12, 34, 56));
  augment_hsv(same, {1.0, 1.0, 1.0});
  EXPECT_EQ(same.at<cv::Vec3b>(0, 0), cv::Vec3b(12, 34, 56));
  // Value gain 3 clips at 255.
  cv::Mat bright(1, 1, CV_8UC3, cv::Scalar(200, 200, 200));
  augment_hsv(bright, {1.0, 1.0, 3.0});
  EXPECT_EQ(bright.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
}
