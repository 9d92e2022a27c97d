// Loops and kernels on several threads, and loop steps written in place: loops over ranges
// of rows and over units (codegen/Loops.cpp), kernels and reductions split over the threads,
// carries, stacks and concats written where they end up. Each is checked against the
// interpreter, and for the same bits on 1 and 2 threads where the design promises them.
#include "codegen/JIT.h"
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "passes/Autodiff.h"
#include "passes/PassManager.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

using namespace loom;

using cgtest::checkText;
using cgtest::countOf;
using cgtest::kBT;
using cgtest::kSimpleRnn;
using cgtest::llvmIR;
using cgtest::withReverse;

namespace {

/// Whether codegen emits `f`'s loop as a function over ranges of rows (codegen/Loops.cpp).
bool splitsOverRows(const ir::Function &f) {
  return countOf(llvmIR(f), "define internal void @loop.rows") != 0;
}

/// Compiles and runs `f` with 1 and with 2 threads: the outputs must be the same bits (all
/// of them, or those `bits` lists), and close to the interpreter's within `tol`.
void checkSameBitsOnOneAndTwoThreads(const ir::Function &f, const ir::SymbolMap &syms,
                                     uint32_t seed, double tol, std::vector<size_t> bits = {}) {
  auto [in, par] = cgtest::randomArgs(f, syms, seed);
  std::vector<std::vector<rt::Tensor>> outs;
  int saved = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    auto cf = codegen::CompiledFunction::compile(f);
    if (!cf) {
      omp_set_num_threads(saved);
      FAIL() << llvm::toString(cf.takeError());
    }
    auto got = (*cf)->run(in, par);
    omp_set_num_threads(saved);
    ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
    outs.push_back(std::move(*got));
  }
  auto want = ir::interpret(f, in, par);
  ASSERT_TRUE(bool(want)) << llvm::toString(want.takeError());
  for (size_t i = 0; i < outs[0].size(); ++i) {
    const rt::Tensor &one = outs[0][i], &two = outs[1][i];
    ASSERT_EQ(one.shape(), two.shape());
    if (bits.empty() || std::find(bits.begin(), bits.end(), i) != bits.end()) {
      // memcmp's pointers must be valid even for 0 bytes; an empty output has none.
      EXPECT_TRUE(one.numel() == 0 ||
                  std::memcmp(one.f32(), two.f32(), (size_t)one.numel() * 4) == 0)
          << "output " << i << " differs between 1 and 2 threads";
    }
    cgtest::expectClose(one, (*want)[i], tol, "1 thread, output " + std::to_string(i));
    cgtest::expectClose(two, (*want)[i], tol, "2 threads, output " + std::to_string(i));
  }
}

// Kernels with enough work are split over the threads (loom_rt_parallel_for) by their
// outermost loop: merged into one dim, over the rows of a strided 2-D view, with broadcast
// and reversed operands and several outputs. The split must not change a bit.
TEST(CodegenDiff, KernelsSplitOverThreadsGiveTheSameBits) {
  const char *text = R"(func @split(%x: f32[B,T,300], %b: f32[300]) -> (a, s, e, r, l) {
  %0 = sigmoid %x : f32[B,T,300]
  %1 = mul %0, %b : f32[B,T,300]
  %2 = slice %x {axis = 2, start = 7, size = 200} : f32[B,T,200]
  %s0 = slice %0 {axis = 2, start = 100, size = 200} : f32[B,T,200]
  %3, %4 = fused %2, %s0
      (%p: f32[B,T,200], %q: f32[B,T,200]) {
    %5 = tanh %p : f32[B,T,200]
    %6 = exp %p : f32[B,T,200]
    %11 = mul %5, %q : f32[B,T,200]
    yield %11, %6
  } : f32[B,T,200], f32[B,T,200]
  %7 = reverse %1 {axis = 1} : f32[B,T,300]
  %9 = loop %x {carries = 0, reverse = false, slices = 1, steps = dim<T>}
      (%xt: f32[B,300]) {
    %10 = tanh %xt : f32[B,300]
    yield %10
  } : f32[B,T,300]
  return %1, %3, %4, %7, %9
}
)";
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m != nullptr);
  const ir::Function &f = *m->main();
  // B*T*300 = 1.5M elements; B*300 = 15K per loop step (12 cost units each with tanh).
  for (const ir::SymbolMap &syms :
       {ir::SymbolMap{{"B", 50}, {"T", 101}}, ir::SymbolMap{{"B", 3}, {"T", 2}}})
    checkSameBitsOnOneAndTwoThreads(f, syms, 7, 1e-5);
}

