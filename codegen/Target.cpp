// Target names, the target machine they make, and the ISA extensions code for them needs.
#include "codegen/Target.h"
#include "codegen/Lowering.h"

#include "llvm/Analysis/TargetTransformInfo.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <cstdlib>
#include <mutex>

using namespace llvm;

namespace loom::codegen {
namespace {

Error fail(const std::string &msg) {
  return createStringError(inconvertibleErrorCode(), "%s", msg.c_str());
}

/// The extensions loom's code can use that x86-64 CPUs may lack, checked in this order.
/// Each is spelled as LLVM and __builtin_cpu_supports both spell it (runtime/Aot.cpp
/// checks the same list at run time).
const char *const kIsa[] = {"sse4.2",   "popcnt",   "avx",        "avx2",      "fma",
                            "bmi",      "bmi2",     "avx512f",    "avx512bw",  "avx512dq",
                            "avx512vl", "avx512cd", "avx512vnni", "avx512bf16"};

void initTargets() {
  static std::once_flag once;
  std::call_once(once, [] {
    InitializeNativeTarget();
    InitializeNativeTargetAsmPrinter();
  });
}

} // namespace

const char *targetNames() { return "native, x86-64-v3 or x86-64-v4"; }

std::string defaultTarget() {
  const char *env = std::getenv("LOOM_TARGET_CPU");
  return env && *env ? env : "native";
}

Expected<std::unique_ptr<TargetMachine>> createTargetMachine(const TargetSpec &t, unsigned opt,
                                                             bool pic) {
  initTargets();
  std::string triple = sys::getProcessTriple();
  std::string err;
  const Target *target = TargetRegistry::lookupTarget(triple, err);
  if (!target)
    return fail("no LLVM target for " + triple + ": " + err);
  CodeGenOptLevel level = opt == 0   ? CodeGenOptLevel::None
                          : opt == 1 ? CodeGenOptLevel::Less
                          : opt == 2 ? CodeGenOptLevel::Default
                                     : CodeGenOptLevel::Aggressive;
  std::unique_ptr<TargetMachine> tm(target->createTargetMachine(
      triple, t.cpu, t.features, TargetOptions(),
      pic ? std::optional<Reloc::Model>(Reloc::PIC_) : std::nullopt, std::nullopt, level));
  if (!tm)
    return fail("cannot create a target machine for " + triple + " (" + t.cpu + ")");
  return tm;
}

Expected<TargetSpec> resolveTarget(const std::string &asked) {
  TargetSpec t;
  t.name = asked.empty() ? defaultTarget() : asked;
  if (t.name == "native" || t.name == "host") {
    t.cpu = sys::getHostCPUName().str();
    SubtargetFeatures f;
    for (auto &feature : sys::getHostCPUFeatures())
      f.AddFeature(feature.first(), feature.second);
    t.features = f.getString();
  } else if (t.name == "x86-64-v3" || t.name == "x86-64-v4") {
    t.cpu = t.name;
    t.preferVectorBits = t.name == "x86-64-v4" ? 512 : 0;
  } else {
    return fail("unknown target CPU '" + t.name + "': expected " + targetNames());
  }
  if (Triple(sys::getProcessTriple()).getArch() != Triple::x86_64)
    return fail("loom generates x86-64 code; this host is " + sys::getProcessTriple());
  auto tm = createTargetMachine(t, 3, false);
  if (!tm)
    return tm.takeError();
  const MCSubtargetInfo *sti = (*tm)->getMCSubtargetInfo();
  for (const char *isa : kIsa)
    if (sti->checkFeatures(std::string("+") + isa))
      t.requiredIsa.push_back(isa);
  // The vector width the vectoriser uses is the subtarget's preferred one (a CPU may have
  // 512-bit registers and prefer 256), which only a function's TTI tells.
  LLVMContext ctx;
  Module m("width", ctx);
  Function *fn = Function::Create(FunctionType::get(Type::getVoidTy(ctx), false),
                                  GlobalValue::ExternalLinkage, "f", m);
  fn->addFnAttr("target-cpu", t.cpu);
  if (!t.features.empty())
    fn->addFnAttr("target-features", t.features);
  if (t.preferVectorBits)
    fn->addFnAttr("prefer-vector-width", std::to_string(t.preferVectorBits));
  t.vectorBits = (unsigned)(*tm)
                     ->getTargetTransformInfo(*fn)
                     .getRegisterBitWidth(TargetTransformInfo::RGK_FixedWidthVector)
                     .getFixedValue();
  return t;
}

Error checkHostRuns(const TargetSpec &t) {
  StringMap<bool> host = sys::getHostCPUFeatures();
  std::string missing;
  for (const std::string &isa : t.requiredIsa) {
    auto it = host.find(isa);
    if (it == host.end() || !it->second)
      missing += (missing.empty() ? "" : ", ") + isa;
  }
  if (missing.empty())
    return Error::success();
  return fail("target " + t.name + " needs " + missing + ", which this CPU (" +
              sys::getHostCPUName().str() + ") lacks");
}

} // namespace loom::codegen
