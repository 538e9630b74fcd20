// The end-to-end detector family (vision/family_rcnn) and the family table: a torchvision-layout
// model built in code (boxes/labels/scores/masks whose values are known), its detections mapped
// back through the letterbox by hand, and mask pasting against hand-computed pixels.
#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgproc.hpp>

#include "onnx/builder.hpp"
#include "test_util.hpp"
#include "vision/family_rcnn.hpp"
#include "vision/preprocess.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace fs = std::filesystem;
using namespace visionrt;

namespace {

constexpr int kNetW = 80, kNetH = 60;

// torchvision's layout: input [3, 60, 80] in 0..1; scores are the constants times the image's
// maximum (so a wrong normalization shows), boxes/labels/masks constants. Mask 0 is 1 on net
// pixels [10,30) x [10,30), mask 2 on [40,44) x [20,24); mask 1 is empty.
std::string write_torchvision_like(const fs::path& dir, bool with_masks) {
  ModelBuilder b(11);
  b.input("image", DType::f32, {3, kNetH, kNetW});
  b.initializer("boxes_c", Tensor::from_vector<float>({3, 4}, {10, 10, 30, 30,  //
                                                               0, 0, 79, 59,    //
                                                               40, 20, 44, 24}));
  b.initializer("labels_c", Tensor::from_vector<int64_t>({3}, {1, 3, 18}));
  b.initializer("scores_c", Tensor::from_vector<float>({3}, {0.9f, 0.2f, 0.6f}));
  b.node("ReduceMax", {"image"}, {"peak"}, {{"keepdims", attr_int(0)}});
  b.node("Mul", {"scores_c", "peak"}, {"scores"});
  b.node("Identity", {"boxes_c"}, {"boxes"});
  b.node("Identity", {"labels_c"}, {"labels"});
  b.output("boxes", DType::f32, {-1, 4});
  b.output("labels", DType::i64, {-1});
  b.output("scores", DType::f32, {-1});
  if (with_masks) {
    std::vector<float> m(3 * kNetH * kNetW, 0.f);
    for (int y = 10; y < 30; ++y)
      for (int x = 10; x < 30; ++x) m[y * kNetW + x] = 1.f;
    for (int y = 20; y < 24; ++y)
      for (int x = 40; x < 44; ++x) m[2 * kNetH * kNetW + y * kNetW + x] = 1.f;
    b.initializer("masks_c", Tensor::from_vector<float>({3, 1, kNetH, kNetW}, m));
    b.node("Identity", {"masks_c"}, {"masks"});
    b.output("masks", DType::f32, {-1, 1, kNetH, kNetW});
  }
  const std::string p =
      (dir / (with_masks ? "maskrcnn_like.onnx" : "fasterrcnn_like.onnx")).string();
  b.save(p);
  return p;
}

// A 160x100 image: letterboxed into 80x60 at gain 0.5 with 5 rows of padding above and below.
cv::Mat image_160x100() {
  cv::Mat img(100, 160, CV_8UC3, cv::Scalar(0, 0, 0));
  img(cv::Rect(70, 40, 20, 20)).setTo(cv::Scalar(255, 255, 255));  // the maximum is 1.0 after /255
  return img;
}

}  // namespace

TEST(FamilyTable, RcnnIsTriedFirstAndNamedInTheList) {
  const std::vector<std::string> f = model_family_names();
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f.front(), "rcnn");
  for (const char* n : {"ssd", "yolov8", "yolov5", "db", "semantic"})
    EXPECT_NE(std::find(f.begin(), f.end(), n), f.end()) << n;
}

TEST(RcnnFamily, TorchvisionLayoutBoxesLabelsScoresThroughTheLetterbox) {
  fs::path dir = test::temp_dir("rcnn_family");
  PredictOptions opt;
  opt.conf = 0.25f;
  opt.precision = "f32";
  Predictor p(write_torchvision_like(dir, false), opt);
  EXPECT_EQ(p.family(), "rcnn");
  EXPECT_EQ(p.task(), Task::detect);
  ASSERT_EQ(p.names().size(), 91u);  // torchvision's COCO categories by default
  EXPECT_EQ(p.names()[1], "person");
  EXPECT_EQ(p.preprocess().mean[0], 0.f);
  EXPECT_EQ(p.preprocess().std[0], 255.f);
  Prediction r = p.predict(image_160x100());
  // Score 0.2 is under conf; the others come highest first, boxes (x / 0.5, (y - 5) / 0.5).
  ASSERT_EQ(r.detections.size(), 2u);
  const Detection& a = r.detections[0];
  EXPECT_EQ(a.label, "person");
  EXPECT_EQ(a.class_id, 1);
  EXPECT_NEAR(a.score, 0.9f, 1e-6);
  EXPECT_NEAR(a.x1, 20, 1e-4);
  EXPECT_NEAR(a.y1, 10, 1e-4);
  EXPECT_NEAR(a.x2, 60, 1e-4);
  EXPECT_NEAR(a.y2, 50, 1e-4);
  EXPECT_TRUE(a.mask.empty());
  EXPECT_EQ(r.detections[1].label, "dog");
  EXPECT_NEAR(r.detections[1].score, 0.6f, 1e-6);
  EXPECT_NEAR(r.detections[1].x1, 80, 1e-4);
  EXPECT_NEAR(r.detections[1].y2, 38, 1e-4);
  // Options the model's own NMS leaves to us: class filter, max_det.
  opt.classes = {18};
  EXPECT_EQ(
      Predictor(write_torchvision_like(dir, false), opt).predict(image_160x100()).detections.size(),
      1u);
  opt.classes.clear();
  opt.max_det = 1;
  EXPECT_EQ(
      Predictor(write_torchvision_like(dir, false), opt).predict(image_160x100()).detections.size(),
      1u);
  fs::remove_all(dir);
}

