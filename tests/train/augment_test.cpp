// Mosaic, letterbox and the affine step against hand-computed placements: where each image, box
// and mask lands, which boxes the candidate filter drops, and that a zero-range affine step is
// the identity.
#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "train/augment.hpp"

using namespace visionrt;
using namespace visionrt::train;

namespace {

Labeled solid(int w, int h, uint8_t v, std::array<float, 5> box, bool mask) {
  Labeled l;
  l.bgr = cv::Mat(h, w, CV_8UC3, cv::Scalar(v, v, v));
  l.boxes.push_back(box);
  if (mask) {
    cv::Mat m = cv::Mat::zeros(h, w, CV_8UC1);
    m(cv::Rect(static_cast<int>(box[1]), static_cast<int>(box[2]),
               static_cast<int>(box[3] - box[1]), static_cast<int>(box[4] - box[2])))
        .setTo(1);
    l.masks.push_back(m);
  }
  return l;
}

}  // namespace

TEST(Augment, MosaicPlacesEachImageAroundTheCentre) {
  const int s = 64;
  // Image k has value 10 * (k + 1) and one box; the centre is (70, 50).
  std::array<Labeled, 4> four{
      solid(64, 32, 10, {0, 10, 5, 30, 25}, true), solid(32, 64, 20, {1, 2, 2, 12, 40}, true),
      solid(64, 48, 30, {2, 50, 40, 60, 47}, true), solid(40, 64, 40, {3, 0, 0, 8, 8}, true)};
  const Labeled m = mosaic4(four, s, {70, 50});
  ASSERT_EQ(m.bgr.size(), cv::Size(128, 128));
  // Top-left: bottom-right corner at the centre, offset (70 - 64, 50 - 32) = (6, 18).
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(18, 6)[0], 10);
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(17, 6)[0], 114);
  // Top-right: from x 70, y 50 - 64 < 0 so the image's top 14 rows are cut.
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(0, 70)[0], 20);
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(49, 101)[0], 20);
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(49, 102)[0], 114);
  // Bottom-left: ends at x 70, starts at y 50, its left 0 columns cut (70 - 64 = 6 >= 0).
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(50, 6)[0], 30);
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(97, 69)[0], 30);
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(98, 69)[0], 114);
  // Bottom-right: from (70, 50), 40 x 64.
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(113, 109)[0], 40);
  EXPECT_EQ(m.bgr.at<cv::Vec3b>(114, 109)[0], 114);
  ASSERT_EQ(m.boxes.size(), 4u);
  auto expect_box = [&](size_t i, std::array<float, 5> b) {
    for (size_t k = 0; k < 5; ++k) EXPECT_FLOAT_EQ(m.boxes[i][k], b[k]) << "box " << i << " " << k;
  };
  expect_box(0, {0, 16, 23, 36, 43});  // + (6, 18)
  expect_box(1, {1, 72, 0, 82, 26});   // + (70, -14), y clipped at 0
  expect_box(2, {2, 56, 90, 66, 97});  // + (6, 50)
  expect_box(3, {3, 70, 50, 78, 58});  // + (70, 50)
  // Masks travel with their image and are cut with it.
  ASSERT_EQ(m.masks.size(), 4u);
  EXPECT_EQ(cv::boundingRect(m.masks[0]), cv::Rect(16, 23, 20, 20));
  EXPECT_EQ(cv::boundingRect(m.masks[1]), cv::Rect(72, 0, 10, 26));
}

TEST(Augment, LetterboxMatchesThePredictorsGeometry) {
  // 100 x 50 to 64: gain 0.64, resized 64 x 32, 16 rows of padding above and below.
  const Labeled l = letterbox(solid(100, 50, 200, {0, 25, 10, 75, 40}, false), 64);
  ASSERT_EQ(l.bgr.size(), cv::Size(64, 64));
  EXPECT_EQ(l.bgr.at<cv::Vec3b>(15, 30)[0], 114);
  EXPECT_EQ(l.bgr.at<cv::Vec3b>(16, 30)[0], 200);
  EXPECT_EQ(l.bgr.at<cv::Vec3b>(47, 30)[0], 200);
  EXPECT_EQ(l.bgr.at<cv::Vec3b>(48, 30)[0], 114);
  EXPECT_FLOAT_EQ(l.boxes[0][1], 16);
  EXPECT_FLOAT_EQ(l.boxes[0][2], 16 + 6.4f);
  EXPECT_FLOAT_EQ(l.boxes[0][3], 48);
  EXPECT_FLOAT_EQ(l.boxes[0][4], 16 + 25.6f);
}

