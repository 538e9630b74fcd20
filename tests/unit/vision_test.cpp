// Task pipelines on hand-computed cases: Ultralytics' letterbox rounding, tensor fill, NMS
// ordering and ties, YOLOv8/v5 decoding, instance-mask crop and bleed, SSD priors and variance
// decoding, semantic upsampling, DB text boxes; then the `predict` CLI on a model built in code
// (bad files, empty folders, outputs never overwriting inputs).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <random>

#include "geometry/nms.hpp"
#include "onnx/builder.hpp"
#include "test_util.hpp"
#include "vision/demo_image.hpp"
#include "vision/family_db.hpp"
#include "vision/family_rcnn.hpp"
#include "vision/family_semantic.hpp"
#include "vision/family_ssd.hpp"
#include "vision/family_yolo.hpp"
#include "vision/postprocess.hpp"
#include "vision/preprocess.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace fs = std::filesystem;
using namespace visionrt;

// ---- pre-processing ----
TEST(Letterbox, UltralyticsRoundingAndPaddingSplit) {
  // bus.jpg 810x1080 -> 640: r = 640/1080, 480x640, 80 px each side.
  ImageGeometry g = letterbox_geometry(810, 1080, 640, 640);
  EXPECT_EQ(g.new_w, 480);
  EXPECT_EQ(g.new_h, 640);
  EXPECT_EQ(g.left, 80);
  EXPECT_EQ(g.right, 80);
  EXPECT_EQ(g.top, 0);
  EXPECT_EQ(g.bottom, 0);
  // 300x199: r = 640/300, h = round(424.53) = 425, dh = 107.5 -> 107 before, 108 after.
  g = letterbox_geometry(300, 199, 640, 640);
  EXPECT_EQ(g.new_h, 425);
  EXPECT_EQ(g.top, 107);
  EXPECT_EQ(g.bottom, 108);
  // Python's round halves to even: 5 * 0.5 = 2.5 -> 2; dw = 0.5 -> 0 before, 1 after.
  g = letterbox_geometry(5, 2, 3, 1);
  EXPECT_EQ(g.new_w, 2);
  EXPECT_EQ(g.new_h, 1);
  EXPECT_EQ(g.left, 0);
  EXPECT_EQ(g.right, 1);
  // Mapping back: network x = left + gain * source x.
  g = letterbox_geometry(810, 1080, 640, 640);
  EXPECT_NEAR(g.to_src_x(80 + 240), 405, 1e-3);
  EXPECT_NEAR(g.to_src_y(320), 540, 1e-3);
}

TEST(Letterbox, PaddleOcrMultipleOf32) {
  // 1280x720 with limit 960: ratio 0.75 -> 960x540 -> 960x544 (540/32 = 16.875 -> 17).
  ImageGeometry g = multiple_geometry(1280, 720, 960);
  EXPECT_EQ(g.net_w, 960);
  EXPECT_EQ(g.net_h, 544);
  // Small images are not enlarged, only rounded (at least 32): 50x10 -> 64x32.
  g = multiple_geometry(50, 10, 960);
  EXPECT_EQ(g.net_w, 64);
  EXPECT_EQ(g.net_h, 32);
}

