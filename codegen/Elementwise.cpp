// Elementwise ops as loop nests over the output shape. The nest is simplified when
// compiling (size-1 output dims dropped, adjacent dims merged where every operand is
// contiguous or broadcast across both), the innermost loop runs over the last dim with
// compile-time strides of 1 or 0 where the view allows, and the output pointer is noalias.
// The loop vectoriser then turns the innermost loop into AVX2 code without runtime alias
// checks.
#include "codegen/Lowering.h"
#include "codegen/VectorMath.h"
#include "runtime/Random.h"

#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace loom::codegen {
namespace {

Error fail(const Twine &msg) { return createStringError(inconvertibleErrorCode(), msg); }

// Kernels whose size is known when compiling and below this many cost units are called
// directly; the same threshold as runtime/Parallel.cpp's, which decides for the others.
constexpr int64_t kMinParallelCost = int64_t(1) << 16;

// Kernels costing at least this much per element (one transcendental, see elementCost)
// interleave four vectors per loop iteration.
constexpr unsigned kInterleaveCost = 12;

bool isConst(Value *v, int64_t c) {
  auto *ci = dyn_cast<ConstantInt>(v);
  return ci && ci->getSExtValue() == c;
}

struct KernelOperand {
  Value *base;
  Type *elem;
  std::vector<Value *> strides;
  unsigned denseFrom;
  bool mergeable(unsigned k) const {
    bool z0 = isConst(strides[k], 0), z1 = isConst(strides[k + 1], 0);
    if (z0 || z1)
      return z0 && z1;
    return k >= denseFrom;
  }
};

} // namespace

void Lowerer::emitKernel(const View &out, const std::vector<View> &ins, const ElementFn &f,
                         const std::string &name) {
  emitKernel(
      std::vector<View>{out}, ins,
      [&f](IRBuilder<> &b, const std::vector<Value *> &v) { return std::vector<Value *>{f(b, v)}; },
      name);
}

