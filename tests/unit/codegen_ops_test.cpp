// Differential tests of the ops beyond elementwise math, matmul and loops: erf, less,
// select, iota, slice, concat, reshape (views and copies, also of loop carries), gather,
// one_hot, check_range (with the interpreter's error messages), reductions and the oneDNN
// window ops with dim expressions in their types.
#include "codegen/JIT.h"
#include "ir/Interpreter.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace loom;

using cgtest::checkText;
using cgtest::kBT;

namespace {

rt::Tensor ints(std::vector<int64_t> shape, std::vector<int32_t> v) {
  rt::Tensor t(rt::DType::I32, std::move(shape));
  std::copy(v.begin(), v.end(), t.i32());
  return t;
}

rt::Tensor floats(std::vector<int64_t> shape, float scale = 1.0f) {
  rt::Tensor t(rt::DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.f32()[i] = scale * std::sin(0.7f * (float)i + 0.3f);
  return t;
}

/// Runs both backends on the given arguments: the same outputs, or the same error.
void compareOn(const std::string &text, const std::vector<rt::Tensor> &in,
               const std::vector<rt::Tensor> &par, const std::string &label) {
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m);
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  auto want = ir::interpret(*m->main(), in, par);
  auto got = (*cf)->run(in, par);
  if (!want) {
    std::string msg = llvm::toString(want.takeError());
    ASSERT_FALSE(bool(got)) << label << ": the interpreter fails with: " << msg;
    EXPECT_EQ(llvm::toString(got.takeError()), msg) << label;
    return;
  }
  ASSERT_TRUE(bool(got)) << label << ": " << llvm::toString(got.takeError());
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < want->size(); ++i)
    cgtest::expectClose((*got)[i], (*want)[i], 1e-5, label + ", output " + std::to_string(i));
}

TEST(CodegenOps, ErfLessSelectIota) {
  checkText(R"(func @ew(%x: f32[B,T,6], %y: f32[B,T,6], %c: f32[B,1,6], %i: i32[B,T], %j: i32[T])
    -> (a, b, c, d, e, f, g) {
  %three = fill {value = 3.0} : f32[]
  %x3 = mul %x, %three : f32[B,T,6]
  %0 = erf %x3 : f32[B,T,6]
  %1 = less %x, %y : f32[B,T,6]
  %2 = less %i, %j : f32[B,T]
  %3 = select %c, %x, %y : f32[B,T,6]
  %4 = iota {axis = 1} : f32[B,T,6]
  %5 = iota {axis = 0} : i32[T]
  %6 = select %1, %x3, %y : f32[B,T,6]
  return %0, %1, %2, %3, %4, %5, %6
}
)",
            kBT);
}

// Reshapes that only drop or insert 1s are views even of strided operands (%4, %9, %10).
TEST(CodegenOps, SliceConcatReshapeViewsAndCopies) {
  checkText(R"(func @layout(%x: f32[B,T,8], %h: f32[B,6]) -> (a, b, c, d, e, f, g, h, i) {
  %0 = slice %x {axis = 2, size = 3, start = 2} : f32[B,T,3]
  %1 = concat %0, %x {axis = 2} : f32[B,T,11]
  %2 = concat %h, %h, %h {axis = 1} : f32[B,18]
  %3 = reshape %x : f32[B,T,2,4]
  %4 = reshape %0 : f32[B,1,T,3]
  %5 = tanh %3 : f32[B,T,2,4]
  %6 = slice %3 {axis = 3, size = 2, start = 1} : f32[B,T,2,2]
  %7 = reshape %6 : f32[B,T,4]
  %8 = slice %3 {axis = 2, size = 1, start = 1} : f32[B,T,1,4]
  %9 = reshape %8 : f32[B,T,4]
  %10 = reshape %8 : f32[1,B,T,4,1]
  %11 = tanh %9 : f32[B,T,4]
  %12 = sigmoid %10 : f32[1,B,T,4,1]
  return %1, %2, %3, %4, %5, %7, %0, %11, %12
}
)",
            kBT);
}

