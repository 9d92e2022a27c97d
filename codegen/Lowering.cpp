// The driver of the lowering: signature, symbols, buffer planning, one arena allocation,
// and the ops that are neither elementwise kernels nor loops (matmul, reverse, return).
#include "codegen/Lowering.h"

#include "ir/Bind.h"

#include "llvm/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace loom::codegen {
namespace {

Error fail(const Twine &msg) { return createStringError(inconvertibleErrorCode(), msg); }

std::string valueName(const ir::Value *v) {
  return v->name.empty() ? std::string("<unnamed>") : "%" + v->name;
}

} // namespace

unsigned sliceDenseFrom(unsigned seqDenseFrom, unsigned seqRank) {
  unsigned rank = seqRank - 1;
  unsigned d = seqDenseFrom >= 2 ? seqDenseFrom - 1 : 1;
  return std::min(rank, d);
}

Lowerer::Lowerer(Module &m, const ir::Function &f)
    : mod(m), ctx(m.getContext()), b(m.getContext()), func(f) {
  i64 = b.getInt64Ty();
  i32 = b.getInt32Ty();
  f32 = b.getFloatTy();
  ptr = b.getPtrTy();
}

Value *Lowerer::dim(const ir::Dim &d) {
  if (d.isStatic())
    return i64c(d.value());
  if (d.isSymbol()) {
    if (window && d.symbol() == window->sym)
      return window->n;
    auto it = syms.find(d.symbol());
    assert(it != syms.end() && "symbols are checked in run()");
    return it->second;
  }
  auto it = exprDims.find(d.str());
  assert(it != exprDims.end() && "dim expressions are computed in the entry block");
  return it->second;
}

Value *Lowerer::dimExpr(const ir::Dim &d) {
  if (d.isStatic() || d.isSymbol())
    return dim(d);
  Value *x = dimExpr(d.lhs()), *y = dimExpr(d.rhs());
  switch (d.kind()) {
  case ir::Dim::Kind::Add:
    return b.CreateAdd(x, y);
  case ir::Dim::Kind::Sub:
    return b.CreateSub(x, y);
  case ir::Dim::Kind::Mul:
    return b.CreateMul(x, y);
  default: {
    // Floor division as ir::evalDim; a zero divisor (which run() reports) divides by 1.
    Value *safe = b.CreateSelect(b.CreateICmpEQ(y, i64c(0)), i64c(1), y);
    Value *q = b.CreateSDiv(x, safe), *r = b.CreateSRem(x, safe);
    Value *adjust =
        b.CreateAnd(b.CreateICmpNE(r, i64c(0)),
                    b.CreateICmpNE(b.CreateICmpSLT(x, i64c(0)), b.CreateICmpSLT(safe, i64c(0))));
    return b.CreateSub(q, b.CreateZExt(adjust, i64));
  }
  }
}

std::vector<Value *> Lowerer::shapeOf(const ir::Type &t) {
  std::vector<Value *> s;
  for (const ir::Dim &d : t.shape)
    s.push_back(dim(d));
  return s;
}

View Lowerer::denseView(Value *base, const ir::Type &t) {
  View v;
  v.base = base;
  v.dtype = t.dtype;
  v.shape = shapeOf(t);
  v.strides.resize(v.rank());
  Value *s = i64c(1);
  for (unsigned k = v.rank(); k-- > 0;) {
    v.strides[k] = s;
    s = b.CreateMul(s, v.shape[k], "", /*NUW=*/true, /*NSW=*/true);
  }
  return v;
}

View &Lowerer::view(const ir::Value *v) {
  auto it = views.find(v);
  assert(it != views.end() && "value used before its definition was lowered");
  return it->second;
}

View Lowerer::bufferView(int buf, bool full) {
  View v = denseView(bufBase[buf], bufTypes[buf]);
  const ir::Type &t = bufTypes[buf];
  if (window && t.rank() >= 1 && t.shape[0].isSymbol() && t.shape[0].symbol() == window->sym)
    v = windowed(v);
  if (unitWindow && !full && unitWindow->splits(t))
    v = unitWindowed(v);
  return v;
}

View Lowerer::unitWindowed(const View &src) {
  View v = src;
  unsigned last = v.rank() - 1;
  v.base =
      b.CreateGEP(elemType(v.dtype), v.base, b.CreateMul(unitWindow->lo, v.strides[last]), "units");
  v.shape[last] = unitWindow->n;
  // A loop runs over units only for one row (lowerLoop), and its values of rank 2 are
  // [rows, S] or [1, S] (unitSplit): one row of columns [lo, hi) is as contiguous as the
  // whole row was, so the kernels are the same as for the loop over whole rows (and
  // compiled once). Beyond rank 2 (a stack) only the last dim stays contiguous.
  if (v.rank() > 2 && v.denseFrom < last)
    v.denseFrom = last;
  return v;
}