void Lowerer::emitKernel(const std::vector<View> &outs, const std::vector<View> &ins,
                         const MultiElementFn &f, const std::string &name, unsigned cost) {
  assert(!outs.empty() && "a kernel writes at least one output");
  const View &out = outs[0];
  unsigned r = out.rank();
  std::vector<Value *> shape = out.shape;
  std::vector<KernelOperand> ops;
  for (const View &o : outs)
    ops.push_back({o.base, elemType(o.dtype), o.strides, o.denseFrom});
  unsigned nOut = (unsigned)outs.size();
  for (const View &in : ins) {
    assert(in.rank() <= r && "operand rank exceeds the output's");
    unsigned pad = r - in.rank();
    std::vector<Value *> strides(r, i64c(0));
    for (unsigned k = 0; k < in.rank(); ++k)
      strides[pad + k] = isConst(in.shape[k], 1) ? i64c(0) : in.strides[k];
    ops.push_back({in.base, elemType(in.dtype), strides, in.denseFrom + pad});
  }
  auto eraseDim = [&](unsigned k) {
    shape.erase(shape.begin() + k);
    for (KernelOperand &o : ops) {
      o.strides.erase(o.strides.begin() + k);
      if (o.denseFrom > k)
        --o.denseFrom;
    }
  };
  for (unsigned k = r; k-- > 0;)
    if (isConst(shape[k], 1))
      eraseDim(k);
  for (unsigned k = shape.size() >= 2 ? shape.size() - 1 : 0; k-- > 0;) {
    bool all = true;
    for (const KernelOperand &o : ops)
      all &= o.mergeable(k);
    if (!all)
      continue;
    shape[k] = b.CreateMul(shape[k], shape[k + 1], "", /*NUW=*/true, /*NSW=*/true);
    for (KernelOperand &o : ops)
      o.strides[k] = o.strides[k + 1];
    eraseDim(k + 1);
  }

  // The nest goes into its own function (see outline()): the output pointer is noalias,
  // since it never overlaps an input. Its outermost loop runs over [lo, hi), two extra
  // parameters, so that loom_rt_parallel_for can hand parts of it to other threads: each
  // thread writes its own rows of every output, and every element is computed the same way
  // whatever the split.
  bool ranged = !shape.empty();
  Value *outer = ranged ? shape[0] : nullptr; // the caller's values, before outlining
  Value *inner = ranged ? numel({shape.begin() + 1, shape.end()}) : nullptr;
  std::vector<std::pair<Value **, ArgUse>> uses;
  for (unsigned i = 0; i < ops.size(); ++i)
    uses.push_back({&ops[i].base, i < nOut ? ArgUse::Out : ArgUse::In});
  for (Value *&d : shape)
    uses.push_back({&d, ArgUse::Value});
  for (KernelOperand &o : ops)
    for (Value *&s : o.strides)
      uses.push_back({&s, ArgUse::Value});
  std::vector<Type *> extra;
  if (ranged)
    extra = {i64, i64};
  // A kernel with transcendentals is one long dependency chain per vector (exp, divide,
  // tanh, ...) of a hundred-odd instructions: four vectors per iteration give the core four
  // chains to overlap (an LSTM's gate math alone: 1.4x with two, 1.5x with four; S1-S3
  // 2-4% faster with four than with two, for about 10 ms more compile time). Cheap kernels
  // are bound by memory and keep one, which keeps the code small.
  unsigned interleave = cost >= kInterleaveCost ? 4 : 1;
  // In a loop over units a kernel runs on one row of a thread's columns (a few hundred
  // elements, a count known only at run time) and is compiled besides the same kernel for
  // whole rows: the smallest code that vectorises, which halves its compile time.
  LoopHint innermost = unitWindow ? LoopHint::FoldTail : LoopHint::Interleave;
  auto [kf, args] = outlineFunction(name, uses, nullptr, extra, [&]() -> Value * {
    unsigned depth = shape.size();
    std::function<void(unsigned, std::vector<Value *>)> level = [&](unsigned k,
                                                                    std::vector<Value *> offs) {
      if (k == depth) {
        std::vector<Value *> vals;
        for (unsigned i = nOut; i < ops.size(); ++i)
          vals.push_back(
              b.CreateLoad(ops[i].elem, b.CreateInBoundsGEP(ops[i].elem, ops[i].base, offs[i])));
        std::vector<Value *> res = f(b, vals);
        for (unsigned i = 0; i < nOut; ++i)
          b.CreateStore(res[i], b.CreateInBoundsGEP(ops[i].elem, ops[i].base, offs[i]));
        return;
      }
      Value *lo = k == 0 ? outlineExtra[0] : nullptr;
      forLoop(
          k == 0 ? b.CreateSub(outlineExtra[1], lo, "", false, true) : shape[k],
          [&](Value *i) {
            if (lo)
              i = b.CreateAdd(i, lo, "", false, true);
            std::vector<Value *> next;
            for (unsigned j = 0; j < ops.size(); ++j)
              next.push_back(b.CreateAdd(
                  offs[j], b.CreateMul(i, ops[j].strides[k], "", false, true), "", false, true));
            level(k + 1, next);
          },
          k + 1 == depth ? innermost : LoopHint::None, "i", interleave);
    };
    level(0, std::vector<Value *>(ops.size(), i64c(0)));
    return nullptr;
  });
  if (!ranged) {
    b.CreateCall(kf, args);
    return;
  }
  // Work per outermost index, in about scalar ops; loom_rt_parallel_for decides from it
  // whether splitting pays. A kernel over one merged dim splits at multiples of 16 elements
  // (whole cache lines).
  callRanged(kf, std::move(args), outer, b.CreateMul(inner, i64c(cost), "", true, true),
             shape.size() == 1 ? 16 : 1);
}

void Lowerer::callRanged(Function *kf, std::vector<Value *> args, Value *n, Value *itemCost,
                         int64_t align) {
  // Known to be small when compiling: called directly.
  auto *co = dyn_cast<ConstantInt>(n);
  auto *ci = dyn_cast<ConstantInt>(itemCost);
  if (co && ci && co->getSExtValue() * ci->getSExtValue() < kMinParallelCost) {
    args.push_back(i64c(0));
    args.push_back(n);
    b.CreateCall(kf, args);
    return;
  }
  std::vector<Type *> fieldTypes;
  for (Value *a : args)
    fieldTypes.push_back(a->getType());
  StructType *argsTy = StructType::get(ctx, fieldTypes);
  IRBuilder<> entry(&fn->getEntryBlock(), fn->getEntryBlock().begin());
  Value *block = entry.CreateAlloca(argsTy, nullptr, "kargs");
  for (unsigned i = 0; i < args.size(); ++i)
    b.CreateStore(args[i], b.CreateStructGEP(argsTy, block, i));
  b.CreateCall(parallelForFn, {rangeWrapper(kf, argsTy), block, n, itemCost, i64c(align)});
}