TEST(Preprocess, TensorIsPaddedNormalizedRgbNchw) {
  // 2x1 BGR image into a 2x2 letterbox: one row of pixels, half a row of padding each side.
  cv::Mat img(1, 2, CV_8UC3);
  img.at<cv::Vec3b>(0, 0) = {10, 20, 30};  // B, G, R
  img.at<cv::Vec3b>(0, 1) = {40, 50, 60};
  PreprocessConfig cfg;
  cfg.width = cfg.height = 2;
  ImageGeometry g = compute_geometry(cfg, 2, 1);
  EXPECT_EQ(g.top, 0);  // dh = 0.5: round(0.4) = 0 before, round(0.6) = 1 after
  EXPECT_EQ(g.bottom, 1);
  Tensor t = make_input_tensor(img, cfg, g);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 2, 2}));
  const float* p = t.data<float>();
  EXPECT_FLOAT_EQ(p[0], 30 / 255.f);      // R plane, pixel (0,0)
  EXPECT_FLOAT_EQ(p[1], 60 / 255.f);      // R plane, pixel (0,1)
  EXPECT_FLOAT_EQ(p[2], 114 / 255.f);     // padding row
  EXPECT_FLOAT_EQ(p[4 + 0], 20 / 255.f);  // G plane
  EXPECT_FLOAT_EQ(p[8 + 1], 40 / 255.f);  // B plane
  cfg.rgb = false;
  cfg.mean = {1, 2, 3};
  cfg.std = {2, 4, 8};
  t = make_input_tensor(img, cfg, g);
  EXPECT_FLOAT_EQ(t.data<float>()[0], (10 - 1) / 2.f);
  EXPECT_FLOAT_EQ(t.data<float>()[8 + 1], (60 - 3) / 8.f);
  EXPECT_THROW(make_input_tensor(cv::Mat(), cfg, g), InputError);
  EXPECT_THROW(make_input_tensor(cv::Mat(2, 2, CV_32FC3), cfg, g), InputError);
}

// ---- NMS ----
TEST(Nms, TorchvisionOrderTiesClassesAndEarlyExit) {
  std::vector<BoxXYXY> b = {
      {0, 0, 10, 10}, {1, 1, 11, 11}, {20, 20, 30, 30}, {0, 0, 10, 10}, {5, 5, 5, 5}};
  std::vector<float> s = {0.9f, 0.95f, 0.5f, 0.95f, 0.99f};
  // IoU(0,1) = 81 / 119 = 0.68; box 3 equals box 0; box 4 has no area (kept, suppresses none).
  EXPECT_NEAR(box_iou_xyxy(b[0], b[1]), 81.0 / 119.0, 1e-6);
  EXPECT_EQ(box_iou_xyxy(b[4], b[4]), 0.f);
  // Equal scores 0.95: the lower index (1) first, which then suppresses 3 and 0.
  EXPECT_EQ(nms(b, s, {}, 0.5f), (std::vector<int32_t>{4, 1, 2}));
  // At 0.7, IoU(1, 3) = 0.68 does not suppress 3, and 3 then suppresses its twin 0.
  EXPECT_EQ(nms(b, s, {}, 0.7f), (std::vector<int32_t>{4, 1, 3, 2}));
  // Per class: box 3 is another class than 1 and 0, so it survives; 0 is suppressed by 1.
  EXPECT_EQ(nms(b, s, {0, 0, 0, 1, 0}, 0.5f), (std::vector<int32_t>{4, 1, 3, 2}));
  EXPECT_EQ(nms(b, s, {}, 0.5f, 2), (std::vector<int32_t>{4, 1}));
  EXPECT_TRUE(nms(b, s, {}, 0.5f, 0).empty());
  EXPECT_THROW(nms(b, {0.1f}, {}, 0.5f), std::invalid_argument);
}

TEST(Nms, ClassAwareMaxKeepTakesTheBestAcrossClasses) {
  // Class 0 scores .9 .5 .4 .3, class 1 .8 .7, all disjoint: the best three overall.
  std::vector<BoxXYXY> b;
  for (int i = 0; i < 6; ++i) b.push_back({i * 10.f, 0, i * 10.f + 5, 5});
  std::vector<float> s = {0.9f, 0.5f, 0.4f, 0.3f, 0.8f, 0.7f};
  EXPECT_EQ(nms(b, s, {0, 0, 0, 0, 1, 1}, 0.5f, 3), (std::vector<int32_t>{0, 4, 5}));
}