// Reductions (codegen/Layout.cpp): over an axis other than the last, the output is the
// accumulator and the innermost loop runs over its last dim (vectorised); over the last
// axis, one element at a time. Both split over the threads by the first output dim, and each
// element is combined over the axis in order, so the bits do not depend on the split.
TEST(CodegenDiff, ReductionsSplitOverThreadsGiveTheSameBits) {
  const char *text = R"(func @red(%x: f32[B,T,64]) -> (a, b, c, d, e, f) {
  %0 = reduce_sum %x {axis = 0, keepdims = false} : f32[T,64]
  %1 = reduce_sum %x {axis = 1, keepdims = true} : f32[B,1,64]
  %2 = reduce_sum %x {axis = 2, keepdims = false} : f32[B,T]
  %3 = reduce_mean %x {axis = 1, keepdims = false} : f32[B,64]
  %4 = reduce_max %x {axis = 0, keepdims = false} : f32[T,64]
  %5 = reduce_mean %2 {axis = 1, keepdims = false} : f32[B]
  return %0, %1, %2, %3, %4, %5
}
)";
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m != nullptr);
  for (const ir::SymbolMap &syms :
       {ir::SymbolMap{{"B", 150}, {"T", 41}}, ir::SymbolMap{{"B", 3}, {"T", 0}},
        ir::SymbolMap{{"B", 0}, {"T", 5}}})
    checkSameBitsOnOneAndTwoThreads(*m->main(), syms, 19, 1e-4);
}

// Batch 1: the recurrent products run on packed panels (runtime/Prepared.cpp),
// split over the threads by columns; the sums must not depend on the thread count.
TEST(CodegenDiff, BatchOneProductsGiveTheSameBitsOnOneAndTwoThreads) {
  // 512 units: 16 panels of 2 * 512 * 32 cost units each, enough to be split.
  std::string text = kSimpleRnn;
  for (size_t at; (at = text.find("64")) != std::string::npos;)
    text.replace(at, 2, "512");
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m != nullptr);
  const ir::Function &f = *m->main();
  // Few steps: 512 random units are chaotic; 512-term float sums in another order than
  // the interpreter's.
  checkSameBitsOnOneAndTwoThreads(f, {{"B", 1}, {"T", 4}}, 11, 1e-4);
}

// A loop whose rows are independent is a function over a range of rows (loop.rows,
// codegen/Loops.cpp) that loom_rt_parallel_for splits over the threads, each running every
// step for its rows. Ranges of every size give the interpreter's numbers and the same bits
// as one thread: B = 37 (18 and 19 rows), 9 (8 and 1), 1 (not split). The step's product
// runs on the tiled weight (runtime/Prepared.cpp), which sums each element in one order
// whatever the rows it is given.
TEST(CodegenDiff, LoopsWithIndependentRowsRunOverRangesOfRows) {
  auto m = cgtest::parseIR(kSimpleRnn);
  ASSERT_TRUE(m != nullptr);
  const ir::Function &f = *m->main();
  EXPECT_TRUE(splitsOverRows(f));
  for (int64_t B : {37, 9, 1})
    checkSameBitsOnOneAndTwoThreads(f, {{"B", B}, {"T", 6}}, 13, 1e-4);
}

// Threads run their ranges of rows at different steps, so in a loop over ranges of rows two
// body buffers must not share arena bytes: here the product's buffer (1 KiB a row) dies
// within the step and a 256-byte-a-row buffer comes after it, which the planner would
// otherwise put in the same slot (thread 1's rows of the one over thread 0's rows of the
// other).
TEST(CodegenDiff, LoopsOverRangesOfRowsKeepTheirBuffersApart) {
  const char *text = R"(func @race(%x: f32[B,T,64]) -> (y)
    params(%w: f32[64,256] "w" glorot_uniform) {
  %0 = fill {value = 0.0} : f32[B,64]
  %1, %2 = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,64], %xt: f32[B,64]) {
    %3 = matmul %h, %w : f32[B,256]
    %4 = slice %3 {axis = 1, size = 64, start = 0} : f32[B,64]
    %5 = tanh %4 : f32[B,64]
    %6 = mul %5, %5 : f32[B,64]
    %7 = add %6, %xt : f32[B,64]
    %8 = tanh %7 : f32[B,64]
    yield %8, %8
  } : f32[B,64], f32[B,T,64]
  return %2
}
)";
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m != nullptr);
  EXPECT_TRUE(splitsOverRows(*m->main())) << "the test needs the loop split";
  checkSameBitsOnOneAndTwoThreads(*m->main(), {{"B", 64}, {"T", 100}}, 23, 1e-3);
}