TEST(CodegenOps, BatchMatMulEveryTransposeStridedAndInALoop) {
  // The four transpose forms over [B, T, D] sequences (scores [B, T, T] as attention makes
  // them), a strided operand (a slice), rank 4, and a per-step product inside a loop (a
  // decoder step's query against every key).
  checkText(
      R"(func @bmm(%x: f32[B,T,6], %y: f32[B,T,4], %z: f32[B,2,T,3]) -> (a, b, c, d, e, f, g) {
  %0 = batch_matmul %x, %x {transpose_rhs = true} : f32[B,T,T]
  %1 = batch_matmul %0, %y : f32[B,T,4]
  %2 = batch_matmul %x, %y {transpose_lhs = true} : f32[B,6,4]
  %3 = batch_matmul %x, %0 {transpose_lhs = true, transpose_rhs = true} : f32[B,6,T]
  %4 = slice %x {axis = 2, size = 4, start = 1} : f32[B,T,4]
  %5 = batch_matmul %4, %y {transpose_rhs = true} : f32[B,T,T]
  %6 = batch_matmul %z, %z {transpose_lhs = true} : f32[B,2,3,3]
  %7 = fill {value = 0.0} : f32[B,1,6]
  %8, %9 = loop %7, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%q: f32[B,1,6], %xt: f32[B,6]) {
    %10 = batch_matmul %q, %x {transpose_rhs = true} : f32[B,1,T]
    %11 = batch_matmul %10, %x : f32[B,1,6]
    %12 = reshape %xt : f32[B,1,6]
    %13 = add %11, %12 : f32[B,1,6]
    %14 = tanh %13 : f32[B,1,6]
    yield %14, %10
  } : f32[B,1,6], f32[B,T,1,T]
  return %1, %2, %3, %5, %6, %8, %9
}
)",
      kBT);
}

TEST(CodegenOps, SwapAxes) {
  // Inner axes (attention's heads), the last axis, a strided operand, and into a loop's stack.
  checkText(R"(func @swap(%x: f32[B,T,6]) -> (a, b, c, d) {
  %0 = reshape %x : f32[B,T,2,3]
  %1 = swap_axes %0 {axis1 = 1, axis2 = 2} : f32[B,2,T,3]
  %2 = swap_axes %x {axis1 = 0, axis2 = 2} : f32[6,T,B]
  %3 = slice %x {axis = 2, size = 4, start = 1} : f32[B,T,4]
  %4 = swap_axes %3 {axis1 = 1, axis2 = 2} : f32[B,4,T]
  %5 = fill {value = 0.0} : f32[B,6]
  %6, %7 = loop %5, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,6], %xt: f32[B,6]) {
    %8 = add %h, %xt : f32[B,6]
    %9 = reshape %8 : f32[B,2,3]
    %10 = swap_axes %9 {axis1 = 1, axis2 = 2} : f32[B,3,2]
    yield %8, %10
  } : f32[B,6], f32[B,T,3,2]
  return %1, %2, %4, %7
}
)",
            kBT);
}

TEST(CodegenOps, ArgMaxOverEveryAxis) {
  checkText(R"(func @argmax(%x: f32[B,T,5]) -> (a, b, c, d) {
  %0 = argmax %x {axis = 2, keepdims = false} : i32[B,T]
  %1 = argmax %x {axis = 1, keepdims = true} : i32[B,1,5]
  %2 = argmax %x {axis = 0, keepdims = false} : i32[T,5]
  %3 = mul %x, %x : f32[B,T,5]
  %4 = cast %3 {dtype = "i32"} : i32[B,T,5]
  %5 = argmax %4 {axis = 2, keepdims = false} : i32[B,T]
  return %0, %1, %2, %5
}
)",
            kBT);
}

TEST(CodegenOps, ArgMaxTakesTheFirstMaximumAndNaN) {
  // numpy's rules: ties give the first index, a NaN is the maximum, all -inf gives 0.
  auto m = cgtest::parseIR(R"(func @argmax(%x: f32[B,4]) -> (i) {
  %0 = argmax %x {axis = 1, keepdims = false} : i32[B]
  return %0
}
)");
  ASSERT_TRUE(m);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  rt::Tensor x(rt::DType::F32, {5, 4});
  const float rows[5][4] = {
      {1, 3, 3, 2}, {-inf, -inf, -inf, -inf}, {0, nan, 7, nan}, {5, 4, 3, 2}, {-1, -2, -1, 9}};
  std::memcpy(x.f32(), rows, sizeof rows);
  auto f = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(!!f) << llvm::toString(f.takeError());
  auto got = (*f)->run({x}, {});
  ASSERT_TRUE(!!got) << llvm::toString(got.takeError());
  auto ref = ir::interpret(*m->main(), {x}, {});
  ASSERT_TRUE(!!ref) << llvm::toString(ref.takeError());
  const int32_t want[5] = {1, 0, 1, 0, 3};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*got)[0].i32()[i], want[i]) << "row " << i;
    EXPECT_EQ((*ref)[0].i32()[i], want[i]) << "row " << i;
  }
}