TEST(Nms, ClassAwareEqualsNaiveGreedyOnRandomBoxes) {
  // The naive definition: walk all boxes by score (stable), keep one unless a kept box of its
  // class overlaps it by more than the threshold, stop at max_keep.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0, 100), wh(1, 30), sc(0, 1);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 200;
    std::vector<BoxXYXY> b(n);
    std::vector<float> s(n);
    std::vector<int32_t> c(n);
    for (int i = 0; i < n; ++i) {
      float x = u(rng), y = u(rng);
      b[i] = {x, y, x + wh(rng), y + wh(rng)};
      s[i] = std::round(sc(rng) * 20) / 20;  // many ties
      c[i] = static_cast<int32_t>(rng() % 3);
    }
    const int64_t max_keep = trial % 2 ? 15 : -1;
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int p, int q) { return s[p] > s[q]; });
    std::vector<int32_t> want;
    for (int i : order) {
      bool ok = true;
      for (int k : want)
        if (c[k] == c[i] && box_iou_xyxy(b[k], b[i]) > 0.45f) ok = false;
      if (ok) want.push_back(i);
      if (max_keep > 0 && static_cast<int64_t>(want.size()) == max_keep) break;
    }
    EXPECT_EQ(nms(b, s, c, 0.45f, max_keep), want) << "trial " << trial;
  }
}

// ---- YOLO ----
TEST(YoloDecode, V8ChannelMajorConfidenceClassesAndNms) {
  // 3 anchors, 2 classes: [cx, cy, w, h, s0, s1] x 3, channel-major.
  const int64_t n = 3;
  std::vector<float> pred = {
      50,   52,   200,    // cx
      50,   50,   200,    // cy
      20,   20,   10,     // w
      20,   20,   10,     // h
      0.9f, 0.2f, 0.25f,  // class 0
      0.1f, 0.8f, 0.1f,   // class 1
  };
  NmsParams p;
  p.conf = 0.25f;  // strict: anchor 2's 0.25 is not kept
  p.iou = 0.5f;
  auto d = decode_yolo(pred.data(), n, 2, 0, false, p);
  ASSERT_EQ(d.size(), 2u);  // different classes: both kept although IoU = 0.67
  EXPECT_EQ(d[0].anchor, 0);
  EXPECT_EQ(d[0].cls, 0);
  EXPECT_FLOAT_EQ(d[0].box.x1, 40);
  EXPECT_FLOAT_EQ(d[0].box.y2, 60);
  EXPECT_EQ(d[1].cls, 1);
  p.agnostic = true;
  EXPECT_EQ(decode_yolo(pred.data(), n, 2, 0, false, p).size(), 1u);
  p.agnostic = false;
  p.classes = {1};
  d = decode_yolo(pred.data(), n, 2, 0, false, p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].anchor, 1);
  // multi_label (Ultralytics val): every class above conf; anchor 0 also has 0.1 < conf.
  p.classes.clear();
  p.multi_label = true;
  p.conf = 0.15f;
  d = decode_yolo(pred.data(), n, 2, 0, false, p);
  // Candidates a0 c0 .9, a1 c0 .2, a1 c1 .8, a2 c0 .25; a1 c0 overlaps a0 c0 (IoU 0.82).
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[2].anchor, 2);
}

