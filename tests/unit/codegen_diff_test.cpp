// Differential tests of the code generator: hand-written IR functions that together cover
// every op, broadcasting, strided slices, loops and matmul layouts, each compiled once and
// compared with ir::interpret for several (B, T) including 1 and 0.
#include "codegen/JIT.h"
#include "ir/Bind.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

using namespace loom;

using cgtest::checkText;
using cgtest::kBT;
using cgtest::kSimpleRnn;

namespace {

TEST(CodegenDiff, SimpleRnn) { checkText(kSimpleRnn, kBT); }

TEST(CodegenDiff, UnaryOps) {
  checkText(R"(func @unary(%x: f32[B,T,8]) -> (a, b, c, d, e, f, g, h, i, j) {
  %0 = neg %x : f32[B,T,8]
  %1 = exp %x : f32[B,T,8]
  %ax = abs %x : f32[B,T,8]
  %half = fill {value = 0.5} : f32[]
  %p = add %ax, %half : f32[B,T,8]
  %2 = log %p : f32[B,T,8]
  %3 = tanh %x : f32[B,T,8]
  %4 = sigmoid %x : f32[B,T,8]
  %5 = relu %x : f32[B,T,8]
  %6 = sqrt %ax : f32[B,T,8]
  %ten = fill {value = 10.0} : f32[]
  %big = mul %x, %ten : f32[B,T,8]
  %7 = cast %big {dtype = "i32"} : i32[B,T,8]
  %8 = cast %7 {dtype = "f32"} : f32[B,T,8]
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %ax
}
)",
            kBT);
}

TEST(CodegenDiff, Broadcasting) {
  checkText(R"(func @bcast(%x: f32[B,64], %y: f32[B,1], %z: f32[1,5], %s: f32[],
                  %q: f32[B,T,5], %r: f32[T,5]) -> (a, b, c, d, e, f, g, h, i, j)
    params(%b: f32[64] "b" zeros) {
  %0 = add %x, %b : f32[B,64]
  %1 = mul %y, %z : f32[B,5]
  %2 = sub %s, %1 : f32[B,5]
  %3 = div %1, %s : f32[B,5]
  %4 = max %q, %r : f32[B,T,5]
  %5 = min %r, %q : f32[B,T,5]
  %6 = add %q, %z : f32[B,T,5]
  %7 = mul %y, %s : f32[B,1]
  %8 = add %s, %s : f32[]
  %9 = sub %b, %x : f32[B,64]
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9
}
)",
            kBT);
}

TEST(CodegenDiff, FillReverseAndReturnAliases) {
  checkText(R"(func @misc(%x: f32[B,T,4], %v: f32[B]) -> (a, b, c, d, e, f, g, h, i, j)
    params(%w: f32[3,3] "w" zeros) {
  %0 = fill {value = -1.5} : f32[B,T,4]
  %1 = fill {value = 7.0} : i32[T]
  %2 = reverse %x {axis = 0} : f32[B,T,4]
  %3 = reverse %x {axis = 1} : f32[B,T,4]
  %4 = reverse %x {axis = 2} : f32[B,T,4]
  %5 = reverse %v {axis = 0} : f32[B]
  %6 = neg %v : f32[B]
  return %0, %1, %2, %3, %4, %5, %x, %w, %6, %6
}
)",
            kBT);
}

TEST(CodegenDiff, LoopCarriesStacksAndReverse) {
  // Carries p and q swap each step (each yields the other's block argument), r is the
  // tanh; stacks are a direct op result, a carry's old value and the slice itself.
  std::string text = R"(func @loops(%x: f32[B,T,4], %h0: f32[B,4]) -> (a, b, c, d, e, f)
    params(%w: f32[4,4] "w" zeros) {
  %c0 = fill {value = 0.25} : f32[B,4]
  %a, %b, %c, %s1, %s2, %s3 = loop %h0, %c0, %h0, %x {carries = 3, reverse = REV, slices = 1, steps = dim<T>}
      (%p: f32[B,4], %q: f32[B,4], %r: f32[B,4], %xt: f32[B,4]) {
    %m = matmul %xt, %w : f32[B,4]
    %n = add %m, %p : f32[B,4]
    %n2 = add %n, %r : f32[B,4]
    %t = tanh %n2 : f32[B,4]
    yield %q, %p, %t, %t, %p, %xt
  } : f32[B,4], f32[B,4], f32[B,4], f32[B,T,4], f32[B,T,4], f32[B,T,4]
  return %a, %b, %c, %s1, %s2, %s3
}
)";
  for (const char *rev : {"false", "true"})
    checkText(cgtest::withReverse(text, rev), kBT);
}

TEST(CodegenDiff, CarryYieldedUnchangedAndTwice) {
  checkText(R"(func @same(%x: f32[B,T,3]) -> (a, b, c, d) {
  %z = fill {value = 1.0} : f32[B,3]
  %a, %b, %c, %d = loop %z, %z, %x {carries = 2, reverse = false, slices = 1, steps = dim<T>}
      (%p: f32[B,3], %q: f32[B,3], %xt: f32[B,3]) {
    %s = add %q, %xt : f32[B,3]
    yield %p, %s, %s, %s
  } : f32[B,3], f32[B,3], f32[B,T,3], f32[B,T,3]
  return %a, %b, %c, %d
}
)",
            kBT);
}

