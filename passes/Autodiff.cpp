// autodiff: reverse-mode differentiation as an IR-to-IR pass.
//
// differentiate(f, k) appends to f's outputs the gradient of output k (a scalar f32) with
// respect to every parameter, named "grad/<key>". The adjoint is ordinary IR placed before
// the return: it goes through the same hoisting, fusion and codegen as the forward graph.
//
// Straight-line code is differentiated op by op in reverse order, each op by its rule in
// passes/Gradients.cpp. A `loop` gets an adjoint loop that runs the other way:
//
//   forward  %C..., %Y... = loop %c0..., %S... (%c..., %s...) { ...; yield %c'..., %y... }
//   adjoint  %dc0..., %dS..., %G... = loop %dC..., %dY..., <saved>... {reverse = !reverse}
//                (%dc..., %dy..., <saved per-step>...) {
//              adjoint of the body from d(c') = dc, d(y) = dy; yield d(c)..., d(s)..., g... }
//
// The body's adjoint reads forward per-step values (gate activations, the incoming state)
// from stacks the forward loop is made to save (a new stacked output each) and slices them
// at t; a sliced input is read from its own sequence. Values the body reads from outside
// (weights, biases) get their gradients after the adjoint loop, from per-step terms it
// stacks: a bias's as a sum over the stacked axis, a weight's in a matmul as one
// transpose_lhs GEMM over all T * B rows (dW = sum_t a_t^T dz_t = A^T dZ), so that no
// weight-gradient GEMM runs per step. Nested loops work the same way, scope by scope.
#include "passes/Autodiff.h"

#include "ir/Builder.h"
#include "ir/TypeInference.h"
#include "passes/Gradients.h"
#include "passes/Passes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <tuple>
#include <unordered_set>

namespace loom::passes {

using namespace ir;

namespace {

/// Which values depend on a parameter through differentiable ops.
class Activity {
public:
  std::unordered_set<const Value *> active;

  void run(const Function &f) {
    for (unsigned i = 0; i < f.params.size(); ++i)
      if (f.param(i)->type.dtype == DType::F32)
        active.insert(f.param(i));
    block(f.body);
  }

private:
  bool is(const Value *v) const { return active.count(v) != 0; }

  void block(const Block &b) {
    for (auto &op : b.ops) {
      if (op->kind == OpKind::Loop) {
        loop(*op);
        continue;
      }
      if (!differentiable(op->kind))
        continue;
      bool any = false;
      for (Value *v : op->operands)
        any |= is(v);
      if (any)
        for (auto &r : op->results)
          if (r->type.dtype == DType::F32)
            active.insert(r.get());
    }
  }

  void loop(const Op &op) {
    size_t nc = (size_t)op.intAttr("carries");
    const Block &body = *op.regions[0];
    const Op &yield = *body.terminator();
    for (size_t i = 0; i < body.args.size(); ++i)
      if (is(op.operands[i]) && body.args[i]->type.dtype == DType::F32)
        active.insert(body.args[i].get());
    for (;;) {
      size_t before = active.size();
      block(body);
      for (size_t i = 0; i < nc; ++i)
        if (is(yield.operands[i]) && body.args[i]->type.dtype == DType::F32)
          active.insert(body.args[i].get());
      if (active.size() == before)
        break;
    }
    for (size_t i = 0; i < op.results.size(); ++i)
      if (is(yield.operands[i]) || (i < nc && is(body.args[i].get())))
        active.insert(op.result(i));
  }
};

/// One level of differentiation: the function body, or the body of a forward loop whose
/// adjoint loop is being built.
struct Scope {
  Scope *parent = nullptr;
  Block *fwdBody = nullptr; // the forward block this scope differentiates
  Op *fwdLoop = nullptr;    // its loop (null for the function body)
  Op *revLoop = nullptr;    // the adjoint loop (null for the function body)
  Builder b{nullptr};       // where adjoint ops go
  std::unordered_map<const Value *, Value *> adj;
  std::unordered_map<const Value *, Value *> fwdMemo; // forward value -> readable copy here
  std::unordered_map<const Value *, Value *> seqMemo; // forward value -> its stacked sequence
  /// Gradient terms of values from outside the forward loop, one per step, summed after
  /// the adjoint loop. With `lhsSeq`, the term is matmul_tl(lhs_t, perStep) for a weight.
  struct Term {
    Value *target;
    Value *perStep;
    Value *lhsSeq = nullptr;
    bool swap = false; // matmul_tl(perStep_t, lhs_t) instead (a transpose_rhs weight)
  };
  std::vector<Term> deferred;
  /// Gradients of slices of a value, combined into one concat when the value's adjoint is
  /// read (split(z, 4)'s four gate gradients become one concat, not four zero-padded ones
  /// added up).
  struct Piece {
    int64_t axis, start;
    Value *g;
  };
  std::unordered_map<const Value *, std::vector<Piece>> pieces;

