// Misc-family ops on hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/node_runner.hpp"
#include "visionrt/error.hpp"

using namespace visionrt;

TEST(MiscOps, HannWindowPeriodic) {
  Tensor n = Tensor::scalar<int32_t>(4);
  auto out = run_node_ref(make_node("HannWindow", 1, 1), 17, {&n});
  std::vector<float> want = {0.f, 0.5f, 1.f, 0.5f};
  ASSERT_EQ(out[0].shape(), (Shape{4}));
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[0].data<float>()[i], want[i], 1e-6);
}

TEST(MiscOps, DetOfBatchedMatrices) {
  Tensor x = Tensor::from_vector<float>({2, 2, 2}, {1, 2, 3, 4, 2, 0, 0, 3});
  auto out = run_node_ref(make_node("Det", 1, 1), 17, {&x});
  ASSERT_EQ(out[0].shape(), (Shape{2}));
  EXPECT_FLOAT_EQ(out[0].data<float>()[0], -2.f);
  EXPECT_FLOAT_EQ(out[0].data<float>()[1], 6.f);
}

TEST(MiscOps, UniqueSortedAndFirstOccurrence) {
  Tensor x = Tensor::from_vector<int64_t>({6}, {3, 1, 3, 2, 1, 3});
  auto s = run_node_ref(make_node("Unique", 1, 4), 17, {&x});
  EXPECT_EQ(s[0].to_i64_vector(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(s[1].to_i64_vector(), (std::vector<int64_t>{1, 3, 0}));
  EXPECT_EQ(s[2].to_i64_vector(), (std::vector<int64_t>{2, 0, 2, 1, 0, 2}));
  EXPECT_EQ(s[3].to_i64_vector(), (std::vector<int64_t>{2, 1, 3}));
  auto u = run_node_ref(make_node("Unique", 1, 4, {{"sorted", attr_int(0)}}), 17, {&x});
  EXPECT_EQ(u[0].to_i64_vector(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(u[2].to_i64_vector(), (std::vector<int64_t>{0, 1, 0, 2, 1, 0}));
}

TEST(MiscOps, MaxUnpoolRejectsOutOfRangeIndex) {
  Tensor x = Tensor::from_vector<float>({1, 1, 1, 1}, {5});
  Tensor i = Tensor::from_vector<int64_t>({1, 1, 1, 1}, {4});  // output is 2x2: 4 is past the end
  Node n = make_node("MaxUnpool", 2, 1,
                     {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}});
  EXPECT_THROW(run_node_ref(n, 17, {&x, &i}), InputError);
  Tensor ok = Tensor::from_vector<int64_t>({1, 1, 1, 1}, {3});
  auto out = run_node_ref(n, 17, {&x, &ok});
  EXPECT_EQ(out[0].to_i64_vector(), (std::vector<int64_t>{0, 0, 0, 5}));
}

TEST(MiscOps, RnnSingleStepByHand) {
  // H = tanh(x*W + h0*R + Wb + Rb) with 1 input, 1 hidden unit.
  Tensor x = Tensor::from_vector<float>({1, 1, 1}, {2});
  Tensor w = Tensor::from_vector<float>({1, 1, 1}, {0.5f});
  Tensor r = Tensor::from_vector<float>({1, 1, 1}, {0.25f});
  Tensor b = Tensor::from_vector<float>({1, 2}, {0.1f, -0.2f});
  Tensor h0 = Tensor::from_vector<float>({1, 1, 1}, {1});
  Node n = make_node("RNN", 6, 2, {{"hidden_size", attr_int(1)}});
  auto out = run_node_ref(n, 17, {&x, &w, &r, &b, nullptr, &h0});
  EXPECT_NEAR(out[1].data<float>()[0], std::tanh(1.0 + 0.25 + 0.1 - 0.2), 1e-6);
}

// ---- Opsets 19 and 20: the semantics they changed or added ----

namespace {
std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for (size_t i = 0; i < t.numel(); ++i) v.push_back(t.at_f64(i));
  return v;
}
}  // namespace

TEST(Opset19And20, ResizeHalfPixelSymmetric) {
  // ONNX's test_resize_upsample_scales_linear_half_pixel_symmetric, checked by hand: width
  // 2 x 2.94 = 5.88 -> 5 columns, adjustment 5 / 5.88, offset 1 - adjustment; column 1 maps to
  // 0.1499 + 1.5 / 2.94 - 0.5 = 0.1599 -> 1 + 0.1599.
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor scales = Tensor::from_vector<float>({4}, {1, 1, 2.3f, 2.94f});
  Node n = make_node("Resize", 3, 1,
                     {{"mode", attr_string("linear")},
                      {"coordinate_transformation_mode", attr_string("half_pixel_symmetric")}});
  auto out = run_node_ref(n, 19, {&x, nullptr, &scales});
  ASSERT_EQ(out[0].shape(), (Shape{1, 1, 4, 5}));
  const std::vector<float> want = {1.0f,        1.15986395f, 1.5f,        1.84013605f, 2.0f,
                                   1.56521738f, 1.72508133f, 2.06521738f, 2.40535343f, 2.56521738f,
                                   2.43478262f, 2.59464657f, 2.93478262f, 3.27491867f, 3.43478262f,
                                   3.0f,        3.15986395f, 3.5f,        3.84013605f, 4.0f};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(out[0].data<float>()[i], want[i], 1e-5) << i;
}

TEST(Opset19And20, GeluBothFormulas) {
  Tensor x = Tensor::from_vector<float>({4}, {-1, 0, 1, 2});
  auto erf = run_node_ref(make_node("Gelu", 1, 1), 20, {&x});
  auto tanh =
      run_node_ref(make_node("Gelu", 1, 1, {{"approximate", attr_string("tanh")}}), 20, {&x});
  // 0.5 x (1 + erf(x / sqrt 2)) and 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
  const float want_erf[] = {-0.15865525f, 0.f, 0.84134475f, 1.95449974f};
  const float want_tanh[] = {-0.15880801f, 0.f, 0.84119199f, 1.95459769f};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(erf[0].data<float>()[i], want_erf[i], 1e-6) << i;
    EXPECT_NEAR(tanh[0].data<float>()[i], want_tanh[i], 1e-6) << i;
  }
  Tensor bad = x;
  EXPECT_THROW(
      run_node_ref(make_node("Gelu", 1, 1, {{"approximate", attr_string("fast")}}), 20, {&bad}),
      Error);
}

TEST(Opset19And20, PadWrap) {
  Tensor x = Tensor::from_vector<float>({3}, {1, 2, 3});
  Tensor pads = Tensor::from_vector<int64_t>({2}, {2, 4});
  auto out = run_node_ref(make_node("Pad", 2, 1, {{"mode", attr_string("wrap")}}), 19, {&x, &pads});
  EXPECT_EQ(values(out[0]), (std::vector<double>{2, 3, 1, 2, 3, 1, 2, 3, 1}));
  // Before opset 19 "wrap" is not a mode.
  EXPECT_THROW(
      run_node_ref(make_node("Pad", 2, 1, {{"mode", attr_string("wrap")}}), 18, {&x, &pads}),
      Error);
}

TEST(Opset19And20, DftAxisIsAnInput) {
  // [1, 4, 1] real signal 1, 2, 3, 4 along axis -2 (opset 20's default): 10, -2+2i, -2, -2-2i.
  Tensor x = Tensor::from_vector<float>({1, 4, 1}, {1, 2, 3, 4});
  auto out = run_node_ref(make_node("DFT", 1, 1), 20, {&x});
  ASSERT_EQ(out[0].shape(), (Shape{1, 4, 2}));
  const std::vector<double> want = {10, 0, -2, 2, -2, 0, -2, -2};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(out[0].at_f64(i), want[i], 1e-5) << i;
  Tensor axis = Tensor::scalar<int64_t>(1);
  auto same = run_node_ref(make_node("DFT", 3, 1), 20, {&x, nullptr, &axis});
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(same[0].at_f64(i), want[i], 1e-5) << i;
}

TEST(Opset19And20, GridSampleLinearIsBilinear) {
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor grid = Tensor::from_vector<float>({1, 1, 3, 2}, {-0.3f, 0.2f, 0.7f, -0.9f, 0.1f, 0.5f});
  auto a = run_node_ref(make_node("GridSample", 2, 1, {{"mode", attr_string("bilinear")}}), 16,
                        {&x, &grid});
  auto b = run_node_ref(make_node("GridSample", 2, 1, {{"mode", attr_string("linear")}}), 20,
                        {&x, &grid});
  auto c = run_node_ref(make_node("GridSample", 2, 1), 20, {&x, &grid});  // default: linear
  EXPECT_EQ(values(a[0]), values(b[0]));
  EXPECT_EQ(values(a[0]), values(c[0]));
  EXPECT_EQ(a[0].numel(), 3u);
}

// ---- DeformConv (opset 19) ----

namespace {

Node deform_node(int64_t group, int64_t offset_group, std::vector<int64_t> strides,
                 std::vector<int64_t> pads) {
  return make_node("DeformConv", 5, 1,
                   {{"group", attr_int(group)},
                    {"offset_group", attr_int(offset_group)},
                    {"strides", attr_ints(strides)},
                    {"pads", attr_ints(pads)}});
}

}  // namespace

TEST(DeformConv, MatchesTorchvisionDeformConv2d) {
  // torchvision 0.14 ops.deform_conv2d(x, offset, w, b, stride=2, padding=1, mask=m) on these
  // numbers (2 weight groups, 2 offset groups, offsets up to 1.6 px: samples fall outside the
  // image and between pixels). Recorded with Debian's python3-torchvision.
  Tensor x = Tensor::from_vector<float>(
      {1, 4, 3, 4}, {-0.93f, -0.43f, 0.55f,  -0.65f, 0.51f,  0.22f,  -0.6f,  -0.13f, -0.19f, 0.56f,
                     -0.63f, 0.19f,  -0.11f, -0.32f, 0.94f,  -0.83f, -0.77f, 0.07f,  0.9f,   -0.75f,
                     0.32f,  0.09f,  -0.9f,  -0.47f, -0.12f, -0.83f, -0.13f, 0.14f,  0.13f,  0.43f,
                     0.68f,  -0.92f, -0.99f, -0.8f,  -0.74f, 0.72f,  -0.63f, -0.08f, -0.03f, 0.82f,
                     0.11f,  -0.22f, -0.21f, 0.18f,  -0.32f, -0.25f, 0.29f,  0.17f});
  Tensor w = Tensor::from_vector<float>(
      {4, 2, 2, 2},
      {-0.4f,  -0.87f, 0.36f,  -0.15f, 0.49f,  0.29f,  -0.23f, 0.47f,  -0.32f, -0.33f, -0.28f,
       -0.12f, -0.73f, -0.32f, -0.98f, -0.84f, -0.49f, 0.31f,  -0.98f, 1.0f,   0.68f,  -0.53f,
       -0.71f, -0.65f, 0.25f,  0.96f,  0.93f,  -0.69f, 0.21f,  0.01f,  -0.98f, -0.97f});
  Tensor b = Tensor::from_vector<float>({4}, {0.29f, -0.39f, 0.14f, 0.4f});
  Tensor off = Tensor::from_vector<float>(
      {1, 16, 2, 3},
      {1.41f,  -1.57f, -0.62f, -0.19f, 1.39f,  0.54f,  0.01f,  0.1f,   0.41f,  -0.79f, -0.49f,
       1.03f,  0.79f,  -0.17f, -0.88f, -1.0f,  -0.43f, -1.05f, 0.16f,  1.14f,  0.93f,  -0.7f,
       1.25f,  -0.92f, -0.28f, -1.47f, -0.09f, -0.28f, -0.21f, 1.39f,  0.9f,   0.39f,  -1.34f,
       0.14f,  -1.18f, 0.24f,  0.95f,  -0.03f, 0.0f,   1.43f,  0.8f,   0.81f,  0.99f,  1.43f,
       0.42f,  -0.85f, 0.7f,   -0.06f, -0.07f, -1.21f, -0.87f, -1.0f,  -1.06f, -1.19f, 0.74f,
       -0.16f, 0.69f,  0.66f,  0.76f,  0.49f,  -0.69f, -0.87f, -0.94f, -0.15f, -0.77f, 0.41f,
       0.64f,  -0.62f, 0.1f,   1.15f,  -0.01f, -0.71f, 1.24f,  -1.42f, 0.69f,  0.6f,   -0.12f,
       0.92f,  -1.08f, -1.11f, 1.21f,  -0.34f, -0.88f, 0.59f,  -0.75f, -0.17f, -0.56f, -0.29f,
       1.59f,  -0.61f, 0.92f,  0.71f,  1.59f,  -1.16f, -1.17f, 0.81f});
  Tensor m = Tensor::from_vector<float>(
      {1, 8, 2, 3},
      {0.92f, 0.1f,  0.66f, 0.58f, 0.65f, 0.47f, 0.18f, 0.95f, 0.13f, 1.0f,  0.37f, 0.03f,
       0.85f, 0.63f, 0.79f, 0.63f, 0.82f, 0.55f, 0.93f, 0.02f, 0.39f, 0.66f, 0.45f, 0.76f,
       0.37f, 0.66f, 0.46f, 0.62f, 0.81f, 0.52f, 0.17f, 0.04f, 0.24f, 0.78f, 0.53f, 0.37f,
       0.62f, 0.03f, 0.53f, 0.08f, 0.25f, 0.84f, 0.62f, 0.58f, 0.08f, 0.88f, 0.68f, 0.81f});
  const std::vector<double> want = {
      0.210422196,  0.286764429,  0.261517182,  0.523050279,  0.27201511,   0.296355454,
      -0.191721282, -0.381427838, -0.794073561, -0.288797429, -0.377104893, -0.37418877,
      0.032647,     -0.009751505, 0.14,         0.139823645,  0.508695272,  0.177622316,
      0.50133714,   0.111704945,  0.4,          0.54817576,   0.233643498,  0.396387052};
  auto y = run_node_ref(deform_node(2, 2, {2, 2}, {1, 1, 1, 1}), 19, {&x, &w, &off, &b, &m});
  ASSERT_EQ(y[0].shape(), (Shape{1, 4, 2, 3}));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(y[0].at_f64(i), want[i], 1e-6) << i;
}

TEST(DeformConv, HandComputedCases) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> xv(2 * 3 * 5 * 6), wv(4 * 3 * 3 * 3);
  for (auto& v : xv) v = u(rng);
  for (auto& v : wv) v = u(rng);
  Tensor x = Tensor::from_vector<float>({2, 3, 5, 6}, xv);
  Tensor w = Tensor::from_vector<float>({4, 3, 3, 3}, wv);
  // Zero offsets, no mask: exactly Conv.
  Tensor zero(DType::f32, {2, 2 * 9, 5, 6});
  std::memset(zero.raw(), 0, zero.nbytes());
  Node conv = make_node("Conv", 2, 1, {{"pads", attr_ints({1, 1, 1, 1})}});
  auto want = run_node_ref(conv, 17, {&x, &w});
  auto got = run_node_ref(deform_node(1, 1, {1, 1}, {1, 1, 1, 1}), 19, {&x, &w, &zero});
  for (size_t i = 0; i < want[0].numel(); ++i)
    EXPECT_NEAR(got[0].at_f64(i), want[0].at_f64(i), 1e-5) << i;
  // A mask of 0.5 everywhere halves it.
  Tensor half(DType::f32, {2, 9, 5, 6});
  for (size_t i = 0; i < half.numel(); ++i) half.data<float>()[i] = 0.5f;
  auto halved =
      run_node_ref(deform_node(1, 1, {1, 1}, {1, 1, 1, 1}), 19, {&x, &w, &zero, nullptr, &half});
  for (size_t i = 0; i < want[0].numel(); ++i)
    EXPECT_NEAR(halved[0].at_f64(i), 0.5 * want[0].at_f64(i), 1e-5) << i;
  // 1x1 kernel, every tap moved half a pixel right: the mean of a pixel and its right
  // neighbour (the last column's neighbour is outside: zero).
  Tensor w1 = Tensor::from_vector<float>({1, 1, 1, 1}, {2.0f});
  Tensor x1 = Tensor::from_vector<float>({1, 1, 1, 3}, {1, 4, 10});
  Tensor dx = Tensor::from_vector<float>({1, 2, 1, 3}, {0, 0, 0, 0.5f, 0.5f, 0.5f});
  auto shifted = run_node_ref(deform_node(1, 1, {1, 1}, {0, 0, 0, 0}), 19, {&x1, &w1, &dx});
  const double want1[] = {2 * 2.5, 2 * 7.0, 2 * 5.0};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(shifted[0].at_f64(i), want1[i], 1e-6) << i;
  // Bad offsets: named.
  Tensor bad(DType::f32, {2, 2 * 9, 5, 5});
  try {
    run_node_ref(deform_node(1, 1, {1, 1}, {1, 1, 1, 1}), 19, {&x, &w, &bad});
    ADD_FAILURE() << "a wrong offset shape was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("offset"), std::string::npos) << e.what();
  }
}
