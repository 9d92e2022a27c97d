// The generated LLVM IR: errors that stop compilation, and properties of the optimised
// code that the speed of the JIT depends on (vector loops, no libm calls, loops kept).
#include "codegen/JIT.h"
#include "codegen/Target.h"
#include "ir/Bind.h"
#include "ir/Builder.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <unistd.h>

using namespace loom;

namespace {

using cgtest::countOf;

std::string optimizedIR(const std::string &text, const std::string &targetCpu = "") {
  auto m = cgtest::parseIR(text);
  return m ? cgtest::llvmIR(*m->main(), /*optimized=*/true, targetCpu) : "";
}

const char *kGates = R"(func @gates(%x: f32[B,T,64]) -> (a, b, c, d, e)
    params(%b: f32[64] "b" zeros) {
  %0 = add %x, %b : f32[B,T,64]
  %1 = tanh %0 : f32[B,T,64]
  %2 = sigmoid %0 : f32[B,T,64]
  %3 = exp %x : f32[B,T,64]
  %4 = log %3 : f32[B,T,64]
  %5 = erf %x : f32[B,T,64]
  return %1, %2, %3, %4, %5
}
)";

/// Vector code of the target's width with vector FMAs and no calls into libm, for the
/// default target (the process's: $LOOM_TARGET_CPU, which ctest sets to each ISA in turn).
TEST(CodegenEmit, TranscendentalsAreVectorLoopsWithoutCalls) {
  auto target = codegen::resolveTarget("");
  ASSERT_TRUE(!!target) << llvm::toString(target.takeError());
  const unsigned lanes = target->vectorBits / 32;
  ASSERT_TRUE(lanes == 8 || lanes == 16) << target->name << ": " << target->vectorBits;
  std::string ir = optimizedIR(kGates);
  const std::string vec = "<" + std::to_string(lanes) + " x float>";
  EXPECT_NE(ir.find(vec), std::string::npos) << "no " << vec << " code for " << target->name;
  EXPECT_NE(ir.find("@llvm.fmuladd.v" + std::to_string(lanes) + "f32"), std::string::npos)
      << "no vector FMA";
  if (lanes == 8)
    EXPECT_EQ(ir.find("<16 x float>"), std::string::npos) << "AVX-512 code for " << target->name;
  for (const char *libm : {"@expf", "@logf", "@tanhf", "@erff", "@exp(", "@log(", "@tanh("})
    EXPECT_EQ(ir.find(libm), std::string::npos) << libm;
  // The only calls left are the scratch allocation (and maybe memcpy/memset).
  EXPECT_EQ(countOf(ir, "call ptr @loom_rt_alloc"), 1u);
}

/// Each named target gets its own ISA whatever the host: AVX2 (8 lanes, ymm registers, no
/// zmm) for x86-64-v3 and AVX-512 (16 lanes) for x86-64-v4; the IR says which CPU.
TEST(CodegenEmit, EachTargetGetsItsVectorWidth) {
  struct Case {
    const char *target;
    unsigned lanes;
    const char *isa;
  };
  for (const Case &c : {Case{"x86-64-v3", 8, "avx2"}, Case{"x86-64-v4", 16, "avx512f"}}) {
    SCOPED_TRACE(c.target);
    auto target = codegen::resolveTarget(c.target);
    ASSERT_TRUE(!!target) << llvm::toString(target.takeError());
    EXPECT_EQ(target->vectorBits, c.lanes * 32);
    EXPECT_NE(std::find(target->requiredIsa.begin(), target->requiredIsa.end(), c.isa),
              target->requiredIsa.end());
    std::string ir = optimizedIR(kGates, c.target);
    EXPECT_NE(ir.find("\"target-cpu\"=\"" + std::string(c.target) + "\""), std::string::npos);
    EXPECT_NE(ir.find("@llvm.fmuladd.v" + std::to_string(c.lanes) + "f32"), std::string::npos);
    EXPECT_EQ(ir.find("<" + std::to_string(c.lanes * 2) + " x float>"), std::string::npos);
  }
  // x86-64-v3 code has no AVX-512 requirement.
  auto v3 = codegen::resolveTarget("x86-64-v3");
  ASSERT_TRUE(!!v3);
  EXPECT_EQ(std::find(v3->requiredIsa.begin(), v3->requiredIsa.end(), "avx512f"),
            v3->requiredIsa.end());
}

TEST(CodegenEmit, UnknownTargetsAreRefusedByName) {
  auto t = codegen::resolveTarget("pentium4");
  ASSERT_FALSE(!!t);
  EXPECT_EQ(llvm::toString(t.takeError()),
            "unknown target CPU 'pentium4': expected native, x86-64-v3 or x86-64-v4");
  auto m = cgtest::parseIR(kGates);
  ASSERT_TRUE(m);
  codegen::Options opts;
  opts.targetCpu = "i386";
  auto c = codegen::CompiledFunction::compile(*m->main(), opts);
  ASSERT_FALSE(!!c);
  EXPECT_NE(llvm::toString(c.takeError()).find("unknown target CPU 'i386'"), std::string::npos);
}

TEST(CodegenEmit, KernelsWithTranscendentalsInterleaveFourVectors) {
  auto m = cgtest::parseIR(R"(func @two(%x: f32[B,64], %y: f32[B,64]) -> (a, b) {
  %0 = add %x, %y : f32[B,64]
  %1 = tanh %x : f32[B,64]
  return %0, %1
}
)");
  ASSERT_TRUE(m);
  const std::string ir = cgtest::llvmIR(*m->main());
  ASSERT_FALSE(ir.empty());
  // The tanh kernel's inner loop asks for four vectors per iteration, the add's for one.
  EXPECT_EQ(countOf(ir, "!\"llvm.loop.interleave.count\", i32 4}"), 1u) << ir;
  EXPECT_EQ(countOf(ir, "!\"llvm.loop.interleave.count\", i32 1}"), 1u) << ir;
}

