// Ahead-of-time compilation, in process: runtime/Aot.cpp over hand-written descriptors
// (dim programs, size checks, weights files, status codes), the object file compileAOT
// emits (its symbols), and the object loaded with ORC's linker and called through its C
// wrappers, against the JIT on the same inputs. tests/lit/aot does the same with the
// system's C compiler and linker.
#include "codegen/AOT.h"
#include "codegen/JIT.h"
#include "codegen/Target.h"
#include "frontend/Elaborate.h"
#include "ir/Bind.h"
#include "passes/PassManager.h"
#include "runtime/Aot.h"
#include "runtime/Npy.h"
#include "tests/unit/codegen_helpers.h"

#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

using namespace loom;

namespace {

// --- runtime/Aot.cpp over a hand-written descriptor ---------------------------------
// The model: x: f32[B, T], w: f32[2] -> y: f32[B, (T - 5) / 2 + 1] with
// y[b, j] = x[b, j] * w[0] + w[1] + B (the entry below), and a window check T >= 5.

const int64_t kXShape[] = {LOOM_AOT_SYM, 0, LOOM_AOT_END, LOOM_AOT_SYM, 1, LOOM_AOT_END};
const int64_t kWShape[] = {LOOM_AOT_CONST, 2, LOOM_AOT_END};
const int64_t kYShape[] = {
    LOOM_AOT_SYM,   0, LOOM_AOT_END, LOOM_AOT_SYM,   1, LOOM_AOT_CONST, 5,           LOOM_AOT_SUB,
    LOOM_AOT_CONST, 2, LOOM_AOT_DIV, LOOM_AOT_CONST, 1, LOOM_AOT_ADD,   LOOM_AOT_END};
const int64_t kWindow[] = {LOOM_AOT_SYM, 1, LOOM_AOT_END};
const float kWeights[2] = {2.0f, 0.5f};
const char *const kSymbols[] = {"B", "T"};

void entry(loom_rt_ctx *ctx, const int64_t *syms, void *const *inputs, void *const *params,
           void *const *outputs) {
  int64_t B = syms[0], T = syms[1], Tout = (T - 5) / 2 + 1;
  const float *x = static_cast<const float *>(inputs[0]);
  const float *w = static_cast<const float *>(params[0]);
  float *y = static_cast<float *>(outputs[0]);
  if (!loom_rt_alloc(ctx, 1024))
    return;
  if (x[0] < 0) {
    loom_rt_fail(ctx, "x: a negative first element");
    return;
  }
  if (x[0] > 1e6f) {
    loom_rt_alloc(ctx, int64_t(1) << 47); // more than this machine has
    return;
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < Tout; ++j)
      y[b * Tout + j] = x[b * T + j] * w[0] + w[1] + (float)B;
}

struct HandModel {
  loom_aot_tensor inputs[1] = {{"x", "f32[B,T]", LOOM_AOT_F32, 2, kXShape, nullptr}};
  loom_aot_tensor params[1] = {{"w", "f32[2]", LOOM_AOT_F32, 1, kWShape, kWeights}};
  loom_aot_tensor outputs[1] = {{"y", "f32[B,(T - 5) / 2 + 1]", LOOM_AOT_F32, 2, kYShape, nullptr}};
  loom_aot_check checks[1] = {
      {kWindow, 5, "conv1d: the window spans 5 steps but the sequence has "}};
  loom_aot_model model = {LOOM_AOT_ABI_VERSION,
                          "hand",
                          "hand",
                          2,
                          kSymbols,
                          1,
                          inputs,
                          1,
                          params,
                          1,
                          outputs,
                          1,
                          checks,
                          1,
                          &entry,
                          nullptr};
};

struct Ctx {
  loom_aot_ctx *c = nullptr;
  ~Ctx() { loom_aot_destroy(c); }
  std::string message() const { return loom_aot_error_message(c); }
};

TEST(AotRuntime, RunsAndComputesOutputShapes) {
  HandModel h;
  Ctx ctx;
  ASSERT_EQ(loom_aot_create(&h.model, nullptr, &ctx.c), LOOM_AOT_OK) << ctx.message();
  int64_t sizes[2] = {2, 9}, shape[2] = {0, 0};
  ASSERT_EQ(loom_aot_output_shape(&h.model, 0, sizes, shape), LOOM_AOT_OK);
  EXPECT_EQ(shape[0], 2);
  EXPECT_EQ(shape[1], 3);
  std::vector<float> x(2 * 9, 1.0f), y(2 * 3, -1.0f);
  const void *in[1] = {x.data()};
  void *out[1] = {y.data()};
  // The same context serves calls of different sizes.
  for (int64_t T : {9, 5, 9}) {
    sizes[1] = T;
    ASSERT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_OK) << ctx.message();
    EXPECT_EQ(y[0], 1.0f * 2.0f + 0.5f + 2.0f);
    EXPECT_EQ(ctx.message(), "");
  }
}

