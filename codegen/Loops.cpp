// The `loop` op (semantics in ir/IR.h). Carries live in their own buffers: inits are
// copied in before the loop. A carry whose next value an op of the body computes has a
// second buffer and the two alternate, each step reading one and writing the other; other
// yielded values are copied in after the whole body of a step has run, and one that is
// another carry's block argument goes through a temporary, so permutations of the carries
// (a, b) -> (b, a) are right. Slices are views into the sequence at t (no copy). A stacked
// value defined by an op of the body that can write through a view is written by that op
// straight into the stacked result at t (and, if it is also a carry's next value, into
// that carry's buffer too); any other stacked value is copied there.
#include "codegen/Lowering.h"

#include <algorithm>
#include <set>

using namespace llvm;

namespace loom::codegen {
namespace {

Error fail(const Twine &msg) { return createStringError(inconvertibleErrorCode(), msg); }

bool mentions(const ir::Dim &d, const std::string &sym) {
  std::vector<std::string> used;
  ir::collectSymbols(d, used);
  return std::find(used.begin(), used.end(), sym) != used.end();
}

/// Whether `t` has `sym` as its first dim and nowhere else ("row" values), or does not
/// mention it ("free" values); any other use of the symbol rules the loop out.
enum class RowUse { Row, Free, Other };
RowUse rowUse(const ir::Type &t, const std::string &sym) {
  bool first = t.rank() >= 1 && t.shape[0].isSymbol() && t.shape[0].symbol() == sym;
  for (unsigned k = first ? 1 : 0; k < t.rank(); ++k)
    if (mentions(t.shape[k], sym))
      return RowUse::Other;
  return first ? RowUse::Row : RowUse::Free;
}

/// The symbol of the loop's row dim when rows are independent: every value the loop
/// carries, slices, stacks, reads or computes either has the symbol as its first dim and
/// nowhere else, or does not mention it, and every op of the body works row by row (an
/// elementwise op, a product of rows by a weight, a slice or concat along another axis, a
/// fill). Then rows [lo, hi) of every result depend only on rows [lo, hi) of the inputs,
/// and disjoint ranges of rows can run the whole loop on different threads with no
/// synchronisation per step. Ops that would write one buffer from every range (work that
/// does not depend on the rows, which hoist moves out anyway) and ops that can fail rule
/// the loop out.
std::optional<std::string> rowSymbol(const ir::Op &loop) {
  const ir::Block &body = *loop.regions[0];
  if (loop.operands.empty())
    return std::nullopt;
  const ir::Type &first = loop.operands[0]->type;
  if (first.rank() < 1 || !first.shape[0].isSymbol())
    return std::nullopt;
  std::string sym = first.shape[0].symbol();
  if (mentions(loop.dimAttr("steps"), sym))
    return std::nullopt; // each range would run its own row count of steps
  for (const ir::Value *v : loop.operands)
    if (rowUse(v->type, sym) != RowUse::Row)
      return std::nullopt;
  for (auto &r : loop.results)
    if (rowUse(r->type, sym) != RowUse::Row)
      return std::nullopt;
  for (auto &a : body.args)
    if (rowUse(a->type, sym) != RowUse::Row)
      return std::nullopt;
  for (auto &op : body.ops) {
    bool rowIn = false, rowOut = false;
    for (const ir::Value *v : op->operands) {
      RowUse u = rowUse(v->type, sym);
      if (u == RowUse::Other)
        return std::nullopt;
      rowIn |= u == RowUse::Row;
    }
    for (auto &r : op->results) {
      RowUse u = rowUse(r->type, sym);
      if (u == RowUse::Other)
        return std::nullopt;
      rowOut |= u == RowUse::Row;
    }
    ir::FusionKind kind = ir::opInfo(op->kind).kind;
    switch (op->kind) {
    case ir::OpKind::Yield:
      continue;
    case ir::OpKind::Slice:  // a view
    case ir::OpKind::Concat: // a copy of its operands' own rows, into its own buffer
      if (rowOut ? op->intAttr("axis") == 0 : op->kind == ir::OpKind::Concat)
        return std::nullopt; // a free concat: one buffer written by every range
      continue;
    case ir::OpKind::MatMul:
      // Rows of the left-hand side times a weight; a product over the rows
      // (transpose_lhs) or with rows on the right sums over them.
      if (!rowIn)
        return std::nullopt;
      if (op->boolAttr("transpose_lhs") || rowUse(op->operands[1]->type, sym) != RowUse::Free ||
          op->operands[0]->type.rank() < 2)
        return std::nullopt;
      continue;
    case ir::OpKind::Fill:
      if (!rowOut)
        return std::nullopt;
      continue;
    default:
      break;
    }
    if (kind != ir::FusionKind::Elementwise && op->kind != ir::OpKind::Fused)
      return std::nullopt;
    if (!rowOut)
      return std::nullopt; // free work, redone by every range into one buffer
    // Broadcasting aligns trailing dims: a row operand must have the result's rank.
    for (const ir::Value *v : op->operands)
      if (rowUse(v->type, sym) == RowUse::Row && v->type.rank() != op->result()->type.rank())
        return std::nullopt;
  }
  return sym;
}

/// Whether a loop can run split over its units, as a batch-1 recurrent layer wants it: its
/// carries are [rows, S] (S static, at least 64 units), the body's one product multiplies
/// a carry by a weight from outside, every other op is elementwise (a fused kernel) on
/// values whose last dim is S, or a slice of S columns of a wider value (the product's
/// result, a step's input projection, a bias). Then column j of every per-unit value depends
/// only on column j of the others and on columns o + j of the product, for the offsets o of
/// its slices: a thread can compute its units' columns of the product from the whole carry,
/// then its units of every value, and one barrier per step makes the new carry whole for
/// the next product. The carry the product reads must alternate between two buffers
/// (nextBuf), so that a thread writing its columns of the next value never overwrites what
/// another still reads. Nothing in the body can fail (a thread returning early would leave
/// the others at a barrier).
constexpr int64_t kUnitSplitMinWeightBytes = int64_t(256) << 10;
constexpr int64_t kUnitSplitMaxWeightBytes = int64_t(2) << 20;

std::optional<LoopPlan::UnitSplit> unitSplit(const ir::Op &loop, const LoopPlan &p) {
  const ir::Block &body = *loop.regions[0];
  unsigned nc = (unsigned)loop.intAttr("carries");
  if (nc == 0)
    return std::nullopt;
  const ir::Type &ct = body.args[0]->type;
  if (ct.rank() != 2 || ct.dtype != ir::DType::F32 || !ct.shape[1].isStatic() ||
      ct.shape[1].value() < 64)
    return std::nullopt;
  if (ct.shape[0].isStatic() && ct.shape[0].value() != 1)
    return std::nullopt; // never one row: the loop over units would never run
  const int64_t S = ct.shape[1].value();
  for (unsigned i = 0; i < nc; ++i)
    if (body.args[i]->type != ct)
      return std::nullopt;
  auto width = [](const ir::Type &t) -> int64_t {
    if (t.rank() == 0)
      return 1;
    return t.shape.back().isStatic() ? t.shape.back().value() : -1;
  };
  // A value of the units' width has at most one row when the loop has one: [S], [1, S] or
  // [rows, S] (codegen sees its columns of it as contiguous as the row).
  auto oneRow = [&](const ir::Type &t) {
    return t.rank() == 1 || (t.rank() == 2 && (t.shape[0] == ct.shape[0] ||
                                               (t.shape[0].isStatic() && t.shape[0].value() == 1)));
  };
  LoopPlan::UnitSplit u{S, nullptr, {}};
  const ir::Value *product = nullptr;
  for (auto &op : body.ops)
    if (op->kind == ir::OpKind::MatMul) {
      if (u.matmul)
        return std::nullopt;
      u.matmul = op.get();
      product = op->result();
    }
  if (!u.matmul)
    return std::nullopt;
  const ir::Op &mm = *u.matmul;
  const ir::Value *lhs = mm.operands[0], *rhs = mm.operands[1];
  int carry = -1;
  for (unsigned i = 0; i < nc; ++i)
    if (lhs == body.args[i].get())
      carry = (int)i;
  if (carry < 0 || p.nextBuf[carry] < 0 || mm.boolAttr("transpose_lhs") ||
      mm.boolAttr("transpose_rhs") || rhs->type.rank() != 2 || rhs->type.dtype != ir::DType::F32 ||
      (rhs->def && rhs->def->parent == &body) || product->type.rank() != 2 ||
      width(product->type) < S)
    return std::nullopt;
  // A sliced sequence is [rows, T, W]: its step's last dim is a feature axis (of a
  // rank-2 sequence it would be time, which a window of the units must not cut).
  for (unsigned j = nc; j < body.args.size(); ++j)
    if (rhs == body.args[j].get() || loop.operands[j]->type.rank() != 3 ||
        body.args[j]->type.shape[0] != ct.shape[0])
      return std::nullopt;
  const int64_t N = width(product->type);
  // Worth compiling the loop a second time only for a weight of 256 KiB to 2 MiB. A smaller
  // one's product takes a microsecond or two on one core, as long as synchronising the
  // threads at every step (the whole loop on one thread is as fast). A larger one makes
  // each step's product long enough (beyond the cores' L2, from L3) that a fork and join
  // per step costs a few percent at most.
  if (!rhs->type.shape[0].isStatic())
    return std::nullopt;
  const int64_t bytes = rhs->type.shape[0].value() * N * 4;
  if (bytes < kUnitSplitMinWeightBytes || bytes > kUnitSplitMaxWeightBytes)
    return std::nullopt;
  for (auto &op : body.ops) {
    if (op.get() == u.matmul)
      continue;
    if (op->kind == ir::OpKind::Yield) {
      for (const ir::Value *v : op->operands)
        if (v == product || width(v->type) != S || v->type.rank() != 2 || !oneRow(v->type))
          return std::nullopt; // (a stacked [S] would be stacked as [S, T])
      continue;
    }
    for (auto &r : op->results)
      if (width(r->type) != S || !oneRow(r->type))
        return std::nullopt;
    if (op->kind == ir::OpKind::Slice) {
      const ir::Value *from = op->operands[0];
      int64_t w = width(from->type);
      if (op->intAttr("axis") != (int64_t)from->type.rank() - 1 || op->intAttr("size") != S ||
          w <= S || op->intAttr("start") < 0 || op->intAttr("start") + S > w)
        return std::nullopt;
      if (from == product)
        u.offsets.push_back(op->intAttr("start"));
      continue;
    }
    if (op->kind != ir::OpKind::Fused && ir::opInfo(op->kind).kind != ir::FusionKind::Elementwise)
      return std::nullopt;
    for (const ir::Value *v : op->operands) {
      int64_t w = width(v->type);
      if ((w != S && w != 1) || (w == S && !oneRow(v->type)))
        return std::nullopt;
      if (v == product)
        u.offsets.push_back(0); // N == S: the product itself, column for column
    }
  }
  if (u.offsets.empty() || N < S)
    return std::nullopt;
  std::sort(u.offsets.begin(), u.offsets.end());
  u.offsets.erase(std::unique(u.offsets.begin(), u.offsets.end()), u.offsets.end());
  // Slices that overlap would have two threads computing the same columns of the product.
  for (size_t i = 1; i < u.offsets.size(); ++i)
    if (u.offsets[i] - u.offsets[i - 1] < S)
      return std::nullopt;
  return u;
}

} // namespace

// A GEMM needs a unit column stride, which a rank-1 view into other storage does not have;
// one over the rows (transpose_lhs) writes its result with the row stride of the view.
bool writesThroughView(const ir::Op &op) {
  ir::FusionKind k = ir::opInfo(op.kind).kind;
  if (op.kind == ir::OpKind::MatMul)
    return op.result()->type.rank() >= 2;
  return k == ir::FusionKind::Elementwise || k == ir::FusionKind::Source ||
         op.kind == ir::OpKind::Reverse || op.kind == ir::OpKind::SwapAxes ||
         op.kind == ir::OpKind::Fused || op.kind == ir::OpKind::Concat;
}

Error Lowerer::planLoop(const ir::Op &op) {
  if (!op.hasAttr("carries") || !op.hasAttr("slices"))
    return fail("loop: missing 'carries' or 'slices' attribute");
  int64_t nc = op.intAttr("carries"), ns = op.intAttr("slices");
  if (op.regions.size() != 1)
    return fail("loop: expected one region");
  const ir::Block &body = *op.regions[0];
  const ir::Op *y = body.terminator();
  bool until = ir::loopUntil(op);
  int64_t nstack = (int64_t)op.results.size() - nc - (until ? 1 : 0);
  if (nc < 0 || ns < 0 || nstack < 0 || (int64_t)op.operands.size() != nc + ns ||
      (int64_t)body.args.size() != nc + ns || !y || y->kind != ir::OpKind::Yield ||
      (int64_t)y->operands.size() != nc + nstack + (until ? 1 : 0))
    return fail("loop: operands, body arguments, yield and results do not match the "
                "'carries' and 'slices' attributes");
  LoopPlan &p = loopPlans[&op];
  for (int64_t i = 0; i < nc; ++i) {
    p.carryBuf.push_back(newBuffer(body.args[i]->type));
    layout[body.args[i].get()] = 0;
    layout[op.result(i)] = 0;
  }
  for (int64_t j = 0; j < ns; ++j) {
    const ir::Value *seq = op.operands[nc + j];
    if (seq->type.rank() < 2)
      return fail("loop: sliced sequence " + seq->type.str() + " has no time axis");
    auto it = layout.find(seq);
    layout[body.args[nc + j].get()] =
        sliceDenseFrom(it == layout.end() ? 0 : it->second, (unsigned)seq->type.rank());
  }
  for (int64_t k = 0; k < nstack; ++k) {
    p.stackBuf.push_back(newBuffer(op.result(nc + k)->type));
    layout[op.result(nc + k)] = 0;
    const ir::Value *v = y->operands[nc + k];
    if (v->def && v->def->parent == &body && writesThroughView(*v->def) && !p.direct.count(v)) {
      p.direct[v] = (unsigned)k;
      directDenseFrom[v] = sliceDenseFrom(0, (unsigned)v->type.rank() + 1);
    }
  }
  // A carry whose next value an op of the body computes gets a second buffer, and the two
  // alternate: each step reads one and writes the other, so no copy ends the step. A value
  // stacked directly too is stored into both by its kernel (an elementwise op or a fused
  // one); other such values are copied to the carry as before.
  for (int64_t i = 0; i < nc; ++i) {
    p.nextBuf.push_back(-1);
    const ir::Value *v = y->operands[i];
    if (!v->def || v->def->parent != &body || !writesThroughView(*v->def) ||
        v->type != body.args[i]->type ||
        std::count(y->operands.begin(), y->operands.begin() + nc, v) != 1)
      continue;
    bool stacked = p.direct.count(v) != 0;
    bool kernel = v->def->kind == ir::OpKind::Fused ||
                  ir::opInfo(v->def->kind).kind == ir::FusionKind::Elementwise;
    if (stacked && !kernel)
      continue;
    p.nextBuf.back() = newBuffer(body.args[i]->type);
    if (!stacked)
      directDenseFrom[v] = 0;
  }
  if (until) {
    p.countBuf = newBuffer(op.results.back()->type);
    layout[op.results.back().get()] = 0;
  }
  if (Error e = plan(body))
    return e;
  // An until loop runs on the caller's thread (its products and kernels still split): its
  // stop test reads every row.
  if (!until) {
    p.rows = rowSymbol(op);
    p.units = unitSplit(op, p);
  }
  walkConst(body, [&](const ir::Op &inner) {
    auto it = matmulCopies.find(&inner);
    if (it != matmulCopies.end() && it->second.second >= 0)
      p.rows.reset(); // a copy of the weight: one buffer written by every range
    if (it != matmulCopies.end() && (it->second.first >= 0 || it->second.second >= 0))
      p.units.reset(); // a copy written by every thread
  });
  // After the body is planned, views are known: a yielded value whose storage is a carry
  // buffer (a carry's block argument, or a view of one) goes through a temporary unless it
  // is this carry itself, unchanged.
  for (int64_t i = 0; i < nc; ++i) {
    const ir::Value *v = y->operands[i], *root = rootOf(v);
    bool inCarry = !root->def && root->owner == &body && (int64_t)root->index < nc;
    p.tempBuf.push_back(inCarry && v != body.args[i].get() && p.nextBuf[i] < 0 ? newBuffer(v->type)
                                                                               : -1);
  }
  return Error::success();
}

// A loop that can run split over its units (LoopPlan::units) does so when its rows are one
// row (a batch of one, where rows cannot be split) and there are threads to share: the
// choice is made at run time, and both versions are compiled. Otherwise, a loop whose rows
// are independent (rowSymbol) runs over ranges of rows (lowerLoopRows).
Error Lowerer::lowerLoop(const ir::Op &op) {
  const LoopPlan &p = loopPlans.at(&op);
  if (window || unitWindow)
    return lowerLoopSteps(op); // nested: the outer loop's thread runs it
  if (!p.units)
    return lowerLoopRows(op);
  Value *oneRow = b.CreateICmpEQ(dim(op.regions[0]->args[0]->type.shape[0]), i64c(1));
  Value *split =
      b.CreateAnd(oneRow, b.CreateICmpSGE(b.CreateCall(numThreadsFn), b.getInt32(2)), "units");
  BasicBlock *units = BasicBlock::Create(ctx, "loop.units", fn);
  BasicBlock *other = BasicBlock::Create(ctx, "loop.whole", fn);
  BasicBlock *join = BasicBlock::Create(ctx, "loop.done", fn);
  b.CreateCondBr(split, units, other);
  b.SetInsertPoint(units);
  if (Error e = lowerLoopUnits(op))
    return e;
  b.CreateBr(join);
  b.SetInsertPoint(other);
  if (Error e = lowerLoopRows(op))
    return e;
  b.CreateBr(join);
  b.SetInsertPoint(join);
  bindLoopResults(op); // views made here, where both ways have run
  return Error::success();
}

void Lowerer::bindLoopResults(const ir::Op &op) {
  const LoopPlan &p = loopPlans.at(&op);
  unsigned nc = (unsigned)op.intAttr("carries");
  for (unsigned i = 0; i < nc; ++i)
    views[op.result(i)] = bufferView(p.carryBuf[i]);
  for (unsigned k = 0; k < p.stackBuf.size(); ++k)
    views[op.result(nc + k)] = bufferView(p.stackBuf[k]);
  if (p.countBuf >= 0)
    views[op.results.back().get()] = bufferView(p.countBuf);
}

// Emits lower(lo, hi) into a new function name(ptr args, i64 lo, i64 hi). Every value of
// the caller that its code uses becomes a field of the argument struct, loaded on entry;
// the caller fills the struct.
Expected<std::pair<Function *, Value *>>
Lowerer::rangeFunction(const char *name, const std::function<Error(Value *, Value *)> &lower) {
  Function *caller = fn;
  Function *lf = Function::Create(FunctionType::get(b.getVoidTy(), {ptr, i64, i64}, false),
                                  GlobalValue::InternalLinkage, name, mod);
  lf->addFnAttr(Attribute::NoUnwind);
  lf->addFnAttr(Attribute::NoInline);
  IRBuilderBase::InsertPoint callerIP = b.saveIP();
  fn = lf;
  b.SetInsertPoint(BasicBlock::Create(ctx, "entry", lf));
  Error err = lower(lf->getArg(1), lf->getArg(2));
  b.CreateRetVoid();
  fn = caller;
  b.restoreIP(callerIP);
  if (err) {
    lf->eraseFromParent();
    return err;
  }
  std::vector<Value *> captured;
  DenseMap<Value *, unsigned> field;
  for (BasicBlock &bb : *lf)
    for (Instruction &inst : bb)
      for (Value *v : inst.operands()) {
        auto *i = dyn_cast<Instruction>(v);
        auto *a = dyn_cast<Argument>(v);
        if (((i && i->getFunction() == caller) || (a && a->getParent() == caller)) &&
            field.try_emplace(v, captured.size()).second)
          captured.push_back(v);
      }
  std::vector<Type *> types;
  for (Value *v : captured)
    types.push_back(v->getType());
  StructType *argsTy = StructType::get(ctx, types);
  IRBuilder<> entry(&lf->getEntryBlock(), lf->getEntryBlock().begin());
  for (unsigned i = 0; i < captured.size(); ++i) {
    Value *loaded = entry.CreateLoad(types[i], entry.CreateStructGEP(argsTy, lf->getArg(0), i),
                                     captured[i]->getName());
    captured[i]->replaceUsesWithIf(
        loaded, [&](Use &u) { return cast<Instruction>(u.getUser())->getFunction() == lf; });
  }
  IRBuilder<> callerEntry(&caller->getEntryBlock(), caller->getEntryBlock().begin());
  Value *block = callerEntry.CreateAlloca(argsTy, nullptr, "loop.args");
  for (unsigned i = 0; i < captured.size(); ++i)
    b.CreateStore(captured[i], b.CreateStructGEP(argsTy, block, i));
  return std::make_pair(lf, block);
}

namespace {
/// The values a loop's code reads from outside it: operands of the loop and of its body's
/// ops that neither the body defines nor the loop passes in as block arguments.
std::vector<const ir::Value *> outsideValues(const ir::Op &loop) {
  std::set<const ir::Value *> defined, seen;
  walkConst(*loop.regions[0], [&](const ir::Op &inner) {
    for (auto &r : inner.results)
      defined.insert(r.get());
    for (auto &rg : inner.regions)
      for (auto &a : rg->args)
        defined.insert(a.get());
  });
  for (auto &a : loop.regions[0]->args)
    defined.insert(a.get());
  std::vector<const ir::Value *> out;
  auto add = [&](const ir::Value *v) {
    if (!defined.count(v) && seen.insert(v).second)
      out.push_back(v);
  };
  for (const ir::Value *v : loop.operands)
    add(v);
  walkConst(*loop.regions[0], [&](const ir::Op &inner) {
    for (const ir::Value *v : inner.operands)
      add(v);
  });
  return out;
}
} // namespace

// A loop whose rows are independent (rowSymbol) is emitted into its own function over a
// range of rows, [lo, hi), and handed to loom_rt_parallel_for: each thread runs every step
// for its rows, with no synchronisation per step, its products on its own rows of the
// carries and its share of the weights' reads in its own cache. Inside, dim() gives the
// range's row count for the row symbol, buffers and outside values whose first dim is that
// symbol start at row lo, and kernels and products run on the calling thread (they are
// inside a parallel region). With one thread, or too few rows to split, the function runs
// once over all rows on the caller's thread and its products and kernels split as usual.
// Values of loom_main the loop's code uses are passed in a struct.
Error Lowerer::lowerLoopRows(const ir::Op &op) {
  const std::optional<std::string> &sym = loopPlans.at(&op).rows;
  if (!sym)
    return lowerLoopSteps(op);
  auto made = rangeFunction("loop.rows", [&](Value *lo, Value *hi) {
    window = RowWindow{*sym, lo, b.CreateSub(hi, lo, "rows.n")};
    // Outside values with rows (the initial carries, the sliced sequences, anything the
    // body reads) are seen through their rows of the range while the loop is lowered.
    Error err = withOutsideNarrowed(
        op, [&](const ir::Type &t) { return rowUse(t, *sym) == RowUse::Row; },
        [&](const View &v) { return windowed(v); }, [&] { return lowerLoopSteps(op); });
    window.reset();
    return err;
  });
  if (!made)
    return made.takeError();
  bindLoopResults(op);
  // Each range is at least 8 rows (a thread's product stays a product, not a row or two);
  // every row is worth a thread, whatever the rest of the split rules.
  b.CreateCall(parallelForFn, {made->first, made->second, dim(ir::Dim::symbol(*sym)),
                               i64c(int64_t(1) << 20), i64c(8)});
  returnIfFailed();
  return Error::success();
}

// A loop over units (LoopPlan::units) is emitted into its own function over a range of
// units, [lo, hi), that every thread of a team runs (loom_rt_parallel_team). Inside, every
// value whose last dim is the units' width, buffers and outside values alike, is seen
// through its columns [lo, hi); the product computes this thread's columns of each of its
// slices from the whole carry (fullViews), with the weight's panels of those columns read
// by this core only, step after step. A barrier after the initial carries are copied and
// one after each step make each step's carry whole before the next product reads it.
Error Lowerer::lowerLoopUnits(const ir::Op &op) {
  const LoopPlan::UnitSplit &u = *loopPlans.at(&op).units;
  auto made = rangeFunction("loop.units", [&](Value *lo, Value *hi) {
    unitWindow = UnitWindow{&u, lo, b.CreateSub(hi, lo, "units.n")};
    // Outside values of the units' width are seen through their columns [lo, hi), the
    // product reading whole ones (fullViews).
    Error err = withOutsideNarrowed(
        op, [&](const ir::Type &t) { return unitWindow->splits(t); },
        [&](const View &v) { return unitWindowed(v); }, [&] { return lowerLoopSteps(op); });
    unitWindow.reset();
    return err;
  });
  if (!made)
    return made.takeError();
  // Calls and address arithmetic only (its kernels are functions of their own): not worth
  // the optimiser's time, which the JIT would spend on every model with such a loop.
  made->first->addFnAttr(Attribute::OptimizeNone);
  // Ranges of whole panels of the weight's layout (32 columns) when the units allow.
  b.CreateCall(teamFn, {made->first, made->second, i64c(u.width), i64c(32)});
  returnIfFailed(); // a product's fallback to sgemm can fail; no thread returns early
  return Error::success();
}

Error Lowerer::withOutsideNarrowed(const ir::Op &op,
                                   const std::function<bool(const ir::Type &)> &narrows,
                                   const std::function<View(const View &)> &narrow,
                                   const std::function<Error()> &lower) {
  std::map<const ir::Value *, View> outside;
  for (const ir::Value *v : outsideValues(op))
    if (narrows(v->type)) {
      outside[v] = view(v);
      fullViews[v] = outside[v];
      views[v] = narrow(outside[v]);
    }
  Error err = lower();
  fullViews.clear();
  for (auto &[v, full] : outside)
    views[v] = full;
  return err;
}

Error Lowerer::lowerLoopSteps(const ir::Op &op) {
  const LoopPlan &p = loopPlans.at(&op);
  unsigned nc = (unsigned)op.intAttr("carries"), ns = (unsigned)op.intAttr("slices");
  unsigned nstack = (unsigned)ir::loopStacks(op);
  bool until = ir::loopUntil(op);
  const ir::Block &body = *op.regions[0];
  const ir::Op *y = body.terminator();
  std::vector<View> carries, nexts(nc), stacks;
  // In a loop over units: the carries' whole buffers too, which the product reads.
  std::vector<View> fullCarries(nc), fullNexts(nc);
  for (unsigned i = 0; i < nc; ++i) {
    carries.push_back(bufferView(p.carryBuf[i]));
    copy(carries[i], view(op.operands[i]));
    views[body.args[i].get()] = carries[i];
    if (p.nextBuf[i] >= 0)
      nexts[i] = bufferView(p.nextBuf[i]);
    if (unitWindow) {
      fullCarries[i] = bufferView(p.carryBuf[i], true);
      fullViews[body.args[i].get()] = fullCarries[i];
      if (p.nextBuf[i] >= 0)
        fullNexts[i] = bufferView(p.nextBuf[i], true);
    }
  }
  for (unsigned k = 0; k < nstack; ++k)
    stacks.push_back(bufferView(p.stackBuf[k]));
  // An until loop: the steps it does not run leave zeros in its stacks; `ran` counts the
  // steps run.
  Value *ran = nullptr;
  if (until) {
    for (unsigned k = 0; k < nstack; ++k)
      emitKernel(
          {stacks[k]}, {},
          [&](IRBuilder<> &kb, const std::vector<Value *> &) -> std::vector<Value *> {
            return {Constant::getNullValue(elemType(stacks[k].dtype))};
          },
          "zero_stack");
    IRBuilder<> entry(&fn->getEntryBlock(), fn->getEntryBlock().begin());
    ran = entry.CreateAlloca(i64, nullptr, "loop.ran");
    b.CreateStore(i64c(0), ran);
  }
  bool split = unitWindow.has_value();
  if (split)
    b.CreateCall(barrierFn); // every thread's columns of the initial carries

  Value *steps = dim(op.dimAttr("steps"));
  bool reverse = op.boolAttr("reverse");
  // unroll = N (the unroll pass, --unroll=N): the body N times per iteration.
  int64_t unroll = op.hasAttr("unroll") ? std::min<int64_t>(op.intAttr("unroll"), 64) : 0;
  std::string bodyErr;
  forLoop(
      steps,
      [&](Value *s) {
        Value *t = reverse ? b.CreateSub(b.CreateSub(steps, i64c(1)), s, "t.rev") : s;
        for (unsigned j = 0; j < ns; ++j)
          views[body.args[nc + j].get()] = sliceView(view(op.operands[nc + j]), t);
        for (auto &[v, k] : p.direct)
          views[v] = sliceView(stacks[k], t);
        // Alternating carries: even steps read the first buffer and write the second.
        Value *odd = b.CreateTrunc(s, b.getInt1Ty(), "odd");
        if (split)
          unitWindow->odd = odd;
        for (unsigned i = 0; i < nc; ++i) {
          if (p.nextBuf[i] < 0)
            continue;
          View cur = carries[i], next = carries[i];
          cur.base = b.CreateSelect(odd, nexts[i].base, carries[i].base, "carry.cur");
          next.base = b.CreateSelect(odd, carries[i].base, nexts[i].base, "carry.next");
          views[body.args[i].get()] = cur;
          if (split) {
            View whole = fullCarries[i];
            whole.base = b.CreateSelect(odd, fullNexts[i].base, fullCarries[i].base, "whole.cur");
            fullViews[body.args[i].get()] = whole;
          }
          const ir::Value *v = y->operands[i];
          if (p.direct.count(v)) // stacked too: its kernel stores it into both
            extraOut[v] = next;
          else
            views[v] = next;
        }
        if (Error e = lowerBlock(body)) {
          bodyErr = toString(std::move(e));
          return;
        }
        // Stacks first: they may read a carry's value of this step.
        for (unsigned k = 0; k < nstack; ++k) {
          const ir::Value *v = y->operands[nc + k];
          auto d = p.direct.find(v);
          if (d == p.direct.end() || d->second != k)
            copy(sliceView(stacks[k], t), view(v));
        }
        std::vector<View> temps(nc);
        for (unsigned i = 0; i < nc; ++i)
          if (p.tempBuf[i] >= 0) {
            temps[i] = bufferView(p.tempBuf[i]);
            copy(temps[i], view(y->operands[i]));
          }
        for (unsigned i = 0; i < nc; ++i) {
          const ir::Value *v = y->operands[i];
          if (p.tempBuf[i] < 0 && v != body.args[i].get() && p.nextBuf[i] < 0)
            copy(carries[i], view(v));
        }
        for (unsigned i = 0; i < nc; ++i) // this loop's entries only: it may be nested
          extraOut.erase(y->operands[i]);
        for (unsigned i = 0; i < nc; ++i)
          if (p.tempBuf[i] >= 0)
            copy(carries[i], temps[i]);
        if (split)
          b.CreateCall(barrierFn); // the next step's product reads every thread's columns
        if (until)
          b.CreateStore(b.CreateAdd(s, i64c(1)), ran);
      },
      unroll >= 2 ? LoopHint::UnrollCount : LoopHint::NoUnroll, "t", (unsigned)unroll,
      until ? std::function<Value *()>([&]() -> Value * {
        Value *flag = b.CreateLoad(f32, view(y->operands.back()).base, "stop");
        return b.CreateFCmpUNE(flag, ConstantFP::get(f32, 0.0), "stop.now");
      })
            : nullptr);
  if (!bodyErr.empty())
    return fail(bodyErr);
  // After an odd number of steps the alternating carries' values are in their second
  // buffers.
  Value *count = until ? b.CreateLoad(i64, ran, "ran") : steps;
  if (std::any_of(p.nextBuf.begin(), p.nextBuf.end(), [](int buf) { return buf >= 0; }))
    ifThen(b.CreateTrunc(count, b.getInt1Ty()), [&] {
      for (unsigned i = 0; i < nc; ++i)
        if (p.nextBuf[i] >= 0)
          copy(carries[i], nexts[i]);
    });
  for (unsigned i = 0; i < nc; ++i)
    views[op.result(i)] = carries[i];
  for (unsigned k = 0; k < nstack; ++k)
    views[op.result(nc + k)] = stacks[k];
  if (until) {
    View c = bufferView(p.countBuf);
    b.CreateStore(b.CreateTrunc(count, i32), c.base);
    views[op.results.back().get()] = c;
  }
  return Error::success();
}

} // namespace loom::codegen
