#include "runtime/Tensor.h"

#include <gtest/gtest.h>

using namespace loom::rt;

TEST(RuntimeTensor, ShapeStringsFollowNumpy) {
  EXPECT_EQ(shapeStr({}), "()");
  EXPECT_EQ(shapeStr({3}), "(3,)");
  EXPECT_EQ(shapeStr({2, 4, 5}), "(2, 4, 5)");
  EXPECT_EQ(shapeStr({0, 7}), "(0, 7)");
}

TEST(RuntimeTensor, Describe) {
  EXPECT_EQ(Tensor(DType::F32, {2, 4, 5}).describe(), "f32 (2, 4, 5)");
  EXPECT_EQ(Tensor(DType::I32, {}).describe(), "i32 ()");
  EXPECT_EQ(Tensor(DType::I32, {3}).describe(), "i32 (3,)");
  EXPECT_STREQ(dtypeName(DType::F32), "f32");
  EXPECT_STREQ(dtypeName(DType::I32), "i32");
}

TEST(RuntimeTensor, StorageIsZeroedAndAligned) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{}, {1}, {3, 5}, {2, 3, 7}, {1000}}) {
    Tensor t(DType::F32, shape);
    ASSERT_TRUE(t.valid());
    ASSERT_NE(t.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u) << t.describe();
    EXPECT_EQ(t.bytes(), (size_t)t.numel() * 4);
    for (int64_t i = 0; i < t.numel(); ++i)
      ASSERT_EQ(t.f32()[i], 0.0f);
  }
  EXPECT_EQ(Tensor(DType::F32, {}).numel(), 1);
  EXPECT_EQ(Tensor(DType::F32, {2, 3, 4}).numel(), 24);
}

TEST(RuntimeTensor, ZeroSizeIsValidWithoutStorage) {
  Tensor t(DType::I32, {4, 0, 2});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.bytes(), 0u);
  EXPECT_TRUE(t.valid());
  Tensor c = t.clone();
  EXPECT_EQ(c.shape(), t.shape());
  EXPECT_TRUE(c.valid());
}

TEST(RuntimeTensor, CopiesShareCloneDoesNot) {
  Tensor a(DType::I32, {2, 2});
  a.i32()[3] = 7;
  Tensor shared = a;
  Tensor deep = a.clone();
  a.i32()[0] = 5;
  EXPECT_EQ(shared.i32()[0], 5);
  EXPECT_EQ(deep.i32()[0], 0);
  EXPECT_EQ(deep.i32()[3], 7);
  EXPECT_NE(deep.data(), a.data());
  EXPECT_EQ(deep.dtype(), DType::I32);
  EXPECT_EQ(deep.shape(), a.shape());
}

TEST(RuntimeTensor, DefaultIsAnEmptyF32Scalar) {
  // A default tensor has no storage yet claims one element; valid() says it is unusable.
  Tensor t;
  EXPECT_EQ(t.rank(), 0);
  EXPECT_FALSE(t.valid());
}