TEST(YoloDecode, V5ObjectnessTimesClass) {
  // 2 anchors, row-major [cx, cy, w, h, obj, c0, c1].
  std::vector<float> pred = {10, 10, 4, 4, 0.5f, 0.9f, 0.1f,   // score 0.45
                             30, 30, 4, 4, 0.2f, 1.0f, 0.0f};  // obj 0.2 < conf
  NmsParams p;
  p.conf = 0.25f;
  auto d = decode_yolo(pred.data(), 2, 2, 0, true, p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FLOAT_EQ(d[0].score, 0.45f);
  EXPECT_FLOAT_EQ(d[0].box.x1, 8);
}

TEST(InstanceMask, CropAtPrototypeResolutionAndBilinearBleed) {
  // 16x16 image = network input, prototypes 4x4 of ones, one coefficient 1: logits 1 inside the
  // crop. Box [4,12) -> proto columns 1 and 2 kept. Bilinear to 16 px: u = (x + 0.5) / 4 - 0.5
  // touches a kept cell for x = 2..13 (x = 1 clamps to cell 0, x = 14 samples cell 3 only).
  std::vector<float> protos(16, 1.f);
  float coef = 1.f;
  ImageGeometry g = letterbox_geometry(16, 16, 16, 16);
  cv::Rect roi;
  cv::Mat m = instance_mask(protos.data(), 1, 4, 4, &coef, 1, {4, 4, 12, 12}, {4, 4, 12, 12}, g,
                            false, &roi);
  cv::Mat full(16, 16, CV_8UC1, cv::Scalar(0));
  m.copyTo(full(roi));
  EXPECT_EQ(cv::countNonZero(full), 144);
  EXPECT_EQ(full.at<uint8_t>(2, 2), 1);
  EXPECT_EQ(full.at<uint8_t>(13, 13), 1);
  EXPECT_EQ(full.at<uint8_t>(1, 5), 0);
  EXPECT_EQ(full.at<uint8_t>(14, 5), 0);
  // retina_masks: upsample first, crop at native resolution: exactly the box pixels 4..11.
  m = instance_mask(protos.data(), 1, 4, 4, &coef, 1, {4, 4, 12, 12}, {4, 4, 12, 12}, g, true,
                    &roi);
  EXPECT_EQ(roi, cv::Rect(4, 4, 8, 8));
  EXPECT_EQ(cv::countNonZero(m), 64);
  // A negative coefficient gives an empty mask.
  coef = -1.f;
  m = instance_mask(protos.data(), 1, 4, 4, &coef, 1, {4, 4, 12, 12}, {4, 4, 12, 12}, g, false,
                    &roi);
  EXPECT_EQ(cv::countNonZero(m), 0);
}

// ---- SSD ----
TEST(Ssd, Ssd300PriorsAndTorchvisionDefaultBoxes) {
  auto p = ssd_priors(SsdPriorConfig{});
  ASSERT_EQ(p.size(), 8732u);  // 38^2*4 + 19^2*6 + 10^2*6 + 5^2*6 + 3^2*4 + 4
  EXPECT_NEAR(p[0][0], 0.5 / 37.5, 1e-6);
  EXPECT_NEAR(p[0][2], 0.1, 1e-6);
  EXPECT_NEAR(p[1][2], std::sqrt(0.1 * 0.2), 1e-6);
  EXPECT_NEAR(p[2][2], 0.1 * std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(p[2][3], 0.1 / std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(p.back()[0], 0.5, 1e-6);
  EXPECT_NEAR(p.back()[2], 0.88 / std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(p.back()[3], 1.0, 1e-6);  // 0.88 * sqrt(2) clipped
  auto t = torchvision_default_boxes(std::vector<std::vector<float>>(6, {2.f, 3.f}),
                                     {20, 10, 5, 3, 2, 1}, 0.2f, 0.95f);
  ASSERT_EQ(t.size(), 3234u);  // SSDlite320: 6 boxes per cell
  EXPECT_NEAR(t[0][0], 0.025, 1e-6);
  EXPECT_NEAR(t[0][2], 0.2, 1e-6);
  EXPECT_NEAR(t[1][2], std::sqrt(0.2 * 0.35), 1e-6);
  EXPECT_NEAR(t.back()[2], 0.95 / std::sqrt(3.0), 1e-6);
}

TEST(Ssd, VarianceDecodingAndPerClassSelection) {
  std::vector<std::array<float, 4>> priors = {{0.5f, 0.5f, 0.2f, 0.2f}, {0.5f, 0.5f, 0.2f, 0.2f}};
  const float l2 = std::log(2.f) / 0.2f;
  std::vector<float> loc = {1, 0, l2, 0, 0, 0, 0, 0};
  auto b = decode_ssd_boxes(loc.data(), priors, 0.1f, 0.2f, false);
  EXPECT_NEAR(b[0].x1, 0.52 - 0.2, 1e-5);  // cx 0.5 + 1*0.1*0.2, w 0.2*2
  EXPECT_NEAR(b[0].x2, 0.52 + 0.2, 1e-5);
  EXPECT_NEAR(b[0].y1, 0.4, 1e-5);
  // TF order [ty, tx, th, tw] with priors [yc, xc, h, w].
  std::vector<float> loc_tf = {0, 1, 0, l2};
  auto bt = decode_ssd_boxes(loc_tf.data(), {priors[0]}, 0.1f, 0.2f, true);
  EXPECT_NEAR(bt[0].x1, 0.32, 1e-5);
  // Scores [n, c]: background column 0 never selected; per-class NMS.
  std::vector<BoxXYXY> boxes = {{0, 0, 1, 1}, {0, 0, 1, 1}};
  std::vector<float> scores = {0.99f, 0.6f, 0.3f, 0.1f, 0.5f, 0.4f};
  NmsParams p;
  p.conf = 0.35f;
  p.iou = 0.5f;
  auto d = ssd_select(boxes, scores.data(), 2, 3, 0, p);
  ASSERT_EQ(d.size(), 2u);  // (0, c1) 0.6 and (1, c1) suppressed; (1, c2) 0.4 kept
  EXPECT_EQ(d[0].cls, 1);
  EXPECT_EQ(d[1].cls, 2);
  std::vector<float> logits = {0, std::log(3.f)};
  softmax_rows(logits.data(), 1, 2);
  EXPECT_NEAR(logits[1], 0.75, 1e-6);
}

// ---- semantic ----
TEST(Semantic, LogitsUpsampledBilinearThenArgmax) {
  // 2 classes on a 2x2 map, image 4x4 (stretch): class 1 logits rise left to right.
  std::vector<float> logits = {0,  0, 0,  0,   // class 0
                               -1, 1, -1, 1};  // class 1
  ImageGeometry g = stretch_geometry(4, 4, 2, 2);
  cv::Mat lab = semantic_from_logits(logits.data(), 2, 2, 2, g);
  // u = (x + 0.5) / 2 - 0.5 -> -0.25 (clamped), 0.25, 0.75, 1.25: values -1, -0.5, 0.5, 1.
  for (int y = 0; y < 4; ++y) {
    EXPECT_EQ(lab.at<int32_t>(y, 0), 0);
    EXPECT_EQ(lab.at<int32_t>(y, 1), 0);
    EXPECT_EQ(lab.at<int32_t>(y, 2), 1);
    EXPECT_EQ(lab.at<int32_t>(y, 3), 1);
  }
  std::vector<int64_t> labels = {3, 4, 5, 6};
  lab = semantic_from_labels(labels.data(), 2, 2, g);
  EXPECT_EQ(lab.at<int32_t>(0, 0), 3);
  EXPECT_EQ(lab.at<int32_t>(3, 3), 6);
  EXPECT_EQ(lab.at<int32_t>(1, 2), 4);
}

// ---- DB text ----
TEST(DbText, RectangleIsExpandedByAreaTimesRatioOverPerimeter) {
  // A 60x20 block of probability 0.9 at x 20..79, y 20..39 in a 100x60 map. minAreaRect of its
  // contour is 59x19; unclip distance = 59*19*1.5 / (2*(59+19)) = 10.78, so the box grows to
  // about 80.6 x 40.6 around the same centre (49.5, 29.5): x 9..90, y 9..50.
  std::vector<float> prob(100 * 60, 0.05f);
  for (int y = 20; y < 40; ++y)
    for (int x = 20; x < 80; ++x) prob[y * 100 + x] = 0.9f;
  auto boxes = db_boxes(prob.data(), 60, 100, 100, 60, DbParams{});
  ASSERT_EQ(boxes.size(), 1u);
  const auto& b = boxes[0];
  EXPECT_NEAR(b.score, 0.9, 0.02);
  EXPECT_NEAR(b.pts[0].x, 9, 1.01);  // top-left
  EXPECT_NEAR(b.pts[0].y, 9, 1.01);
  EXPECT_NEAR(b.pts[2].x, 90, 1.01);  // bottom-right
  EXPECT_NEAR(b.pts[2].y, 50, 1.01);
  // Scaled to a 200x120 original; a low-probability block is dropped by box_thresh.
  auto scaled = db_boxes(prob.data(), 60, 100, 200, 120, DbParams{});
  EXPECT_NEAR(scaled[0].pts[2].x, 180, 2.01);
  for (auto& v : prob) v = v > 0.5f ? 0.5f : v;
  EXPECT_TRUE(db_boxes(prob.data(), 60, 100, 100, 60, DbParams{}).empty());
}

// ---- Predictor and CLI on a model built in code ----
namespace {
std::string write_demo_model(const fs::path& dir) {
  std::string p = (dir / "tiny.onnx").string();
  std::ofstream(p, std::ios::binary) << make_demo_detector().serialize();
  return p;
}
}  // namespace

TEST(Predictor, TinyDetectorFamilyNamesAndBoxesInImage) {
  fs::path dir = test::temp_dir("predictor");
  PredictOptions opt;
  opt.conf = 0.01f;
  Predictor p(write_demo_model(dir), opt);
  EXPECT_EQ(p.family(), "yolov8");
  EXPECT_EQ(p.task(), Task::detect);
  EXPECT_EQ(p.names(), (std::vector<std::string>{"dot", "ring"}));
  cv::Mat img(90, 160, CV_8UC3, cv::Scalar(30, 60, 90));
  cv::circle(img, {50, 40}, 12, cv::Scalar(255, 255, 255), cv::FILLED);
  Prediction r = p.predict(img);
  EXPECT_EQ(r.image_size, img.size());
  EXPECT_LE(r.detections.size(), 300u);
  for (const auto& d : r.detections) {
    EXPECT_GE(d.x1, 0);
    EXPECT_LE(d.x2, 160);
    EXPECT_LE(d.y2, 90);
    EXPECT_TRUE(d.label == "dot" || d.label == "ring");
  }
  for (size_t i = 1; i < r.detections.size(); ++i)
    EXPECT_GE(r.detections[i - 1].score, r.detections[i].score);
  EXPECT_THROW(p.predict(cv::Mat()), InputError);
  opt.conf = 2;
  EXPECT_THROW(Predictor(write_demo_model(dir), opt), InputError);
  fs::remove_all(dir);
}

TEST(PredictCli, FolderWithBadFilesContinuesAndNeverOverwritesInputs) {
  fs::path dir = test::temp_dir("predict_cli");
  std::string model = write_demo_model(dir), out;
  fs::create_directories(dir / "imgs");
  cv::Mat img(48, 64, CV_8UC3, cv::Scalar(10, 200, 10));
  cv::imwrite((dir / "imgs" / "a.png").string(), img);
  cv::imwrite((dir / "imgs" / "000000000042.jpg").string(), img);
  std::ofstream(dir / "imgs" / "broken.jpg") << "not a jpeg";
  std::string cli = std::string(VISIONRT_CLI) + " predict -m " + model + " --conf 0.01 ";
  // --out is the input folder itself: inputs stay untouched, outputs get new names.
  auto before = fs::file_size(dir / "imgs" / "a.png");
  int rc = test::run_command(
      cli + (dir / "imgs").string() + " --out " + (dir / "imgs").string() + " --save-txt", &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("broken.jpg: not a JPEG, PNG, BMP, TIFF, WebP or PNM image"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("1 item(s) failed"), std::string::npos) << out;
  EXPECT_NE(out.find("a.png: 64x48"), std::string::npos) << out;
  EXPECT_EQ(fs::file_size(dir / "imgs" / "a.png"), before);
  EXPECT_TRUE(fs::exists(dir / "imgs" / "a_2.png"));
  EXPECT_TRUE(fs::exists(dir / "imgs" / "labels" / "a_2.txt"));
  auto j = nlohmann::json::parse(std::ifstream(dir / "imgs" / "predictions.json"));
  ASSERT_TRUE(j.is_array());
  bool has42 = false;
  for (const auto& r : j) {
    has42 |= r["image_id"] == 42;  // numeric file stems become COCO image ids
    EXPECT_EQ(r["bbox"].size(), 4u);
  }
  EXPECT_TRUE(has42 || j.empty());
  // Empty folder, missing file, wrong task: one clear message, non-zero exit.
  fs::create_directories(dir / "empty");
  EXPECT_NE(test::run_command(cli + (dir / "empty").string(), &out), 0);
  EXPECT_NE(out.find("no images or videos"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli + (dir / "missing.jpg").string(), &out), 0);
  EXPECT_NE(out.find("missing.jpg: no such file"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli + "--task segment " + (dir / "imgs" / "a.png").string(), &out),
            0);
  EXPECT_NE(out.find("--task segment but the model is a detect"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(PredictCli, VideoFramesAreAnnotatedAndCorruptVideosReported) {
  fs::path dir = test::temp_dir("predict_video");
  std::string model = write_demo_model(dir), out;
  {
    cv::VideoWriter w((dir / "clip.avi").string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10,
                      cv::Size(80, 60));
    ASSERT_TRUE(w.isOpened());
    for (int f = 0; f < 5; ++f) {
      cv::Mat frame(60, 80, CV_8UC3, cv::Scalar(20, 20, 20));
      cv::circle(frame, {10 + f * 12, 30}, 6, cv::Scalar(255, 255, 255), cv::FILLED);
      w.write(frame);
    }
  }
  std::ofstream(dir / "bad.mp4") << "garbage, not a video";
  std::string cli = std::string(VISIONRT_CLI) + " predict -m " + model + " --conf 0.01 --out " +
                    (dir / "out").string() + " ";
  ASSERT_EQ(test::run_command(cli + (dir / "clip.avi").string(), &out), 0) << out;
  EXPECT_NE(out.find("clip.avi: 5 frames"), std::string::npos) << out;
  cv::VideoCapture cap((dir / "out" / "clip.mp4").string());
  ASSERT_TRUE(cap.isOpened());
  EXPECT_EQ(static_cast<int>(cap.get(cv::CAP_PROP_FRAME_COUNT)), 5);
  EXPECT_FALSE(fs::exists(dir / "out" / "clip.mp4.part.mp4"));
  auto j = nlohmann::json::parse(std::ifstream(dir / "out" / "predictions.json"));
  int64_t max_id = -1;
  for (const auto& r : j) max_id = std::max<int64_t>(max_id, r["image_id"].get<int64_t>());
  EXPECT_LE(max_id, 4);  // image_id is the frame index
  EXPECT_EQ(test::run_command(cli + (dir / "bad.mp4").string(), &out), 1);
  EXPECT_NE(out.find("bad.mp4: cannot open the video"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(DemoImage, LinesAreInsideTheImageAndDistinct) {
  std::vector<RenderedLine> lines;
  cv::Mat img = render_text_demo(&lines);
  ASSERT_GE(lines.size(), 5u);
  for (const auto& l : lines) {
    EXPECT_FALSE(l.box.empty()) << l.text;
    EXPECT_EQ(l.box & cv::Rect(0, 0, img.cols, img.rows), l.box) << l.text;
  }
}

TEST(Nms, ManyBoxesGiveTheSameResultAsTheQuadraticLoop) {
  // Above 512 candidates nms() finds overlaps through an x-sorted window; the kept list must be
  // exactly the plain greedy loop's (written out here), for clustered boxes, the class-offset
  // layout of batched NMS exports, degenerate boxes, ties, thresholds 0 / 0.5 / 0.9 and max_keep.
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> pos(0.f, 300.f), size(0.f, 80.f), score(0.f, 1.f);
  for (int layout = 0; layout < 2; ++layout) {
    std::vector<BoxXYXY> b;
    std::vector<float> s;
    for (int i = 0; i < 3000; ++i) {
      float x = pos(rng), y = pos(rng), w = size(rng), h = size(rng);
      if (i % 97 == 0) w = 0;                                               // no area
      const float off = layout ? static_cast<float>(i % 40) * 401.f : 0.f;  // batched_nms
      b.push_back({x + off, y + off, x + w + off, y + h + off});
      s.push_back(i % 13 == 0 ? 0.5f : score(rng));  // ties
    }
    for (float th : {0.f, 0.5f, 0.9f})
      for (int64_t keep : {int64_t(-1), int64_t(100)}) {
        std::vector<int32_t> order(b.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t p, int32_t q) { return s[p] > s[q]; });
        std::vector<char> gone(b.size(), 0);
        std::vector<int32_t> want;
        for (size_t oi = 0; oi < order.size(); ++oi) {
          const int32_t i = order[oi];
          if (gone[i]) continue;
          want.push_back(i);
          if (keep > 0 && static_cast<int64_t>(want.size()) >= keep) break;
          for (size_t oj = oi + 1; oj < order.size(); ++oj)
            if (box_iou_xyxy(b[i], b[order[oj]]) > th) gone[order[oj]] = 1;
        }
        EXPECT_EQ(nms(b, s, {}, th, keep), want) << "layout " << layout << " threshold " << th;
      }
  }
}