  bool local(const Value *v) const {
    return v->def ? v->def->parent == fwdBody : v->owner == fwdBody;
  }
};

class Differentiator : public GradContext {
public:
  Differentiator(Function &f) : f_(f) {}

  llvm::Error run(unsigned lossIndex);

  // --- GradContext ---
  Value *fwd(Value *v) override { return fwdIn(*cur_, v); }
  Value *emit(OpKind k, std::vector<Value *> operands, std::map<std::string, Attr> attrs) override {
    auto r = cur_->b.value(k, std::move(operands), std::move(attrs));
    if (!r) {
      noteError(r.takeError());
      return cur_->b.fill(0.0, Type{DType::F32, {}});
    }
    return *r;
  }
  Value *emitTyped(OpKind k, std::vector<Value *> operands, Type t,
                   std::map<std::string, Attr> attrs) override {
    return cur_->b.create(k, std::move(operands), {std::move(t)}, std::move(attrs))->result();
  }
  Value *constant(double v, Type t) override { return cur_->b.fill(v, std::move(t)); }
  bool active(const Value *v) const override { return act_.active.count(v) != 0; }
  void addGrad(Value *target, Value *g) override { addGradIn(*cur_, target, g); }
  void addMatmulRhsGrad(Value *w, Value *lhs, Value *g, bool transposed) override;
  void addSliceGrad(Value *target, Value *g, int64_t axis, int64_t start) override;
  void fail(const Op &op, const std::string &msg) override {
    noteError(llvm::make_error<LocatedError>(op.loc, msg));
  }

private:
  Function &f_;
  Activity act_;
  Scope *cur_ = nullptr;
  llvm::Error err_ = llvm::Error::success();

  void noteError(llvm::Error e) {
    if (err_)
      llvm::consumeError(std::move(e));
    else
      err_ = std::move(e);
  }

