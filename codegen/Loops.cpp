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

} // namespace

// A GEMM needs a unit column stride, which a rank-1 view into other storage does not have;
// one over the rows (transpose_lhs) writes its result with the row stride of the view.
bool writesThroughView(const ir::Op &op) {
  ir::FusionKind k = ir::opInfo(op.kind).kind;
  if (op.kind == ir::OpKind::MatMul)
    return op.result()->type.rank() >= 2;
  return k == ir::FusionKind::Elementwise || k == ir::FusionKind::Source ||
         op.kind == ir::OpKind::Reverse || op.kind == ir::OpKind::Fused ||
         op.kind == ir::OpKind::Concat;
}

Error Lowerer::planLoop(const ir::Op &op) {
  if (!op.hasAttr("carries") || !op.hasAttr("slices"))
    return fail("loop: missing 'carries' or 'slices' attribute");
  int64_t nc = op.intAttr("carries"), ns = op.intAttr("slices");
  if (op.regions.size() != 1)
    return fail("loop: expected one region");
  const ir::Block &body = *op.regions[0];
  const ir::Op *y = body.terminator();
  int64_t nstack = (int64_t)op.results.size() - nc;
  if (nc < 0 || ns < 0 || nstack < 0 || (int64_t)op.operands.size() != nc + ns ||
      (int64_t)body.args.size() != nc + ns || !y || y->kind != ir::OpKind::Yield ||
      (int64_t)y->operands.size() != nc + nstack)
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
  if (Error e = plan(body))
    return e;
  p.rows = rowSymbol(op);
  walkConst(body, [&](const ir::Op &inner) {
    auto it = matmulCopies.find(&inner);
    if (it != matmulCopies.end() && it->second.second >= 0)
      p.rows.reset(); // a copy of the weight: one buffer written by every range
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

// A loop whose rows are independent (rowSymbol) is emitted into its own function over a
// range of rows, [lo, hi), and handed to loom_rt_parallel_for: each thread runs every step
// for its rows, with no synchronisation per step, its products on its own rows of the
// carries and its share of the weights' reads in its own cache. Inside, dim() gives the
// range's row count for the row symbol, buffers and outside values whose first dim is that
// symbol start at row lo, and kernels and products run on the calling thread (they are
// inside a parallel region). With one thread, or too few rows to split, the function runs
// once over all rows on the caller's thread and its products and kernels split as usual.
// Values of loom_main the loop's code uses are passed in a struct.
Error Lowerer::lowerLoop(const ir::Op &op) {
  const std::optional<std::string> &sym = loopPlans.at(&op).rows;
  if (!sym || window)
    return lowerLoopSteps(op);

  Function *caller = fn;
  Function *lf = Function::Create(FunctionType::get(b.getVoidTy(), {ptr, i64, i64}, false),
                                  GlobalValue::InternalLinkage, "loop.rows", mod);
  lf->addFnAttr(Attribute::NoUnwind);
  lf->addFnAttr(Attribute::NoInline);
  IRBuilderBase::InsertPoint callerIP = b.saveIP();
  fn = lf;
  b.SetInsertPoint(BasicBlock::Create(ctx, "entry", lf));
  window = RowWindow{*sym, lf->getArg(1), b.CreateSub(lf->getArg(2), lf->getArg(1), "rows.n")};
  // Outside values with rows (the initial carries, the sliced sequences, anything the
  // body reads) are seen through their rows of the range while the loop is lowered.
  std::map<const ir::Value *, View> outside;
  std::set<const ir::Value *> defined;
  walkConst(*op.regions[0], [&](const ir::Op &inner) {
    for (auto &r : inner.results)
      defined.insert(r.get());
    for (auto &rg : inner.regions)
      for (auto &a : rg->args)
        defined.insert(a.get());
  });
  for (auto &a : op.regions[0]->args)
    defined.insert(a.get());
  auto bindOutside = [&](const ir::Value *v) {
    if (defined.count(v) || outside.count(v) || rowUse(v->type, *sym) != RowUse::Row)
      return;
    outside[v] = view(v);
    views[v] = windowed(outside[v]);
  };
  for (const ir::Value *v : op.operands)
    bindOutside(v);
  walkConst(*op.regions[0], [&](const ir::Op &inner) {
    for (const ir::Value *v : inner.operands)
      bindOutside(v);
  });
  Error err = lowerLoopSteps(op);
  b.CreateRetVoid();
  window.reset();
  for (auto &[v, full] : outside)
    views[v] = full;
  fn = caller;
  b.restoreIP(callerIP);
  if (err) {
    lf->eraseFromParent();
    return err;
  }
  // The results are the whole buffers.
  const LoopPlan &p = loopPlans.at(&op);
  unsigned nc = (unsigned)op.intAttr("carries");
  for (unsigned i = 0; i < nc; ++i)
    views[op.result(i)] = bufferView(p.carryBuf[i]);
  for (unsigned k = 0; k < p.stackBuf.size(); ++k)
    views[op.result(nc + k)] = bufferView(p.stackBuf[k]);

  // Every value of loom_main the function's code uses becomes a field of its argument
  // struct, loaded on entry.
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
  IRBuilder<> callerEntry(&fn->getEntryBlock(), fn->getEntryBlock().begin());
  Value *block = callerEntry.CreateAlloca(argsTy, nullptr, "loop.args");
  for (unsigned i = 0; i < captured.size(); ++i)
    b.CreateStore(captured[i], b.CreateStructGEP(argsTy, block, i));
  // Each range is at least 8 rows (a thread's product stays a product, not a row or two);
  // every row is worth a thread, whatever the rest of the split rules.
  b.CreateCall(parallelForFn,
               {lf, block, dim(ir::Dim::symbol(*sym)), i64c(int64_t(1) << 20), i64c(8)});
  returnIfFailed();
  return Error::success();
}

Error Lowerer::lowerLoopSteps(const ir::Op &op) {
  const LoopPlan &p = loopPlans.at(&op);
  unsigned nc = (unsigned)op.intAttr("carries"), ns = (unsigned)op.intAttr("slices");
  unsigned nstack = op.results.size() - nc;
  const ir::Block &body = *op.regions[0];
  const ir::Op *y = body.terminator();
  std::vector<View> carries, nexts(nc), stacks;
  for (unsigned i = 0; i < nc; ++i) {
    carries.push_back(bufferView(p.carryBuf[i]));
    copy(carries[i], view(op.operands[i]));
    views[body.args[i].get()] = carries[i];
    if (p.nextBuf[i] >= 0)
      nexts[i] = bufferView(p.nextBuf[i]);
  }
  for (unsigned k = 0; k < nstack; ++k)
    stacks.push_back(bufferView(p.stackBuf[k]));

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
        for (unsigned i = 0; i < nc; ++i) {
          if (p.nextBuf[i] < 0)
            continue;
          View cur = carries[i], next = carries[i];
          cur.base = b.CreateSelect(odd, nexts[i].base, carries[i].base, "carry.cur");
          next.base = b.CreateSelect(odd, carries[i].base, nexts[i].base, "carry.next");
          views[body.args[i].get()] = cur;
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
      },
      unroll >= 2 ? LoopHint::UnrollCount : LoopHint::NoUnroll, "t", (unsigned)unroll);
  if (!bodyErr.empty())
    return fail(bodyErr);
  // After an odd number of steps the alternating carries' values are in their second
  // buffers.
  if (std::any_of(p.nextBuf.begin(), p.nextBuf.end(), [](int buf) { return buf >= 0; }))
    ifThen(b.CreateTrunc(steps, b.getInt1Ty()), [&] {
      for (unsigned i = 0; i < nc; ++i)
        if (p.nextBuf[i] >= 0)
          copy(carries[i], nexts[i]);
    });
  for (unsigned i = 0; i < nc; ++i)
    views[op.result(i)] = carries[i];
  for (unsigned k = 0; k < nstack; ++k)
    views[op.result(nc + k)] = stacks[k];
  return Error::success();
}

} // namespace loom::codegen