// A loop whose step count is the row symbol runs B steps on every range of rows, not the
// range's own row count; and a concat without rows in the body (one buffer every range
// would write) keeps the loop whole.
TEST(CodegenDiff, LoopsOverRowsKeepTheirStepCountAndSharedBuffers) {
  const char *steps = R"(func @steps(%x: f32[B,8]) -> (y) {
  %one = fill {value = 1.0} : f32[B,8]
  %1 = loop %x {carries = 1, reverse = false, slices = 0, steps = dim<B>}
      (%h: f32[B,8]) {
    %2 = add %h, %one : f32[B,8]
    yield %2
  } : f32[B,8]
  return %1
}
)";
  const char *concat = R"(func @cat(%x: f32[B,T,8], %w1: f32[4,8], %w2: f32[4,8]) -> (y) {
  %0 = fill {value = 0.0} : f32[B,8]
  %1, %2 = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,8], %xt: f32[B,8]) {
    %c = concat %w1, %w2 {axis = 0} : f32[8,8]
    %3 = matmul %h, %c : f32[B,8]
    %4 = add %3, %xt : f32[B,8]
    %5 = tanh %4 : f32[B,8]
    yield %5, %5
  } : f32[B,8], f32[B,T,8]
  return %2
}
)";
  for (const char *text : {steps, concat}) {
    auto m = cgtest::parseIR(text);
    ASSERT_TRUE(m != nullptr);
    EXPECT_FALSE(splitsOverRows(*m->main())) << m->main()->name;
    checkSameBitsOnOneAndTwoThreads(*m->main(), {{"B", 40}, {"T", 5}}, 29, 1e-5);
  }
}

// Each step of this loop reads the mean over all rows, so the rows are not independent: the
// loop stays in loom_main, and two threads still give the interpreter's numbers.
TEST(CodegenDiff, LoopsThatMixRowsAreNotSplit) {
  const char *text = R"(func @mix(%x: f32[B,T,64]) -> (y) {
  %0 = fill {value = 0.0} : f32[B,64]
  %1, %2 = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,64], %xt: f32[B,64]) {
    %3 = reduce_mean %h {axis = 0, keepdims = true} : f32[1,64]
    %4 = add %xt, %3 : f32[B,64]
    %5 = tanh %4 : f32[B,64]
    yield %5, %5
  } : f32[B,64], f32[B,T,64]
  return %2
}
)";
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m != nullptr);
  const ir::Function &f = *m->main();
  EXPECT_FALSE(splitsOverRows(f));
  checkSameBitsOnOneAndTwoThreads(f, {{"B", 40}, {"T", 5}}, 17, 1e-5);
}