TEST(AotRuntime, SizesAreCheckedBeforeTheCall) {
  HandModel h;
  Ctx ctx;
  ASSERT_EQ(loom_aot_create(&h.model, nullptr, &ctx.c), LOOM_AOT_OK);
  std::vector<float> x(64, 1.0f), y(64);
  const void *in[1] = {x.data()};
  void *out[1] = {y.data()};
  int64_t sizes[2] = {0, 9};
  EXPECT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_ERR_BAD_SIZE);
  EXPECT_EQ(ctx.message(), "size B is 0; every size must be at least 1 (B = 0, T = 9)");
  sizes[0] = 2;
  sizes[1] = 4; // (4 - 5) / 2 + 1 is 0 with floor division; the window check comes first
  EXPECT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_ERR_BAD_SIZE);
  EXPECT_EQ(ctx.message(),
            "conv1d: the window spans 5 steps but the sequence has 4 (B = 2, T = 4)");
  int64_t shape[2];
  EXPECT_EQ(loom_aot_output_shape(&h.model, 0, sizes, shape), LOOM_AOT_ERR_BAD_SIZE);
  EXPECT_EQ(loom_aot_output_shape(&h.model, 1, sizes, shape), LOOM_AOT_ERR_BAD_SIZE);
  // Without the check, the dims themselves: floor((2 - 5) / 2) + 1 = -1 is no size.
  h.model.num_checks = 0;
  sizes[1] = 2;
  EXPECT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_ERR_BAD_SIZE);
  EXPECT_NE(ctx.message().find("output 'y' has no valid shape: dim 1 of f32[B,(T - 5) / 2 + 1] "
                               "is -1"),
            std::string::npos)
      << ctx.message();
  sizes[1] = 4;
  ASSERT_EQ(loom_aot_output_shape(&h.model, 0, sizes, shape), LOOM_AOT_OK);
  EXPECT_EQ(shape[1], 0);
  sizes[0] = int64_t(1) << 40;
  sizes[1] = int64_t(1) << 40;
  EXPECT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_ERR_BAD_SIZE);
  EXPECT_NE(ctx.message().find("more than 2^46 elements"), std::string::npos) << ctx.message();
}

TEST(AotRuntime, NullPointersAndFailuresInsideTheCall) {
  HandModel h;
  Ctx ctx;
  ASSERT_EQ(loom_aot_create(&h.model, nullptr, &ctx.c), LOOM_AOT_OK);
  std::vector<float> x(64, 1.0f), y(64);
  const void *in[1] = {x.data()};
  void *out[1] = {y.data()};
  const void *nullIn[1] = {nullptr};
  int64_t sizes[2] = {2, 9};
  EXPECT_EQ(loom_aot_run(nullptr, sizes, in, out), LOOM_AOT_ERR_NULL_ARGUMENT);
  EXPECT_NE(std::string(loom_aot_error_message(nullptr)).find("null"), std::string::npos);
  EXPECT_EQ(loom_aot_run(ctx.c, nullptr, in, out), LOOM_AOT_ERR_NULL_ARGUMENT);
  EXPECT_EQ(loom_aot_run(ctx.c, sizes, nullIn, out), LOOM_AOT_ERR_NULL_ARGUMENT);
  EXPECT_EQ(ctx.message(), "input 'x' (f32[B,T]) is a null pointer");
  EXPECT_EQ(loom_aot_create(&h.model, nullptr, nullptr), LOOM_AOT_ERR_NULL_ARGUMENT);

  x[0] = -1.0f;
  EXPECT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_ERR_RUNTIME);
  EXPECT_EQ(ctx.message(), "x: a negative first element");
  x[0] = 1e7f;
  EXPECT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_ERR_OUT_OF_MEMORY);
  // Refused against the memory limit (the machine's memory), never asked of the system:
  // under ASan a request that large aborts the process.
  EXPECT_NE(ctx.message().find("memory limit: the call's scratch needs more than 128.0 TiB"),
            std::string::npos)
      << ctx.message();
  x[0] = 1.0f; // the context recovers
  EXPECT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_OK) << ctx.message();
}