TEST(CodegenEmit, TimeLoopIsNotUnrolled) {
  std::string ir = optimizedIR(R"(func @static_steps(%x: f32[B,4,8]) -> (y) {
  %0 = fill {value = 0.0} : f32[B,8]
  %1 = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<4>}
      (%h: f32[B,8], %xt: f32[B,8]) {
    %2 = add %h, %xt : f32[B,8]
    %3 = tanh %2 : f32[B,8]
    yield %3
  } : f32[B,8]
  return %1
}
)");
  EXPECT_NE(ir.find("llvm.loop.unroll.disable"), std::string::npos);
}

TEST(CodegenEmit, RnnOpsMustBeLoweredFirst) {
  ir::Function f;
  f.name = "rnn";
  ir::Type seq{ir::DType::F32, {ir::Dim::symbol("B"), ir::Dim::symbol("T"), ir::Dim::constant(4)}};
  ir::Type st{ir::DType::F32, {ir::Dim::symbol("B"), ir::Dim::constant(4)}};
  ir::Value *x = f.body.addArg(seq, "x");
  f.numInputs = 1;
  f.outputNames = {"h"};
  ir::Builder b(&f.body);
  ir::Value *h0 = b.fill(0.0, st);
  ir::Op *rnn = b.create(ir::OpKind::Rnn, {x, h0}, {st});
  ir::Block *cell = rnn->addRegion();
  ir::Value *xt = cell->addArg(st, "xt");
  ir::Value *h = cell->addArg(st, "h");
  ir::Builder cb(cell);
  ir::Value *s = *cb.value(ir::OpKind::Add, {xt, h});
  cb.create(ir::OpKind::Yield, {s}, {});
  b.create(ir::OpKind::Return, {rnn->result()}, {});
  const char *msg = "rnn ops must be lowered (run lower-rnn) before codegen";
  auto cf = codegen::CompiledFunction::compile(f);
  ASSERT_FALSE(bool(cf));
  EXPECT_EQ(llvm::toString(cf.takeError()), msg);
  auto ir = codegen::emitLLVMIR(f, false);
  ASSERT_FALSE(bool(ir));
  EXPECT_EQ(llvm::toString(ir.takeError()), msg);
}

TEST(CodegenEmit, WrongInputShapeGivesTheBindError) {
  auto m = cgtest::parseIR(R"(func @f(%x: f32[B,T,5], %h: f32[B,3]) -> (y)
    params(%w: f32[5,3] "d/kernel" zeros) {
  %0 = matmul %x, %w : f32[B,T,3]
  return %0
}
)");
  ASSERT_TRUE(m);
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  auto check = [&](std::vector<rt::Tensor> in, std::vector<rt::Tensor> par) {
    auto want = ir::bindSymbols(*m->main(), in, par);
    ASSERT_FALSE(bool(want));
    std::string wantMsg = llvm::toString(want.takeError());
    auto got = (*cf)->run(in, par);
    ASSERT_FALSE(bool(got));
    EXPECT_EQ(llvm::toString(got.takeError()), wantMsg);
  };
  rt::Tensor w(rt::DType::F32, {5, 3});
  check({rt::Tensor(rt::DType::F32, {2, 4, 6}), rt::Tensor(rt::DType::F32, {2, 3})}, {w});
  check({rt::Tensor(rt::DType::F32, {2, 4, 5}), rt::Tensor(rt::DType::F32, {3, 3})}, {w});
  check({rt::Tensor(rt::DType::I32, {2, 4, 5}), rt::Tensor(rt::DType::F32, {2, 3})}, {w});
  check({rt::Tensor(rt::DType::F32, {2, 4, 5})}, {w});
  check({rt::Tensor(rt::DType::F32, {2, 4, 5}), rt::Tensor(rt::DType::F32, {2, 3})},
        {rt::Tensor(rt::DType::F32, {3, 5})});
}

TEST(CodegenEmit, UnboundSymbolIsACompileError) {
  auto m = cgtest::parseIR(R"(func @f(%x: f32[B,4]) -> (y) {
  %0 = fill {value = 1.0} : f32[N,4]
  return %0
}
)");
  ASSERT_TRUE(m);
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_FALSE(bool(cf));
  EXPECT_NE(llvm::toString(cf.takeError()).find("symbol 'N'"), std::string::npos);
}

// LOOM_PERF_MAP: the JIT appends the functions it links to /tmp/perf-<pid>.map, kernels
// included, for `perf report` to name them.
TEST(CodegenEmit, PerfMapNamesTheKernels) {
  auto m = cgtest::parseIR(R"(func @perfmap(%x: f32[B,8]) -> (y) {
  %0 = tanh %x : f32[B,8]
  return %0
}
)");
  ASSERT_TRUE(m);
  std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
  std::remove(path.c_str());
  setenv("LOOM_PERF_MAP", "1", 1);
  auto cf = codegen::CompiledFunction::compile(*m->main());
  unsetenv("LOOM_PERF_MAP");
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  EXPECT_NE(text.find(" loom_main\n"), std::string::npos) << text;
  EXPECT_NE(text.find(".tanh\n"), std::string::npos) << text;
  // The kernel still runs.
  rt::Tensor x(rt::DType::F32, {2, 8});
  for (int i = 0; i < 16; ++i)
    x.f32()[i] = 0.5f;
  auto out = (*cf)->run({x}, {});
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  EXPECT_NEAR((*out)[0].f32()[15], std::tanh(0.5f), 1e-6);
}
} // namespace
