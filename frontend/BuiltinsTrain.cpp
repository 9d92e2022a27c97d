// Builtins for training, used by the prelude's losses, metrics and training-mode layers:
// reductions to a loss, target checks, the masked loss mean, regularizers, and what exists
// only in the training step (training(), random_uniform, assign, batch statistics).
#include "frontend/BuiltinArgs.h"

#include <fmt/format.h>

namespace loom::frontend {

namespace {

// ---------------------------------------------------------------------------------------
// Losses and metrics (the prelude's loss functions are built from these)

/// expect_target(y, t, loss): a loss's target must have the output's shape (or, with
/// sparse=true, its shape without the last axis, as i32 labels). Keras would broadcast a
/// [B] target against a [B, 1] output into [B, B]; loom refuses instead.
llvm::Expected<Val> expectTargetBuiltin(Elaborator &el, const BoundArgs &a) {
  auto y = tensorArg(el, a, "y", "expect_target");
  if (!y)
    return y.takeError();
  auto t = tensorArg(el, a, "target", "expect_target");
  if (!t)
    return t.takeError();
  std::string loss = a["loss"].kind == Val::Kind::Str ? a["loss"].s : "the loss";
  bool sparse = a["sparse"].kind == Val::Kind::Bool && a["sparse"].b;
  const ir::Type &yt = (*y)->type, &tt = (*t)->type;
  if (yt.dtype != ir::DType::F32)
    return el.fail(a.callLoc, fmt::format("{} needs a float output, got {}", loss, yt.str()));
  if (sparse) {
    std::vector<ir::Dim> want(yt.shape.begin(), yt.shape.end() - (yt.rank() ? 1 : 0));
    if (tt.dtype != ir::DType::I32 || tt.shape != want)
      return el.fail(a.callLoc,
                     fmt::format("{}: the labels must be {} for an output of shape {}, got {}",
                                 loss, ir::Type{ir::DType::I32, want}.str(), yt.str(), tt.str()));
    if (yt.rank() && yt.shape.back().isStatic())
      el.noteLabels(*t, yt.shape.back().value());
    return Val::none();
  }
  if (tt.dtype != ir::DType::F32 || tt.shape != yt.shape)
    return el.fail(a.callLoc, fmt::format("{}: the target must have the output's shape {}, got {}",
                                          loss, yt.str(), tt.str()));
  return Val::none();
}

/// loss_mean(v, like): the mean of per-element losses `v` whose leading dims are those of
/// the output `like`. When `like` carries a sequence mask (lengths, mask_zero), steps that
/// do not count are left out: sum(v * mask) / (count of steps that count * elements per
/// step), Keras's masked sum_over_batch_size.
llvm::Expected<Val> lossMeanBuiltin(Elaborator &el, const BoundArgs &a) {
  auto v = tensorArg(el, a, "v", "loss_mean");
  if (!v)
    return v.takeError();
  const Val &like = a["like"];
  ir::Value *mask = like.isTensor() ? like.mask : nullptr;
  if (!mask || (*v)->type.rank() < 2)
    return el.reduceLeading(*v, ir::OpKind::ReduceMean, a.callLoc);
  // mask f32[B, T, 1] -> f32[B, T, 1, ..., 1] to broadcast over v's trailing dims.
  ir::Value *m = mask;
  int64_t rank = (*v)->type.rank();
  ir::Dim perStep = ir::Dim::constant(1);
  for (int64_t k = 2; k < rank; ++k)
    perStep = perStep * (*v)->type.shape[k];
  if (rank != 3) {
    ir::Type mt{ir::DType::F32, {mask->type.shape[0], mask->type.shape[1]}};
    mt.shape.resize(rank, ir::Dim::constant(1));
    m = el.builder().create(ir::OpKind::Reshape, {mask}, {mt})->result();
  }
  auto wv = el.tensorOp(ir::OpKind::Mul, {*v, m}, a.callLoc, "cannot mask the loss");
  if (!wv)
    return wv.takeError();
  auto num = el.reduceLeading(wv->tensor, ir::OpKind::ReduceSum, a.callLoc);
  if (!num)
    return num.takeError();
  auto den = el.reduceLeading(mask, ir::OpKind::ReduceSum, a.callLoc);
  if (!den)
    return den.takeError();
  ir::Value *d = den->tensor;
  if (!(perStep.isStatic() && perStep.value() == 1)) {
    if (!perStep.isStatic())
      return el.fail(a.callLoc, "a masked loss needs the per-step size known when compiling");
    auto dd = el.tensorOp(ir::OpKind::Mul, {d, el.scalar((double)perStep.value(), ir::DType::F32)},
                          a.callLoc, "cannot mask the loss");
    if (!dd)
      return dd.takeError();
    d = dd->tensor;
  }
  // max(count, 1): a batch with no step that counts has loss 0, not NaN.
  auto safe = el.tensorOp(ir::OpKind::Max, {d, el.scalar(1.0, ir::DType::F32)}, a.callLoc,
                          "cannot mask the loss");
  if (!safe)
    return safe.takeError();
  return el.tensorOp(ir::OpKind::Div, {num->tensor, safe->tensor}, a.callLoc,
                     "cannot mask the loss");
}

// ---------------------------------------------------------------------------------------
// Training mode (dropout, batch_norm)

llvm::Expected<Val> trainingBuiltin(Elaborator &el, const BoundArgs &) {
  return Val::boolean(el.training());
}

/// random_uniform(like): f32 uniform in [0, 1) of like's shape (a tensor, or a list of sizes),
/// from the rng_key input and a stream of its own. Only in training: inference is
/// deterministic.
llvm::Expected<Val> randomUniformBuiltin(Elaborator &el, const BoundArgs &a) {
  if (!el.training())
    return el.fail(a.callLoc, "random_uniform is only available when training (use it inside "
                              "`if training() { ... }`)");
  const Val &like = a["like"];
  ir::Type t{ir::DType::F32, {}};
  if (like.isTensor()) {
    t.shape = like.tensor->type.shape;
  } else {
    auto dims = shapeArg(el, a, "like");
    if (!dims)
      return dims.takeError();
    t.shape = *dims;
  }
  return Val::of(
      el.builder()
          .create(ir::OpKind::RandomUniform, {el.rngKey()}, {t}, {{"stream", el.nextStream()}})
          ->result(0));
}

/// assign(weight, value): the training step's new value of a weight the optimizer does not
/// train (batch_norm's moving statistics); an output update/<key> of the training function.
llvm::Expected<Val> assignBuiltin(Elaborator &el, const BoundArgs &a) {
  if (!el.training())
    return el.fail(a.callLoc, "assign is only available when training (use it inside `if "
                              "training() { ... }`)");
  auto w = tensorArg(el, a, "weight", "assign");
  if (!w)
    return w.takeError();
  auto v = tensorArg(el, a, "value", "assign");
  if (!v)
    return v.takeError();
  ir::Function &f = el.function();
  if ((*w)->def || (*w)->owner != &f.body || (*w)->index < f.numInputs)
    return el.fail(a.locs.at("weight"),
                   "assign needs a weight made by param(...), e.g. assign(moving_mean, m)");
  if ((*v)->type != (*w)->type)
    return el.fail(a.locs.at("value"),
                   fmt::format("assign: the weight is {} but the new value is {}", (*w)->type.str(),
                               (*v)->type.str()));
  const ir::Block *where = (*v)->def ? (*v)->def->parent : (*v)->owner;
  if (where != &f.body)
    return el.fail(a.callLoc, "assign cannot be used inside a cell or time_distributed: the new "
                              "value must be computed once per step");
  if (auto e = el.recordUpdate(*w, *v, a.callLoc))
    return std::move(e);
  return Val::none();
}

/// step_mask(x): the sequence mask x carries (lengths, mask_zero) as f32[B, T, 1, ..., 1] of
/// x's rank, 1 for a step that counts; none without one.
llvm::Expected<Val> stepMaskBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "step_mask");
  if (!x)
    return x.takeError();
  ir::Value *mask = a["x"].mask;
  if (!mask)
    return Val::none();
  int64_t rank = (*x)->type.rank();
  if (rank == mask->type.rank())
    return Val::of(mask);
  ir::Type mt{ir::DType::F32, {mask->type.shape[0], mask->type.shape[1]}};
  mt.shape.resize(rank, ir::Dim::constant(1));
  return Val::of(el.builder().create(ir::OpKind::Reshape, {mask}, {mt})->result());
}

