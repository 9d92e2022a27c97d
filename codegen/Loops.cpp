// The `loop` op (semantics in ir/IR.h). Carries live in their own buffers: inits are
// copied in before the loop, yielded values copied in after the whole body of a step has
// run. A yielded value that is another carry's block argument goes through a temporary, so
// permutations of the carries (a, b) -> (b, a) are right. Slices are views into the
// sequence at t (no copy). A stacked value defined by a simple op of the body is written by
// that op straight into the stacked result at t; any other stacked value is copied there.
#include "codegen/Lowering.h"

using namespace llvm;

namespace loom::codegen {
namespace {

Error fail(const Twine &msg) { return createStringError(inconvertibleErrorCode(), msg); }

/// Ops that can write their result through the view of a stack slot at t. A GEMM needs a
/// unit column stride, which a stacked rank-1 value does not have.
bool writesThroughView(const ir::Op &op) {
  ir::FusionKind k = ir::opInfo(op.kind).kind;
  if (op.kind == ir::OpKind::MatMul)
    return op.result()->type.rank() >= 2;
  return k == ir::FusionKind::Elementwise || k == ir::FusionKind::Source ||
         op.kind == ir::OpKind::Reverse;
}

} // namespace

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
  if (Error e = plan(body))
    return e;
  // After the body is planned, views are known: a yielded value whose storage is a carry
  // buffer (a carry's block argument, or a view of one) goes through a temporary unless it
  // is this carry itself, unchanged.
  for (int64_t i = 0; i < nc; ++i) {
    const ir::Value *v = y->operands[i], *root = rootOf(v);
    bool inCarry = !root->def && root->owner == &body && (int64_t)root->index < nc;
    p.tempBuf.push_back(inCarry && v != body.args[i].get() ? newBuffer(v->type) : -1);
  }
  return Error::success();
}

Error Lowerer::lowerLoop(const ir::Op &op) {
  const LoopPlan &p = loopPlans.at(&op);
  unsigned nc = (unsigned)op.intAttr("carries"), ns = (unsigned)op.intAttr("slices");
  unsigned nstack = op.results.size() - nc;
  const ir::Block &body = *op.regions[0];
  const ir::Op *y = body.terminator();
  std::vector<View> carries, stacks;
  for (unsigned i = 0; i < nc; ++i) {
    carries.push_back(bufferView(p.carryBuf[i]));
    copy(carries[i], view(op.operands[i]));
    views[body.args[i].get()] = carries[i];
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
          if (p.tempBuf[i] < 0 && v != body.args[i].get())
            copy(carries[i], view(v));
        }
        for (unsigned i = 0; i < nc; ++i)
          if (p.tempBuf[i] >= 0)
            copy(carries[i], temps[i]);
      },
      unroll >= 2 ? LoopHint::UnrollCount : LoopHint::NoUnroll, "t", (unsigned)unroll);
  if (!bodyErr.empty())
    return fail(bodyErr);
  for (unsigned i = 0; i < nc; ++i)
    views[op.result(i)] = carries[i];
  for (unsigned k = 0; k < nstack; ++k)
    views[op.result(nc + k)] = stacks[k];
  return Error::success();
}

} // namespace loom::codegen
