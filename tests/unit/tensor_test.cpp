// Tensor basics: dtype sizes, half-precision conversion against hand-computed bit patterns.
#include <gtest/gtest.h>

#include "visionrt/tensor.hpp"

using namespace visionrt;

TEST(Tensor, HalfConversionKnownBits) {
  EXPECT_EQ(f16(1.0f).bits, 0x3c00);
  EXPECT_EQ(f16(-2.0f).bits, 0xc000);
  EXPECT_EQ(f16(65504.0f).bits, 0x7bff);
  EXPECT_EQ(f16(1e6f).bits, 0x7c00);                    // overflow -> inf
  EXPECT_EQ(f16(5.960464477539063e-08f).bits, 0x0001);  // smallest subnormal
  EXPECT_FLOAT_EQ(static_cast<float>(f16(0.333251953125f)), 0.333251953125f);
  EXPECT_EQ(bf16(1.0f).bits, 0x3f80);
  EXPECT_FLOAT_EQ(static_cast<float>(bf16(3.140625f)), 3.140625f);
}

TEST(Tensor, CreateCastReshape) {
  Tensor t = Tensor::from_vector<float>({2, 3}, {1.5f, -2.5f, 3, 4, 5, 6});
  EXPECT_EQ(t.numel(), 6u);
  EXPECT_EQ(t.describe(), "f32[2,3]");
  Tensor i = t.cast(DType::i64);
  EXPECT_EQ(i.data<int64_t>()[0], 1);
  EXPECT_EQ(i.data<int64_t>()[1], -2);
  EXPECT_THROW(t.reshaped({4, 2}), InputError);
  EXPECT_THROW(t.data<int32_t>(), Error);
  EXPECT_EQ(t.reshaped({3, 2}).shape(), (Shape{3, 2}));
}

TEST(Tensor, RejectsAbsurdShapes) {
  EXPECT_THROW(Tensor(DType::f32, {-1, 3}), InputError);
  EXPECT_THROW(Tensor(DType::f32, {1LL << 40, 1LL << 40}), InputError);  // numel overflows
  EXPECT_THROW(Tensor(DType::f32, {1LL << 19, 1LL << 19}), InputError);  // 1 TiB > physical memory
}