// Memory planned by liveness (codegen/Arena.cpp): in a chain of products each intermediate
// dies when the next one is made, so the eight of them take two buffers' worth of scratch,
// not eight, and the numbers are still the interpreter's (at every B and T too).
// A GRU slices its two bias rows in the loop body. Their gradient is summed after the
// adjoint loop (autodiff moves the slices out of the loop first), not over the rows at every
// step, so the adjoint loop runs over ranges of rows like the forward one. With the sum in
// the body, the adjoint loop would run whole (one loop.rows function, not two). The loss
// and the bias gradient are the same bits on 1 and 2 threads; the weight gradients are
// sgemm's sums over all B * T rows, which oneDNN may split differently on 2 threads.
TEST(CodegenDiff, AdjointOfALoopThatSlicesItsBiasRunsOverRangesOfRows) {
  const char *text = R"(func @g(%x: f32[B,T,5], %tgt: f32[B,T,64]) -> (loss)
    params(%w: f32[5,64] "w" glorot_uniform, %u: f32[64,64] "u" orthogonal,
           %b: f32[2,64] "b" zeros) {
  %h0 = fill {value = 0.0} : f32[B,64]
  %last, %seq = loop %h0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,64], %xt: f32[B,5]) {
    %a = matmul %xt, %w : f32[B,64]
    %b0 = slice %b {axis = 0, start = 0, size = 1} : f32[1,64]
    %b0r = reshape %b0 : f32[64]
    %ab = add %a, %b0r : f32[B,64]
    %r = matmul %h, %u : f32[B,64]
    %b1 = slice %b {axis = 0, start = 1, size = 1} : f32[1,64]
    %b1r = reshape %b1 : f32[64]
    %rb = add %r, %b1r : f32[B,64]
    %s = add %ab, %rb : f32[B,64]
    %hn = tanh %s : f32[B,64]
    yield %hn, %hn
  } : f32[B,64], f32[B,T,64]
  %d = sub %seq, %tgt : f32[B,T,64]
  %sq = mul %d, %d : f32[B,T,64]
  %m1 = reduce_mean %sq {axis = 2, keepdims = false} : f32[B,T]
  %m2 = reduce_mean %m1 {axis = 1, keepdims = false} : f32[B]
  %loss = reduce_mean %m2 {axis = 0, keepdims = false} : f32[]
  return %loss
}
)";
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m != nullptr);
  ASSERT_FALSE(bool(passes::differentiate(*m->main())));
  ASSERT_FALSE(
      bool(passes::runPipeline(*m, {"shape-inference", "cse", "hoist", "dce", "fuse"}, {})));
  const ir::Function &f = *m->main();
  const std::string ir = llvmIR(f);
  ASSERT_FALSE(ir.empty());
  EXPECT_EQ(countOf(ir, "define internal void @loop.rows"), 2u) << ir::print(f);
  for (int64_t B : {37, 1})
    checkSameBitsOnOneAndTwoThreads(f, {{"B", B}, {"T", 6}}, 31, 1e-4, {0, 3});
}

TEST(CodegenArena, BuffersThatDoNotLiveAtOnceShareTheArena) {
  std::string text = "func @chain(%x: f32[B,200], %w: f32[200,200]) -> (y) {\n";
  std::string prev = "%x";
  for (int k = 0; k < 4; ++k) {
    std::string m = "%m" + std::to_string(k), t = k == 3 ? "%y" : "%t" + std::to_string(k);
    text += "  " + m + " = matmul " + prev + ", %w : f32[B,200]\n";
    text += "  " + t + " = tanh " + m + " : f32[B,200]\n";
    prev = t;
  }
  text += "  return %y\n}\n";
  checkText(text, kBT, 1, 1e-3); // four sums of 200 products in float, as sgemm orders them
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m);
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  auto [in, par] = cgtest::randomArgs(*m->main(), {{"B", 64}}, 3);
  auto got = (*cf)->run(in, par);
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  EXPECT_EQ((*cf)->scratchBytes(), 2 * 64 * 200 * 4);
}

