// The `train` block: targets become inputs after the model's, `loss` and the metrics become
// the function's outputs (scalars), and the optimizer, epochs and batch size are read as
// static settings into a TrainSpec.
//
//   train reber(label: f32[B, 1]) {
//     loss = binary_crossentropy(y, label)
//     optimizer = adam(learning_rate=0.001, clipnorm=1.0)
//     metrics = [accuracy]
//     epochs = 20
//     batch_size = 32
//   }
#include "frontend/Elaborator.h"

#include "llvm/ADT/StringRef.h"

#include <fmt/format.h>

#include <set>

namespace loom::frontend {

namespace {

struct OptionDef {
  const char *name;
  enum Kind { Number, Bool, Rate } kind;
};

const std::map<std::string, std::vector<OptionDef>> &optimizerOptions() {
  using K = OptionDef::Kind;
  static const std::vector<OptionDef> clip = {
      {"clipnorm", K::Number}, {"clipvalue", K::Number}, {"global_clipnorm", K::Number}};
  auto with = [&](std::vector<OptionDef> v) {
    v.insert(v.end(), clip.begin(), clip.end());
    return v;
  };
  static const std::map<std::string, std::vector<OptionDef>> m = {
      {"sgd", with({{"learning_rate", K::Rate}, {"momentum", K::Number}, {"nesterov", K::Bool}})},
      {"adam", with({{"learning_rate", K::Rate},
                     {"beta_1", K::Number},
                     {"beta_2", K::Number},
                     {"epsilon", K::Number}})},
      {"adamw", with({{"learning_rate", K::Rate},
                      {"weight_decay", K::Number},
                      {"beta_1", K::Number},
                      {"beta_2", K::Number},
                      {"epsilon", K::Number}})},
      {"rmsprop", with({{"learning_rate", K::Rate},
                        {"rho", K::Number},
                        {"momentum", K::Number},
                        {"epsilon", K::Number},
                        {"centered", K::Bool}})},
  };
  return m;
}

} // namespace

llvm::Error Elaborator::optimizerSpec(const ast::Expr &e, OptimizerSpec &opt) {
  std::vector<std::string> kinds;
  for (auto &[k, _] : optimizerOptions())
    kinds.push_back(k);
  std::string known = "sgd, adam, adamw or rmsprop";
  const ast::Expr *callee = e.kind == ast::Expr::Kind::Call ? e.children[0].get() : &e;
  if (callee->kind != ast::Expr::Kind::Name && callee->kind != ast::Expr::Kind::String)
    return fail(e.loc, "optimizer must be an optimizer such as adam(learning_rate=0.001) or "
                       "sgd(learning_rate=0.01, momentum=0.9)");
  std::string kind = callee->text;
  auto it = optimizerOptions().find(kind);
  if (it == optimizerOptions().end())
    return fail(callee->loc, fmt::format("unknown optimizer '{}'{}; loom has {}", kind,
                                         didYouMean(kind, kinds), known));
  opt = OptimizerSpec();
  opt.kind = kind;
  opt.learningRate.initial = kind == "sgd" ? 0.01 : 0.001; // Keras's defaults
  if (e.kind != ast::Expr::Kind::Call)
    return llvm::Error::success();
  std::set<std::string> seen;
  for (auto &arg : e.args) {
    if (arg.keyword.empty())
      return fail(arg.loc, fmt::format("{}'s options are keyword arguments, e.g. "
                                       "{}(learning_rate=0.001)",
                                       kind, kind));
    const OptionDef *def = nullptr;
    std::vector<std::string> names;
    for (auto &o : it->second) {
      names.push_back(o.name);
      if (arg.keyword == o.name)
        def = &o;
    }
    if (!def)
      return fail(arg.loc, fmt::format("{} has no option '{}'{}", kind, arg.keyword,
                                       didYouMean(arg.keyword, names)));
    if (!seen.insert(arg.keyword).second)
      return fail(arg.loc, fmt::format("option '{}' given twice", arg.keyword));
    const ast::Expr &v = *arg.value;
    if (def->kind == OptionDef::Rate && v.kind == ast::Expr::Kind::Call) {
      if (auto err = scheduleSpec(v, opt.learningRate))
        return err;
      continue;
    }
    auto val = eval(v);
    if (!val)
      return val.takeError();
    if (def->kind == OptionDef::Bool) {
      if (val->kind != Val::Kind::Bool)
        return fail(v.loc,
                    fmt::format("{} must be true or false, got {}", arg.keyword, val->describe()));
    } else if (!val->isNumber() || val->number() < 0) {
      return fail(v.loc, fmt::format("{} must be a non-negative number, got {}", arg.keyword,
                                     val->describe()));
    }
    std::string k = arg.keyword;
    double x = val->isNumber() ? val->number() : 0;
    if (k == "learning_rate")
      opt.learningRate.initial = x;
    else if (k == "momentum")
      opt.momentum = x;
    else if (k == "nesterov")
      opt.nesterov = val->b;
    else if (k == "centered")
      opt.centered = val->b;
    else if (k == "beta_1")
      opt.beta1 = x;
    else if (k == "beta_2")
      opt.beta2 = x;
    else if (k == "epsilon")
      opt.epsilon = x;
    else if (k == "rho")
      opt.rho = x;
    else if (k == "weight_decay")
      opt.weightDecay = x;
    else if (k == "clipnorm")
      opt.clipnorm = x;
    else if (k == "clipvalue")
      opt.clipvalue = x;
    else if (k == "global_clipnorm")
      opt.globalClipnorm = x;
    if ((k == "clipnorm" || k == "clipvalue" || k == "global_clipnorm") && x <= 0)
      return fail(v.loc, fmt::format("{} must be positive, got {}", k, x));
    if ((k == "beta_1" || k == "beta_2" || k == "rho" || k == "momentum") && x >= 1)
      return fail(v.loc, fmt::format("{} must be in [0, 1), got {}", k, x));
  }
  int clips = (opt.clipnorm > 0) + (opt.clipvalue > 0) + (opt.globalClipnorm > 0);
  if (clips > 1)
    return fail(e.loc, "only one of clipnorm, clipvalue and global_clipnorm can be set (as in "
                       "Keras)");
  return llvm::Error::success();
}

llvm::Error Elaborator::scheduleSpec(const ast::Expr &e, Schedule &s) {
  const ast::Expr &callee = *e.children[0];
  static const std::map<std::string, std::vector<std::string>> kinds = {
      {"exponential_decay", {"initial_learning_rate", "decay_steps", "decay_rate", "staircase"}},
      {"cosine_decay", {"initial_learning_rate", "decay_steps", "alpha"}}};
  auto it = kinds.find(callee.text);
  if (callee.kind != ast::Expr::Kind::Name || it == kinds.end())
    return fail(callee.loc, fmt::format("unknown learning-rate schedule '{}'; loom has "
                                        "exponential_decay and cosine_decay",
                                        callee.text));
  s = Schedule();
  s.kind = callee.text;
  std::set<std::string> given;
  size_t pos = 0;
  for (auto &arg : e.args) {
    std::string k = arg.keyword;
    if (k.empty()) {
      if (pos >= it->second.size())
        return fail(arg.loc, fmt::format("too many arguments to {}", s.kind));
      k = it->second[pos++];
    }
    if (std::find(it->second.begin(), it->second.end(), k) == it->second.end())
      return fail(arg.loc,
                  fmt::format("{} has no argument '{}'{}", s.kind, k, didYouMean(k, it->second)));
    given.insert(k);
    auto v = eval(*arg.value);
    if (!v)
      return v.takeError();
    if (k == "staircase") {
      if (v->kind != Val::Kind::Bool)
        return fail(arg.loc, "staircase must be true or false");
      s.staircase = v->b;
      continue;
    }
    if (!v->isNumber() || v->number() < 0)
      return fail(arg.loc,
                  fmt::format("{} must be a non-negative number, got {}", k, v->describe()));
    double x = v->number();
    if (k == "initial_learning_rate")
      s.initial = x;
    else if (k == "decay_steps") {
      if (x <= 0)
        return fail(arg.loc, "decay_steps must be positive");
      s.decaySteps = x;
    } else if (k == "decay_rate")
      s.decayRate = x;
    else if (k == "alpha")
      s.alpha = x;
  }
  for (const char *k : {"initial_learning_rate", "decay_steps"})
    if (!given.count(k))
      return fail(e.loc, fmt::format("{} needs {}", s.kind, k));
  if (s.kind == "exponential_decay" && !given.count("decay_rate"))
    return fail(e.loc, "exponential_decay needs decay_rate");
  return llvm::Error::success();
}

llvm::Expected<std::vector<ir::Value *>> Elaborator::trainBlock(const ast::Decl &t, TrainSpec &spec,
                                                                std::vector<std::string> &names) {
  ir::Function &f = *func_;
  // Targets: inputs after the model's own.
  for (auto &p : t.params) {
    if (!p.type || p.type->kind != ast::TypeExpr::Kind::Tensor)
      return fail(p.loc, fmt::format("target '{}' must have a tensor type, e.g. {}: f32[B, 1]",
                                     p.name, p.name));
    if (frame().vars.count(p.name))
      return fail(p.loc,
                  fmt::format("target '{}' has the name of a value of model {}", p.name, t.name));
    ir::Type ty;
    ty.dtype = *ir::parseDType(p.type->dtype);
    for (auto &de : p.type->dims) {
      if (de.kind == ast::DimExpr::Kind::Ellipsis)
        return fail(de.loc, "a target needs every dimension: a number or a name like B or T");
      ty.shape.push_back(de.kind == ast::DimExpr::Kind::Int ? ir::Dim::constant(de.value)
                                                            : ir::Dim::symbol(de.name));
    }
    // After the model's inputs, before the random key (dropout) if the model made one.
    ir::Value *raw = f.insertInput(ty, p.name, rngKey_ ? rngKey_->index : f.numInputs);
    frame().vars[p.name] = Val::of(raw);
    targets_[raw] = p.name;
    spec.targets.push_back(p.name);
  }

  const ast::Expr *lossExpr = nullptr;
  ir::Value *loss = nullptr;
  std::vector<ir::Value *> metrics;
  bool haveOptimizer = false;
  for (auto &s : t.body) {
    builder_->setLoc(s.loc);
    binding_ = "";
    if (s.kind != ast::Stmt::Kind::Assign || s.targets.size() != 1)
      return fail(s.loc, "a train block holds assignments: loss = ..., optimizer = ..., "
                         "metrics = [...], epochs = N, batch_size = N, bptt = K, stateful = "
                         "true|false (and helper values)");
    const std::string &name = s.targets[0];
    const ast::Expr &rhs = *s.values[0];
    if (name == "optimizer") {
      if (auto e = optimizerSpec(rhs, spec.optimizer))
        return std::move(e);
      haveOptimizer = true;
      continue;
    }
    if (name == "metrics") {
      if (rhs.kind != ast::Expr::Kind::List && rhs.kind != ast::Expr::Kind::Tuple)
        return fail(rhs.loc, "metrics must be a list, e.g. metrics = [accuracy]");
      if (!lossExpr)
        return fail(rhs.loc, "write the loss before the metrics: a metric named alone is "
                             "computed on the loss's output and target");
      for (auto &m : rhs.children) {
        auto v = metric(*m, *lossExpr, spec);
        if (!v)
          return v.takeError();
        metrics.push_back(v->first);
        spec.metrics.push_back(v->second);
      }
      continue;
    }
    if (name == "epochs" || name == "batch_size" || name == "bptt") {
      auto v = eval(rhs);
      if (!v)
        return v.takeError();
      if (v->kind != Val::Kind::Int || v->i < 1)
        return fail(rhs.loc,
                    fmt::format("{} must be a positive integer, got {}", name, v->describe()));
      (name == "epochs" ? spec.epochs : name == "bptt" ? spec.bptt : spec.batchSize) = v->i;
      continue;
    }
    if (name == "stateful") {
      auto v = eval(rhs);
      if (!v)
        return v.takeError();
      if (v->kind != Val::Kind::Bool)
        return fail(rhs.loc, fmt::format("stateful must be true or false, got {}", v->describe()));
      spec.stateful = v->b;
      continue;
    }
    frame().assignRhs = &rhs;
    frame().assignTarget = name;
    auto v = eval(rhs);
    frame().assignRhs = nullptr;
    if (!v)
      return v.takeError();
    if (name == "loss") {
      if (!v->isTensor() || v->tensor->type.dtype != ir::DType::F32 || v->tensor->type.rank() != 0)
        return fail(rhs.loc, fmt::format("the loss must be a scalar, such as mse(y, target); "
                                         "got {}",
                                         v->describe()));
      loss = v->tensor;
      lossExpr = &rhs;
      spec.loss = rhs.kind == ast::Expr::Kind::Call ? rhs.children[0]->text : "loss";
    }
    frame().vars[name] = *v;
  }
  if (!loss)
    return fail(t.loc, fmt::format("the train block of {} has no loss (e.g. loss = mse(y, "
                                   "target))",
                                   t.name));
  if (!haveOptimizer) {
    spec.optimizer = OptimizerSpec(); // Keras's compile() default: rmsprop(0.001)
  }
  // Regularization penalties are part of the loss (Keras adds model.losses to it, in
  // training and evaluation alike).
  builder_->setLoc(t.loc);
  for (auto &r : regularizers_) {
    auto term = [&](ir::OpKind unary, double factor) -> llvm::Expected<ir::Value *> {
      ir::Value *w = r.w;
      auto u = unary == ir::OpKind::Abs ? tensorOp(ir::OpKind::Abs, {w}, t.loc, "regularizer")
                                        : tensorOp(ir::OpKind::Mul, {w, w}, t.loc, "regularizer");
      if (!u)
        return u.takeError();
      auto v = reduceLeading(u->tensor, ir::OpKind::ReduceSum, t.loc);
      if (!v)
        return v.takeError();
      auto m = tensorOp(ir::OpKind::Mul, {v->tensor, scalar(factor, ir::DType::F32)}, t.loc,
                        "regularizer");
      if (!m)
        return m.takeError();
      return m->tensor;
    };
    for (auto [kind, factor] :
         {std::pair{ir::OpKind::Abs, r.l1}, std::pair{ir::OpKind::Mul, r.l2}}) {
      if (factor == 0)
        continue;
      auto p = term(kind, factor);
      if (!p)
        return p.takeError();
      auto sum = tensorOp(ir::OpKind::Add, {loss, *p}, t.loc, "regularizer");
      if (!sum)
        return sum.takeError();
      loss = sum->tensor;
    }
  }
  for (auto &[v, classes] : labelClasses_)
    if (targets_.count(v))
      spec.targetClasses[targets_[v]] = classes;
  names = {"loss"};
  names.insert(names.end(), spec.metrics.begin(), spec.metrics.end());
  std::vector<ir::Value *> outs{loss};
  outs.insert(outs.end(), metrics.begin(), metrics.end());
  return outs;
}

llvm::Expected<std::pair<ir::Value *, std::string>>
Elaborator::metric(const ast::Expr &m, const ast::Expr &lossExpr, const TrainSpec &spec) {
  if (m.kind == ast::Expr::Kind::Call) {
    auto v = eval(m);
    if (!v)
      return v.takeError();
    if (!v->isTensor() || v->tensor->type.rank() != 0)
      return fail(m.loc, fmt::format("a metric must be a scalar, got {}", v->describe()));
    return std::make_pair(v->tensor, m.children[0]->text);
  }
  if (m.kind != ast::Expr::Kind::Name && m.kind != ast::Expr::Kind::String)
    return fail(m.loc, "a metric is a name (accuracy, mae, ...) or a call such as "
                       "top_k_accuracy(y, labels, k=3)");
  // A metric named alone applies to the loss's first two arguments (output, target).
  if (lossExpr.kind != ast::Expr::Kind::Call || lossExpr.args.size() < 2)
    return fail(m.loc, "a metric named alone needs a loss called as loss(output, target); "
                       "call the metric with its arguments instead");
  auto y = eval(*lossExpr.args[0].value);
  if (!y)
    return y.takeError();
  auto t = eval(*lossExpr.args[1].value);
  if (!t)
    return t.takeError();
  if (!y->isTensor() || !t->isTensor())
    return fail(m.loc, "the loss's first two arguments must be tensors (output, target)");
  std::string name = m.text, fn = name;
  bool sparse = t->tensor->type.dtype == ir::DType::I32;
  if (name == "accuracy" || name == "acc") {
    name = "accuracy";
    bool binary = spec.loss == "binary_crossentropy" || (!sparse && y->tensor->type.rank() > 0 &&
                                                         y->tensor->type.shape.back().isStatic() &&
                                                         y->tensor->type.shape.back().value() == 1);
    fn = sparse   ? "sparse_categorical_accuracy"
         : binary ? "binary_accuracy"
                  : "categorical_accuracy";
  } else if (name == "top_k_accuracy") {
    fn = sparse ? "sparse_top_k_categorical_accuracy" : "top_k_categorical_accuracy";
  } else if (name == "mse" || name == "mean_squared_error") {
    name = "mse", fn = "mse";
  } else if (name == "mae" || name == "mean_absolute_error") {
    name = "mae", fn = "mae";
  }
  static const std::set<std::string> known = {"binary_accuracy",
                                              "categorical_accuracy",
                                              "sparse_categorical_accuracy",
                                              "top_k_categorical_accuracy",
                                              "sparse_top_k_categorical_accuracy",
                                              "mse",
                                              "mae",
                                              "binary_crossentropy",
                                              "categorical_crossentropy",
                                              "sparse_categorical_crossentropy",
                                              "huber"};
  if (!known.count(fn))
    return fail(m.loc,
                fmt::format("unknown metric '{}'{}; loom has accuracy, top_k_accuracy, "
                            "mse, mae and the losses",
                            m.text,
                            didYouMean(m.text, {"accuracy", "top_k_accuracy", "mse", "mae"})));
  auto it = decls_.find(fn);
  assert(it != decls_.end() && "metrics are prelude defs");
  std::vector<CallArg> args{{"", *y, m.loc}, {"", *t, m.loc}};
  auto v = callDecl(*it->second, args, m.loc);
  if (!v)
    return v.takeError();
  return std::make_pair(v->tensor, name);
}

} // namespace loom::frontend