TEST(Augment, AffineMovesBoxesAndFiltersCandidates) {
  Labeled l = solid(64, 64, 50, {0, 10, 10, 30, 20}, false);
  l.boxes.push_back({1, 40, 10, 63, 40});
  l.boxes.push_back({2, 0, 0, 40, 0.5f});  // 0.5 px tall: never a candidate
  // Half size, shifted by (8, 4).
  const Labeled w = warp_affine(l, 64, cv::Matx23d(0.5, 0, 8, 0, 0.5, 4), 0.5);
  ASSERT_EQ(w.boxes.size(), 2u);
  EXPECT_FLOAT_EQ(w.boxes[0][1], 13);
  EXPECT_FLOAT_EQ(w.boxes[0][2], 9);
  EXPECT_FLOAT_EQ(w.boxes[0][3], 23);
  EXPECT_FLOAT_EQ(w.boxes[0][4], 14);
  EXPECT_FLOAT_EQ(w.boxes[1][1], 28);
  EXPECT_FLOAT_EQ(w.boxes[1][3], 39.5f);
  // Shifted left by 62: box 0 leaves, box 1 keeps 1 px of width (not > 2): both dropped.
  EXPECT_TRUE(warp_affine(l, 64, cv::Matx23d(1, 0, -62, 0, 1, 0), 1.0).boxes.empty());
  // Box 0 alone, half outside: kept (area ratio 0.5 > 0.1); 95 % outside: dropped (0.05).
  Labeled one = solid(64, 64, 50, {0, 10, 10, 30, 20}, false);
  const Labeled half = warp_affine(one, 64, cv::Matx23d(1, 0, -20, 0, 1, 0), 1.0);
  ASSERT_EQ(half.boxes.size(), 1u);
  EXPECT_FLOAT_EQ(half.boxes[0][1], 0);
  EXPECT_FLOAT_EQ(half.boxes[0][3], 10);
  EXPECT_TRUE(warp_affine(one, 64, cv::Matx23d(1, 0, -29, 0, 1, 0), 1.0).boxes.empty());
}

TEST(Augment, ZeroRangeAffineIsTheIdentityAndRotationUsesTheMask) {
  Labeled l = solid(64, 64, 0, {0, 20, 20, 44, 44}, true);
  cv::randu(l.bgr, 0, 255);
  std::mt19937_64 rng(1);
  const Labeled same = random_affine(l, 64, AffineOptions{0, 0, 0, 0}, rng);
  EXPECT_EQ(cv::norm(same.bgr, l.bgr, cv::NORM_INF), 0);
  ASSERT_EQ(same.boxes.size(), 1u);
  for (size_t k = 0; k < 5; ++k) EXPECT_FLOAT_EQ(same.boxes[0][k], l.boxes[0][k]);
  // 45 degrees about the centre: the corners' box is sqrt(2) * 24 = 33.9 wide, the rotated
  // square (a diamond) spans the same, so both agree within a pixel; a thin diagonal object shows
  // the difference: its mask's box is far smaller than its corners' box.
  const cv::Mat rot = cv::getRotationMatrix2D(cv::Point2f(32, 32), 45, 1.0);
  const cv::Matx23d m(rot.at<double>(0, 0), rot.at<double>(0, 1), rot.at<double>(0, 2),
                      rot.at<double>(1, 0), rot.at<double>(1, 1), rot.at<double>(1, 2));
  const Labeled r = warp_affine(l, 64, m, 1.0);
  ASSERT_EQ(r.boxes.size(), 1u);
  EXPECT_NEAR(r.boxes[0][3] - r.boxes[0][1], 24 * std::sqrt(2.0), 1.5);
  Labeled thin = solid(64, 64, 0, {0, 10, 10, 54, 54}, false);
  cv::Mat diag = cv::Mat::zeros(64, 64, CV_8UC1);
  cv::line(diag, {10, 53}, {53, 10}, cv::Scalar(1), 3);
  thin.masks.push_back(diag);
  const Labeled t = warp_affine(thin, 64, m, 1.0);  // the anti-diagonal becomes axis-aligned
  ASSERT_EQ(t.boxes.size(), 1u);
  const float tw = t.boxes[0][3] - t.boxes[0][1], th = t.boxes[0][4] - t.boxes[0][2];
  EXPECT_LT(std::min(tw, th), 8);
  EXPECT_GT(std::max(tw, th), 55);
}