TEST(CodegenOps, ViewsOfCarriesAreCopiedSafely) {
  // q' is a view of p's buffer while p' overwrites it: the yield must read p first.
  checkText(R"(func @carries(%x: f32[B,T,8]) -> (a, b, c, d) {
  %c0 = fill {value = 0.5} : f32[B,8]
  %a, %b, %s, %s2 = loop %c0, %c0, %x {carries = 2, reverse = false, slices = 1, steps = dim<T>}
      (%p: f32[B,8], %q: f32[B,8], %xt: f32[B,8]) {
    %lo = slice %p {axis = 1, size = 4, start = 0} : f32[B,4]
    %hi = slice %q {axis = 1, size = 4, start = 4} : f32[B,4]
    %n = concat %hi, %lo {axis = 1} : f32[B,8]
    %m = add %n, %xt : f32[B,8]
    %rp = reshape %p : f32[B,8]
    %xs = slice %xt {axis = 1, size = 2, start = 3} : f32[B,2]
    yield %m, %rp, %lo, %xs
  } : f32[B,8], f32[B,8], f32[B,T,4], f32[B,T,2]
  return %a, %b, %s, %s2
}
)",
            kBT);
}

TEST(CodegenOps, Reductions) {
  checkText(R"(func @red(%x: f32[B,T,5], %i: i32[B,T]) -> (a, b, c, d, e, f, g, h, k) {
  %0 = reduce_sum %x {axis = 0, keepdims = false} : f32[T,5]
  %1 = reduce_max %x {axis = 1, keepdims = true} : f32[B,1,5]
  %2 = reduce_mean %x {axis = 2, keepdims = false} : f32[B,T]
  %3 = reduce_mean %x {axis = 1, keepdims = false} : f32[B,5]
  %4 = reduce_sum %i {axis = 1, keepdims = false} : i32[B]
  %5 = reduce_max %i {axis = 0, keepdims = true} : i32[1,T]
  %s = slice %x {axis = 2, size = 2, start = 1} : f32[B,T,2]
  %6 = reduce_sum %s {axis = 2, keepdims = true} : f32[B,T,1]
  %7 = reduce_max %s {axis = 1, keepdims = false} : f32[B,2]
  %v = reduce_sum %2 {axis = 1, keepdims = false} : f32[B]
  %8 = reduce_max %v {axis = 0, keepdims = false} : f32[]
  return %0, %1, %2, %3, %4, %5, %6, %7, %8
}
)",
            kBT);
}

const char *kEmbed = R"(func @embed(%tok: i32[B,T], %len: i32[B]) -> (a, b, c, d, e)
    params(%table: f32[7,4] "e/embeddings" zeros) {
  %ids = check_range %tok {hi = dim<6>, lo = 0, what = "token id"} : i32[B,T]
  %e = gather %table, %ids {what = "token id"} : f32[B,T,4]
  %n = check_range %len {hi = dim<T>, lo = 0, what = "sequence length"} : i32[B]
  %oh = one_hot %tok {depth = 5} : f32[B,T,5]
  %z = fill {value = 0.0} : f32[B,4]
  %acc, %st = loop %z, %tok {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,4], %tt: i32[B]) {
    %g = gather %table, %tt {what = "step id"} : f32[B,4]
    %s = add %h, %g : f32[B,4]
    yield %s, %g
  } : f32[B,4], f32[B,T,4]
  return %e, %n, %oh, %acc, %st
}
)";

TEST(CodegenOps, GatherOneHotCheckRange) {
  rt::Tensor table = floats({7, 4});
  compareOn(kEmbed, {ints({2, 3}, {0, 6, 3, 5, 1, 2}), ints({2}, {3, 0})}, {table}, "in range");
  compareOn(kEmbed, {ints({1, 1}, {4}), ints({1}, {1})}, {table}, "B = T = 1");
  compareOn(kEmbed, {ints({0, 4}, {}), ints({0}, {})}, {table}, "B = 0");
  compareOn(kEmbed, {ints({2, 3}, {0, 6, 3, 5, 7, 2}), ints({2}, {3, 0})}, {table}, "token id 7");
  compareOn(kEmbed, {ints({2, 3}, {0, 6, -1, 5, 1, 2}), ints({2}, {3, 0})}, {table}, "token id -1");
  compareOn(kEmbed, {ints({2, 3}, {0, 6, 3, 5, 1, 2}), ints({2}, {3, 4})}, {table}, "length 4 > T");
}