TEST(AotRuntime, SizesFromShapes) {
  HandModel h;
  Ctx ctx;
  ASSERT_EQ(loom_aot_create(&h.model, nullptr, &ctx.c), LOOM_AOT_OK);
  int64_t xs[2] = {3, 7}, sizes[2] = {0, 0};
  const int64_t *shapes[1] = {xs};
  ASSERT_EQ(loom_aot_sizes_from_shapes(ctx.c, shapes, sizes), LOOM_AOT_OK);
  EXPECT_EQ(sizes[0], 3);
  EXPECT_EQ(sizes[1], 7);
  xs[0] = 0;
  EXPECT_EQ(loom_aot_sizes_from_shapes(ctx.c, shapes, sizes), LOOM_AOT_ERR_BAD_SIZE);
  EXPECT_EQ(ctx.message(), "input 'x': expected f32[B,T], got (0, 7) (dim 0 is 0, but B must "
                           "be at least 1)");
}

TEST(AotRuntime, WeightsFromAFile) {
  HandModel h;
  h.model.weights_embedded = 0;
  h.params[0].data = nullptr;
  std::string dir = ::testing::TempDir();
  rt::Tensor w(rt::DType::F32, {2});
  w.f32()[0] = 3.0f;
  w.f32()[1] = 1.0f;
  ASSERT_FALSE(rt::writeNpz(dir + "aot_good.npz", {{"w", w}}));
  ASSERT_FALSE(rt::writeNpz(dir + "aot_shape.npz", {{"w", rt::Tensor(rt::DType::F32, {3})}}));
  ASSERT_FALSE(rt::writeNpz(dir + "aot_other.npz", {{"v", w}}));
  {
    Ctx ctx;
    ASSERT_EQ(loom_aot_create(&h.model, (dir + "aot_good.npz").c_str(), &ctx.c), LOOM_AOT_OK)
        << ctx.message();
    std::vector<float> x(2 * 9, 1.0f), y(2 * 3);
    const void *in[1] = {x.data()};
    void *out[1] = {y.data()};
    int64_t sizes[2] = {2, 9};
    ASSERT_EQ(loom_aot_run(ctx.c, sizes, in, out), LOOM_AOT_OK) << ctx.message();
    EXPECT_EQ(y[5], 3.0f + 1.0f + 2.0f);
  }
  struct Case {
    const char *file, *message;
  } cases[] = {
      {"aot_shape.npz", "aot_shape.npz': weight 'w' is f32 (3,), expected f32[2]"},
      {"aot_other.npz", "aot_other.npz': weight 'w' (f32[2]) of model hand is missing"},
      {"aot_none.npz", "aot_none.npz: cannot open"},
  };
  for (const Case &c : cases) {
    Ctx ctx;
    EXPECT_EQ(loom_aot_create(&h.model, (dir + c.file).c_str(), &ctx.c), LOOM_AOT_ERR_WEIGHTS);
    EXPECT_NE(ctx.message().find(c.message), std::string::npos) << ctx.message();
    int64_t sizes[2] = {2, 9};
    EXPECT_EQ(loom_aot_run(ctx.c, sizes, nullptr, nullptr), LOOM_AOT_ERR_WEIGHTS);
  }
  Ctx noPath;
  EXPECT_EQ(loom_aot_create(&h.model, nullptr, &noPath.c), LOOM_AOT_ERR_NULL_ARGUMENT);
}

TEST(AotRuntime, ChecksTheCpuBeforeAnythingElse) {
  HandModel h;
  h.model.required_isa = "sse4.2,avx2";
  {
    Ctx ctx;
    EXPECT_EQ(loom_aot_create(&h.model, nullptr, &ctx.c), LOOM_AOT_OK) << ctx.message();
  }
  h.model.required_isa = "avx2,loom-test-a,fma,loom-test-b";
  Ctx ctx;
  EXPECT_EQ(loom_aot_create(&h.model, nullptr, &ctx.c), LOOM_AOT_ERR_CPU);
  EXPECT_NE(ctx.message().find("this CPU lacks loom-test-a, loom-test-b ("), std::string::npos)
      << ctx.message();
}