// Nothing of a step is copied that a kernel could write in place (codegen/Loops.cpp,
// codegen/Layout.cpp):
// - a carry whose next value the body computes alternates between two buffers, each step
//   reading one and writing the other (here c, computed by the fused kernel, and the
//   product's carry p); after an odd step count the value is copied back once;
// - a carry whose next value is also stacked (h) is stored by its kernel into both;
// - a concat's operands computed in the step (%12, %13) are written into their slices of
//   the concat's storage, here its stack slot.
// Odd and even step counts, forward and reverse, one range of rows and several (B = 37 on
// two threads) give the interpreter's numbers.
TEST(CodegenDiff, LoopStepsWriteCarriesStacksAndConcatsInPlace) {
  const char *text = R"(func @inplace(%x: f32[B,T,8]) -> (h, c, p, ys, cs, cat)
    params(%w: f32[8,16] "w" glorot_uniform, %u: f32[8,8] "u" orthogonal) {
  %0 = fill {value = 0.0} : f32[B,8]
  %1 = fill {value = 0.5} : f32[B,8]
  %h, %c, %p, %ys, %cs, %cat = loop %0, %1, %1, %x {carries = 3, reverse = REV, slices = 1, steps = dim<T>}
      (%hp: f32[B,8], %cp: f32[B,8], %pp: f32[B,8], %xt: f32[B,8]) {
    %2 = matmul %hp, %w : f32[B,16]
    %3 = slice %2 {axis = 1, size = 8, start = 0} : f32[B,8]
    %4 = slice %2 {axis = 1, size = 8, start = 8} : f32[B,8]
    %5, %6 = fused %3, %4, %cp, %xt
        (%a: f32[B,8], %b: f32[B,8], %cc: f32[B,8], %xx: f32[B,8]) {
      %7 = sigmoid %a : f32[B,8]
      %8 = mul %7, %cc : f32[B,8]
      %9 = add %8, %xx : f32[B,8]
      %10 = tanh %9 : f32[B,8]
      %11 = mul %10, %b : f32[B,8]
      yield %11, %9
    } : f32[B,8], f32[B,8]
    %12 = mul %5, %6 : f32[B,8]
    %13 = sub %cp, %5 : f32[B,8]
    %14 = concat %12, %13 {axis = 1} : f32[B,16]
    %15 = matmul %pp, %u : f32[B,8]
    %16 = tanh %15 : f32[B,8]
    yield %5, %6, %15, %5, %cp, %14
  } : f32[B,8], f32[B,8], f32[B,8], f32[B,T,8], f32[B,T,8], f32[B,T,16]
  %17 = tanh %p : f32[B,8]
  return %h, %c, %17, %ys, %cs, %cat
}
)";
  for (const char *rev : {"false", "true"}) {
    auto m = cgtest::parseIR(withReverse(text, rev));
    ASSERT_TRUE(m != nullptr);
    const ir::Function &f = *m->main();
    const std::string ir = llvmIR(f);
    ASSERT_FALSE(ir.empty());
    // The three carries alternate (h's kernel stores it twice). In the function over
    // ranges of rows: the carries are copied in before the loop and back after an odd step
    // count, and in each step only the stacked carry argument %cp is copied (into its stack
    // slot); the concat copies nothing.
    EXPECT_EQ(countOf(ir, "  %carry.next"), 3u); // definitions, not uses
    size_t begin = ir.find("define internal void @loop.rows");
    ASSERT_NE(begin, std::string::npos);
    std::string rows = ir.substr(begin, ir.find("\n}\n", begin) - begin);
    size_t copies = 0;
    for (size_t at = 0, end; at < rows.size(); at = end + 1) {
      end = std::min(rows.find('\n', at), rows.size());
      std::string line = rows.substr(at, end - at);
      copies += line.find("call") != std::string::npos && line.find(".copy") != std::string::npos;
    }
    EXPECT_EQ(copies, 3u + 1u + 3u) << rows;
    for (int64_t T : {5, 6})
      for (int64_t B : {37, 3})
        checkSameBitsOnOneAndTwoThreads(f, {{"B", B}, {"T", T}}, 29 + T, 1e-4);
  }
}

// A carried and stacked value computed after a nested loop in the step: the inner loop's
// step must leave the outer loop's second destination of that value alone.
TEST(CodegenDiff, NestedLoopKeepsTheOuterCarryInPlace) {
  const char *text = R"(func @nested(%x: f32[B,T,8]) -> (h, ys) {
  %0 = fill {value = 0.25} : f32[B,8]
  %h, %ys = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%hp: f32[B,8], %xt: f32[B,8]) {
    %g = loop %hp {carries = 1, reverse = false, slices = 0, steps = dim<3>}
        (%gp: f32[B,8]) {
      %1 = tanh %gp : f32[B,8]
      %2 = add %1, %gp : f32[B,8]
      yield %2
    } : f32[B,8]
    %3 = add %g, %xt : f32[B,8]
    %4 = tanh %3 : f32[B,8]
    yield %4, %4
  } : f32[B,8], f32[B,T,8]
  return %h, %ys
}
)";
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m != nullptr);
  for (int64_t T : {4, 5})
    checkSameBitsOnOneAndTwoThreads(*m->main(), {{"B", 5}, {"T", T}}, 41 + T, 1e-4);
}