/// with_mask(x, like): x carrying like's sequence mask (a layer that transforms its input
/// before a recurrence keeps the input's mask).
llvm::Expected<Val> withMaskOfBuiltin(Elaborator &, const BoundArgs &a) {
  Val out = a["x"];
  out.mask = a["like"].mask;
  return out;
}

/// sum_all(x) / mean_all(x): x reduced over every axis, a scalar (losses); sum_leading(x) /
/// mean_leading(x): x [..., C] over every axis but the last, [C] (batch statistics).
Builtin reduceLeadingBuiltin(const std::string &name, ir::OpKind kind, int64_t keepRank) {
  Builtin b;
  b.name = name;
  b.params = {{"x"}};
  b.fn = [name, kind, keepRank](Elaborator &el, const BoundArgs &a) -> llvm::Expected<Val> {
    auto x = tensorArg(el, a, "x", name.c_str());
    if (!x)
      return x.takeError();
    if ((*x)->type.rank() < keepRank)
      return el.fail(a.locs.at("x"), fmt::format("{} needs a tensor with a last axis, got {}", name,
                                                 (*x)->type.str()));
    return el.reduceLeading(*x, kind, a.callLoc, keepRank);
  };
  return b;
}

// ---------------------------------------------------------------------------------------
// Regularizers (Keras): l1(l1=0.01), l2(l2=0.01), l1_l2(l1=0.0, l2=0.0) are values;
// regularize(weight, regularizer) adds l1 * sum(|w|) + l2 * sum(w^2) to the training loss.