Function *Lowerer::rangeWrapper(Function *k, StructType *argsTy) {
  Function *&w = rangeWrappers[k];
  if (w)
    return w;
  w = Function::Create(FunctionType::get(b.getVoidTy(), {ptr, i64, i64}, false),
                       GlobalValue::InternalLinkage, k->getName() + ".range", mod);
  w->addFnAttr(Attribute::NoUnwind);
  IRBuilder<> wb(BasicBlock::Create(ctx, "entry", w));
  std::vector<Value *> args;
  for (unsigned i = 0; i < argsTy->getNumElements(); ++i)
    args.push_back(
        wb.CreateLoad(argsTy->getElementType(i), wb.CreateStructGEP(argsTy, w->getArg(0), i)));
  args.push_back(w->getArg(1));
  args.push_back(w->getArg(2));
  wb.CreateCall(k, args);
  wb.CreateRetVoid();
  return w;
}

// Small functions keep LLVM's loop passes (loop strength reduction in particular, whose
// cost grows fast with the number of addresses in a loop nest) from seeing every address of
// a time step at once, and identical kernels (the same copy for every carry) are compiled
// once.
CallInst *Lowerer::outline(const std::string &name,
                           const std::vector<std::pair<Value **, ArgUse>> &uses, Type *retTy,
                           const std::function<Value *()> &body) {
  auto [kf, args] = outlineFunction(name, uses, retTy, {}, body);
  return b.CreateCall(kf, args);
}

std::pair<Function *, std::vector<Value *>>
Lowerer::outlineFunction(const std::string &name,
                         const std::vector<std::pair<Value **, ArgUse>> &uses, Type *retTy,
                         const std::vector<Type *> &extra, const std::function<Value *()> &body) {
  std::vector<Value *> args;
  std::vector<ArgUse> argUses;
  DenseMap<Value *, unsigned> argIndex;
  for (auto [slot, use] : uses) {
    if (isa<Constant>(*slot))
      continue;
    auto [it, fresh] = argIndex.try_emplace(*slot, args.size());
    if (fresh) {
      args.push_back(*slot);
      argUses.push_back(use);
    } else if (argUses[it->second] != use) {
      argUses[it->second] = ArgUse::Value; // read and written: no attribute is true
    }
  }
  std::vector<Type *> argTypes;
  for (Value *v : args)
    argTypes.push_back(v->getType());
  argTypes.insert(argTypes.end(), extra.begin(), extra.end());
  if (!retTy)
    retTy = b.getVoidTy();
  Function *kf = Function::Create(FunctionType::get(retTy, argTypes, false),
                                  GlobalValue::InternalLinkage, "k." + name, mod);
  kf->addFnAttr(Attribute::NoInline);
  kf->addFnAttr(Attribute::NoUnwind);
  for (unsigned i = 0; i < args.size(); ++i) {
    if (!args[i]->getType()->isPointerTy() || argUses[i] == ArgUse::Value)
      continue;
    kf->addParamAttr(i, Attribute::NoCapture);
    kf->addParamAttr(i, argUses[i] == ArgUse::Out ? Attribute::NoAlias : Attribute::ReadOnly);
  }
  for (auto [slot, use] : uses) {
    auto it = argIndex.find(*slot); // a slot listed twice is remapped once
    if (it != argIndex.end())
      *slot = kf->getArg(it->second);
  }

  IRBuilderBase::InsertPoint caller = b.saveIP();
  Function *callerFn = fn;
  fn = kf;
  b.SetInsertPoint(BasicBlock::Create(ctx, "entry", kf));
  std::vector<Value *> callerExtra = std::move(outlineExtra);
  outlineExtra.clear();
  for (unsigned i = 0; i < extra.size(); ++i)
    outlineExtra.push_back(kf->getArg(args.size() + i));
  if (Value *r = body())
    b.CreateRet(r);
  else
    b.CreateRetVoid();
  fn = callerFn;
  outlineExtra = std::move(callerExtra);
  b.restoreIP(caller);

  std::string text;
  raw_string_ostream os(text);
  for (const BasicBlock &bb : *kf)
    bb.print(os);
  os << *kf->getFunctionType() << kf->getAttributes().getAsString(AttributeList::FunctionIndex);
  for (unsigned i = 0; i < kf->arg_size(); ++i)
    os << ";" << kf->getAttributes().getParamAttrs(i).getAsString();
  auto [it, fresh] = kernels.try_emplace(os.str(), kf);
  if (!fresh)
    kf->eraseFromParent();
  else
    kf->setName("k" + std::to_string(kernels.size()) + "." + name);
  return {it->second, args};
}