TEST(CodegenOps, OneHotOutOfRangeGivesZeroRows) {
  compareOn(R"(func @oh(%ids: i32[N]) -> (y) {
  %0 = one_hot %ids {depth = 3} : f32[N,3]
  return %0
}
)",
            {ints({6}, {0, 2, 3, -1, 1, 7})}, {}, "one_hot");
}

const char *kWindows = R"(func @win(%x: f32[B,T,6]) -> (a, b, c, d, e, f, g)
    params(%k: f32[3,6,4] "c/kernel" zeros, %k2: f32[2,2,3] "d/kernel" zeros) {
  %0 = conv1d %x, %k {dilation = 1, padding = "valid", stride = 1}
  %1 = conv1d %x, %k {dilation = 2, padding = "same", stride = 2}
  %2 = conv1d %x, %k {dilation = 1, padding = "causal", stride = 1}
  %3 = max_pool1d %x {padding = "valid", size = 2, stride = 2}
  %4 = max_pool1d %x {padding = "same", size = 3, stride = 1}
  %s = slice %x {axis = 2, size = 2, start = 3}
  %5 = conv1d %s, %k2 {dilation = 1, padding = "valid", stride = 2}
  %6 = relu %0
  return %0, %1, %2, %3, %4, %5, %6
}
)";

TEST(CodegenOps, ConvAndPooling) {
  checkText(
      kWindows,
      {{{"B", 1}, {"T", 5}}, {{"B", 2}, {"T", 9}}, {{"B", 3}, {"T", 4}}, {{"B", 0}, {"T", 6}}});
}

TEST(CodegenOps, WindowLongerThanTheSequenceFails) {
  auto m = cgtest::parseIR(kWindows);
  ASSERT_TRUE(m);
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  rt::Tensor x = floats({2, 2, 6});
  rt::Tensor k = floats({3, 6, 4}), k2 = floats({2, 2, 3});
  auto want = ir::interpret(*m->main(), {x}, {k, k2});
  ASSERT_FALSE(bool(want));
  EXPECT_NE(llvm::toString(want.takeError()).find("the window spans 3 steps"), std::string::npos);
  auto got = (*cf)->run({x}, {k, k2});
  ASSERT_FALSE(bool(got));
  EXPECT_NE(llvm::toString(got.takeError()).find("conv1d: the window spans 3 steps"),
            std::string::npos);
}

/// `text` with every "ATTRS" replaced by `attrs` and every "KERNEL" by `kernel`.
std::string fillIn(std::string text, const std::string &attrs, const std::string &kernel = "") {
  for (auto [key, value] : {std::pair{"ATTRS", &attrs}, {"KERNEL", &kernel}})
    for (size_t at; (at = text.find(key)) != std::string::npos;)
      text.replace(at, std::string(key).size(), *value);
  return text;
}

/// conv1d's gradients for one stride, dilation, padding and kernel size: dy is a function
/// of conv1d's output (so it has its length), x a slice (strided: copied densely first).
std::string convGradText(int64_t stride, int64_t dilation, const std::string &padding, int64_t K) {
  return fillIn(R"(func @conv_grad(%in: f32[B,T,7]) -> (y, dx, dk) params(%k: KERNEL "k" zeros) {
  %x = slice %in {axis = 2, size = 5, start = 1}
  %y = conv1d %x, %k ATTRS
  %dy = tanh %y
  %dx = conv1d_grad_input %dy, %k ATTRS : f32[B,T,5]
  %dk = conv1d_grad_kernel %x, %dy ATTRS : KERNEL
  return %y, %dx, %dk
}
)",
                "{dilation = " + std::to_string(dilation) + ", padding = \"" + padding +
                    "\", stride = " + std::to_string(stride) + "}",
                "f32[" + std::to_string(K) + ",5,4]");
}