TEST(RcnnFamily, MasksAtInputResolutionArePastedIntoTheImage) {
  fs::path dir = test::temp_dir("rcnn_masks");
  PredictOptions opt;
  opt.conf = 0.25f;
  opt.precision = "f32";
  Predictor p(write_torchvision_like(dir, true), opt);
  EXPECT_EQ(p.task(), Task::segment);
  Prediction r = p.predict(image_160x100());
  ASSERT_EQ(r.detections.size(), 2u);
  // Net pixels [10,30)^2 are image pixels x in [20,60), y in [10,50): bilinear > 0.5 exactly there.
  const Detection& a = r.detections[0];
  ASSERT_FALSE(a.mask.empty());
  cv::Mat full = cv::Mat::zeros(100, 160, CV_8UC1);
  a.mask.copyTo(full(a.mask_roi));
  EXPECT_EQ(cv::countNonZero(full), 40 * 40);
  EXPECT_EQ(cv::countNonZero(full(cv::Rect(20, 10, 40, 40))), 40 * 40);
  // The small mask: net [40,44) x [20,24) -> image x [80,88), y [30,38).
  const Detection& b = r.detections[1];
  cv::Mat full_b = cv::Mat::zeros(100, 160, CV_8UC1);
  b.mask.copyTo(full_b(b.mask_roi));
  EXPECT_EQ(cv::countNonZero(full_b), 8 * 8);
  EXPECT_EQ(cv::countNonZero(full_b(cv::Rect(80, 30, 8, 8))), 8 * 8);
  fs::remove_all(dir);
}

TEST(RcnnFamily, PerBoxMasksPasteAsGridSampleWithZerosOutside) {
  // Identity geometry (image = network input, 64x48); a 4x4 mask of ones over box [10,10,30,30]:
  // grid_sample's zero padding weighs the samples near the border: the first pixel centre inside
  // (10.5) samples mask position -0.4, weight 0.6 on cell 0; the next (11.5) -0.2, weight 0.8.
  // Inside the box everything passes 0.5 but three pixels per corner (0.6*0.6, 0.6*0.8 twice);
  // nothing outside the box does.
  ImageGeometry g = stretch_geometry(64, 48, 64, 48);
  std::vector<float> ones(16, 1.f);
  BoxXYXY box{10, 10, 30, 30};
  cv::Rect roi(0, 0, 64, 48);
  cv::Mat m = paste_soft_mask(ones.data(), 4, 4, g, &box, &roi);
  EXPECT_EQ(roi, cv::Rect(0, 0, 64, 48));
  EXPECT_EQ(cv::countNonZero(m), 20 * 20 - 4 * 3);
  EXPECT_EQ(cv::countNonZero(m(cv::Rect(10, 10, 20, 20))), 20 * 20 - 4 * 3);
  EXPECT_EQ(m.at<uint8_t>(10, 10), 0);
  EXPECT_EQ(m.at<uint8_t>(11, 11), 1);
  EXPECT_EQ(m.at<uint8_t>(10, 12), 1);
  // A ROI reaching outside the image is clamped to it.
  cv::Rect wide(-5, -5, 100, 100);
  cv::Mat w = paste_soft_mask(ones.data(), 4, 4, g, &box, &wide);
  EXPECT_EQ(wide, cv::Rect(0, 0, 64, 48));
  EXPECT_EQ(w.size(), cv::Size(64, 48));
}

TEST(RcnnFamily, ModelsThatDoNotFitAreRefusedWithTheReason) {
  fs::path dir = test::temp_dir("rcnn_refuse");
  // A YOLO-style model forced into rcnn: the message names the outputs rcnn needs.
  ModelBuilder b(13);
  b.input("images", DType::f32, {1, 3, 32, 32});
  b.node("ReduceMean", {"images"}, {"output0"}, {{"axes", attr_ints({3})}});
  b.output("output0", DType::f32);
  const std::string p = (dir / "not_rcnn.onnx").string();
  b.save(p);
  PredictOptions opt;
  opt.family = "rcnn";
  try {
    Predictor pr(p, opt);
    ADD_FAILURE() << "accepted";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("boxes [N,4]"), std::string::npos) << e.what();
  }
  opt.family = "rcnnx";
  try {
    Predictor pr(p, opt);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("rcnn, ssd"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