TEST(CodegenDiff, NestedLoopsCaptureOuterValues) {
  checkText(R"(func @nested(%x: f32[B,T,4], %y: f32[B,3,4]) -> (a, b, c)
    params(%w: f32[4,4] "w" zeros) {
  %h0 = fill {value = 0.0} : f32[B,4]
  %hT, %hs, %gss = loop %h0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,4], %xt: f32[B,4]) {
    %g, %gs = loop %h, %y {carries = 1, reverse = true, slices = 1, steps = dim<3>}
        (%k: f32[B,4], %yt: f32[B,4]) {
      %m = matmul %k, %w : f32[B,4]
      %a = add %m, %yt : f32[B,4]
      %b2 = add %a, %xt : f32[B,4]
      %c = tanh %b2 : f32[B,4]
      yield %c, %a
    } : f32[B,4], f32[B,3,4]
    %z = add %g, %h : f32[B,4]
    yield %z, %g, %gs
  } : f32[B,4], f32[B,T,4], f32[B,T,3,4]
  return %hT, %hs, %gss
}
)",
            kBT);
}

TEST(CodegenDiff, LoopShapesAndSlicesOfSlices) {
  // A static trip count without sequences, a loop with no carries, a scalar carry, a
  // stacked outer value, reverse of a strided slice, a slice of a slice (the inner loop
  // runs over an outer step of a rank-4 sequence) and a rhs that is a slice.
  checkText(R"(func @shapes(%x: f32[B,T,3,4], %wseq: f32[4,T,2], %s: f32[]) -> (a, b, c, d, e, f, g)
    params(%v: f32[4] "v" zeros) {
  %z = fill {value = 0.5} : f32[]
  %cnt = loop %z {carries = 1, reverse = false, slices = 0, steps = dim<3>} (%k: f32[]) {
    %k2 = add %k, %s : f32[]
    yield %k2
  } : f32[]
  %st, %cap = loop %x {carries = 0, reverse = true, slices = 1, steps = dim<T>}
      (%xt: f32[B,3,4]) {
    %r = reverse %xt {axis = 2} : f32[B,3,4]
    yield %r, %v
  } : f32[B,T,3,4], f32[4,T]
  %h0 = fill {value = 0.0} : f32[B,2]
  %hT, %inner = loop %h0, %x, %wseq {carries = 1, reverse = false, slices = 2, steps = dim<T>}
      (%h: f32[B,2], %xt2: f32[B,3,4], %wt: f32[4,2]) {
    %g, %gs = loop %h, %xt2 {carries = 1, reverse = false, slices = 1, steps = dim<3>}
        (%k3: f32[B,2], %xtt: f32[B,4]) {
      %m = matmul %xtt, %wt : f32[B,2]
      %a = add %m, %k3 : f32[B,2]
      %t = tanh %a : f32[B,2]
      yield %t, %m
    } : f32[B,2], f32[B,3,2]
    yield %g, %gs
  } : f32[B,2], f32[B,T,3,2]
  return %cnt, %st, %cap, %hT, %inner, %z, %s
}
)",
            kBT);
}

TEST(CodegenDiff, RankTwoSequenceSlicesAreStrided) {
  checkText(R"(func @tokens(%tok: i32[B,T], %s2: f32[6,T]) -> (a, b, c)
    params(%w: f32[6,3] "w" zeros) {
  %z = fill {value = 0.0} : f32[B]
  %s, %ys, %ms = loop %z, %tok, %s2 {carries = 1, reverse = false, slices = 2, steps = dim<T>}
      (%acc: f32[B], %tt: i32[B], %col: f32[6]) {
    %f = cast %tt {dtype = "f32"} : f32[B]
    %n = add %acc, %f : f32[B]
    %m = matmul %col, %w : f32[3]
    yield %n, %f, %m
  } : f32[B], f32[B,T], f32[3,T]
  return %s, %ys, %ms
}
)",
            kBT);
}

TEST(CodegenDiff, MatMulLayouts) {
  // Dense 3-D (one GEMM), rank-1 lhs, K = 0, slices inside a loop, and a rank-3 slice of
  // a rank-4 sequence written straight into a rank-4 stack (one GEMM per block).
  checkText(R"(func @mm(%x: f32[B,T,6], %v: f32[6], %e: f32[B,0], %x4: f32[2,T,B,6])
    -> (a, b, c, d, e, f)
    params(%w: f32[6,3] "w" zeros, %u: f32[0,3] "u" zeros) {
  %0 = matmul %x, %w : f32[B,T,3]
  %1 = matmul %v, %w : f32[3]
  %2 = matmul %e, %u : f32[B,3]
  %z = fill {value = 0.0} : f32[B,3]
  %acc, %st, %st4 = loop %z, %x, %x4 {carries = 1, reverse = false, slices = 2, steps = dim<T>}
      (%h: f32[B,3], %xt: f32[B,6], %x4t: f32[2,B,6]) {
    %m = matmul %xt, %w : f32[B,3]
    %n = add %m, %h : f32[B,3]
    %m4 = matmul %x4t, %w : f32[2,B,3]
    yield %n, %m, %m4
  } : f32[B,3], f32[B,T,3], f32[2,T,B,3]
  return %0, %1, %2, %acc, %st, %st4
}
)",
            kBT);
}