TEST(AotRuntime, RejectsADescriptorFromAnotherVersion) {
  HandModel h;
  h.model.abi_version = LOOM_AOT_ABI_VERSION + 1;
  Ctx ctx;
  EXPECT_EQ(loom_aot_create(&h.model, nullptr, &ctx.c), LOOM_AOT_ERR_RUNTIME);
  EXPECT_NE(ctx.message().find("rebuild it with this loom"), std::string::npos);
}

// --- compileAOT --------------------------------------------------------------------

std::unique_ptr<ir::Module> compileExample(const std::string &rel) {
  frontend::SourceManager sm;
  auto m = frontend::compileFile(sm, std::string(LOOM_SOURCE_DIR) + "/examples/" + rel);
  if (!m) {
    ADD_FAILURE() << llvm::toString(m.takeError());
    return nullptr;
  }
  if (auto e = passes::runPipeline(**m, passes::defaultPipeline(), {})) {
    ADD_FAILURE() << llvm::toString(std::move(e));
    return nullptr;
  }
  return std::move(*m);
}

TEST(AotCompile, ObjectExportsOnlyTheWrappers) {
  auto m = compileExample("layers/conv1d_strided.loom");
  ASSERT_TRUE(m);
  const ir::Function &f = *m->main();
  auto args = cgtest::randomArgs(f, {{"B", 1}, {"T", 9}}, 1);
  codegen::AotOptions opts;
  opts.name = "net";
  auto r = codegen::compileAOT(f, args.second, opts);
  ASSERT_TRUE(!!r) << llvm::toString(r.takeError());
  auto obj = llvm::object::ObjectFile::createObjectFile(llvm::MemoryBufferRef(r->object, "net.o"));
  ASSERT_TRUE(!!obj) << llvm::toString(obj.takeError());
  EXPECT_TRUE((*obj)->isELF());
  EXPECT_EQ((*obj)->getArch(), llvm::Triple::x86_64);
  std::set<std::string> defined, undefined;
  for (const llvm::object::SymbolRef &s : (*obj)->symbols()) {
    auto flags = s.getFlags();
    auto name = s.getName();
    ASSERT_TRUE(flags && name);
    if (*flags & llvm::object::SymbolRef::SF_Undefined)
      undefined.insert(name->str());
    else if (*flags & llvm::object::SymbolRef::SF_Global)
      defined.insert(name->str());
  }
  EXPECT_EQ(defined,
            (std::set<std::string>{"net_create", "net_destroy", "net_error_message", "net_run",
                                   "net_run_arrays", "net_output_shape", "net_sizes_from_shapes"}));
  for (const std::string &u : undefined)
    EXPECT_TRUE(u.rfind("loom_rt_", 0) == 0 || u.rfind("loom_aot_", 0) == 0 || u == "memcpy" ||
                u == "memset")
        << u;
  EXPECT_NE(r->header.find("int net_run(net_ctx *ctx, int64_t B, int64_t T, const float *x, "
                           "float *y);"),
            std::string::npos)
      << r->header;
}

TEST(AotCompile, Errors) {
  auto m = cgtest::parseIR("func @f(%x: f32[B, T]) -> (y) params(%w: f32[3] \"w\" zeros) {\n"
                           "  %y = mul %x, %x : f32[B, T]\n  return %y\n}\n");
  ASSERT_TRUE(m);
  const ir::Function &f = *m->main();
  codegen::AotOptions opts;
  opts.name = "int";
  auto r = codegen::compileAOT(f, {rt::Tensor(rt::DType::F32, {3})}, opts);
  ASSERT_FALSE(!!r);
  EXPECT_NE(llvm::toString(r.takeError()).find("C or C++ keyword"), std::string::npos);
  opts.name = "f";
  r = codegen::compileAOT(f, {rt::Tensor(rt::DType::F32, {4})}, opts);
  ASSERT_FALSE(!!r);
  EXPECT_EQ(llvm::toString(r.takeError()), "weights: weight 'w': expected f32[3], got f32 (4,)");
  opts.targetCpu = "i386";
  r = codegen::compileAOT(f, {rt::Tensor(rt::DType::F32, {3})}, opts);
  ASSERT_FALSE(!!r);
  EXPECT_NE(llvm::toString(r.takeError())
                .find("unknown target CPU 'i386': expected native, x86-64-v3 or x86-64-v4"),
            std::string::npos);
  opts.targetCpu = "x86-64-v3";
  opts.embedWeights = false; // weights ignored
  r = codegen::compileAOT(f, {}, opts);
  EXPECT_TRUE(!!r) << llvm::toString(r.takeError());

  auto e = cgtest::parseIR("func @g(%x: f32[B * 2]) -> (y) {\n  return %x\n}\n");
  ASSERT_TRUE(e);
  auto r2 = codegen::compileAOT(*e->main(), {}, opts);
  ASSERT_FALSE(!!r2);
  EXPECT_NE(llvm::toString(r2.takeError())
                .find("an input's dims must be numbers or single "
                      "symbols"),
            std::string::npos);

  EXPECT_TRUE(!!codegen::checkCName("9x"));
  EXPECT_TRUE(!!codegen::checkCName("a b"));
  EXPECT_TRUE(!!codegen::checkCName("__x"));
  EXPECT_TRUE(!!codegen::checkCName("loom_aot_x"));
  EXPECT_FALSE(!!codegen::checkCName("_model2"));
  EXPECT_EQ(codegen::defaultCName("my model"), "my_model");
  EXPECT_EQ(codegen::defaultCName("2x"), "v2x");
  EXPECT_EQ(codegen::defaultCName("class"), "class_");
}

