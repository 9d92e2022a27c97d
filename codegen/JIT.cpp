// The ORC session: O3 for the host CPU, LLJIT, the runtime's C functions defined as
// absolute symbols, and the call wrapper that binds shapes and allocates outputs.
#include "codegen/JIT.h"
#include "codegen/Lowering.h"
#include "codegen/Target.h"

#include "ir/Bind.h"
#include "runtime/Kernels.h"
#include "runtime/Limits.h"

#include "llvm/ExecutionEngine/JITLink/JITLink.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unistd.h>

using namespace llvm;

namespace loom::codegen {
namespace {

using EntryFn = void (*)(loom_rt_ctx *, const int64_t *, void *const *, void *const *,
                         void *const *);

CodeGenOptLevel codeGenLevel(unsigned opt) {
  switch (opt) {
  case 0:
    return CodeGenOptLevel::None;
  case 1:
    return CodeGenOptLevel::Less;
  case 2:
    return CodeGenOptLevel::Default;
  default:
    return CodeGenOptLevel::Aggressive;
  }
}

Expected<orc::JITTargetMachineBuilder> jitBuilder(const TargetSpec &t, unsigned opt) {
  auto jtmb = orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return jtmb.takeError();
  jtmb->setCPU(t.cpu);
  jtmb->getFeatures() = SubtargetFeatures(t.features);
  jtmb->setCodeGenOptLevel(codeGenLevel(opt));
  return jtmb;
}

/// Sets the target's data layout and CPU on `m` and runs the default pipeline at `opt`.
Error optimize(Module &m, const TargetSpec &t, unsigned opt, bool runPasses) {
  auto tm = createTargetMachine(t, opt, false);
  if (!tm)
    return tm.takeError();
  optimizeModule(m, **tm, t, opt, runPasses);
  return Error::success();
}

/// With LOOM_PERF_MAP set, every function the JIT links is appended to /tmp/perf-<pid>.map,
/// the file `perf report` reads to name code that has no ELF file behind it: profiles then
/// show loom's kernels (k3.fused, loop.rows, ...) instead of bare addresses.
class PerfMapPlugin : public orc::ObjectLinkingLayer::Plugin {
public:
  void modifyPassConfig(orc::MaterializationResponsibility &, jitlink::LinkGraph &,
                        jitlink::PassConfiguration &config) override {
    config.PostFixupPasses.push_back([](jitlink::LinkGraph &g) -> Error {
      static std::mutex m;
      std::lock_guard<std::mutex> lock(m);
      std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
      if (FILE *f = std::fopen(path.c_str(), "a")) {
        for (jitlink::Symbol *sym : g.defined_symbols())
          if (sym->hasName() && (sym->getBlock().getSection().getMemProt() & orc::MemProt::Exec) ==
                                    orc::MemProt::Exec)
            std::fprintf(f, "%llx %llx %s\n", (unsigned long long)sym->getAddress().getValue(),
                         (unsigned long long)sym->getSize(), sym->getName().str().c_str());
        std::fclose(f);
      }
      return Error::success();
    });
  }
  Error notifyFailed(orc::MaterializationResponsibility &) override { return Error::success(); }
  Error notifyRemovingResources(orc::JITDylib &, orc::ResourceKey) override {
    return Error::success();
  }
  void notifyTransferringResources(orc::JITDylib &, orc::ResourceKey, orc::ResourceKey) override {}
};

rt::DType toRt(ir::DType t) { return t == ir::DType::F32 ? rt::DType::F32 : rt::DType::I32; }

} // namespace

void optimizeModule(Module &m, TargetMachine &tm, const TargetSpec &t, unsigned opt,
                    bool runPasses) {
  // Kernel rows are often not a multiple of the vector width (a hidden size of 100 is 12
  // vectors of 8 and 4 left over). Vectorise that remainder 4-wide instead of running the
  // whole (transcendental-heavy) body once per leftover element. LLVM only does this by
  // itself for main loops at least 16 wide.
  static std::once_flag once;
  std::call_once(once, [] {
    auto &options = cl::getRegisteredOptions();
    auto it = options.find("epilogue-vectorization-force-VF");
    if (it != options.end())
      it->second->addOccurrence(0, "epilogue-vectorization-force-VF", "4");
  });
  m.setDataLayout(tm.createDataLayout());
  m.setTargetTriple(tm.getTargetTriple().str());
  for (Function &f : m)
    if (!f.isDeclaration()) {
      f.addFnAttr("target-cpu", tm.getTargetCPU());
      f.addFnAttr("target-features", tm.getTargetFeatureString());
      if (t.preferVectorBits)
        f.addFnAttr("prefer-vector-width", std::to_string(t.preferVectorBits));
    }
  if (!runPasses)
    return;
  LoopAnalysisManager lam;
  FunctionAnalysisManager fam;
  CGSCCAnalysisManager cgam;
  ModuleAnalysisManager mam;
  PipelineTuningOptions pto;
  pto.LoopVectorization = opt >= 2;
  pto.SLPVectorization = opt >= 2;
  PassBuilder pb(&tm, pto);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  OptimizationLevel level = opt == 0   ? OptimizationLevel::O0
                            : opt == 1 ? OptimizationLevel::O1
                            : opt == 2 ? OptimizationLevel::O2
                                       : OptimizationLevel::O3;
  ModulePassManager mpm =
      opt == 0 ? pb.buildO0DefaultPipeline(level) : pb.buildPerModuleDefaultPipeline(level);
  mpm.run(m, mam);
}

struct CompiledFunction::Impl {
  std::unique_ptr<orc::LLJIT> jit;
  EntryFn entry = nullptr;
  ir::Function signature; // arguments and return types only, for ir::bindSymbols
  std::vector<std::string> symbols;
  std::vector<ir::Type> outputTypes;
  double seconds = 0;
  std::atomic<int64_t> lastScratch{0};
  std::atomic<int64_t> memoryLimit{0};
  std::mutex poolMutex;
  std::vector<std::unique_ptr<rt::CallContext>> pool;