View Lowerer::windowed(const View &src) {
  View v = src;
  v.base = b.CreateGEP(elemType(v.dtype), v.base, b.CreateMul(window->lo, v.strides[0]), "rows");
  v.shape[0] = window->n;
  return v;
}

View Lowerer::sliceView(const View &seq, Value *t) {
  View v = seq;
  v.base = b.CreateGEP(elemType(seq.dtype), seq.base, b.CreateMul(t, seq.strides[1]), "slice");
  v.shape.erase(v.shape.begin() + 1);
  v.strides.erase(v.strides.begin() + 1);
  v.denseFrom = sliceDenseFrom(seq.denseFrom, seq.rank());
  return v;
}

View Lowerer::reversedView(const View &src, unsigned axis) {
  View v = src;
  Value *n = src.shape[axis];
  // Index n-1 is the first element read; for an empty axis stay at the base pointer.
  Value *last = b.CreateSelect(b.CreateICmpSGT(n, i64c(0)), b.CreateSub(n, i64c(1)), i64c(0));
  v.base = b.CreateGEP(elemType(src.dtype), src.base, b.CreateMul(last, src.strides[axis]));
  v.strides[axis] = b.CreateNeg(src.strides[axis]);
  v.denseFrom = std::max(src.denseFrom, axis + 1);
  return v;
}