// --- the object, linked in process by ORC and called through its wrappers -----------

using CreateFn = int (*)(void **);
using RunArraysFn = int (*)(void *, const int64_t *, const void *const *, void *const *);
using DestroyFn = void (*)(void *);
using MessageFn = const char *(*)(const void *);

/// An object loaded by ORC's linker with the runtime's entry points, and its wrappers.
struct LinkedObject {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  CreateFn create = nullptr;
  RunArraysFn run = nullptr;
  DestroyFn destroy = nullptr;
  MessageFn message = nullptr;

  /// Links `object`, whose C prefix is "m"; a test failure when it cannot.
  explicit LinkedObject(const std::string &object) {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto j = llvm::orc::LLJITBuilder().create();
    if (!j) {
      ADD_FAILURE() << llvm::toString(j.takeError());
      return;
    }
    jit = std::move(*j);
    llvm::orc::SymbolMap runtime;
    auto define = [&](const char *name, void *addr) {
      runtime[jit->mangleAndIntern(name)] = llvm::orc::ExecutorSymbolDef(
          llvm::orc::ExecutorAddr::fromPtr(addr), llvm::JITSymbolFlags::Exported);
    };
#define DEFINE(fn) define(#fn, reinterpret_cast<void *>(&fn))
#define LOOM_RT_ENTRY(fn) DEFINE(fn);
#include "runtime/EntryPoints.def"
    DEFINE(loom_aot_create);
    DEFINE(loom_aot_destroy);
    DEFINE(loom_aot_error_message);
    DEFINE(loom_aot_run);
    DEFINE(loom_aot_output_shape);
    DEFINE(loom_aot_sizes_from_shapes);
#undef DEFINE
    auto &lib = jit->getMainJITDylib();
    if (lib.define(llvm::orc::absoluteSymbols(std::move(runtime)))) {
      ADD_FAILURE() << "cannot define the runtime's symbols";
      return;
    }
    auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit->getDataLayout().getGlobalPrefix());
    if (!process) {
      ADD_FAILURE() << llvm::toString(process.takeError());
      return;
    }
    lib.addGenerator(std::move(*process));
    if (llvm::Error e = jit->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object))) {
      ADD_FAILURE() << llvm::toString(std::move(e));
      return;
    }
    auto look = [&](const char *name) {
      auto a = jit->lookup(name);
      EXPECT_TRUE(!!a) << llvm::toString(a.takeError());
      return a ? a->toPtr<void *>() : nullptr;
    };
    create = reinterpret_cast<CreateFn>(look("m_create"));
    run = reinterpret_cast<RunArraysFn>(look("m_run_arrays"));
    destroy = reinterpret_cast<DestroyFn>(look("m_destroy"));
    message = reinterpret_cast<MessageFn>(look("m_error_message"));
  }
  bool ok() const { return create && run && destroy && message; }
};