TEST(CodegenOps, Conv1DGradients) {
  for (const char *padding : {"valid", "same", "causal"})
    for (int64_t stride : {1, 2, 3})
      for (int64_t dilation : {1, 2})
        for (int64_t K : {1, 3}) {
          SCOPED_TRACE(std::string(padding) + " stride " + std::to_string(stride) + " dilation " +
                       std::to_string(dilation) + " K " + std::to_string(K));
          int64_t span = dilation * (K - 1) + 1;
          std::vector<ir::SymbolMap> cases = {{{"B", 2}, {"T", 9}}, {{"B", 0}, {"T", 6}}};
          // Windows that barely fit (valid: T' = 1, and one step more than a stride
          // needs); sequences shorter than the window with padding.
          for (int64_t T : {span, span + 1, span + stride, padding[0] == 'v' ? span : 1})
            cases.push_back({{"B", 3}, {"T", T}});
          checkText(convGradText(stride, dilation, padding, K), cases, 1, 2e-5);
        }
}

TEST(CodegenOps, MaxPool1DGradient) {
  for (const char *padding : {"valid", "same"})
    for (int64_t stride : {1, 2, 3})
      for (int64_t size : {1, 2, 3}) {
        std::string attrs = "{padding = \"" + std::string(padding) +
                            "\", size = " + std::to_string(size) +
                            ", stride = " + std::to_string(stride) + "}";
        SCOPED_TRACE(attrs);
        // %xt: small integers, so windows have tied maxima (the first one gets dy).
        std::string text =
            fillIn(R"(func @pool_grad(%x: f32[B,T,3], %ids: i32[B,T,3]) -> (dx, dxt) {
  %y = max_pool1d %x ATTRS
  %dy = tanh %y
  %dx = max_pool1d_grad %x, %dy ATTRS
  %xt = cast %ids {dtype = "f32"}
  %yt = max_pool1d %xt ATTRS
  %dxt = max_pool1d_grad %xt, %yt ATTRS
  return %dx, %dxt
}
)",
                   attrs);
        std::vector<ir::SymbolMap> cases = {{{"B", 2}, {"T", 9}}, {{"B", 0}, {"T", 4}}};
        for (int64_t T : {size, size + 1, size + stride, (int64_t)1})
          if (padding[0] == 's' || T >= size)
            cases.push_back({{"B", 3}, {"T", T}});
        checkText(text, cases);
      }
}

TEST(CodegenOps, MaxPool1DGradientTiesAndNaN) {
  // Ties go to the first maximum; a NaN is the maximum (the first NaN gets dy).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  rt::Tensor x(rt::DType::F32, {1, 6, 1}), dy(rt::DType::F32, {1, 3, 1});
  float xs[] = {2, 2, nan, 1, nan, 3};
  std::copy(xs, xs + 6, x.f32());
  for (int i = 0; i < 3; ++i)
    dy.f32()[i] = (float)(i + 1);
  const char *text = R"(func @p(%x: f32[B,T,1], %dy: f32[B,(T - 2) / 2 + 1,1],
                               %dys: f32[B,(T + 1) / 2,1]) -> (dx, dxs) {
  %dx = max_pool1d_grad %x, %dy {padding = "valid", size = 2, stride = 2}
  %dxs = max_pool1d_grad %x, %dys {padding = "same", size = 3, stride = 2}
  return %dx, %dxs
}
)";
  compareOn(text, {x, dy, dy}, {}, "ties");
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m);
  auto want = ir::interpret(*m->main(), {x, dy, dy}, {});
  ASSERT_TRUE(bool(want)) << llvm::toString(want.takeError());
  // valid, windows [2, 2], [nan, 1], [nan, 3]: the first 2, then each NaN.
  std::vector<float> valid = {1, 0, 2, 0, 3, 0};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ((*want)[0].f32()[i], valid[i]) << i;
  // same (no padding on the left, 1 on the right): [2, 2, nan] -> x[2]; [nan, 1, nan] ->
  // x[2]; [nan, 3] -> x[4].
  std::vector<float> expect = {0, 0, 3, 0, 3, 0};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ((*want)[1].f32()[i], expect[i]) << i;
}