Val regularizerVal(double l1, double l2) {
  return Val::tuple({Val::str("regularizer"), Val::real(l1), Val::real(l2)});
}

Builtin regularizerBuiltin(const std::string &name, double dl1, double dl2) {
  Builtin b;
  b.name = name;
  if (name == "l1")
    b.params = {{"l1", false, Val::real(dl1)}};
  else if (name == "l2")
    b.params = {{"l2", false, Val::real(dl2)}};
  else
    b.params = {{"l1", false, Val::real(dl1)}, {"l2", false, Val::real(dl2)}};
  b.fn = [name](Elaborator &el, const BoundArgs &a) -> llvm::Expected<Val> {
    double l[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      const char *key = k == 0 ? "l1" : "l2";
      if (!a.values.count(key))
        continue;
      const Val &v = a[key];
      if (!v.isNumber() || v.number() < 0)
        return el.fail(a.locs.at(key),
                       fmt::format("{} must be a non-negative number, got {}", key, v.describe()));
      l[k] = v.number();
    }
    return regularizerVal(l[0], l[1]);
  };
  return b;
}

llvm::Expected<Val> regularizeBuiltin(Elaborator &el, const BoundArgs &a) {
  const Val &w = a["weight"], &r = a["regularizer"];
  if (r.kind == Val::Kind::None)
    return Val::none();
  double l1 = 0, l2 = 0;
  if (r.kind == Val::Kind::Str && (r.s == "l1" || r.s == "l2" || r.s == "l1_l2")) {
    // Keras's string forms: "l1" and "l2" with 0.01, "l1_l2" with both 0.01.
    l1 = r.s == "l2" ? 0 : 0.01;
    l2 = r.s == "l1" ? 0 : 0.01;
  } else if (r.kind == Val::Kind::Func && r.builtin &&
             (r.builtin->name == "l1" || r.builtin->name == "l2" || r.builtin->name == "l1_l2")) {
    l1 = r.builtin->name == "l2" ? 0 : 0.01; // written without a call: kernel_regularizer=l2
    l2 = r.builtin->name == "l1" ? 0 : 0.01;
  } else if (r.kind == Val::Kind::Tuple && r.elems.size() == 3 &&
             r.elems[0].kind == Val::Kind::Str && r.elems[0].s == "regularizer") {
    l1 = r.elems[1].number();
    l2 = r.elems[2].number();
  } else {
    return el.fail(
        a.locs.at("regularizer"),
        fmt::format("a regularizer is l1(...), l2(...), l1_l2(...) or none, got {}", r.describe()));
  }
  if (!w.isTensor() || w.tensor->def || w.tensor->owner != &el.function().body ||
      w.tensor->index < el.function().numInputs)
    return el.fail(a.locs.at("weight"), "regularize needs a weight (a param)");
  el.noteRegularizer(w.tensor, l1, l2);
  return Val::none();
}

} // namespace

void addTrainingBuiltins(std::map<std::string, Builtin> &m) {
  auto add = [&](Builtin b) { m[b.name] = std::move(b); };
  add(reduceLeadingBuiltin("sum_all", ir::OpKind::ReduceSum, 0));
  add(reduceLeadingBuiltin("mean_all", ir::OpKind::ReduceMean, 0));
  add(Builtin{
      "expect_target",
      {{"y"}, {"target"}, {"loss", false, Val::none()}, {"sparse", false, Val::boolean(false)}},
      expectTargetBuiltin});
  add(Builtin{"loss_mean", {{"v"}, {"like"}}, lossMeanBuiltin});
  add(regularizerBuiltin("l1", 0.01, 0.0));
  add(regularizerBuiltin("l2", 0.0, 0.01));
  add(regularizerBuiltin("l1_l2", 0.0, 0.0));
  add(Builtin{"regularize", {{"weight"}, {"regularizer"}}, regularizeBuiltin});
  add(Builtin{"training", {}, trainingBuiltin});
  add(Builtin{"random_uniform", {{"like"}}, randomUniformBuiltin});
  add(Builtin{"assign", {{"weight"}, {"value"}}, assignBuiltin});
  add(Builtin{"step_mask", {{"x"}}, stepMaskBuiltin});
  add(Builtin{"with_mask", {{"x"}, {"like"}}, withMaskOfBuiltin});
  add(reduceLeadingBuiltin("sum_leading", ir::OpKind::ReduceSum, 1));
  add(reduceLeadingBuiltin("mean_leading", ir::OpKind::ReduceMean, 1));
}

} // namespace loom::frontend