// random_uniform: the seed is computed once from the key; the nest carries each element's
// row-major flat index beside its offset in the output view (a buffer, or a stack slot at
// step t), so the numbers do not depend on where they are stored. The element function is
// rt::random::uniform in integer ops (no call), which the loop vectoriser can widen.
Error Lowerer::lowerRandomUniform(const ir::Op &op) {
  namespace rnd = rt::random;
  auto mix64 = [](IRBuilder<> &ib, Value *z) {
    Type *t = z->getType();
    z = ib.CreateMul(ib.CreateXor(z, ib.CreateLShr(z, 30)),
                     ConstantInt::get(t, 0xBF58476D1CE4E5B9ull));
    z = ib.CreateMul(ib.CreateXor(z, ib.CreateLShr(z, 27)),
                     ConstantInt::get(t, 0x94D049BB133111EBull));
    return ib.CreateXor(z, ib.CreateLShr(z, 31));
  };
  const View &key = view(op.operands[0]);
  Value *k0 = b.CreateLoad(i32, key.base, "key0");
  Value *k1 = b.CreateLoad(i32, b.CreateInBoundsGEP(i32, key.base, key.strides[0]), "key1");
  Value *word = b.CreateOr(b.CreateShl(b.CreateZExt(k0, i64), 32), b.CreateZExt(k1, i64));
  uint64_t salt = rnd::mix64((uint64_t)op.intAttr("stream") + rnd::kStreamSalt);
  Value *seed = mix64(b, b.CreateXor(word, ConstantInt::get(i64, salt)));

  // Dims of the dense block merge: the flat index runs over them as one.
  View out = view(op.result());
  std::vector<Value *> shape = out.shape, strides = out.strides;
  for (unsigned k = shape.size() >= 2 ? shape.size() - 1 : 0; k-- > out.denseFrom;) {
    shape[k] = b.CreateMul(shape[k], shape[k + 1], "", /*NUW=*/true, /*NSW=*/true);
    strides[k] = strides[k + 1];
    shape.erase(shape.begin() + k + 1);
    strides.erase(strides.begin() + k + 1);
  }
  std::vector<std::pair<Value **, ArgUse>> uses{{&out.base, ArgUse::Out}, {&seed, ArgUse::Value}};
  for (Value *&d : shape)
    uses.push_back({&d, ArgUse::Value});
  for (Value *&st : strides)
    uses.push_back({&st, ArgUse::Value});
  outline("random_uniform", uses, nullptr, [&]() -> Value * {
    unsigned depth = shape.size();
    std::function<void(unsigned, Value *, Value *)> level = [&](unsigned k, Value *off,
                                                                Value *flat) {
      if (k == depth) {
        Value *n = b.CreateAdd(flat, i64c(1));
        Value *z = mix64(b, b.CreateAdd(seed, b.CreateMul(n, ConstantInt::get(i64, rnd::kGolden))));
        Value *bits = b.CreateTrunc(b.CreateLShr(z, 40), i32);
        Value *u = b.CreateFMul(b.CreateSIToFP(bits, f32), ConstantFP::get(f32, 0x1p-24));
        b.CreateStore(u, b.CreateInBoundsGEP(f32, out.base, off));
        return;
      }
      forLoop(
          shape[k],
          [&](Value *i) {
            level(k + 1,
                  b.CreateAdd(off, b.CreateMul(i, strides[k], "", false, true), "", false, true),
                  b.CreateAdd(b.CreateMul(flat, shape[k]), i));
          },
          k + 1 == depth ? LoopHint::Interleave : LoopHint::None, "i", 1);
    };
    level(0, i64c(0), i64c(0));
    return nullptr;
  });
  return Error::success();
}