/// For every target: the object's code runs where the host has the target's extensions and
/// gives the JIT's bits for the same target; elsewhere create refuses the CPU by name (no
/// SIGILL). So both the AVX2 and the AVX-512 paths are checked on an AVX-512 host.
TEST(AotCompile, LinkedObjectMatchesTheJIT) {
  for (const char *target : {"native", "x86-64-v3", "x86-64-v4"})
    for (const char *example : {"shapes/simple_rnn.loom", "layers/conv1d_strided.loom"}) {
      SCOPED_TRACE(std::string(target) + " " + example);
      auto m = compileExample(example);
      ASSERT_TRUE(m);
      const ir::Function &f = *m->main();
      ir::SymbolMap syms = {{"B", 2}, {"T", 7}};
      auto [inputs, params] = cgtest::randomArgs(f, syms, 3);
      codegen::AotOptions opts;
      opts.name = "m";
      opts.targetCpu = target;
      auto r = codegen::compileAOT(f, params, opts);
      ASSERT_TRUE(!!r) << llvm::toString(r.takeError());
      LinkedObject obj(r->object);
      ASSERT_TRUE(obj.ok());

      auto spec = codegen::resolveTarget(target);
      ASSERT_TRUE(!!spec);
      void *ctx = nullptr;
      if (llvm::Error e = codegen::checkHostRuns(*spec)) {
        llvm::consumeError(std::move(e));
        EXPECT_EQ(obj.create(&ctx), LOOM_AOT_ERR_CPU);
        EXPECT_NE(std::string(obj.message(ctx)).find("this CPU lacks"), std::string::npos);
        obj.destroy(ctx);
        continue;
      }
      codegen::Options jitOpts;
      jitOpts.targetCpu = target;
      auto jitted = codegen::CompiledFunction::compile(f, jitOpts);
      ASSERT_TRUE(!!jitted) << llvm::toString(jitted.takeError());
      auto want = (*jitted)->run(inputs, params);
      ASSERT_TRUE(!!want) << llvm::toString(want.takeError());

      ASSERT_EQ(obj.create(&ctx), LOOM_AOT_OK) << obj.message(ctx);
      std::vector<int64_t> sizes;
      for (const std::string &s : ir::symbolOrder(f))
        sizes.push_back(syms.at(s));
      std::vector<const void *> in;
      for (const rt::Tensor &t : inputs)
        in.push_back(t.data());
      std::vector<rt::Tensor> got;
      std::vector<void *> out;
      for (const rt::Tensor &t : *want) {
        got.emplace_back(t.dtype(), t.shape());
        out.push_back(got.back().data());
      }
      ASSERT_EQ(obj.run(ctx, sizes.data(), in.data(), out.data()), LOOM_AOT_OK) << obj.message(ctx);
      for (size_t i = 0; i < got.size(); ++i)
        cgtest::expectClose(got[i], (*want)[i], 0.0, "output " + std::to_string(i));
      obj.destroy(ctx);
    }
}

/// An object that needs an extension this CPU lacks (a name no CPU has, recorded as a test
/// requirement) is refused by create with LOOM_AOT_ERR_CPU and a message naming it; run on
/// that context returns the same code and never reaches the code.
TEST(AotCompile, CreateRefusesACpuThatLacksARequiredExtension) {
  auto m = compileExample("shapes/simple_rnn.loom");
  ASSERT_TRUE(m);
  const ir::Function &f = *m->main();
  auto args = cgtest::randomArgs(f, {{"B", 1}, {"T", 2}}, 1);
  codegen::AotOptions opts;
  opts.name = "m";
  opts.targetCpu = "x86-64-v3";
  opts.extraIsa = {"loom-test-feature"};
  auto r = codegen::compileAOT(f, args.second, opts);
  ASSERT_TRUE(!!r) << llvm::toString(r.takeError());
  LinkedObject obj(r->object);
  ASSERT_TRUE(obj.ok());
  void *ctx = nullptr;
  EXPECT_EQ(obj.create(&ctx), LOOM_AOT_ERR_CPU);
  EXPECT_EQ(std::string(obj.message(ctx)),
            "model m was compiled for a CPU with sse4.2,popcnt,avx,avx2,fma,bmi,bmi2,"
            "loom-test-feature; this CPU lacks loom-test-feature (compile it with "
            "--target-cpu=x86-64-v3 to run on any AVX2 CPU)");
  int64_t sizes[2] = {1, 2};
  EXPECT_EQ(obj.run(ctx, sizes, nullptr, nullptr), LOOM_AOT_ERR_CPU);
  obj.destroy(ctx);
}

} // namespace
