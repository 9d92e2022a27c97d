// Ops that move, pick or combine elements: slice, reshape and check_range (views of their
// operand where its layout allows, so no copy), concat, iota and one_hot (broadcast against
// a small index vector), gather and check_range (which stop the call on a bad index),
// reductions, and the window ops conv1d and max_pool1d and their gradients (runtime shims,
// mostly oneDNN).
#include "codegen/Lowering.h"

#include "ir/TypeInference.h"

#include <optional>

using namespace llvm;

namespace loom::codegen {
namespace {

bool isUnit(const ir::Dim &d) { return d.isStatic() && d.value() == 1; }

/// For a reshape that only drops or inserts dims of static size 1: for each result dim, the
/// operand dim it is (-1 for an inserted 1); none when the reshape moves elements.
std::optional<std::vector<int>> unitReshape(const ir::Type &from, const ir::Type &to) {
  std::vector<int> kept;
  for (unsigned k = 0; k < from.rank(); ++k)
    if (!isUnit(from.shape[k]))
      kept.push_back((int)k);
  std::vector<int> map;
  size_t next = 0;
  for (const ir::Dim &d : to.shape) {
    if (isUnit(d)) {
      map.push_back(-1);
      continue;
    }
    if (next == kept.size() || !(from.shape[kept[next]] == d))
      return std::nullopt;
    map.push_back(kept[next++]);
  }
  if (next != kept.size())
    return std::nullopt;
  return map;
}

/// The result's layout (View::denseFrom) for `map` over an operand of layout `denseFrom`:
/// from the last dim back, dims that are inserted 1s or operand dims in its dense block.
unsigned unitReshapeLayout(const std::vector<int> &map, unsigned denseFrom) {
  unsigned r = (unsigned)map.size();
  for (unsigned k = (unsigned)map.size(); k-- > 0;) {
    if (map[k] >= 0 && (unsigned)map[k] < denseFrom)
      break;
    r = k;
  }
  return r;
}

Error fail(const Twine &msg) { return createStringError(inconvertibleErrorCode(), msg); }

ir::Type withoutAxis(ir::Type t, int64_t axis) {
  t.shape.erase(t.shape.begin() + axis);
  return t;
}

} // namespace

const ir::Value *Lowerer::rootOf(const ir::Value *v) {
  auto it = viewRoot.find(v);
  return it == viewRoot.end() ? v : it->second;
}

unsigned Lowerer::layoutOf(const ir::Value *v) {
  auto it = layout.find(v);
  return it == layout.end() ? 0 : it->second;
}

Value *Lowerer::numel(const std::vector<Value *> &shape) {
  Value *n = i64c(1);
  for (Value *d : shape)
    n = b.CreateMul(n, d, "", /*NUW=*/true, /*NSW=*/true);
  return n;
}

View Lowerer::sliceAxisView(const View &v, unsigned axis, Value *start, Value *size) {
  View s = v;
  s.base = b.CreateGEP(elemType(v.dtype), v.base, b.CreateMul(start, v.strides[axis]));
  s.shape[axis] = size;
  s.denseFrom = std::max(v.denseFrom, axis);
  return s;
}

Value *Lowerer::globalString(const std::string &s) {
  auto it = strings.find(s);
  if (it != strings.end())
    return it->second;
  auto *init = ConstantDataArray::getString(ctx, s);
  auto *g = new GlobalVariable(mod, init->getType(), /*isConstant=*/true,
                               GlobalValue::PrivateLinkage, init, ".str");
  g->setUnnamedAddr(GlobalValue::UnnamedAddr::Global);
  return strings[s] = g;
}

void Lowerer::returnIf(Value *cond, const std::string &message) {
  BasicBlock *stop = BasicBlock::Create(ctx, "stop", fn);
  BasicBlock *cont = BasicBlock::Create(ctx, "cont", fn);
  b.CreateCondBr(cond, stop, cont);
  b.SetInsertPoint(stop);
  if (!message.empty())
    b.CreateCall(failFn, {rtCtx, globalString(message)});
  b.CreateRetVoid();
  b.SetInsertPoint(cont);
}

void Lowerer::returnIfFailed() {
  returnIf(b.CreateICmpNE(b.CreateCall(failedFn, {rtCtx}), b.getInt32(0)));
}

View Lowerer::arange(int buf, Value *n, ir::DType dt) {
  Value *base = bufBase[buf], *count = n;
  Type *elem = elemType(dt);
  outline("arange", {{&base, ArgUse::Out}, {&count, ArgUse::Value}}, nullptr, [&]() -> Value * {
    forLoop(count, [&](Value *i) {
      Value *v = dt == ir::DType::F32 ? b.CreateSIToFP(i, f32) : b.CreateTrunc(i, i32);
      b.CreateStore(v, b.CreateInBoundsGEP(elem, base, i));
    });
    return nullptr;
  });
  View v;
  v.base = bufBase[buf];
  v.dtype = dt;
  v.shape = {n};
  v.strides = {i64c(1)};
  return v;
}

void Lowerer::rangeCheck(const View &dense, Value *lo, Value *hi, const std::string &what,
                         const View *table, const View *out) {
  // One kernel for check_range (table == null) and gather: each index is checked against
  // [lo, hi] and, for gather, its row of `table` copied to `out`. A bad index records the
  // runtime's range error and makes the kernel return true.
  Value *c = rtCtx, *ids = dense.base, *n = numel(dense.shape);
  Value *tbl = table ? table->base : nullptr, *dst = out ? out->base : nullptr;
  Value *row =
      table ? numel(std::vector<Value *>(table->shape.begin() + 1, table->shape.end())) : nullptr;
  std::vector<Value *> dims = dense.shape;
  std::vector<std::pair<Value **, ArgUse>> uses = {{&c, ArgUse::Value},
                                                   {&ids, ArgUse::In},
                                                   {&n, ArgUse::Value},
                                                   {&lo, ArgUse::Value},
                                                   {&hi, ArgUse::Value}};
  if (table) {
    uses.push_back({&tbl, ArgUse::In});
    uses.push_back({&dst, ArgUse::Out});
    uses.push_back({&row, ArgUse::Value});
  }
  for (Value *&d : dims)
    uses.push_back({&d, ArgUse::Value});
  Value *whatStr = globalString(what);
  CallInst *bad = outline(table ? "gather" : "check_range", uses, b.getInt1Ty(), [&]() -> Value * {
    Value *shapeArr = b.CreateAlloca(i64, i64c((int64_t)dims.size() + 1), "shape");
    forLoop(n, [&](Value *i) {
      Value *v = b.CreateSExt(b.CreateLoad(i32, b.CreateInBoundsGEP(i32, ids, i)), i64);
      BasicBlock *badBB = BasicBlock::Create(ctx, "bad", fn);
      BasicBlock *ok = BasicBlock::Create(ctx, "ok", fn);
      b.CreateCondBr(b.CreateOr(b.CreateICmpSLT(v, lo), b.CreateICmpSGT(v, hi)), badBB, ok);
      b.SetInsertPoint(badBB);
      for (unsigned k = 0; k < dims.size(); ++k)
        b.CreateStore(dims[k], b.CreateConstInBoundsGEP1_64(i64, shapeArr, k));
      b.CreateCall(rangeErrorFn, {c, whatStr, v, i, shapeArr, i64c((int64_t)dims.size()), lo, hi});
      b.CreateRet(b.getTrue());
      b.SetInsertPoint(ok);
      if (table)
        forLoop(row, [&](Value *j) {
          Value *from = b.CreateAdd(b.CreateMul(v, row), j);
          Value *to = b.CreateAdd(b.CreateMul(i, row), j);
          Type *e = elemType(table->dtype);
          b.CreateStore(b.CreateLoad(e, b.CreateInBoundsGEP(e, tbl, from)),
                        b.CreateInBoundsGEP(e, dst, to));
        });
    });
    return b.getFalse();
  });
  returnIf(bad);
}

// A concat's operand computed by an op of the same block that can write through a view
// (elementwise and fused kernels, products, other concats) is written straight into its
// slice of the concat's storage, which the concat then leaves alone: the gate gradients of
// a recurrent layer's adjoint step go straight into the one matrix its product reads.
// Later concats are planned first, so that one written into another knows its layout.
void Lowerer::planConcatsInPlace(const ir::Block &blk) {
  for (auto it = blk.ops.rbegin(); it != blk.ops.rend(); ++it) {
    const ir::Op &op = **it;
    if (op.kind != ir::OpKind::Concat)
      continue;
    const ir::Value *c = op.result();
    unsigned axis = (unsigned)op.intAttr("axis");
    auto d = directDenseFrom.find(c);
    unsigned lay = std::max(d == directDenseFrom.end() ? 0u : d->second, axis);
    for (unsigned k = 0; k < op.operands.size(); ++k) {
      const ir::Value *u = op.operands[k];
      if (!u->def || u->def->parent != &blk || !writesThroughView(*u->def) ||
          directDenseFrom.count(u) || std::count(op.operands.begin(), op.operands.end(), u) != 1)
        continue;
      directDenseFrom[u] = lay;
      concatSlots[u] = {&op, k};
      viewRoot[u] = rootOf(c);
    }
  }
}

View Lowerer::concatSlotView(const ir::Value *v) {
  const ConcatSlot &s = concatSlots.at(v);
  const ir::Value *c = s.concat->result();
  View whole;
  if (concatSlots.count(c))
    whole = concatSlotView(c);
  else if (auto it = bufOf.find(c); it != bufOf.end())
    whole = bufferView(it->second);
  else
    whole = view(c); // a stack slot, bound when the step began
  unsigned axis = (unsigned)s.concat->intAttr("axis");
  Value *offset = i64c(0);
  for (unsigned k = 0; k < s.index; ++k)
    offset = b.CreateAdd(offset, dim(s.concat->operands[k]->type.shape[axis]));
  return sliceAxisView(whole, axis, offset, dim(v->type.shape[axis]));
}

Expected<bool> Lowerer::planSpecial(const ir::Op &op) {
  using K = ir::OpKind;
  if (op.results.size() != 1)
    return false;
  const ir::Value *r = op.result();
  auto own = [&] {
    auto d = directDenseFrom.find(r);
    if (d != directDenseFrom.end()) {
      layout[r] = d->second;
      return;
    }
    bufOf[r] = newBuffer(r->type);
    layout[r] = 0;
  };
  auto alias = [&](const ir::Value *of, unsigned lay) {
    viewRoot[r] = rootOf(of);
    layout[r] = lay;
  };
  auto denseCopy = [&](const ir::Value *v) { return layoutOf(v) == 0 ? -1 : newBuffer(v->type); };
  switch (op.kind) {
  case K::Slice:
    alias(op.operands[0], std::max(layoutOf(op.operands[0]), (unsigned)op.intAttr("axis")));
    return true;
  case K::Reshape:
  case K::CheckRange:
    // A dense operand is viewed in place, and so is any operand when the reshape only drops
    // or inserts 1s (a step [B, 1, H] of a sequence becoming [B, H]); otherwise a strided
    // operand is copied to the result's buffer.
    if (op.kind == K::Reshape && layoutOf(op.operands[0]) != 0) {
      if (auto map = unitReshape(op.operands[0]->type, r->type)) {
        alias(op.operands[0], unitReshapeLayout(*map, layoutOf(op.operands[0])));
        return true;
      }
    }
    if (layoutOf(op.operands[0]) == 0)
      alias(op.operands[0], 0);
    else
      own();
    return true;
  case K::Iota: {
    own();
    const ir::Type &t = r->type;
    scratch[&op] = {newBuffer(ir::Type{t.dtype, {t.shape[op.intAttr("axis")]}})};
    return true;
  }
  case K::OneHot:
    own();
    scratch[&op] = {newBuffer(ir::Type{ir::DType::I32, {ir::Dim::constant(op.intAttr("depth"))}})};
    return true;
  case K::Gather:
    own();
    scratch[&op] = {denseCopy(op.operands[0]), denseCopy(op.operands[1])};
    return true;
  case K::Conv1D:
  case K::Conv1DGradInput:
  case K::Conv1DGradKernel:
  case K::MaxPool1DGrad:
    own();
    scratch[&op] = {denseCopy(op.operands[0]), denseCopy(op.operands[1])};
    return true;
  case K::MaxPool1D:
    own();
    scratch[&op] = {denseCopy(op.operands[0])};
    return true;
  case K::BatchMatMul:
    own();
    scratch[&op] = {denseCopy(op.operands[0]), denseCopy(op.operands[1])};
    return true;
  case K::Sample:
    own();
    scratch[&op] = {denseCopy(op.operands[0])};
    return true;
  case K::Concat:
  case K::ReduceSum:
  case K::ReduceMax:
  case K::ReduceMean:
  case K::ArgMax:
    own();
    return true;
  default:
    return false;
  }
}

Expected<bool> Lowerer::lowerSpecial(const ir::Op &op) {
  using K = ir::OpKind;
  if (op.results.size() != 1)
    return false;
  const ir::Value *r = op.result();
  auto owned = [&] { return bufOf.count(r) != 0; };
  // An operand in its dense scratch copy (planned when its layout is strided).
  switch (op.kind) {
  case K::Slice:
    views[r] = sliceAxisView(view(op.operands[0]), (unsigned)op.intAttr("axis"),
                             i64c(op.intAttr("start")), i64c(op.intAttr("size")));
    return true;
  case K::Reshape: {
    const ir::Type &from = op.operands[0]->type;
    Value *nIn = numel(shapeOf(from)), *nOut = numel(shapeOf(r->type));
    if (nIn != nOut)
      returnIf(b.CreateICmpNE(nIn, nOut),
               "reshape of " + from.str() + " to " + r->type.str() + ": element counts differ");
    if (owned()) {
      copy(denseView(bufBase[bufOf.at(r)], from), view(op.operands[0]));
      return true;
    }
    const View &in = view(op.operands[0]);
    auto unit = unitReshape(from, r->type);
    if (layoutOf(op.operands[0]) == 0 || !unit) {
      views[r] = denseView(in.base, r->type);
      return true;
    }
    const std::vector<int> &map = *unit;
    // Dropped and inserted 1s: the operand's sizes and strides, a 1 where one is inserted
    // with the stride that keeps the dense block dense.
    View v;
    v.base = in.base;
    v.dtype = in.dtype;
    v.shape.resize(map.size());
    v.strides.resize(map.size());
    for (unsigned k = (unsigned)map.size(); k-- > 0;) {
      if (map[k] >= 0) {
        v.shape[k] = in.shape[map[k]];
        v.strides[k] = in.strides[map[k]];
      } else {
        v.shape[k] = i64c(1);
        v.strides[k] = k + 1 == map.size()
                           ? i64c(1)
                           : b.CreateMul(v.strides[k + 1], v.shape[k + 1], "", true, true);
      }
    }
    v.denseFrom = unitReshapeLayout(map, in.denseFrom);
    views[r] = v;
    return true;
  }
  case K::CheckRange: {
    View checked = view(op.operands[0]);
    if (owned()) {
      copy(view(r), checked);
      checked = view(r);
    } else {
      views[r] = checked;
    }
    rangeCheck(checked, i64c(op.intAttr("lo")), dim(op.dimAttr("hi")), op.strAttr("what"), nullptr,
               nullptr);
    return true;
  }
  case K::Gather: {
    View table = denseOperand(op, 0), ids = denseOperand(op, 1);
    rangeCheck(ids, i64c(0), b.CreateSub(table.shape[0], i64c(1)), op.strAttr("what"), &table,
               &view(r));
    return true;
  }
  case K::Iota: {
    const View &out = view(r);
    unsigned axis = (unsigned)op.intAttr("axis");
    View idx = arange(scratch.at(&op)[0], out.shape[axis], r->type.dtype);
    // [n, 1, ..., 1]: broadcast over the dims before and after `axis`.
    for (unsigned k = axis + 1; k < out.rank(); ++k) {
      idx.shape.push_back(i64c(1));
      idx.strides.push_back(i64c(0));
    }
    copy(out, idx);
    return true;
  }
  case K::OneHot: {
    View ids = view(op.operands[0]);
    ids.shape.push_back(i64c(1)); // [..., 1] against the depth axis
    ids.strides.push_back(i64c(0));
    View depth = arange(scratch.at(&op)[0], i64c(op.intAttr("depth")), ir::DType::I32);
    emitKernel(
        view(r), {ids, depth},
        [&](IRBuilder<> &bb, const std::vector<Value *> &a) {
          return bb.CreateUIToFP(bb.CreateICmpEQ(a[0], a[1]), f32);
        },
        "one_hot");
    return true;
  }
  case K::Concat: {
    unsigned axis = (unsigned)op.intAttr("axis");
    Value *offset = i64c(0);
    for (const ir::Value *v : op.operands) {
      const View &in = view(v);
      auto slot = concatSlots.find(v);
      if (slot == concatSlots.end() || slot->second.concat != &op) // else written in place
        copy(sliceAxisView(view(r), axis, offset, in.shape[axis]), in);
      offset = b.CreateAdd(offset, in.shape[axis]);
    }
    return true;
  }
  case K::ReduceSum:
  case K::ReduceMax:
  case K::ReduceMean:
  case K::ArgMax:
    lowerReduce(op);
    return true;
  case K::BatchMatMul:
    lowerBatchMatMul(op);
    return true;
  case K::Sample: {
    // One loom_rt_sample call over the rows of the dense logits (ir/Sample.h).
    View logits = denseOperand(op, 0);
    const View &out = view(op.result());
    Value *rows = i64c(1);
    for (unsigned k = 0; k + 1 < logits.rank(); ++k)
      rows = b.CreateMul(rows, logits.shape[k], "", true, true);
    Value *seed = b.CreateLoad(i32, view(op.operands[1]).base, "seed");
    Value *step = b.CreateLoad(i32, view(op.operands[2]).base, "step");
    b.CreateCall(sampleFn, {logits.base, rows, logits.shape.back(), out.base, seed, step,
                            i64c(op.intAttr("stream")),
                            ConstantFP::get(b.getDoubleTy(), op.floatAttr("temperature")),
                            i64c(op.intAttr("top_k")),
                            ConstantFP::get(b.getDoubleTy(), op.floatAttr("top_p"))});
    return true;
  }
  case K::Conv1D:
  case K::MaxPool1D:
  case K::Conv1DGradInput:
  case K::Conv1DGradKernel:
  case K::MaxPool1DGrad:
    return lowerWindow(op);
  default:
    return false;
  }
}

void Lowerer::lowerReduce(const ir::Op &op) {
  using K = ir::OpKind;
  const ir::Value *x = op.operands[0];
  int64_t axis = op.intAttr("axis");
  View in = view(x);
  Value *n = in.shape[axis], *step = in.strides[axis];
  in.shape.erase(in.shape.begin() + axis);
  in.strides.erase(in.strides.begin() + axis);
  // The result without the reduced axis (keepdims only adds a size-1 dim: same memory).
  ir::Type outType = withoutAxis(x->type, axis);
  outType.dtype = op.result()->type.dtype;
  View out = denseView(bufBase[bufOf.at(op.result())], outType);
  bool fl = x->type.dtype == ir::DType::F32;
  K kind = op.kind;
  unsigned m = out.rank();
  // An f32 reduction over an axis other than the last accumulates into the output: the
  // innermost loop runs over the last output dim (contiguous), so it is vectorised, and
  // each element is still combined over the axis in order, as below. Otherwise (the last
  // axis, or i32 sums, which accumulate in i64) one element at a time. Both split over
  // the threads by the first output dim.
  bool columns = fl && m >= 1 && axis + 1 < (int64_t)x->type.rank() && kind != K::ArgMax;
  std::vector<std::pair<Value **, ArgUse>> uses = {{&out.base, ArgUse::Out},
                                                   {&in.base, ArgUse::In},
                                                   {&n, ArgUse::Value},
                                                   {&step, ArgUse::Value}};
  for (unsigned k = 0; k < m; ++k) {
    uses.push_back({&out.shape[k], ArgUse::Value});
    uses.push_back({&out.strides[k], ArgUse::Value});
    uses.push_back({&in.strides[k], ArgUse::Value});
  }
  // The caller's values, before outlining remaps the slots to the kernel's parameters.
  Value *outer = m >= 1 ? out.shape[0] : nullptr;
  Value *itemCost =
      m >= 1 ? b.CreateMul(b.CreateAdd(n, i64c(1)), numel({out.shape.begin() + 1, out.shape.end()}),
                           "", true, true)
             : nullptr;
  std::vector<Type *> extra;
  if (m >= 1)
    extra = {i64, i64};
  // Sums accumulate in the element type (i32 in i64); the interpreter adds in double.
  Type *accTy = fl ? (Type *)f32 : kind == K::ReduceMax ? i32 : i64;
  auto initValue = [&]() -> Value * {
    return kind != K::ReduceMax ? Constant::getNullValue(accTy)
           : fl                 ? ConstantFP::getInfinity(f32, true)
                                : (Value *)ConstantInt::get(i32, INT32_MIN, true);
  };
  auto combine = [&](Value *a, Value *v) -> Value * {
    if (kind != K::ReduceMax)
      return fl ? b.CreateFAdd(a, v) : b.CreateAdd(a, b.CreateSExt(v, i64));
    if (fl) // NaN wins, as in the interpreter
      return b.CreateSelect(b.CreateOr(b.CreateFCmpOGT(v, a), b.CreateFCmpUNO(v, v)), v, a);
    return b.CreateBinaryIntrinsic(Intrinsic::smax, a, v);
  };
  auto [kf, args] = outlineFunction(ir::opName(kind), uses, nullptr, extra, [&]() -> Value * {
    // The loop over output dim k: [lo, hi) for the first (the thread's part).
    auto dimLoop = [&](unsigned k, const std::function<void(Value *)> &body, LoopHint hint) {
      Value *lo = k == 0 ? outlineExtra[0] : nullptr;
      forLoop(
          k == 0 ? b.CreateSub(outlineExtra[1], lo, "", false, true) : out.shape[k],
          [&](Value *i) { body(lo ? b.CreateAdd(i, lo, "", false, true) : i); }, hint, "i", 1);
    };
    Value *acc = columns ? nullptr : b.CreateAlloca(accTy);
    std::function<void(unsigned, Value *, Value *)> level = [&](unsigned k, Value *oo, Value *io) {
      auto outAt = [&](Value *i) {
        return b.CreateInBoundsGEP(f32, out.base, b.CreateAdd(oo, b.CreateMul(i, out.strides[k])));
      };
      if (columns && k + 1 == m) {
        dimLoop(
            k, [&](Value *i) { b.CreateStore(initValue(), outAt(i)); }, LoopHint::Interleave);
        forLoop(n, [&](Value *j) {
          Value *ij = b.CreateAdd(io, b.CreateMul(j, step));
          dimLoop(
              k,
              [&](Value *i) {
                Value *v = b.CreateLoad(
                    f32, b.CreateInBoundsGEP(f32, in.base,
                                             b.CreateAdd(ij, b.CreateMul(i, in.strides[k]))));
                Value *at = outAt(i);
                b.CreateStore(combine(b.CreateLoad(f32, at), v), at);
              },
              LoopHint::Interleave);
        });
        if (kind == K::ReduceMean) // 0 / 0 = NaN for an empty axis
          dimLoop(
              k,
              [&](Value *i) {
                Value *at = outAt(i);
                b.CreateStore(b.CreateFDiv(b.CreateLoad(f32, at), b.CreateSIToFP(n, f32)), at);
              },
              LoopHint::Interleave);
        return;
      }
      if (k == m && kind == K::ArgMax) {
        // The first maximum's index; a NaN is a maximum that nothing replaces (numpy's).
        Type *e = elemType(x->type.dtype);
        Value *best = b.CreateAlloca(e), *index = b.CreateAlloca(i32);
        b.CreateStore(Constant::getNullValue(e), best); // replaced at j = 0
        b.CreateStore(b.getInt32(0), index);
        forLoop(n, [&](Value *j) {
          Value *v = b.CreateLoad(
              e, b.CreateInBoundsGEP(e, in.base, b.CreateAdd(io, b.CreateMul(j, step))));
          Value *bv = b.CreateLoad(e, best);
          Value *take = fl ? b.CreateAnd(b.CreateFCmpORD(bv, bv),
                                         b.CreateOr(b.CreateFCmpOGT(v, bv), b.CreateFCmpUNO(v, v)))
                           : b.CreateICmpSGT(v, bv);
          take = b.CreateOr(b.CreateICmpEQ(j, i64c(0)), take);
          b.CreateStore(b.CreateSelect(take, v, bv), best);
          b.CreateStore(b.CreateSelect(take, b.CreateTrunc(j, i32), b.CreateLoad(i32, index)),
                        index);
        });
        b.CreateStore(b.CreateLoad(i32, index), b.CreateInBoundsGEP(i32, out.base, oo));
        return;
      }
      if (k == m) {
        b.CreateStore(initValue(), acc);
        forLoop(n, [&](Value *j) {
          Type *e = elemType(x->type.dtype);
          Value *v = b.CreateLoad(
              e, b.CreateInBoundsGEP(e, in.base, b.CreateAdd(io, b.CreateMul(j, step))));
          b.CreateStore(combine(b.CreateLoad(accTy, acc), v), acc);
        });
        Value *res = b.CreateLoad(accTy, acc);
        if (kind == K::ReduceMean)
          res = b.CreateFDiv(res, b.CreateSIToFP(n, f32)); // 0 / 0 = NaN for an empty axis
        if (!fl) // an empty axis: the sum is 0, the max INT32_MIN (the initial values)
          res = b.CreateSExtOrTrunc(res, i32);
        b.CreateStore(res, b.CreateInBoundsGEP(elemType(out.dtype), out.base, oo));
        return;
      }
      dimLoop(
          k,
          [&](Value *i) {
            level(k + 1, b.CreateAdd(oo, b.CreateMul(i, out.strides[k])),
                  b.CreateAdd(io, b.CreateMul(i, in.strides[k])));
          },
          LoopHint::None);
    };
    level(0, i64c(0), i64c(0));
    return nullptr;
  });
  if (m == 0) {
    b.CreateCall(kf, args);
    return;
  }
  callRanged(kf, std::move(args), outer, itemCost, 1);
}

/// Operand i of `op`, or its dense copy in the scratch buffer planSpecial gave it (a view
/// that is not dense: a slice, a step of a sequence).
View Lowerer::denseOperand(const ir::Op &op, unsigned i) {
  int buf = scratch.at(&op)[i];
  if (buf < 0)
    return view(op.operands[i]);
  View d = bufferView(buf);
  copy(d, view(op.operands[i]));
  return d;
}

/// batch_matmul: both operands dense (copied when they are views), the result its own
/// dense buffer; one loom_rt_sgemm_batch call over the product of the batch dims.
void Lowerer::lowerBatchMatMul(const ir::Op &op) {
  View A = denseOperand(op, 0), B = denseOperand(op, 1);
  const View &C = view(op.result());
  unsigned r = C.rank();
  bool tl = op.boolAttr("transpose_lhs"), tr = op.boolAttr("transpose_rhs");
  Value *batch = i64c(1);
  for (unsigned k = 0; k + 2 < r; ++k)
    batch = b.CreateMul(batch, C.shape[k], "", true, true);
  Value *M = C.shape[r - 2], *N = C.shape[r - 1], *K = A.shape[tl ? r - 2 : r - 1];
  Value *lda = A.shape[r - 1], *ldb = B.shape[r - 1];
  b.CreateCall(sgemmBatchFn, {rtCtx, b.getInt32(tl), b.getInt32(tr), batch, M, N, K, A.base, lda,
                              b.CreateMul(A.shape[r - 2], lda), B.base, ldb,
                              b.CreateMul(B.shape[r - 2], ldb), C.base, N, b.CreateMul(M, N)});
  returnIfFailed();
}

Expected<bool> Lowerer::lowerWindow(const ir::Op &op) {
  using K = ir::OpKind;
  bool pool = op.kind == K::MaxPool1D || op.kind == K::MaxPool1DGrad;
  // a, c: the operands, dense; the forward op reads x [B, T, C] (and a kernel [K, C, F]).
  View a = denseOperand(op, 0), c = op.operands.size() > 1 ? denseOperand(op, 1) : View();
  const View &r = view(op.result());
  int64_t window = pool ? op.intAttr("size") : 0;
  if (!pool) {
    const ir::Value *kernel = op.kind == K::Conv1DGradKernel ? op.result() : op.operands[1];
    if (!kernel->type.shape[0].isStatic())
      return fail(std::string(ir::opName(op.kind)) + ": the kernel size must be static");
    window = kernel->type.shape[0].value();
  }
  int64_t dilation = pool ? 1 : op.intAttr("dilation"), stride = op.intAttr("stride");
  int64_t span = dilation * (window - 1) + 1;
  const View &x = op.kind == K::Conv1DGradInput ? r : a;
  // The output of the forward op (its gradient, for the gradient ops) and F.
  const View &y = op.kind == K::Conv1D || op.kind == K::MaxPool1D ? r
                  : op.kind == K::Conv1DGradInput                 ? a
                                                                  : c;
  const std::string &padding = op.strAttr("padding");
  Value *T = x.shape[1], *padL = i64c(0), *padR = i64c(0);
  if (padding == "same") { // as ir::windowGeometry
    Value *outSteps = b.CreateSDiv(b.CreateAdd(T, i64c(stride - 1)), i64c(stride));
    Value *total = b.CreateBinaryIntrinsic(
        Intrinsic::smax,
        b.CreateSub(
            b.CreateAdd(b.CreateMul(b.CreateSub(outSteps, i64c(1)), i64c(stride)), i64c(span)), T),
        i64c(0));
    padL = b.CreateSDiv(total, i64c(2));
    padR = b.CreateSub(total, padL);
  } else if (padding == "causal") {
    padL = i64c(span - 1);
  }
  returnIf(b.CreateICmpSGT(i64c(span), b.CreateAdd(T, b.CreateAdd(padL, padR))),
           std::string(ir::opName(op.kind)) + ": the window spans " + std::to_string(span) +
               " steps but the sequence is shorter");
  Value *B = x.shape[0], *C = x.shape[2], *F = y.shape[2], *Tout = y.shape[1];
  switch (op.kind) {
  case K::Conv1D:
    b.CreateCall(conv1dFn, {rtCtx, B, T, C, F, i64c(window), i64c(stride), i64c(dilation), padL,
                            padR, Tout, a.base, c.base, r.base});
    break;
  case K::Conv1DGradInput: // dy, kernel -> dx
    b.CreateCall(conv1dGradInputFn, {rtCtx, B, T, C, F, i64c(window), i64c(stride), i64c(dilation),
                                     padL, padR, Tout, a.base, c.base, r.base});
    break;
  case K::Conv1DGradKernel: // x, dy -> dkernel
    b.CreateCall(conv1dGradKernelFn, {rtCtx, B, T, C, F, i64c(window), i64c(stride), i64c(dilation),
                                      padL, padR, Tout, a.base, c.base, r.base});
    break;
  case K::MaxPool1D:
    b.CreateCall(maxPoolFn,
                 {rtCtx, B, T, C, i64c(window), i64c(stride), padL, padR, Tout, a.base, r.base});
    break;
  default: // max_pool1d_grad: x, dy -> dx
    b.CreateCall(maxPoolGradFn, {rtCtx, B, T, C, i64c(window), i64c(stride), padL, padR, Tout,
                                 a.base, c.base, r.base});
    break;
  }
  returnIfFailed();
  return true;
}

} // namespace loom::codegen