TEST(CodegenOps, ReshapeWithDifferentSizesFails) {
  compareOn(R"(func @rs(%x: f32[B,6], %y: f32[C,4]) -> (a) {
  %0 = reshape %x : f32[C,4]
  return %0
}
)",
            {floats({2, 6}), floats({3, 4})}, {}, "same size");
  auto m = cgtest::parseIR(R"(func @rs(%x: f32[B,6], %y: f32[C,4]) -> (a) {
  %0 = reshape %x : f32[C,4]
  return %0
}
)");
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(bool(cf));
  auto got = (*cf)->run({floats({2, 6}), floats({2, 4})}, {});
  ASSERT_FALSE(bool(got));
  EXPECT_NE(llvm::toString(got.takeError()).find("element counts differ"), std::string::npos);
}

// The type rules reject a slice of an axis whose size is not static, but IR built without
// them can still hold one: the interpreter reports the range instead of reading past the
// operand.
TEST(Interpreter, SliceBeyondTheAxisIsAnError) {
  auto m = cgtest::parseIR(R"(func @f(%x: f32[B,T,4]) -> (y) {
  %0 = slice %x {axis = 1, size = 1, start = 2} : f32[B,1,4]
  return %0
}
)");
  ASSERT_TRUE(m);
  rt::Tensor x(rt::DType::F32, {2, 2, 4});
  auto out = ir::interpret(*m->main(), {x}, {});
  ASSERT_FALSE(bool(out));
  EXPECT_EQ(llvm::toString(out.takeError()),
            "slice [2, 3) of axis 1 of f32[B,T,4]: the axis has 2");
}
} // namespace

// i32 add, sub, mul and sums wrap in generated code; the interpreter, the oracle, must
// give the same values without relying on signed overflow (undefined in C++: UBSan reports
// it in the sanitized suite). The sum also caught the interpreter rounding i32 values to
// float on their way into its double accumulator (2^31 - 1 became 2^31).
TEST(Interpreter, I32ArithmeticWrapsLikeGeneratedCode) {
  const char *text = R"(func @wrap(%a: i32[N], %b: i32[N]) -> (s, d, p, r) {
  %0 = add %a, %b : i32[N]
  %1 = sub %a, %b : i32[N]
  %2 = mul %a, %b : i32[N]
  %3 = reduce_sum %a {axis = 0, keepdims = false} : i32[]
  return %0, %1, %2, %3
}
)";
  const int32_t kMax = std::numeric_limits<int32_t>::max(),
                kMin = std::numeric_limits<int32_t>::min();
  rt::Tensor a = ints({3}, {kMax, kMin, 65536}), b = ints({3}, {1, 1, 65536});
  compareOn(text, {a, b}, {}, "wrapping");
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m);
  auto out = ir::interpret(*m->main(), {a, b}, {});
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  EXPECT_EQ((*out)[0].i32()[0], kMin);
  EXPECT_EQ((*out)[1].i32()[1], kMax);
  EXPECT_EQ((*out)[2].i32()[2], 0);
  EXPECT_EQ((*out)[3].i32()[0], (int32_t)((uint32_t)kMax + (uint32_t)kMin + 65536u));
}

// Empty tensors have no storage (a null data pointer); the interpreter's copies of them
// (slices, concats, reshapes, reverses, gathers, a loop's slices and stacks) must not
// hand it to memcpy, whose pointers must be valid even for zero bytes.
TEST(Interpreter, EmptyTensorsAreCopiedWithoutNullPointers) {
  const char *text = R"(func @empty(%x: f32[B,T,4], %tok: i32[B,T]) -> (a, b, c, d, e, f)
    params(%table: f32[7,4] "e/embeddings" zeros) {
  %0 = slice %x {axis = 2, size = 2, start = 1} : f32[B,T,2]
  %1 = concat %x, %x {axis = 2} : f32[B,T,8]
  %2 = reshape %x : f32[B,T,2,2]
  %3 = reverse %x {axis = 1} : f32[B,T,4]
  %4 = gather %table, %tok {what = "token id"} : f32[B,T,4]
  %z = fill {value = 0.0} : f32[B,4]
  %h, %st = loop %z, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%c: f32[B,4], %xt: f32[B,4]) {
    %s = add %c, %xt : f32[B,4]
    yield %s, %s
  } : f32[B,4], f32[B,T,4]
  return %0, %1, %2, %3, %4, %st
}
)";
  for (auto [B, T] : {std::pair<int64_t, int64_t>{0, 3}, {2, 0}, {0, 0}})
    compareOn(text, {floats({B, T, 4}), ints({B, T}, {})}, {rt::Tensor(rt::DType::F32, {7, 4})},
              "B=" + std::to_string(B) + " T=" + std::to_string(T));
}
