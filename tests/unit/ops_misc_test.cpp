// Misc-family ops on hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/node_runner.hpp"

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