  std::unique_ptr<rt::CallContext> acquire() {
    std::lock_guard<std::mutex> lock(poolMutex);
    if (pool.empty())
      return std::make_unique<rt::CallContext>();
    auto c = std::move(pool.back());
    pool.pop_back();
    return c;
  }
  void release(std::unique_ptr<rt::CallContext> c) {
    lastScratch = c->bytesInUse();
    c->reset();
    std::lock_guard<std::mutex> lock(poolMutex);
    if (pool.size() < 8)
      pool.push_back(std::move(c));
  }
};

CompiledFunction::CompiledFunction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledFunction::~CompiledFunction() = default;
void CompiledFunction::setMemoryLimit(int64_t bytes) { impl_->memoryLimit = bytes; }

double CompiledFunction::compileSeconds() const { return impl_->seconds; }
int64_t CompiledFunction::scratchBytes() const { return impl_->lastScratch; }

Expected<std::unique_ptr<CompiledFunction>> CompiledFunction::compile(const ir::Function &f,
                                                                      const Options &opts) {
  auto start = std::chrono::steady_clock::now();
  auto target = resolveTarget(opts.targetCpu);
  if (!target)
    return target.takeError();
  if (Error e = checkHostRuns(*target))
    return e;
  auto llctx = std::make_unique<LLVMContext>();
  auto m = lowerToLLVM(f, *llctx);
  if (!m)
    return m.takeError();
  if (Error e = optimize(**m, *target, opts.optLevel, true))
    return e;
  if (const char *dump = std::getenv("LOOM_DUMP_LLVM")) {
    // A developer's aid: the optimised module of every compile, appended to
    // <dir>/<function>.ll (the unit tests' emitted IR goes to the same directory).
    std::error_code ec;
    raw_fd_ostream os(std::string(dump) + "/" + f.name + ".ll", ec, sys::fs::OF_Append);
    if (!ec)
      (*m)->print(os, nullptr);
  }
  const bool perfMap = std::getenv("LOOM_PERF_MAP") != nullptr;
  if (perfMap)
    // The linker keeps names of global symbols only: after optimising, make the kernels
    // hidden globals so that the perf map can name them.
    for (Function &fn : **m)
      if (!fn.isDeclaration() && fn.hasLocalLinkage()) {
        fn.setLinkage(GlobalValue::ExternalLinkage);
        fn.setVisibility(GlobalValue::HiddenVisibility);
      }

  auto jtmb = jitBuilder(*target, opts.optLevel);
  if (!jtmb)
    return jtmb.takeError();
  orc::LLJITBuilder builder;
  builder.setJITTargetMachineBuilder(std::move(*jtmb));
  if (perfMap)
    builder.setObjectLinkingLayerCreator([](orc::ExecutionSession &es, const Triple &) {
      auto layer = std::make_unique<orc::ObjectLinkingLayer>(es);
      layer->addPlugin(std::make_unique<PerfMapPlugin>());
      return Expected<std::unique_ptr<orc::ObjectLayer>>(std::move(layer));
    });
  auto jit = builder.create();
  if (!jit)
    return jit.takeError();
  // The runtime lives in a static library that the executable need not export, so its
  // entry points are given to the JIT by address rather than found by symbol search.
  orc::SymbolMap rtSyms;
  auto define = [&](const char *name, void *addr) {
    rtSyms[(*jit)->mangleAndIntern(name)] = orc::ExecutorSymbolDef(
        orc::ExecutorAddr::fromPtr(addr), JITSymbolFlags::Exported | JITSymbolFlags::Callable);
  };
#define LOOM_RT_ENTRY(fn) define(#fn, reinterpret_cast<void *>(&fn));
#include "runtime/EntryPoints.def"
  if (Error e = (*jit)->getMainJITDylib().define(orc::absoluteSymbols(std::move(rtSyms))))
    return e;
  if (Error e = (*jit)->addIRModule(orc::ThreadSafeModule(std::move(*m), std::move(llctx))))
    return e;
  auto addr = (*jit)->lookup("loom_main");
  if (!addr)
    return addr.takeError();

  auto impl = std::make_unique<Impl>();
  impl->entry = addr->toPtr<EntryFn>();
  impl->jit = std::move(*jit);
  impl->symbols = ir::symbolOrder(f);
  ir::Function &sig = impl->signature;
  sig.name = f.name;
  sig.numInputs = f.numInputs;
  sig.params = f.params;
  sig.outputNames = f.outputNames;
  for (auto &a : f.body.args)
    sig.body.addArg(a->type, a->name);
  auto ret = std::make_unique<ir::Op>(ir::OpKind::Return);
  ret->parent = &sig.body;
  for (const ir::Value *v : f.returnOp()->operands) {
    impl->outputTypes.push_back(v->type);
    auto fill = std::make_unique<ir::Op>(ir::OpKind::Fill);
    fill->attrs["value"] = 0.0;
    fill->parent = &sig.body;
    ret->operands.push_back(fill->addResult(v->type, v->name));
    sig.body.ops.push_back(std::move(fill));
  }
  sig.body.ops.push_back(std::move(ret));
  impl->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::unique_ptr<CompiledFunction>(new CompiledFunction(std::move(impl)));
}

Expected<std::vector<rt::Tensor>> CompiledFunction::run(const std::vector<rt::Tensor> &inputs,
                                                        const std::vector<rt::Tensor> &params,
                                                        rt::PreparedWeights *prepared) const {
  Impl &im = *impl_;
  auto bound = ir::bindSymbols(im.signature, inputs, params);
  if (!bound)
    return bound.takeError();
  std::vector<int64_t> syms;
  for (const std::string &s : im.symbols) {
    auto it = bound->find(s);
    if (it == bound->end())
      return createStringError(inconvertibleErrorCode(), "symbol '%s' is not bound by the inputs",
                               s.c_str());
    syms.push_back(it->second);
  }
  // The outputs' sizes are known from the symbols: a time axis of 10^9 is an error here,
  // before anything is allocated, and what they leave is the scratch's share.
  std::vector<std::vector<int64_t>> shapes;
  uint64_t outputBytes = 0;
  for (size_t i = 0; i < im.outputTypes.size(); ++i) {
    const ir::Type &t = im.outputTypes[i];
    std::vector<int64_t> shape;
    for (const ir::Dim &d : t.shape) {
      std::optional<int64_t> n = ir::evalDim(d, *bound);
      if (!n || *n < 0)
        return createStringError(
            inconvertibleErrorCode(),
            "output '%s' of type %s has no valid size for these inputs "
            "(%s is %s)",
            im.signature.outputNames.size() > i ? im.signature.outputNames[i].c_str() : "?",
            t.str().c_str(), d.str().c_str(), n ? std::to_string(*n).c_str() : "undefined");
      shape.push_back(*n);
    }
    uint64_t bytes = 4;
    bool overflow = false;
    for (int64_t d : shape)
      overflow |= __builtin_mul_overflow(bytes, (uint64_t)d, &bytes);
    overflow |= __builtin_add_overflow(outputBytes, bytes, &outputBytes);
    if (overflow)
      outputBytes = UINT64_MAX;
    shapes.push_back(std::move(shape));
  }
  int64_t limit = im.memoryLimit.load();
  if (rt::Status s =
          rt::checkMemory("this call (its outputs, for these input shapes)", outputBytes, limit))
    return createStringError(inconvertibleErrorCode(), s.message());
  std::vector<rt::Tensor> outputs;
  std::vector<void *> in, par, out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    outputs.emplace_back(toRt(im.outputTypes[i].dtype), shapes[i]);
    if (!outputs.back().valid())
      return createStringError(
          inconvertibleErrorCode(), "out of memory for output '%s' %s",
          im.signature.outputNames.size() > i ? im.signature.outputNames[i].c_str() : "?",
          outputs.back().describe().c_str());
    out.push_back(outputs.back().data());
  }
  for (const rt::Tensor &t : inputs)
    in.push_back(const_cast<void *>(t.data()));
  for (const rt::Tensor &t : params)
    par.push_back(const_cast<void *>(t.data()));
  std::unique_ptr<rt::CallContext> c = im.acquire();
  c->setPrepared(prepared);
  c->setMemoryLimit(
      std::max<int64_t>(1, (limit > 0 ? limit : rt::memoryLimit()) - (int64_t)outputBytes));
  im.entry(c->c(), syms.data(), in.data(), par.data(), out.data());
  std::string error = c->failed() ? c->error() : std::string();
  im.release(std::move(c));
  if (!error.empty())
    return createStringError(inconvertibleErrorCode(), error);
  return outputs;
}

Expected<std::string> emitLLVMIR(const ir::Function &f, bool optimized,
                                 const std::string &targetCpu) {
  auto target = resolveTarget(targetCpu);
  if (!target)
    return target.takeError();
  LLVMContext llctx;
  auto m = lowerToLLVM(f, llctx);
  if (!m)
    return m.takeError();
  if (Error e = optimize(**m, *target, 3, optimized))
    return e;
  std::string text;
  raw_string_ostream os(text);
  (*m)->print(os, nullptr);
  return os.str();
}

} // namespace loom::codegen