  Value *fwdIn(Scope &s, Value *v);
  Value *sequenceOf(Scope &s, Value *v);
  void addGradIn(Scope &s, Value *target, Value *g);
  Value *unbroadcast(Scope &s, Value *g, const Type &t);
  /// The adjoint of `v` in scope `s` so far (null if none), slices' pieces combined.
  Value *adjointOf(Scope &s, const Value *v);
  /// g, the gradient of a slice at `start` along `axis`, padded with zeros to `t`.
  Value *padSlice(const Type &t, Value *g, int64_t axis, int64_t start);
  /// Differentiates s.fwdBody's first `n` ops, last first (adjoint ops may follow them).
  llvm::Error differentiateBlock(Scope &s, size_t n);
  llvm::Error loopAdjoint(Scope &s, Op &loop);
};

Value *Differentiator::fwdIn(Scope &s, Value *v) {
  if (!s.fwdLoop || !s.local(v))
    return s.parent ? fwdIn(*s.parent, v) : v;
  auto it = s.fwdMemo.find(v);
  if (it != s.fwdMemo.end())
    return it->second;
  // Every op of the body reads the step (run() moved the others before the loop), so a
  // per-step value is saved by the forward loop and read back at its step.
  assert(!(v->def && v->def->regions.empty() &&
           std::none_of(v->def->operands.begin(), v->def->operands.end(),
                        [&](const Value *o) { return s.local(o); })) &&
         "loop-invariant ops are moved out before differentiating");
  Value *seq = sequenceOf(s, v);
  Block &rb = *s.revLoop->regions[0];
  Value *r = rb.addArg(sliceType(seq->type), v->name);
  s.revLoop->operands.push_back(seq);
  s.revLoop->attrs["slices"] = s.revLoop->intAttr("slices") + 1;
  return s.fwdMemo[v] = r;
}

Value *Differentiator::sequenceOf(Scope &s, Value *v) {
  auto it = s.seqMemo.find(v);
  if (it != s.seqMemo.end())
    return it->second;
  Op &loop = *s.fwdLoop;
  size_t nc = (size_t)loop.intAttr("carries");
  Value *full;
  Op &yield = *s.fwdBody->terminator();
  if (!v->def && v->owner == s.fwdBody && v->index >= nc) {
    full = loop.operands[v->index]; // a slice: its sequence
  } else {
    // A value the loop already stacks (a layer's return_sequences output) is not saved twice.
    full = nullptr;
    for (size_t i = nc; i < yield.operands.size() && !full; ++i)
      if (yield.operands[i] == v)
        full = loop.result(i);
    if (!full) {
      yield.operands.push_back(v);
      full = loop.addResult(stackType(v->type, loop.dimAttr("steps")),
                            v->name.empty() ? "" : v->name + "_saved");
    }
  }
  Value *r = s.parent ? fwdIn(*s.parent, full) : full;
  return s.seqMemo[v] = r;
}

Value *Differentiator::unbroadcast(Scope &s, Value *g, const Type &t) {
  Scope *saved = cur_;
  cur_ = &s;
  while (g->type.rank() > t.rank())
    g = emit(OpKind::ReduceSum, {g}, {{"axis", (int64_t)0}, {"keepdims", false}});
  for (int64_t k = 0; k < t.rank(); ++k) {
    const Dim &d = t.shape[k];
    if (d.isStatic() && d.value() == 1 && g->type.shape[k] != d)
      g = emit(OpKind::ReduceSum, {g}, {{"axis", k}, {"keepdims", true}});
  }
  cur_ = saved;
  return g;
}

void Differentiator::addGradIn(Scope &s, Value *target, Value *g) {
  if (!act_.active.count(target))
    return;
  if (s.fwdLoop && !s.local(target)) {
    s.deferred.push_back({target, g});
    return;
  }
  g = unbroadcast(s, g, target->type);
  if (g->type.shape != target->type.shape) {
    noteError(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                      "internal error: autodiff: gradient %s does not fit %s",
                                      g->type.str().c_str(), target->type.str().c_str()));
    return;
  }
  auto it = s.adj.find(target);
  if (it == s.adj.end()) {
    s.adj[target] = g;
    return;
  }
  Scope *saved = cur_;
  cur_ = &s;
  it->second = emit(OpKind::Add, {it->second, g}, {});
  cur_ = saved;
}

void Differentiator::addMatmulRhsGrad(Value *w, Value *lhs, Value *g, bool transposed) {
  if (!act_.active.count(w))
    return;
  Scope &s = *cur_;
  // A weight from outside the loop times a per-step value: one GEMM after the loop.
  if (s.fwdLoop && !s.local(w) && s.local(lhs)) {
    s.deferred.push_back({w, g, sequenceOf(s, lhs), transposed});
    return;
  }
  Value *a = fwd(lhs);
  Value *dw = transposed ? emit(OpKind::MatMul, {g, a}, {{"transpose_lhs", true}})
                         : emit(OpKind::MatMul, {a, g}, {{"transpose_lhs", true}});
  addGrad(w, dw);
}

void Differentiator::addSliceGrad(Value *target, Value *g, int64_t axis, int64_t start) {
  if (!act_.active.count(target))
    return;
  Scope &s = *cur_;
  if (s.fwdLoop && !s.local(target)) {
    addGrad(target, padSlice(target->type, g, axis, start));
    return;
  }
  s.pieces[target].push_back({axis, start, g});
}

Value *Differentiator::padSlice(const Type &t, Value *g, int64_t axis, int64_t start) {
  std::vector<Value *> parts;
  auto zeros = [&](Dim d) {
    Type z = t;
    z.shape[axis] = d;
    return constant(0.0, z);
  };
  if (start)
    parts.push_back(zeros(Dim::constant(start)));
  parts.push_back(g);
  Dim after = t.shape[axis] - Dim::constant(start) - g->type.shape[axis];
  if (!(after.isStatic() && after.value() == 0))
    parts.push_back(zeros(after));
  return parts.size() == 1 ? g : emit(OpKind::Concat, parts, {{"axis", axis}});
}

Value *Differentiator::adjointOf(Scope &s, const Value *v) {
  auto pit = s.pieces.find(v);
  if (pit != s.pieces.end()) {
    std::vector<Scope::Piece> ps = std::move(pit->second);
    s.pieces.erase(pit);
    Scope *saved = cur_;
    cur_ = &s;
    std::sort(ps.begin(), ps.end(), [](const Scope::Piece &a, const Scope::Piece &b) {
      return std::tie(a.axis, a.start) < std::tie(b.axis, b.start);
    });
    bool tiles = true; // one axis, no overlaps: one concat with zeros in the gaps
    for (size_t i = 1; i < ps.size(); ++i)
      tiles &= ps[i].axis == ps[0].axis &&
               ps[i].start >= ps[i - 1].start + ps[i - 1].g->type.shape[ps[0].axis].value();
    Value *total = nullptr;
    if (tiles) {
      int64_t axis = ps[0].axis, at = 0;
      std::vector<Value *> parts;
      Type z = v->type;
      for (auto &p : ps) {
        if (p.start > at) {
          z.shape[axis] = Dim::constant(p.start - at);
          parts.push_back(constant(0.0, z));
        }
        parts.push_back(p.g);
        at = p.start + p.g->type.shape[axis].value();
      }
      Dim after = v->type.shape[axis] - Dim::constant(at);
      if (!(after.isStatic() && after.value() == 0)) {
        z.shape[axis] = after;
        parts.push_back(constant(0.0, z));
      }
      total = parts.size() == 1 ? parts[0] : emit(OpKind::Concat, parts, {{"axis", axis}});
    } else {
      for (auto &p : ps) {
        Value *g = padSlice(v->type, p.g, p.axis, p.start);
        total = total ? emit(OpKind::Add, {total, g}, {}) : g;
      }
    }
    cur_ = saved;
    addGradIn(s, const_cast<Value *>(v), total);
  }
  auto it = s.adj.find(v);
  return it == s.adj.end() ? nullptr : it->second;
}

llvm::Error Differentiator::differentiateBlock(Scope &s, size_t n) {
  Scope *saved = cur_;
  cur_ = &s;
  auto &ops = s.fwdBody->ops;
  for (size_t i = n; i-- > 0;) {
    Op &op = *ops[i];
    if (op.kind == OpKind::Return || op.kind == OpKind::Yield)
      continue;
    std::vector<Value *> dres;
    bool any = false;
    for (auto &r : op.results) {
      dres.push_back(adjointOf(s, r.get()));
      any |= dres.back() != nullptr;
    }
    if (!any)
      continue;
    if (op.kind == OpKind::Loop) {
      if (auto e = loopAdjoint(s, op))
        return e;
    } else {
      gradient(*this, op, dres);
    }
    if (err_)
      return std::move(err_);
  }
  cur_ = saved;
  return llvm::Error::success();
}

llvm::Error Differentiator::loopAdjoint(Scope &outer, Op &loop) {
  if (loopUntil(loop))
    return llvm::make_error<LocatedError>(
        loop.loc, "a generation loop (generate) has no gradient: train the step on the "
                  "targets (teacher forcing) in a model of its own");
  size_t nc = (size_t)loop.intAttr("carries");
  Block &body = *loop.regions[0];
  Op &yield = *body.terminator();
  size_t nstack = loop.results.size() - nc; // before any saved stacks are added

  // Every result's adjoint is complete (all its uses come later): combine slice pieces now,
  // before the adjoint loop is created, so that the ops doing it come before it.
  for (auto &r : loop.results)
    adjointOf(outer, r.get());
  // Carries of the adjoint loop: one per active carry, starting from d(final carry).
  std::vector<size_t> carries;
  std::vector<Value *> inits;
  for (size_t i = 0; i < nc; ++i) {
    if (!act_.active.count(body.args[i].get()))
      continue;
    carries.push_back(i);
    Value *d = adjointOf(outer, loop.result(i));
    inits.push_back(d ? d : outer.b.fill(0.0, loop.result(i)->type));
  }
  Op *rev = outer.b.create(OpKind::Loop, inits, {},
                           {{"carries", (int64_t)carries.size()},
                            {"slices", (int64_t)0},
                            {"steps", loop.dimAttr("steps")},
                            {"reverse", !loop.boolAttr("reverse")}});
  rev->loc = loop.loc;
  Block &rb = *rev->addRegion();
  Scope s;
  s.parent = &outer;
  s.fwdBody = &body;
  s.fwdLoop = &loop;
  s.revLoop = rev;
  s.b.setBlock(&rb);
  s.b.setLoc(loop.loc);
  std::vector<Value *> dc;
  for (size_t k = 0; k < carries.size(); ++k)
    dc.push_back(rb.addArg(inits[k]->type, "d_" + body.args[carries[k]]->name));
  // Stacked outputs with an adjoint are read per step.
  std::vector<std::pair<size_t, Value *>> dy;
  for (size_t k = 0; k < nstack; ++k) {
    Value *d = outer.adj.count(loop.result(nc + k)) ? outer.adj[loop.result(nc + k)] : nullptr;
    if (!d)
      continue;
    Value *a = rb.addArg(sliceType(d->type), "dy");
    rev->operands.push_back(d);
    rev->attrs["slices"] = rev->intAttr("slices") + 1;
    dy.push_back({k, a});
  }
  Scope *saved = cur_;
  cur_ = &s;
  for (size_t k = 0; k < carries.size(); ++k)
    addGrad(yield.operands[carries[k]], dc[k]);
  for (auto [k, a] : dy)
    addGrad(yield.operands[nc + k], a);
  cur_ = saved;
  if (auto e = differentiateBlock(s, body.ops.size()))
    return e;
  cur_ = &s;

  // yield d(carry)..., d(slice)..., deferred terms...
  std::vector<Value *> outs;
  for (size_t k = 0; k < carries.size(); ++k) {
    Value *a = body.args[carries[k]].get();
    Value *d = adjointOf(s, a);
    outs.push_back(d ? d : constant(0.0, a->type));
  }
  std::vector<std::pair<Value *, size_t>> sliceGrads; // (forward sequence, result index)
  size_t nsl = (size_t)loop.intAttr("slices");
  for (size_t j = 0; j < nsl; ++j) {
    Value *a = body.args[nc + j].get();
    Value *d = adjointOf(s, a);
    if (!d)
      continue;
    sliceGrads.push_back({loop.operands[nc + j], outs.size()});
    outs.push_back(d);
  }
  // Each per-step term is stacked once, however many weights need it (the dz of a layer's
  // pre-activation feeds the gradients of its kernel, recurrent kernel and bias).
  std::vector<size_t> termIndex;
  size_t termStart = outs.size();
  for (auto &t : s.deferred) {
    size_t at = outs.size();
    for (size_t i = termStart; i < outs.size(); ++i)
      if (outs[i] == t.perStep)
        at = i;
    if (at == outs.size())
      outs.push_back(t.perStep);
    termIndex.push_back(at);
  }
  s.b.create(OpKind::Yield, outs, {});
  const Dim &steps = loop.dimAttr("steps");
  for (size_t i = 0; i < outs.size(); ++i)
    rev->addResult(i < carries.size() ? outs[i]->type : stackType(outs[i]->type, steps),
                   i < carries.size() ? dc[i]->name + "0" : "");
  cur_ = &outer;
  for (size_t k = 0; k < carries.size(); ++k)
    addGrad(loop.operands[carries[k]], rev->result(k));
  for (auto [seq, idx] : sliceGrads)
    addGrad(seq, rev->result(idx));
  for (size_t i = 0; i < s.deferred.size(); ++i) {
    auto &t = s.deferred[i];
    Value *stacked = rev->result(termIndex[i]);
    if (t.lhsSeq) {
      Value *dw = t.swap ? emit(OpKind::MatMul, {stacked, t.lhsSeq}, {{"transpose_lhs", true}})
                         : emit(OpKind::MatMul, {t.lhsSeq, stacked}, {{"transpose_lhs", true}});
      addGrad(t.target, dw);
    } else {
      addGrad(t.target,
              emit(OpKind::ReduceSum, {stacked}, {{"axis", (int64_t)1}, {"keepdims", false}}));
    }
  }
  cur_ = saved;
  if (err_)
    return std::move(err_);
  return llvm::Error::success();
}

llvm::Error Differentiator::run(unsigned lossIndex) {
  Op *ret = f_.returnOp();
  if (!ret || ret->kind != OpKind::Return || lossIndex >= ret->operands.size())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "autodiff: the function has no output %u", lossIndex);
  Value *loss = ret->operands[lossIndex];
  if (loss->type.dtype != DType::F32 || loss->type.rank() != 0)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "autodiff: the loss must be a scalar f32[], got %s",
                                   loss->type.str().c_str());
  // A per-step value computed only from outside values (the GRU's bias rows, sliced and
  // reshaped in the body) would get its gradient summed over the rows at every step of the
  // adjoint loop, which then cannot run over ranges of rows. Outside the loop, its gradient
  // is a per-step term like a weight's, summed after the adjoint loop.
  moveLoopInvariantOps(f_.body);
  act_.run(f_);
  std::unique_ptr<Op> retOp = std::move(f_.body.ops.back());
  f_.body.ops.pop_back();
  Scope top;
  top.fwdBody = &f_.body;
  top.b.setBlock(&f_.body);
  top.b.setLoc(retOp->loc);
  cur_ = &top;
  if (act_.active.count(loss))
    top.adj[loss] = top.b.fill(1.0, loss->type);
  if (auto e = differentiateBlock(top, f_.body.ops.size()))
    return e;
  for (unsigned i = 0; i < f_.params.size(); ++i) {
    Value *p = f_.param(i);
    Value *d = adjointOf(top, p);
    retOp->operands.push_back(d ? d : top.b.fill(0.0, p->type));
    f_.outputNames.push_back("grad/" + f_.params[i].key);
  }
  retOp->parent = &f_.body;
  f_.body.ops.push_back(std::move(retOp));
  return llvm::Error::success();
}

} // namespace

llvm::Error differentiate(ir::Function &f, unsigned lossIndex) {
  Differentiator d(f);
  return d.run(lossIndex);
}

llvm::Expected<bool> autodiff(ir::Module &m) {
  if (!m.main())
    return false;
  if (auto e = differentiate(*m.main(), 0))
    return std::move(e);
  return true;
}

} // namespace loom::passes
