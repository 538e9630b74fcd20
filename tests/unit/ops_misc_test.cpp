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