TEST(CodegenDiff, IntegerOpsAndSpecialValues) {
  auto m = cgtest::parseIR(R"(func @ints(%a: i32[N], %b: i32[N], %x: f32[N], %y: f32[N])
    -> (o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15, o16, o17, o18, o19) {
  %0 = add %a, %b : i32[N]
  %1 = sub %a, %b : i32[N]
  %2 = mul %a, %b : i32[N]
  %3 = div %a, %b : i32[N]
  %4 = max %a, %b : i32[N]
  %5 = min %a, %b : i32[N]
  %6 = neg %a : i32[N]
  %7 = abs %a : i32[N]
  %8 = relu %a : i32[N]
  %9 = cast %x {dtype = "i32"} : i32[N]
  %10 = cast %a {dtype = "f32"} : f32[N]
  %11 = max %x, %y : f32[N]
  %12 = min %x, %y : f32[N]
  %13 = exp %x : f32[N]
  %14 = tanh %x : f32[N]
  %15 = sigmoid %x : f32[N]
  %16 = log %x : f32[N]
  %17 = relu %x : f32[N]
  %18 = div %x, %y : f32[N]
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18
}
)");
  ASSERT_TRUE(m);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = HUGE_VALF;
  const int32_t imin = std::numeric_limits<int32_t>::min(),
                imax = std::numeric_limits<int32_t>::max();
  std::vector<int32_t> a = {imin, -7, 7, 5, 0, 3, imax, -1, imin, 9, -9, 12, 100, 4, -3, 2, 8};
  std::vector<int32_t> b = {-1, 2, -2, 0, 0, 3, 1, -1, 1, -4, 4, 5, -7, 4, 3, -2, 0};
  std::vector<float> x = {nan,     inf,           -inf,           3e9f,   -3e9f, 2.7f,
                          -2.7f,   -0.5f,         1e-30f,         0.0f,   -0.0f, 100.0f,
                          -100.0f, 2147483520.0f, -2147483648.0f, 1e-41f, 0.5f};
  std::vector<float> y = {1.0f, nan,  nan,   2.0f, nan,  -3.0f, 0.0f, -0.0f, inf,
                          0.0f, 0.0f, -1.0f, 3.0f, 1.0f, 1.0f,  -inf, 0.5f};
  int64_t n = (int64_t)a.size();
  rt::Tensor ta(rt::DType::I32, {n}), tb(rt::DType::I32, {n}), tx(rt::DType::F32, {n}),
      ty(rt::DType::F32, {n});
  std::copy(a.begin(), a.end(), ta.i32());
  std::copy(b.begin(), b.end(), tb.i32());
  std::copy(x.begin(), x.end(), tx.f32());
  std::copy(y.begin(), y.end(), ty.f32());
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  auto want = ir::interpret(*m->main(), {ta, tb, tx, ty}, {});
  ASSERT_TRUE(bool(want)) << llvm::toString(want.takeError());
  auto got = (*cf)->run({ta, tb, tx, ty}, {});
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  for (size_t i = 0; i < want->size(); ++i)
    cgtest::expectClose((*got)[i], (*want)[i], 1e-5, "output " + std::to_string(i + 1));
}

TEST(CodegenDiff, ConcurrentCallsShareOneCompiledFunction) {
  auto m = cgtest::parseIR(kSimpleRnn);
  ASSERT_TRUE(m);
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  std::vector<ir::SymbolMap> cases = {
      {{"B", 3}, {"T", 17}}, {{"B", 8}, {"T", 5}}, {{"B", 1}, {"T", 30}}, {{"B", 4}, {"T", 2}}};
  std::vector<std::vector<rt::Tensor>> want(cases.size()), got(cases.size());
  std::vector<std::pair<std::vector<rt::Tensor>, std::vector<rt::Tensor>>> args;
  for (size_t i = 0; i < cases.size(); ++i) {
    args.push_back(cgtest::randomArgs(*m->main(), cases[i], 7 + i));
    auto r = (*cf)->run(args[i].first, args[i].second);
    ASSERT_TRUE(bool(r)) << llvm::toString(r.takeError());
    want[i] = *r;
  }
  std::vector<std::thread> threads;
  std::vector<std::string> errors(cases.size());
  for (size_t i = 0; i < cases.size(); ++i)
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 20; ++rep) {
        auto r = (*cf)->run(args[i].first, args[i].second);
        if (!r) {
          errors[i] = llvm::toString(r.takeError());
          return;
        }
        got[i] = *r;
      }
    });
  for (auto &t : threads)
    t.join();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(errors[i], "");
    for (size_t k = 0; k < want[i].size(); ++k)
      cgtest::expectClose(got[i][k], want[i][k], 0, "thread " + std::to_string(i));
  }
}

} // namespace