// A batch-1 recurrent loop runs split over its units on two threads (loop.units): each
// thread computes its columns of the product's four gates from the whole carry, then its
// units of the gate math, with a barrier per step. 200 units: the gates' columns do not
// start on panels of the weight's layout. `%hp` is the carry used elementwise too (as a GRU
// uses h); `%v` is a weight that is computed, not prepared (the product's plain fallback).
// The same bits on one thread (whole loop, products split by panels) and on two, as the
// interpreter's numbers; a batch of 3 takes the other way.
TEST(CodegenDiff, BatchOneLoopSplitsOverUnits) {
  const char *text = R"(func @units(%x: f32[B,T,800]) -> (h, c, ys, g)
    params(%w: f32[200,800] "w" glorot_uniform, %bias: f32[800] "bias" glorot_uniform,
           %u: f32[256,256] "u" orthogonal) {
  %0 = fill {value = 0.0} : f32[B,200]
  %1 = fill {value = 0.5} : f32[B,200]
  %h, %c, %ys = loop %0, %1, %x {carries = 2, reverse = REV, slices = 1, steps = dim<T>}
      (%hp: f32[B,200], %cp: f32[B,200], %xt: f32[B,800]) {
    %2 = matmul %hp, %w : f32[B,800]
    %3 = slice %2 {axis = 1, size = 200, start = 0} : f32[B,200]
    %4 = slice %2 {axis = 1, size = 200, start = 200} : f32[B,200]
    %5 = slice %2 {axis = 1, size = 200, start = 400} : f32[B,200]
    %6 = slice %2 {axis = 1, size = 200, start = 600} : f32[B,200]
    %7 = slice %xt {axis = 1, size = 200, start = 200} : f32[B,200]
    %8 = slice %bias {axis = 0, size = 200, start = 600} : f32[200]
    %9, %10 = fused %3, %4, %5, %6, %7, %8, %cp, %hp
        (%a: f32[B,200], %b: f32[B,200], %g: f32[B,200], %o: f32[B,200], %xx: f32[B,200],
         %bb: f32[200], %cc: f32[B,200], %hh: f32[B,200]) {
      %11 = sigmoid %a : f32[B,200]
      %12 = add %b, %xx : f32[B,200]
      %13 = sigmoid %12 : f32[B,200]
      %14 = tanh %g : f32[B,200]
      %15 = mul %13, %cc : f32[B,200]
      %16 = mul %11, %14 : f32[B,200]
      %17 = add %15, %16 : f32[B,200]
      %18 = add %o, %bb : f32[B,200]
      %19 = sigmoid %18 : f32[B,200]
      %20 = tanh %17 : f32[B,200]
      %21 = mul %19, %20 : f32[B,200]
      %22 = mul %21, %hh : f32[B,200]
      %23 = add %21, %22 : f32[B,200]
      yield %23, %17
    } : f32[B,200], f32[B,200]
    yield %9, %10, %9
  } : f32[B,200], f32[B,200], f32[B,T,200]
  %v = mul %u, %u : f32[256,256]
  %g0 = fill {value = 0.25} : f32[B,256]
  %g = loop %g0 {carries = 1, reverse = false, slices = 0, steps = dim<T>}
      (%gp: f32[B,256]) {
    %24 = matmul %gp, %v : f32[B,256]
    %25 = tanh %24 : f32[B,256]
    yield %25
  } : f32[B,256]
  return %h, %c, %ys, %g
}
)";
  for (const char *rev : {"false", "true"}) {
    auto m = cgtest::parseIR(withReverse(text, rev));
    ASSERT_TRUE(m != nullptr);
    const ir::Function &f = *m->main();
    const std::string ir = llvmIR(f);
    ASSERT_FALSE(ir.empty());
    EXPECT_EQ(countOf(ir, "define internal void @loop.units"), 2u); // both loops
    for (int64_t T : {5, 6})
      for (int64_t B : {1, 3})
        checkSameBitsOnOneAndTwoThreads(f, {{"B", B}, {"T", T}}, 53 + T, 1e-4);
  }
}

// A loop a split over units would get wrong stays whole: it stacks a value of one row's
// width as [S, T] (its stack's last dim is time, not the units).
TEST(CodegenDiff, LoopsThatCannotSplitOverUnitsStayWhole) {
  const char *text = R"(func @whole(%x: f32[B,T,256]) -> (h, bs)
    params(%u: f32[256,256] "u" orthogonal, %bias: f32[512] "bias" glorot_uniform) {
  %0 = fill {value = 0.5} : f32[B,256]
  %h, %bs = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%hp: f32[B,256], %xt: f32[B,256]) {
    %1 = matmul %hp, %u : f32[B,256]
    %2 = slice %bias {axis = 0, size = 256, start = 256} : f32[256]
    %3 = add %1, %xt : f32[B,256]
    %4 = tanh %3 : f32[B,256]
    %5 = sigmoid %2 : f32[256]
    yield %4, %5
  } : f32[B,256], f32[256,T]
  return %h, %bs
}
)";
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m != nullptr);
  const ir::Function &f = *m->main();
  const std::string ir = llvmIR(f);
  ASSERT_FALSE(ir.empty());
  EXPECT_EQ(countOf(ir, "define internal void @loop.units"), 0u);
  for (int64_t B : {1, 2})
    checkSameBitsOnOneAndTwoThreads(f, {{"B", B}, {"T", 5}}, 71, 1e-4);
}

} // namespace
