// Ahead-of-time compilation to an ELF object: the JIT's module (lowered and optimised by the
// same code), loom_main made internal, the descriptor runtime/Aot.cpp reads, embedded
// weights, and the public C wrappers; then LLVM's code generator through the legacy pass
// manager, as llc does.
#include "codegen/AOT.h"
#include "codegen/Lowering.h"
#include "codegen/Target.h"

#include "ir/Bind.h"
#include "runtime/Aot.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <fmt/format.h>

#include <cstring>
#include <set>

using namespace llvm;

namespace loom::codegen {
namespace {

Error fail(const std::string &msg) {
  return createStringError(inconvertibleErrorCode(), "%s", msg.c_str());
}

template <typename F> void walkOps(const ir::Block &b, F &&f) {
  for (auto &op : b.ops) {
    f(*op);
    for (auto &r : op->regions)
      walkOps(*r, f);
  }
}

/// The target machine for x86-64 ELF, position-independent code, and the CPU asked for.
Expected<std::unique_ptr<TargetMachine>> makeTargetMachine(const TargetSpec &t, unsigned opt) {
  Triple triple(sys::getProcessTriple());
  if (triple.getArch() != Triple::x86_64 || !triple.isOSBinFormatELF())
    return fail("ahead-of-time compilation targets x86-64 ELF; this host is " + triple.str());
  return createTargetMachine(t, opt, true);
}

int64_t dtypeCode(ir::DType t) { return t == ir::DType::F32 ? LOOM_AOT_F32 : LOOM_AOT_I32; }

/// Emits the descriptor and the wrappers into a module that already holds loom_main.
class DescriptorBuilder {
public:
  DescriptorBuilder(Module &m, const ir::Function &f, const AotOptions &opts)
      : m(m), ctx(m.getContext()), f(f), opts(opts), i64(Type::getInt64Ty(ctx)),
        i32(Type::getInt32Ty(ctx)), ptr(PointerType::get(ctx, 0)), order(ir::symbolOrder(f)) {}

  Error build(const std::vector<rt::Tensor> &weights, const std::vector<std::string> &isa);

private:
  Module &m;
  LLVMContext &ctx;
  const ir::Function &f;
  const AotOptions &opts;
  Type *i64, *i32, *ptr;
  std::vector<std::string> order;
  std::map<std::string, Constant *> strings;