void Lowerer::forLoop(Value *n, const std::function<void(Value *)> &body, LoopHint hint,
                      const char *name, unsigned count, const std::function<Value *()> &until) {
  BasicBlock *pre = b.GetInsertBlock();
  BasicBlock *header = BasicBlock::Create(ctx, std::string(name) + ".head", fn);
  BasicBlock *bodyBB = BasicBlock::Create(ctx, std::string(name) + ".body", fn);
  BasicBlock *exit = BasicBlock::Create(ctx, std::string(name) + ".exit", fn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  PHINode *iv = b.CreatePHI(i64, 2, name);
  iv->addIncoming(i64c(0), pre);
  b.CreateCondBr(b.CreateICmpSLT(iv, n), bodyBB, exit);
  b.SetInsertPoint(bodyBB);
  body(iv);
  if (until) {
    BasicBlock *latch = BasicBlock::Create(ctx, std::string(name) + ".latch", fn);
    b.CreateCondBr(until(), exit, latch);
    b.SetInsertPoint(latch);
  }
  Value *next = b.CreateAdd(iv, i64c(1), "", /*NUW=*/true, /*NSW=*/true);
  BranchInst *back = b.CreateBr(header);
  std::vector<Metadata *> props{nullptr};
  if (hint == LoopHint::NoUnroll) // the time loop: unrolling by T would only grow the code
    props.push_back(MDNode::get(ctx, MDString::get(ctx, "llvm.loop.unroll.disable")));
  else if (hint == LoopHint::UnrollCount) // a time loop with unroll = N (--unroll=N)
    props.push_back(MDNode::get(ctx, {MDString::get(ctx, "llvm.loop.unroll.count"),
                                      ConstantAsMetadata::get(b.getInt32(count))}));
  else if (hint == LoopHint::Interleave) { // kernels: vectorise, and keep the code small
    props.push_back(MDNode::get(ctx, {MDString::get(ctx, "llvm.loop.interleave.count"),
                                      ConstantAsMetadata::get(b.getInt32(count))}));
  } else if (hint == LoopHint::FoldTail) { // one vector loop, its last vector masked
    props.push_back(MDNode::get(ctx, {MDString::get(ctx, "llvm.loop.interleave.count"),
                                      ConstantAsMetadata::get(b.getInt32(1))}));
    props.push_back(MDNode::get(ctx, {MDString::get(ctx, "llvm.loop.vectorize.predicate.enable"),
                                      ConstantAsMetadata::get(b.getTrue())}));
    props.push_back(MDNode::get(ctx, {MDString::get(ctx, "llvm.loop.vectorize.enable"),
                                      ConstantAsMetadata::get(b.getTrue())}));
  }
  if (props.size() > 1) {
    MDNode *loopID = MDNode::getDistinct(ctx, props);
    loopID->replaceOperandWith(0, loopID);
    back->setMetadata(LLVMContext::MD_loop, loopID);
  }
  iv->addIncoming(next, back->getParent());
  b.SetInsertPoint(exit);
}

void Lowerer::ifThen(Value *cond, const std::function<void()> &then) {
  BasicBlock *thenBB = BasicBlock::Create(ctx, "then", fn);
  BasicBlock *join = BasicBlock::Create(ctx, "endif", fn);
  b.CreateCondBr(cond, thenBB, join);
  b.SetInsertPoint(thenBB);
  then();
  b.CreateBr(join);
  b.SetInsertPoint(join);
}

int Lowerer::newBuffer(const ir::Type &t) {
  Value *n = i64c(4);
  for (Value *d : shapeOf(t))
    n = b.CreateMul(n, d, "", /*NUW=*/true, /*NSW=*/true);
  bufTypes.push_back(t);
  bufBytes.push_back(n);
  return (int)bufTypes.size() - 1;
}

Error Lowerer::plan(const ir::Block &blk) {
  planConcatsInPlace(blk);
  for (auto &opp : blk.ops) {
    const ir::Op &op = *opp;
    switch (op.kind) {
    case ir::OpKind::Return:
    case ir::OpKind::Yield:
      continue;
    case ir::OpKind::Loop:
      if (Error e = planLoop(op))
        return e;
      continue;
    case ir::OpKind::Rnn:
      return fail("rnn ops must be lowered (run lower-rnn) before codegen");
    default:
      break;
    }
    Expected<bool> special = planSpecial(op);
    if (!special)
      return special.takeError();
    if (*special)
      continue;
    for (auto &r : op.results) {
      auto d = directDenseFrom.find(r.get());
      if (d != directDenseFrom.end()) {
        layout[r.get()] = d->second;
      } else {
        bufOf[r.get()] = newBuffer(r->type);
        layout[r.get()] = 0;
      }
    }
    if (op.kind == ir::OpKind::MatMul) {
      const ir::Value *lhs = op.operands[0], *rhs = op.operands[1];
      if (lhs->type.rank() < 1 || (rhs->type.rank() != 2 && !op.boolAttr("transpose_lhs")))
        return fail("matmul: expected [..., K] x [K, N], got " + lhs->type.str() + " x " +
                    rhs->type.str());
      // sgemm needs unit column strides; other views are copied to dense scratch first.
      auto lay = [&](const ir::Value *v) {
        auto it = layout.find(v);
        return it == layout.end() ? 0u : it->second;
      };
      int lc, rc;
      if (op.boolAttr("transpose_lhs")) {
        // Both operands are read as one [R, K] / [R, N] matrix: fully dense.
        lc = lay(lhs) == 0 ? -1 : newBuffer(lhs->type);
        rc = lay(rhs) == 0 ? -1 : newBuffer(rhs->type);
      } else {
        lc = lay(lhs) < (unsigned)lhs->type.rank() ? -1 : newBuffer(lhs->type);
        rc = lay(rhs) < 2 ? -1 : newBuffer(rhs->type);
      }
      matmulCopies[&op] = {lc, rc};
    }
  }
  return Error::success();
}

Error Lowerer::lowerBlock(const ir::Block &blk) {
  for (auto &op : blk.ops)
    if (op->kind != ir::OpKind::Yield)
      if (Error e = lowerOp(*op))
        return e;
  return Error::success();
}

Error Lowerer::lowerOp(const ir::Op &op) {
  switch (op.kind) {
  case ir::OpKind::Loop:
    return lowerLoop(op);
  case ir::OpKind::Rnn:
    return fail("rnn ops must be lowered (run lower-rnn) before codegen");
  case ir::OpKind::Yield:
    return Error::success();
  case ir::OpKind::Return: {
    for (unsigned i = 0; i < op.operands.size(); ++i) {
      Value *slot = b.CreateConstGEP1_64(ptr, fn->getArg(4), i);
      Value *base = b.CreateLoad(ptr, slot, "out" + std::to_string(i));
      copy(denseView(base, op.operands[i]->type), view(op.operands[i]));
    }
    return Error::success();
  }
  default:
    break;
  }
  // Owned buffers get their view here; views of other values and stack slots written
  // directly are bound by lowerSpecial and lowerLoop.
  for (auto &r : op.results) {
    auto it = bufOf.find(r.get());
    if (it != bufOf.end())
      views[r.get()] = bufferView(it->second);
    else if (concatSlots.count(r.get()))
      views[r.get()] = concatSlotView(r.get());
  }
  Expected<bool> special = lowerSpecial(op);
  if (!special)
    return special.takeError();
  if (*special) {
    // A slice of a wider value to the units' width (a gate of the product, of the input's
    // projection, of a bias): its columns of the units.
    if (unitWindow && op.kind == ir::OpKind::Slice && unitWindow->splits(op.result()->type))
      views[op.result()] = unitWindowed(views[op.result()]);
    return Error::success();
  }
  if (op.kind == ir::OpKind::MatMul)
    return lowerMatMul(op);
  if (op.kind == ir::OpKind::Fused)
    return lowerFused(op);
  if (op.kind == ir::OpKind::RandomUniform)
    return lowerRandomUniform(op);
  if (op.kind == ir::OpKind::Reverse) {
    const View &in = view(op.operands[0]);
    int64_t axis = op.intAttr("axis");
    if (axis < 0)
      axis += in.rank();
    if (axis < 0 || axis >= (int64_t)in.rank())
      return fail("reverse: axis " + Twine(op.intAttr("axis")) + " out of range for " +
                  op.operands[0]->type.str());
    copy(view(op.result()), reversedView(in, (unsigned)axis));
    return Error::success();
  }
  if (op.kind == ir::OpKind::SwapAxes) {
    // A view of the operand with the two axes' sizes and strides exchanged, copied.
    View v = view(op.operands[0]);
    unsigned a1 = (unsigned)op.intAttr("axis1"), a2 = (unsigned)op.intAttr("axis2");
    std::swap(v.shape[a1], v.shape[a2]);
    std::swap(v.strides[a1], v.strides[a2]);
    v.denseFrom = std::max({v.denseFrom, a1 + 1, a2 + 1});
    copy(view(op.result()), v);
    return Error::success();
  }
  Expected<ElementFn> f = elementFn(op);
  if (!f)
    return f.takeError();
  std::vector<View> ins;
  for (const ir::Value *v : op.operands)
    ins.push_back(view(v));
  std::vector<View> outs{view(op.result())};
  addExtraOuts(op, outs); // the one result stored twice: the kernel's value for both
  emitKernel(
      outs, ins,
      [&](IRBuilder<> &ib, const std::vector<Value *> &v) {
        Value *r = (*f)(ib, v);
        return std::vector<Value *>(outs.size(), r);
      },
      ir::opName(op.kind), elementCost(op.kind) + (unsigned)op.operands.size() + 1);
  return Error::success();
}

// About how many scalar ops one element of `k` costs (vectorised polynomials for the
// transcendental ones); what emitKernel weighs against the cost of sharing a kernel.
unsigned elementCost(ir::OpKind k) {
  switch (k) {
  case ir::OpKind::Exp:
  case ir::OpKind::Log:
  case ir::OpKind::Tanh:
  case ir::OpKind::Sigmoid:
  case ir::OpKind::Erf:
    return 12;
  case ir::OpKind::Div:
  case ir::OpKind::Sqrt:
    return 4;
  default:
    return 1;
  }
}

std::vector<unsigned> Lowerer::addExtraOuts(const ir::Op &op, std::vector<View> &outs) {
  std::vector<unsigned> twice;
  for (unsigned i = 0; i < op.results.size(); ++i)
    if (auto e = extraOut.find(op.result(i)); e != extraOut.end()) {
      outs.push_back(e->second);
      twice.push_back(i);
    }
  return twice;
}

// A fused op is one kernel: its body's elementwise ops are evaluated per element, in
// registers, and only the yielded values are stored.
Error Lowerer::lowerFused(const ir::Op &op) {
  const ir::Block &body = *op.regions[0];
  std::vector<ElementFn> fns;
  for (auto &bop : body.ops) {
    if (bop->kind == ir::OpKind::Yield)
      continue;
    Expected<ElementFn> f = elementFn(*bop);
    if (!f)
      return f.takeError();
    fns.push_back(std::move(*f));
  }
  std::vector<View> ins, outs;
  for (const ir::Value *v : op.operands)
    ins.push_back(view(v));
  for (auto &r : op.results)
    outs.push_back(view(r.get()));
  std::vector<unsigned> twice = addExtraOuts(op, outs);
  unsigned cost = (unsigned)(ins.size() + outs.size());
  for (auto &bop : body.ops)
    cost += elementCost(bop->kind);
  emitKernel(
      outs, ins,
      [&](IRBuilder<> &ib, const std::vector<Value *> &vals) {
        DenseMap<const ir::Value *, Value *> env;
        for (unsigned i = 0; i < body.args.size(); ++i)
          env[body.args[i].get()] = vals[i];
        unsigned k = 0;
        for (auto &bop : body.ops) {
          if (bop->kind == ir::OpKind::Yield)
            continue;
          std::vector<Value *> args;
          for (const ir::Value *v : bop->operands)
            args.push_back(env.lookup(v));
          env[bop->result()] = fns[k++](ib, args);
        }
        std::vector<Value *> res;
        for (const ir::Value *v : body.terminator()->operands)
          res.push_back(env.lookup(v));
        for (unsigned i : twice)
          res.push_back(res[i]);
        return res;
      },
      "fused", cost);
  return Error::success();
}

Error Lowerer::lowerMatMul(const ir::Op &op) {
  if (unitWindow) {
    // The product of a loop over units (LoopPlan::units): this thread's columns of every
    // gate, from the whole carry, on this thread.
    auto full = [&](const ir::Value *v) {
      auto it = fullViews.find(v);
      return it != fullViews.end() ? it->second : view(v);
    };
    View L = full(op.operands[0]), R = full(op.operands[1]);
    View O = bufferView(bufOf.at(op.result()), true);
    const LoopPlan::UnitSplit *u = unitWindow->split;
    assert(u->matmul == &op && "a loop over units has one product, its plan's");
    std::vector<Constant *> offs;
    for (int64_t o : u->offsets)
      offs.push_back(ConstantInt::get(i64, o));
    auto *arrTy = ArrayType::get(i64, offs.size());
    auto *table = new GlobalVariable(mod, arrTy, true, GlobalValue::PrivateLinkage,
                                     ConstantArray::get(arrTy, offs), "unit.offsets");
    auto prepared = preparedRhs.find(&op);
    Value *prep = prepared != preparedRhs.end() ? prepared->second
                                                : ConstantPointerNull::get(cast<PointerType>(ptr));
    b.CreateCall(sgemmColsFn,
                 {rtCtx, L.shape[0], R.shape[1], L.shape[1], L.base, L.strides[0], R.base,
                  R.strides[0], prep, O.base, O.strides[0], table, i64c((int64_t)offs.size()),
                  unitWindow->lo, b.CreateAdd(unitWindow->lo, unitWindow->n),
                  b.CreateZExt(unitWindow->odd, i32)});
    return Error::success();
  }
  View L = view(op.operands[0]), R = view(op.operands[1]);
  View O = view(op.result());
  if (L.dtype != ir::DType::F32 || R.dtype != ir::DType::F32)
    return fail("matmul: only f32 operands are supported, got " + op.operands[0]->type.str() +
                " x " + op.operands[1]->type.str());
  auto [lc, rc] = matmulCopies.at(&op);
  if (lc >= 0) {
    View d = bufferView(lc);
    copy(d, L);
    L = d;
  }
  if (rc >= 0) {
    View d = bufferView(rc);
    copy(d, R);
    R = d;
  }
  unsigned rl = L.rank();
  bool tl = op.boolAttr("transpose_lhs"), tr = op.boolAttr("transpose_rhs");
  if (tl) {
    // C[K, N] = A^T B with A = lhs as [R, K] and B = rhs as [R, N] (both dense).
    Value *K = L.shape.back(), *N = R.shape.back(), *rows = i64c(1);
    for (unsigned k = 0; k + 1 < rl; ++k)
      rows = b.CreateMul(rows, L.shape[k], "", true, true);
    // The result may be a view into other storage (a stack slot): its row stride.
    b.CreateCall(sgemmFn, {rtCtx, b.getInt32(1), b.getInt32(0), K, N, rows, L.base, K, R.base, N,
                           O.base, O.strides[O.rank() - 2], ConstantFP::get(f32, 0.0)});
    returnIfFailed();
    return Error::success();
  }
  Value *K = L.shape.back(), *N = R.shape[tr ? 0 : 1], *ldb = R.strides[0];
  Value *M = i64c(1);
  for (unsigned k = 0; k + 1 < rl; ++k)
    M = b.CreateMul(M, L.shape[k], "", true, true);
  auto prepared = preparedRhs.find(&op);
  auto gemm = [&](Value *m, Value *a, Value *lda, Value *c, Value *ldc) {
    if (prepared != preparedRhs.end())
      b.CreateCall(sgemmPreparedFn, {rtCtx, b.getInt32(tr ? 1 : 0), m, N, K, a, lda, R.base, ldb,
                                     prepared->second, c, ldc, ConstantFP::get(f32, 0.0)});
    else
      b.CreateCall(sgemmFn, {rtCtx, b.getInt32(0), b.getInt32(tr ? 1 : 0), m, N, K, a, lda, R.base,
                             ldb, c, ldc, ConstantFP::get(f32, 0.0)});
  };
  Value *nonEmpty = b.CreateAnd(b.CreateICmpSGT(M, i64c(0)), b.CreateICmpSGT(N, i64c(0)));
  ifThen(nonEmpty, [&] {
    // K == 0: an empty sum; the result is zeros and no GEMM is called.
    ifThen(b.CreateICmpEQ(K, i64c(0)), [&] {
      emitKernel(
          O, {},
          [&](IRBuilder<> &, const std::vector<Value *> &) { return ConstantFP::get(f32, 0.0); },
          "zero");
    });
    ifThen(b.CreateICmpSGT(K, i64c(0)), [&] {
      if (rl == 1) {
        gemm(i64c(1), L.base, K, O.base, N);
        return;
      }
      auto single = [&] { gemm(M, L.base, L.strides[rl - 2], O.base, O.strides[rl - 2]); };
      if (rl == 2 || (L.denseFrom == 0 && O.denseFrom == 0)) {
        single();
        return;
      }
      // The row dims collapse into M rows of one stride when every outer stride is the
      // next one times its size (in both lhs and result); otherwise one GEMM per block.
      Value *collapses = b.getTrue();
      for (unsigned k = 0; k + 2 < rl; ++k)
        for (const View *v : {&L, &O})
          collapses = b.CreateAnd(
              collapses,
              b.CreateICmpEQ(v->strides[k], b.CreateMul(v->strides[k + 1], v->shape[k + 1])));
      BasicBlock *one = BasicBlock::Create(ctx, "gemm.one", fn);
      BasicBlock *blocks = BasicBlock::Create(ctx, "gemm.blocks", fn);
      BasicBlock *join = BasicBlock::Create(ctx, "gemm.done", fn);
      b.CreateCondBr(collapses, one, blocks);
      b.SetInsertPoint(one);
      single();
      b.CreateBr(join);
      b.SetInsertPoint(blocks);
      std::function<void(unsigned, Value *, Value *)> level = [&](unsigned k, Value *lo,
                                                                  Value *oo) {
        if (k + 2 == rl) {
          gemm(L.shape[rl - 2], b.CreateGEP(f32, L.base, lo), L.strides[rl - 2],
               b.CreateGEP(f32, O.base, oo), O.strides[rl - 2]);
          return;
        }
        forLoop(L.shape[k], [&](Value *i) {
          level(k + 1, b.CreateAdd(lo, b.CreateMul(i, L.strides[k])),
                b.CreateAdd(oo, b.CreateMul(i, O.strides[k])));
        });
      };
      level(0, i64c(0), i64c(0));
      b.CreateBr(join);
      b.SetInsertPoint(join);
    });
  });
  returnIfFailed();
  return Error::success();
}

Error Lowerer::run() {
  // Checks that need no code: no rnn ops, every symbol bound by the inputs.
  std::vector<std::string> order = ir::symbolOrder(func);
  std::set<std::string> known(order.begin(), order.end());
  std::string problem;
  std::vector<ir::Dim> exprs; // dim expressions, computed once in the entry block
  auto checkDim = [&](const ir::Dim &d, const std::string &where) {
    std::vector<std::string> used;
    ir::collectSymbols(d, used);
    for (const std::string &s : used)
      if (!known.count(s) && problem.empty())
        problem = "symbol '" + s + "' in " + where + " is not bound by the function's inputs";
    if (!d.isStatic() && !d.isSymbol())
      exprs.push_back(d);
  };
  auto checkType = [&](const ir::Value *v) {
    for (const ir::Dim &d : v->type.shape)
      checkDim(d, "the type of " + valueName(v) + " (" + v->type.str() + ")");
  };
  for (auto &a : func.body.args)
    checkType(a.get());
  bool hasRnn = false;
  walkConst(func.body, [&](const ir::Op &op) {
    hasRnn |= op.kind == ir::OpKind::Rnn;
    for (auto &r : op.results)
      checkType(r.get());
    for (auto &rg : op.regions)
      for (auto &a : rg->args)
        checkType(a.get());
    for (auto &[key, attr] : op.attrs)
      if (const ir::Dim *d = std::get_if<ir::Dim>(&attr))
        checkDim(*d, "attribute '" + key + "' of " + ir::opName(op.kind));
    if (op.kind == ir::OpKind::Loop && problem.empty()) {
      auto it = op.attrs.find("steps");
      if (it == op.attrs.end() || !std::holds_alternative<ir::Dim>(it->second))
        problem = "loop without a dim attribute 'steps'";
    }
  });
  if (hasRnn)
    return fail("rnn ops must be lowered (run lower-rnn) before codegen");
  if (!problem.empty())
    return fail(problem);
  const ir::Op *ret = func.returnOp();
  if (!ret || ret->kind != ir::OpKind::Return)
    return fail("function @" + func.name + " does not end with a return");

  auto *fty = FunctionType::get(b.getVoidTy(), {ptr, ptr, ptr, ptr, ptr}, false);
  fn = Function::Create(fty, GlobalValue::ExternalLinkage, "loom_main", mod);
  fn->addFnAttr(Attribute::NoUnwind);
  const char *argNames[] = {"ctx", "syms", "inputs", "params", "outputs"};
  for (unsigned i = 0; i < 5; ++i) {
    fn->getArg(i)->setName(argNames[i]);
    if (i > 0) {
      fn->addParamAttr(i, Attribute::ReadOnly);
      fn->addParamAttr(i, Attribute::NoCapture);
    }
  }
  rtCtx = fn->getArg(0);
  allocFn = mod.getOrInsertFunction("loom_rt_alloc", FunctionType::get(ptr, {ptr, i64}, false));
  cast<Function>(allocFn.getCallee())->addRetAttr(Attribute::NoAlias);
  sgemmFn = mod.getOrInsertFunction(
      "loom_rt_sgemm_t",
      FunctionType::get(b.getVoidTy(),
                        {ptr, i32, i32, i64, i64, i64, ptr, i64, ptr, i64, ptr, i64, f32}, false));
  sgemmBatchFn = mod.getOrInsertFunction("loom_rt_sgemm_batch",
                                         FunctionType::get(b.getVoidTy(),
                                                           {ptr, i32, i32, i64, i64, i64, i64, ptr,
                                                            i64, i64, ptr, i64, i64, ptr, i64, i64},
                                                           false));
  sampleFn = mod.getOrInsertFunction(
      "loom_rt_sample",
      FunctionType::get(b.getVoidTy(),
                        {ptr, i64, i64, ptr, i32, i32, i64, b.getDoubleTy(), i64, b.getDoubleTy()},
                        false));
  failFn =
      mod.getOrInsertFunction("loom_rt_fail", FunctionType::get(b.getVoidTy(), {ptr, ptr}, false));
  failedFn = mod.getOrInsertFunction("loom_rt_failed", FunctionType::get(i32, {ptr}, false));
  conv1dFn = mod.getOrInsertFunction(
      "loom_rt_conv1d",
      FunctionType::get(b.getVoidTy(),
                        {ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, ptr, ptr, ptr},
                        false));
  maxPoolFn = mod.getOrInsertFunction(
      "loom_rt_max_pool1d",
      FunctionType::get(b.getVoidTy(), {ptr, i64, i64, i64, i64, i64, i64, i64, i64, ptr, ptr},
                        false));
  auto *convTy = FunctionType::get(
      b.getVoidTy(), {ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, ptr, ptr, ptr}, false);
  conv1dGradInputFn = mod.getOrInsertFunction("loom_rt_conv1d_grad_input", convTy);
  conv1dGradKernelFn = mod.getOrInsertFunction("loom_rt_conv1d_grad_kernel", convTy);
  maxPoolGradFn = mod.getOrInsertFunction(
      "loom_rt_max_pool1d_grad",
      FunctionType::get(b.getVoidTy(), {ptr, i64, i64, i64, i64, i64, i64, i64, i64, ptr, ptr, ptr},
                        false));
  prepareRhsFn = mod.getOrInsertFunction(
      "loom_rt_prepare_rhs",
      FunctionType::get(ptr, {ptr, i64, i64, i64, i64, ptr, i64, i32, i32}, false));
  sgemmPreparedFn = mod.getOrInsertFunction(
      "loom_rt_sgemm_prepared",
      FunctionType::get(b.getVoidTy(),
                        {ptr, i32, i64, i64, i64, ptr, i64, ptr, i64, ptr, ptr, i64, f32}, false));
  teamFn = mod.getOrInsertFunction("loom_rt_parallel_team",
                                   FunctionType::get(b.getVoidTy(), {ptr, ptr, i64, i64}, false));
  barrierFn = mod.getOrInsertFunction("loom_rt_barrier", FunctionType::get(b.getVoidTy(), false));
  numThreadsFn = mod.getOrInsertFunction("loom_rt_num_threads", FunctionType::get(i32, false));
  sgemmColsFn = mod.getOrInsertFunction("loom_rt_sgemm_cols",
                                        FunctionType::get(b.getVoidTy(),
                                                          {ptr, i64, i64, i64, ptr, i64, ptr, i64,
                                                           ptr, ptr, i64, ptr, i64, i64, i64, i32},
                                                          false));
  parallelForFn = mod.getOrInsertFunction(
      "loom_rt_parallel_for", FunctionType::get(b.getVoidTy(), {ptr, ptr, i64, i64, i64}, false));
  rangeErrorFn = mod.getOrInsertFunction(
      "loom_rt_range_error",
      FunctionType::get(b.getVoidTy(), {ptr, ptr, i64, i64, ptr, i64, i64, i64}, false));
  for (FunctionCallee c :
       {allocFn, sgemmFn, failFn, failedFn, conv1dFn, maxPoolFn, rangeErrorFn, conv1dGradInputFn,
        conv1dGradKernelFn, maxPoolGradFn, parallelForFn, prepareRhsFn, sgemmPreparedFn, teamFn,
        barrierFn, numThreadsFn, sgemmColsFn, sgemmBatchFn, sampleFn})
    cast<Function>(c.getCallee())->addFnAttr(Attribute::NoUnwind);

  b.SetInsertPoint(BasicBlock::Create(ctx, "entry", fn));
  for (unsigned i = 0; i < order.size(); ++i)
    syms[order[i]] = b.CreateLoad(i64, b.CreateConstGEP1_64(i64, fn->getArg(1), i), order[i]);
  for (const ir::Dim &d : exprs)
    if (!exprDims.count(d.str())) // a negative size is reported by run(); never use one
      exprDims[d.str()] = b.CreateBinaryIntrinsic(Intrinsic::smax, dimExpr(d), i64c(0));
  for (unsigned i = 0; i < func.body.args.size(); ++i) {
    const ir::Value *a = func.body.args[i].get();
    bool isInput = i < func.numInputs;
    Value *slot =
        b.CreateConstGEP1_64(ptr, fn->getArg(isInput ? 2 : 3), isInput ? i : i - func.numInputs);
    views[a] = denseView(b.CreateLoad(ptr, slot, a->name), a->type);
    layout[a] = 0;
  }

  if (Error e = plan(func.body))
    return e;
  if (!bufTypes.empty()) {
    // One arena for every scratch buffer, each at a 64-byte aligned offset; buffers whose
    // lives do not overlap share bytes (codegen/Arena.cpp).
    std::vector<Value *> offsets;
    Value *total = planArena(offsets);
    Value *arena = b.CreateCall(allocFn, {rtCtx, total}, "arena");
    BasicBlock *oom = BasicBlock::Create(ctx, "oom", fn);
    BasicBlock *ok = BasicBlock::Create(ctx, "start", fn);
    b.CreateCondBr(b.CreateIsNull(arena), oom, ok);
    b.SetInsertPoint(oom);
    b.CreateRetVoid(); // loom_rt_alloc has recorded the error
    b.SetInsertPoint(ok);
    for (Value *off : offsets)
      bufBase.push_back(b.CreateGEP(b.getInt8Ty(), arena, off, "buf"));
  }
  // A weight that is a product's right-hand side is prepared (padded or packed, as
  // loom_rt_prepare_rhs chooses for the product's rows) once here, or found prepared from
  // an earlier call when the host keeps prepared weights (rt::PreparedWeights).
  {
    std::map<std::string, Value *> preparedOf;
    std::function<void(const ir::Block &, bool)> find = [&](const ir::Block &blk, bool inLoop) {
      for (auto &op : blk.ops) {
        const ir::Value *w = op->kind == ir::OpKind::MatMul ? op->operands[1] : nullptr;
        if (w && !op->boolAttr("transpose_lhs") && func.isParam(w) && w->type.rank() == 2 &&
            w->type.dtype == ir::DType::F32 && op->operands[0]->type.dtype == ir::DType::F32) {
          bool tr = op->boolAttr("transpose_rhs");
          const ir::Type &lt = op->operands[0]->type;
          std::vector<Value *> rows;
          std::string key = std::to_string(w->index) + (tr ? "T" : "N") + (inLoop ? "L" : "");
          for (unsigned k = 0; k + 1 < lt.rank(); ++k) {
            rows.push_back(dim(lt.shape[k]));
            key += "," + lt.shape[k].str();
          }
          Value *&p = preparedOf[key];
          if (!p) {
            const View &wv = view(w);
            p = b.CreateCall(prepareRhsFn,
                             {rtCtx, i64c((int64_t)w->index - func.numInputs), numel(rows),
                              wv.shape[0], wv.shape[1], wv.base, wv.strides[0],
                              b.getInt32(tr ? 1 : 0), b.getInt32(inLoop ? 1 : 0)},
                             w->name + ".prepared");
            returnIfFailed();
          }
          preparedRhs[op.get()] = p;
        }
        for (auto &r : op->regions)
          find(*r, inLoop || op->kind == ir::OpKind::Loop);
      }
    };
    find(func.body, false);
  }
  if (Error e = lowerBlock(func.body))
    return e;
  b.CreateRetVoid();
  return Error::success();
}

Expected<std::unique_ptr<Module>> lowerToLLVM(const ir::Function &f, LLVMContext &ctx) {
  auto m = std::make_unique<Module>("loom." + f.name, ctx);
  Lowerer l(*m, f);
  if (Error e = l.run())
    return e;
  std::string msg;
  raw_string_ostream os(msg);
  if (verifyModule(*m, &os))
    return fail("internal error: generated LLVM IR is invalid: " + os.str());
  return m;
}

} // namespace loom::codegen