void Lowerer::copy(const View &dst, const View &src) {
  emitKernel(dst, {src}, [](IRBuilder<> &, const std::vector<Value *> &v) { return v[0]; });
}

Expected<ElementFn> Lowerer::elementFn(const ir::Op &op) {
  using K = ir::OpKind;
  ir::DType outT = op.result()->type.dtype;
  // select's condition is f32 whatever its values are; the values decide the dtype.
  unsigned first = op.kind == K::Select ? 1 : 0;
  ir::DType inT = op.operands.size() <= first ? outT : op.operands[first]->type.dtype;
  for (unsigned i = first; i < op.operands.size(); ++i)
    if (const ir::Value *v = op.operands[i]; v->type.dtype != inT)
      return fail(Twine(ir::opName(op.kind)) + ": operands have different dtypes (" +
                  op.operands[0]->type.str() + ", " + v->type.str() + ")");
  bool fl = inT == ir::DType::F32;
  Type *f32t = f32;
  auto floatOnly = [&](ElementFn fn) -> Expected<ElementFn> {
    if (!fl)
      return fail(Twine(ir::opName(op.kind)) + " is defined for f32 only, got " +
                  op.operands[0]->type.str());
    return fn;
  };
  switch (op.kind) {
  case K::Fill: {
    double v = 0;
    auto it = op.attrs.find("value");
    if (it != op.attrs.end()) {
      if (auto *d = std::get_if<double>(&it->second))
        v = *d;
      else if (auto *n = std::get_if<int64_t>(&it->second))
        v = (double)*n;
      else
        return fail("fill: attribute 'value' must be a number");
    }
    Constant *c =
        outT == ir::DType::F32 ? ConstantFP::get(f32, v) : ConstantInt::get(i32, (int64_t)v, true);
    return ElementFn([c](IRBuilder<> &, const std::vector<Value *> &) { return c; });
  }
  case K::Neg:
    return ElementFn([fl](IRBuilder<> &b, const std::vector<Value *> &a) {
      return fl ? b.CreateFNeg(a[0]) : b.CreateNeg(a[0]);
    });
  case K::Exp:
    return floatOnly(
        [](IRBuilder<> &b, const std::vector<Value *> &a) { return emitExp(b, a[0]); });
  case K::Log:
    return floatOnly(
        [](IRBuilder<> &b, const std::vector<Value *> &a) { return emitLog(b, a[0]); });
  case K::Tanh:
    return floatOnly(
        [](IRBuilder<> &b, const std::vector<Value *> &a) { return emitTanh(b, a[0]); });
  case K::Sigmoid:
    return floatOnly(
        [](IRBuilder<> &b, const std::vector<Value *> &a) { return emitSigmoid(b, a[0]); });
  case K::Erf:
    return floatOnly(
        [](IRBuilder<> &b, const std::vector<Value *> &a) { return emitErf(b, a[0]); });
  case K::Less: {
    // 1.0 where a < b (false for NaN), else 0.0.
    return ElementFn([fl, f32t](IRBuilder<> &b, const std::vector<Value *> &a) {
      Value *lt = fl ? b.CreateFCmpOLT(a[0], a[1]) : b.CreateICmpSLT(a[0], a[1]);
      return b.CreateUIToFP(lt, f32t);
    });
  }
  case K::Select:
    // a where cond != 0 (NaN counts as nonzero), else b.
    return ElementFn([](IRBuilder<> &b, const std::vector<Value *> &a) {
      Value *take = b.CreateFCmpUNE(a[0], Constant::getNullValue(a[0]->getType()));
      return b.CreateSelect(take, a[1], a[2]);
    });
  case K::Broadcast:
    return ElementFn([](IRBuilder<> &, const std::vector<Value *> &a) { return a[0]; });
  case K::Sqrt:
    return floatOnly([](IRBuilder<> &b, const std::vector<Value *> &a) {
      return b.CreateUnaryIntrinsic(Intrinsic::sqrt, a[0]);
    });
  case K::Relu:
    // relu(NaN) = 0, like max(x, 0) written as x > 0 ? x : 0.
    return ElementFn([fl](IRBuilder<> &b, const std::vector<Value *> &a) -> Value * {
      Value *zero = Constant::getNullValue(a[0]->getType());
      if (fl)
        return b.CreateSelect(b.CreateFCmpOGT(a[0], zero), a[0], zero);
      return b.CreateBinaryIntrinsic(Intrinsic::smax, a[0], zero);
    });
  case K::Abs:
    return ElementFn([fl](IRBuilder<> &b, const std::vector<Value *> &a) -> Value * {
      if (fl)
        return b.CreateUnaryIntrinsic(Intrinsic::fabs, a[0]);
      return b.CreateBinaryIntrinsic(Intrinsic::abs, a[0], b.getFalse());
    });
  case K::Cast: {
    if (inT == outT)
      return ElementFn([](IRBuilder<> &, const std::vector<Value *> &a) { return a[0]; });
    if (inT == ir::DType::I32)
      return ElementFn([f32t](IRBuilder<> &b, const std::vector<Value *> &a) {
        return b.CreateSIToFP(a[0], f32t);
      });
    // Truncation toward zero, saturating at the i32 range, NaN -> 0 (llvm.fptosi.sat; the
    // interpreter's semantics). In range this is numpy's astype(int32).
    Type *i32t = i32;
    return ElementFn([i32t](IRBuilder<> &b, const std::vector<Value *> &a) -> Value * {
      return b.CreateIntrinsic(Intrinsic::fptosi_sat, {i32t, a[0]->getType()}, {a[0]});
    });
  }
  case K::Add:
    return ElementFn([fl](IRBuilder<> &b, const std::vector<Value *> &a) {
      return fl ? b.CreateFAdd(a[0], a[1]) : b.CreateAdd(a[0], a[1]);
    });
  case K::Sub:
    return ElementFn([fl](IRBuilder<> &b, const std::vector<Value *> &a) {
      return fl ? b.CreateFSub(a[0], a[1]) : b.CreateSub(a[0], a[1]);
    });
  case K::Mul:
    return ElementFn([fl](IRBuilder<> &b, const std::vector<Value *> &a) {
      return fl ? b.CreateFMul(a[0], a[1]) : b.CreateMul(a[0], a[1]);
    });
  case K::Div:
    return ElementFn([fl](IRBuilder<> &b, const std::vector<Value *> &a) -> Value * {
      if (fl)
        return b.CreateFDiv(a[0], a[1]);
      // Integer division truncates; x / 0 = 0 and INT32_MIN / -1 = INT32_MIN instead of
      // a trap.
      Type *t = a[0]->getType();
      Value *zero = ConstantInt::get(t, 0), *one = ConstantInt::get(t, 1);
      Value *byZero = b.CreateICmpEQ(a[1], zero);
      Value *ovf = b.CreateAnd(b.CreateICmpEQ(a[0], ConstantInt::get(t, INT32_MIN, true)),
                               b.CreateICmpEQ(a[1], ConstantInt::get(t, -1, true)));
      Value *d = b.CreateSelect(b.CreateOr(byZero, ovf), one, a[1]);
      Value *q = b.CreateSDiv(a[0], d);
      return b.CreateSelect(byZero, zero, q);
    });
  case K::Max:
  case K::Min: {
    bool isMax = op.kind == K::Max;
    // f32: max(a, b) = a > b || b is NaN ? a : b (min with <), as the interpreter: a NaN
    // operand is ignored unless both are NaN (IEEE maxNum-like); max(+0, -0) is -0.
    return ElementFn([fl, isMax](IRBuilder<> &b, const std::vector<Value *> &a) -> Value * {
      if (!fl)
        return b.CreateBinaryIntrinsic(isMax ? Intrinsic::smax : Intrinsic::smin, a[0], a[1]);
      Value *better = isMax ? b.CreateFCmpOGT(a[0], a[1]) : b.CreateFCmpOLT(a[0], a[1]);
      return b.CreateSelect(b.CreateOr(better, b.CreateFCmpUNO(a[1], a[1])), a[0], a[1]);
    });
  }
  default:
    return fail(Twine("codegen: no lowering for op '") + ir::opName(op.kind) + "'");
  }
}

} // namespace loom::codegen