  Constant *c64(int64_t v) { return ConstantInt::get(i64, v); }
  Constant *str(const std::string &s);
  Constant *global(Constant *init, const std::string &name, unsigned align = 8);
  Constant *array(Type *elem, const std::vector<Constant *> &items, const std::string &name);
  void encode(const ir::Dim &d, std::vector<int64_t> &code);
  Constant *program(const std::vector<ir::Dim> &dims, const std::string &name);
  Constant *tensor(const std::string &name, const ir::Type &t, Constant *data);
  Constant *checks(int64_t &count);
  Function *wrapper(const std::string &suffix, Type *ret, const std::vector<Type *> &params);
  void wrappers(Constant *desc);
};

Constant *DescriptorBuilder::str(const std::string &s) {
  auto it = strings.find(s);
  if (it != strings.end())
    return it->second;
  auto *g = new GlobalVariable(m, ArrayType::get(Type::getInt8Ty(ctx), s.size() + 1), true,
                               GlobalValue::PrivateLinkage, ConstantDataArray::getString(ctx, s),
                               ".loom.str");
  g->setUnnamedAddr(GlobalValue::UnnamedAddr::Global);
  g->setAlignment(Align(1));
  return strings[s] = g;
}

Constant *DescriptorBuilder::global(Constant *init, const std::string &name, unsigned align) {
  auto *g = new GlobalVariable(m, init->getType(), true, GlobalValue::PrivateLinkage, init,
                               opts.name + ".loom." + name);
  g->setAlignment(Align(align));
  return g;
}

Constant *DescriptorBuilder::array(Type *elem, const std::vector<Constant *> &items,
                                   const std::string &name) {
  if (items.empty())
    return ConstantPointerNull::get(cast<PointerType>(ptr));
  return global(ConstantArray::get(ArrayType::get(elem, items.size()), items), name);
}

void DescriptorBuilder::encode(const ir::Dim &d, std::vector<int64_t> &code) {
  switch (d.kind()) {
  case ir::Dim::Kind::Const:
    code.insert(code.end(), {LOOM_AOT_CONST, d.value()});
    return;
  case ir::Dim::Kind::Sym: {
    auto it = std::find(order.begin(), order.end(), d.symbol());
    assert(it != order.end() && "symbol not bound by the inputs (lowering checks this)");
    code.insert(code.end(), {LOOM_AOT_SYM, int64_t(it - order.begin())});
    return;
  }
  default:
    encode(d.lhs(), code);
    encode(d.rhs(), code);
    code.push_back(d.kind() == ir::Dim::Kind::Add   ? LOOM_AOT_ADD
                   : d.kind() == ir::Dim::Kind::Sub ? LOOM_AOT_SUB
                   : d.kind() == ir::Dim::Kind::Mul ? LOOM_AOT_MUL
                                                    : LOOM_AOT_DIV);
  }
}

Constant *DescriptorBuilder::program(const std::vector<ir::Dim> &dims, const std::string &name) {
  std::vector<int64_t> code;
  for (const ir::Dim &d : dims) {
    encode(d, code);
    code.push_back(LOOM_AOT_END);
  }
  if (code.empty())
    code.push_back(LOOM_AOT_END); // a scalar: a valid pointer with nothing to read
  return global(ConstantDataArray::get(ctx, code), name);
}

Constant *DescriptorBuilder::tensor(const std::string &name, const ir::Type &t, Constant *data) {
  return ConstantStruct::getAnon(ctx,
                                 {str(name), str(t.str()), c64(dtypeCode(t.dtype)), c64(t.rank()),
                                  program(t.shape, "shape"),
                                  data ? data : ConstantPointerNull::get(cast<PointerType>(ptr))});
}

/// Conditions on the sizes that runtime/Aot.cpp checks before each call, so that a bad size
/// is LOOM_AOT_ERR_BAD_SIZE with a message rather than a failure inside the call: a window op
/// with valid padding needs a sequence at least as long as its window; every size the
/// function computes must not be negative.
Constant *DescriptorBuilder::checks(int64_t &count) {
  std::vector<Constant *> items;
  std::set<std::string> seen;
  auto add = [&](const ir::Dim &d, int64_t min, const std::string &msg) {
    items.push_back(ConstantStruct::getAnon(
        ctx, {program({d}, "check." + std::to_string(items.size())), c64(min), str(msg)}));
  };
  walkOps(f.body, [&](const ir::Op &op) {
    using K = ir::OpKind;
    bool conv =
        op.kind == K::Conv1D || op.kind == K::Conv1DGradInput || op.kind == K::Conv1DGradKernel;
    if (!conv && op.kind != K::MaxPool1D && op.kind != K::MaxPool1DGrad)
      return;
    auto pad = op.attrs.find("padding");
    if (pad == op.attrs.end() || !std::holds_alternative<std::string>(pad->second) ||
        std::get<std::string>(pad->second) != "valid")
      return;
    // The forward op's input x and kernel: an operand, or the gradient op's result.
    const ir::Value *x = op.kind == K::Conv1DGradInput ? op.result() : op.operands[0];
    const ir::Value *kernel = op.kind == K::Conv1DGradKernel ? op.result() : op.operands.back();
    const ir::Dim &len = x->type.shape[1];
    const ir::Dim &k = conv ? kernel->type.shape[0] : ir::Dim::constant(0);
    if (len.isStatic() || (conv && !k.isStatic()))
      return; // checked when the model was compiled (or by the generated code)
    int64_t span = conv ? op.intAttr("dilation") * (k.value() - 1) + 1 : op.intAttr("size");
    std::string msg = fmt::format("{}: the window spans {} steps but the sequence has ",
                                  ir::opName(op.kind), span);
    if (seen.insert(len.str() + "/" + msg).second)
      add(len, span, msg);
  });
  auto nonNegative = [&](const ir::Dim &d) {
    if (d.isStatic() || d.isSymbol() || !seen.insert(d.str()).second)
      return;
    add(d, 0, "the size " + d.str() + " that the model computes must not be negative, but is ");
  };
  auto types = [&](const ir::Value *v) {
    for (const ir::Dim &d : v->type.shape)
      nonNegative(d);
  };
  walkOps(f.body, [&](const ir::Op &op) {
    for (auto &r : op.results)
      types(r.get());
    for (auto &rg : op.regions)
      for (auto &a : rg->args)
        types(a.get());
    for (auto &[key, attr] : op.attrs)
      if (const ir::Dim *d = std::get_if<ir::Dim>(&attr))
        nonNegative(*d);
  });
  count = (int64_t)items.size();
  if (items.empty())
    return ConstantPointerNull::get(cast<PointerType>(ptr));
  return array(items[0]->getType(), items, "checks");
}

Function *DescriptorBuilder::wrapper(const std::string &suffix, Type *ret,
                                     const std::vector<Type *> &params) {
  auto *fn = Function::Create(FunctionType::get(ret, params, false), GlobalValue::ExternalLinkage,
                              opts.name + "_" + suffix, m);
  fn->addFnAttr(Attribute::NoUnwind);
  // The wrappers run before create has checked the CPU: baseline x86-64 only.
  fn->addFnAttr("target-cpu", "x86-64");
  fn->addFnAttr("target-features", "");
  return fn;
}

/// The public C functions: each passes the descriptor or the context on to runtime/Aot.cpp.
void DescriptorBuilder::wrappers(Constant *desc) {
  Type *voidTy = Type::getVoidTy(ctx);
  auto rtFn = [&](const char *name, Type *ret, std::vector<Type *> params) {
    FunctionCallee c = m.getOrInsertFunction(name, FunctionType::get(ret, params, false));
    cast<Function>(c.getCallee())->addFnAttr(Attribute::NoUnwind);
    return c;
  };
  FunctionCallee create = rtFn("loom_aot_create", i32, {ptr, ptr, ptr});
  FunctionCallee destroy = rtFn("loom_aot_destroy", voidTy, {ptr});
  FunctionCallee message = rtFn("loom_aot_error_message", ptr, {ptr});
  FunctionCallee run = rtFn("loom_aot_run", i32, {ptr, ptr, ptr, ptr});
  FunctionCallee shape = rtFn("loom_aot_output_shape", i32, {ptr, i64, ptr, ptr});
  FunctionCallee sizes = rtFn("loom_aot_sizes_from_shapes", i32, {ptr, ptr, ptr});
  IRBuilder<> b(ctx);
  auto body = [&](Function *fn) {
    b.SetInsertPoint(BasicBlock::Create(ctx, "entry", fn));
    return fn;
  };
  auto arg = [](Function *fn, unsigned i) { return fn->getArg(i); };

  if (opts.embedWeights) {
    Function *fn = body(wrapper("create", i32, {ptr}));
    b.CreateRet(
        b.CreateCall(create, {desc, ConstantPointerNull::get(cast<PointerType>(ptr)), arg(fn, 0)}));
  } else {
    Function *fn = body(wrapper("create", i32, {ptr, ptr}));
    b.CreateRet(b.CreateCall(create, {desc, arg(fn, 1), arg(fn, 0)}));
  }
  Function *fn = body(wrapper("destroy", voidTy, {ptr}));
  b.CreateCall(destroy, {arg(fn, 0)});
  b.CreateRetVoid();
  fn = body(wrapper("error_message", ptr, {ptr}));
  b.CreateRet(b.CreateCall(message, {arg(fn, 0)}));

  // <name>_run(ctx, sizes..., inputs..., outputs...): the arrays built on the stack.
  size_t ns = order.size(), ni = f.numInputs, no = f.outputNames.size();
  std::vector<Type *> params = {ptr};
  params.insert(params.end(), ns, i64);
  params.insert(params.end(), ni + no, ptr);
  fn = body(wrapper("run", i32, params));
  auto stackArray = [&](Type *elem, size_t n, unsigned firstArg, const char *name) {
    Value *a = b.CreateAlloca(elem, b.getInt64(std::max<size_t>(n, 1)), name);
    for (size_t i = 0; i < n; ++i)
      b.CreateStore(arg(fn, firstArg + i), b.CreateConstGEP1_64(elem, a, i));
    return a;
  };
  Value *symArr = stackArray(i64, ns, 1, "sizes");
  Value *inArr = stackArray(ptr, ni, 1 + ns, "inputs");
  Value *outArr = stackArray(ptr, no, 1 + ns + ni, "outputs");
  b.CreateRet(b.CreateCall(run, {arg(fn, 0), symArr, inArr, outArr}));

  fn = body(wrapper("run_arrays", i32, {ptr, ptr, ptr, ptr}));
  b.CreateRet(b.CreateCall(run, {arg(fn, 0), arg(fn, 1), arg(fn, 2), arg(fn, 3)}));
  fn = body(wrapper("output_shape", i32, {ptr, i32, ptr}));
  b.CreateRet(b.CreateCall(shape, {desc, b.CreateSExt(arg(fn, 1), i64), arg(fn, 0), arg(fn, 2)}));
  fn = body(wrapper("sizes_from_shapes", i32, {ptr, ptr, ptr}));
  b.CreateRet(b.CreateCall(sizes, {arg(fn, 0), arg(fn, 1), arg(fn, 2)}));
}

Error DescriptorBuilder::build(const std::vector<rt::Tensor> &weights,
                               const std::vector<std::string> &isa) {
  Function *entry = m.getFunction("loom_main");
  if (!entry || entry->isDeclaration())
    return fail("internal error: the lowered module has no loom_main");
  // Only the wrappers are visible outside the object, so any number of models link into
  // one program.
  for (Function &fn : m)
    if (!fn.isDeclaration())
      fn.setLinkage(GlobalValue::InternalLinkage);
  for (GlobalVariable &g : m.globals())
    if (!g.isDeclaration() && !g.hasLocalLinkage())
      g.setLinkage(GlobalValue::InternalLinkage);

  std::vector<Constant *> syms, inputs, params, outputs;
  for (const std::string &s : order)
    syms.push_back(str(s));
  for (unsigned i = 0; i < f.numInputs; ++i)
    inputs.push_back(tensor(f.input(i)->name, f.input(i)->type, nullptr));
  for (unsigned i = 0; i < f.params.size(); ++i) {
    Constant *data = nullptr;
    if (opts.embedWeights) {
      const rt::Tensor &t = weights[i];
      Type *elem = t.dtype() == rt::DType::F32 ? Type::getFloatTy(ctx) : i32;
      // An empty tensor still gets one element, so that its pointer is a valid one.
      std::string bytes(std::max<size_t>(t.bytes(), 4), '\0');
      if (t.bytes())
        std::memcpy(&bytes[0], t.data(), t.bytes());
      data = global(ConstantDataArray::getRaw(bytes, bytes.size() / 4, elem),
                    "weight." + std::to_string(i), 64);
    }
    params.push_back(tensor(f.params[i].key, f.param(i)->type, data));
  }
  for (size_t i = 0; i < f.outputNames.size(); ++i)
    outputs.push_back(tensor(f.outputNames[i], f.returnOp()->operands[i]->type, nullptr));
  Type *tensorTy = StructType::get(ctx, {ptr, ptr, i64, i64, ptr, ptr});
  int64_t numChecks = 0;
  Constant *checkArr = checks(numChecks);
  Constant *desc = ConstantStruct::getAnon(
      ctx, {c64(LOOM_AOT_ABI_VERSION), str(opts.name), str(f.name), c64((int64_t)syms.size()),
            array(ptr, syms, "symbols"), c64(f.numInputs), array(tensorTy, inputs, "inputs"),
            c64((int64_t)f.params.size()), array(tensorTy, params, "params"),
            c64((int64_t)f.outputNames.size()), array(tensorTy, outputs, "outputs"), c64(numChecks),
            checkArr, c64(opts.embedWeights ? 1 : 0), entry, str(llvm::join(isa, ","))});
  wrappers(global(desc, "model"));
  return Error::success();
}

} // namespace

Error checkWeightShapes(const ir::Function &f, const std::vector<rt::Tensor> &weights,
                        const std::string &what) {
  if (weights.size() != f.params.size())
    return fail(fmt::format("{}: model {} has {} weight(s), got {}", what, f.name, f.params.size(),
                            weights.size()));
  for (unsigned i = 0; i < f.params.size(); ++i) {
    const ir::Type &want = f.param(i)->type;
    const rt::Tensor &got = weights[i];
    bool same = got.dtype() == want.dtype && got.rank() == want.rank();
    for (int64_t d = 0; same && d < want.rank(); ++d)
      same = want.shape[d].isStatic() && want.shape[d].value() == got.shape()[d];
    if (!same)
      return fail(fmt::format("{}: weight '{}': expected {}, got {}", what, f.params[i].key,
                              want.str(), got.describe()));
  }
  return Error::success();
}

Expected<AotResult> compileAOT(const ir::Function &f, const std::vector<rt::Tensor> &weights,
                               const AotOptions &opts) {
  if (Error e = checkCName(opts.name))
    return std::move(e);
  // runtime/Aot.cpp binds sizes from the inputs' dims, and weights have fixed shapes.
  for (unsigned i = 0; i < f.numInputs; ++i)
    for (const ir::Dim &d : f.input(i)->type.shape)
      if (!d.isStatic() && !d.isSymbol())
        return fail(fmt::format("input '{}' has type {}: an input's dims must be numbers or "
                                "single symbols to be compiled ahead of time",
                                f.input(i)->name, f.input(i)->type.str()));
  for (unsigned i = 0; i < f.params.size(); ++i)
    for (const ir::Dim &d : f.param(i)->type.shape)
      if (!d.isStatic())
        return fail(fmt::format("weight '{}' has type {}: weights need static shapes",
                                f.params[i].key, f.param(i)->type.str()));
  if (opts.embedWeights) {
    if (Error e = checkWeightShapes(f, weights, "weights"))
      return std::move(e);
    // The small code model addresses data within 2 GiB of the code.
    size_t bytes = 0;
    for (const rt::Tensor &t : weights)
      bytes += t.bytes();
    if (bytes > (size_t(1) << 30))
      return fail(fmt::format("the weights take {} MiB; objects embed at most 1 GiB (x86-64's "
                              "small code model): use --weights-file",
                              bytes >> 20));
  }
  auto target = resolveTarget(opts.targetCpu);
  if (!target)
    return target.takeError();
  std::vector<std::string> isa = target->requiredIsa;
  isa.insert(isa.end(), opts.extraIsa.begin(), opts.extraIsa.end());
  auto tm = makeTargetMachine(*target, opts.optLevel);
  if (!tm)
    return tm.takeError();

  LLVMContext llctx;
  auto m = lowerToLLVM(f, llctx);
  if (!m)
    return m.takeError();
  optimizeModule(**m, **tm, *target, opts.optLevel, true);
  (*m)->setModuleIdentifier(opts.name);
  if (Error e = DescriptorBuilder(**m, f, opts).build(weights, isa))
    return std::move(e);
  std::string problems;
  raw_string_ostream os(problems);
  if (verifyModule(**m, &os))
    return fail("internal error: the AOT module is invalid: " + os.str());

  SmallVector<char, 0> buffer;
  raw_svector_ostream obj(buffer);
  legacy::PassManager pm;
  if ((*tm)->addPassesToEmitFile(pm, obj, nullptr, CodeGenFileType::ObjectFile))
    return fail("internal error: LLVM cannot emit an object file for this target");
  pm.run(**m);
  AotResult out;
  out.object.assign(buffer.begin(), buffer.end());
  out.header = aotHeader(f, opts);
  return out;
}

} // namespace loom::codegen
