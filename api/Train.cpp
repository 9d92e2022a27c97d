// The training driver: model + train block -> an evaluation function (loss, metrics) and a
// step function (loss, metrics, updated weights and optimizer slots), both compiled once.
//
// The step function is built as IR: the elaborated loss function, differentiated by
// passes::differentiate, then gradient clipping and the optimizer's update appended as
// elementwise ops (Keras 3's formulas), so the whole step - forward, loss, backpropagation
// through time, clipping, update - is one native function that the usual pipeline (hoist,
// fuse) optimises. Its signature:
//   inputs  [model inputs..., targets..., lr f32[], alpha f32[]]
//   params  [weights..., optimizer slots...]
//   outputs [loss, metrics..., new trainable weights..., new slots...]
// lr is the schedule's rate for this step; alpha is Adam's bias-corrected rate
// lr * sqrt(1 - beta2^t) / (1 - beta1^t), both computed on the host in double.
#include "api/Train.h"

#include "api/Init.h"
#include "codegen/JIT.h"
#include "frontend/Elaborate.h"
#include "ir/Bind.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/Verifier.h"
#include "passes/Autodiff.h"
#include "passes/PassManager.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <optional>

namespace loom::api {

namespace {

llvm::Error err(const std::string &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s", msg.c_str());
}

const ir::Type kScalar{ir::DType::F32, {}};

/// Slots an optimizer keeps per trainable weight.
std::vector<std::string> slotNames(const OptimizerSpec &o) {
  if (o.kind == "sgd")
    return o.momentum > 0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{};
  if (o.kind == "adam" || o.kind == "adamw")
    return {"m", "v"};
  std::vector<std::string> r{"velocity"}; // rmsprop
  if (o.momentum > 0)
    r.push_back("momentum");
  if (o.centered)
    r.push_back("average_gradient");
  return r;
}

/// Appends clipping and the optimizer update to `f` (already differentiated: its outputs are
/// [loss, metrics..., gradients of every param...]).
class UpdateBuilder {
public:
  UpdateBuilder(ir::Function &f, const OptimizerSpec &o) : f_(f), o_(o), b_(&f.body) {}

  /// `nkeep`: the leading outputs kept as they are (loss, metrics, states...).
  llvm::Error run(size_t nkeep) {
    std::unique_ptr<ir::Op> ret = std::move(f_.body.ops.back());
    f_.body.ops.pop_back();
    b_.setLoc(ret->loc);
    size_t nout = nkeep, np = f_.params.size();
    std::vector<ir::Value *> grads(ret->operands.begin() + nout, ret->operands.end());
    assert(grads.size() == np && "differentiate appends one gradient per param");
    // Hyper-parameter inputs, after the data.
    lr_ = f_.insertInput(kScalar, "lr");
    alpha_ = f_.insertInput(kScalar, "alpha");

    std::vector<size_t> trainable;
    for (size_t i = 0; i < np; ++i)
      if (f_.params[i].trainable)
        trainable.push_back(i);
    // Clipping (Keras: at most one of the three).
    if (o_.clipnorm > 0)
      for (size_t i : trainable) {
        ir::Value *n = sqrt(sumSquares(grads[i]));
        grads[i] = mul(grads[i], div(c(o_.clipnorm), max(n, c(o_.clipnorm))));
      }
    if (o_.globalClipnorm > 0 && !trainable.empty()) {
      ir::Value *total = nullptr;
      for (size_t i : trainable) {
        ir::Value *s = sumSquares(grads[i]);
        total = total ? add(total, s) : s;
      }
      ir::Value *scale = div(c(o_.globalClipnorm), max(sqrt(total), c(o_.globalClipnorm)));
      for (size_t i : trainable)
        grads[i] = mul(grads[i], scale);
    }
    if (o_.clipvalue > 0)
      for (size_t i : trainable)
        grads[i] =
            v(ir::OpKind::Min, {v(ir::OpKind::Max, {grads[i], c(-o_.clipvalue)}), c(o_.clipvalue)});

    // Slots: new params after the weights, zeros to start.
    std::vector<std::string> names = slotNames(o_);
    std::vector<std::vector<ir::Value *>> slots(names.size());
    for (size_t s = 0; s < names.size(); ++s)
      for (size_t i : trainable) {
        ir::Value *w = f_.param((unsigned)i);
        slots[s].push_back(f_.body.addArg(w->type, "opt." + names[s]));
        f_.params.push_back({"opt/" + names[s] + "/" + f_.params[i].key, "zeros"});
      }

    std::vector<ir::Value *> newW, newSlots(names.size() * trainable.size());
    for (size_t k = 0; k < trainable.size(); ++k) {
      size_t i = trainable[k];
      ir::Value *w = f_.param((unsigned)i), *g = grads[i];
      auto slot = [&](size_t s) { return slots[s][k]; };
      auto setSlot = [&](size_t s, ir::Value *x) { newSlots[s * trainable.size() + k] = x; };
      if (o_.kind == "sgd") {
        if (o_.momentum > 0) {
          // m = momentum * m - lr * g; w += nesterov ? momentum * m - lr * g : m
          ir::Value *step = mul(g, lr_);
          ir::Value *m = sub(mul(slot(0), c(o_.momentum)), step);
          setSlot(0, m);
          newW.push_back(add(w, o_.nesterov ? sub(mul(m, c(o_.momentum)), step) : m));
        } else {
          newW.push_back(sub(w, mul(g, lr_)));
        }
      } else if (o_.kind == "adam" || o_.kind == "adamw") {
        if (o_.kind == "adamw") // decoupled weight decay first: w -= w * wd * lr
          w = sub(w, mul(w, mul(c(o_.weightDecay), lr_)));
        ir::Value *m = add(slot(0), mul(sub(g, slot(0)), c(1 - o_.beta1)));
        ir::Value *vv = add(slot(1), mul(sub(mul(g, g), slot(1)), c(1 - o_.beta2)));
        setSlot(0, m);
        setSlot(1, vv);
        newW.push_back(sub(w, div(mul(m, alpha_), add(sqrt(vv), c(o_.epsilon)))));
      } else { // rmsprop
        ir::Value *vel = add(mul(slot(0), c(o_.rho)), mul(mul(g, g), c(1 - o_.rho)));
        setSlot(0, vel);
        size_t next = 1;
        size_t momSlot = o_.momentum > 0 ? next++ : 0;
        ir::Value *denom = add(vel, c(o_.epsilon));
        if (o_.centered) {
          size_t ag = next++;
          ir::Value *avg = add(mul(slot(ag), c(o_.rho)), mul(g, c(1 - o_.rho)));
          setSlot(ag, avg);
          denom = add(sub(vel, mul(avg, avg)), c(o_.epsilon));
        }
        ir::Value *inc = div(mul(g, lr_), sqrt(denom));
        if (o_.momentum > 0) {
          ir::Value *mom = add(mul(slot(momSlot), c(o_.momentum)), inc);
          setSlot(momSlot, mom);
          newW.push_back(sub(w, mom));
        } else {
          newW.push_back(sub(w, inc));
        }
      }
    }
    if (err_)
      return std::move(err_);
    std::vector<ir::Value *> outs(ret->operands.begin(), ret->operands.begin() + nout);
    std::vector<std::string> outNames(f_.outputNames.begin(), f_.outputNames.begin() + nout);
    for (size_t k = 0; k < trainable.size(); ++k) {
      outs.push_back(newW[k]);
      outNames.push_back("new/" + f_.params[trainable[k]].key);
    }
    for (size_t s = 0; s < newSlots.size(); ++s) {
      outs.push_back(newSlots[s]);
      outNames.push_back("new/" + f_.params[np + s].key);
    }
    ret->operands = outs;
    f_.outputNames = outNames;
    f_.body.ops.push_back(std::move(ret));
    return llvm::Error::success();
  }

private:
  ir::Function &f_;
  const OptimizerSpec &o_;
  ir::Builder b_;
  ir::Value *lr_ = nullptr, *alpha_ = nullptr;
  llvm::Error err_ = llvm::Error::success();

  ir::Value *v(ir::OpKind k, std::vector<ir::Value *> ops,
               std::map<std::string, ir::Attr> attrs = {}) {
    auto r = b_.value(k, std::move(ops), std::move(attrs));
    if (!r) {
      if (!err_)
        err_ = r.takeError();
      else
        llvm::consumeError(r.takeError());
      return b_.fill(0.0, kScalar);
    }
    return *r;
  }
  ir::Value *c(double x) { return b_.fill(x, kScalar); }
  ir::Value *add(ir::Value *a, ir::Value *b) { return v(ir::OpKind::Add, {a, b}); }
  ir::Value *sub(ir::Value *a, ir::Value *b) { return v(ir::OpKind::Sub, {a, b}); }
  ir::Value *mul(ir::Value *a, ir::Value *b) { return v(ir::OpKind::Mul, {a, b}); }
  ir::Value *div(ir::Value *a, ir::Value *b) { return v(ir::OpKind::Div, {a, b}); }
  ir::Value *max(ir::Value *a, ir::Value *b) { return v(ir::OpKind::Max, {a, b}); }
  ir::Value *sqrt(ir::Value *a) { return v(ir::OpKind::Sqrt, {a}); }
  ir::Value *sumSquares(ir::Value *g) {
    ir::Value *s = mul(g, g);
    while (s->type.rank() > 0)
      s = v(ir::OpKind::ReduceSum, {s}, {{"axis", (int64_t)0}, {"keepdims", false}});
    return s;
  }
};

/// Truncated BPTT and stateful training: the recurrent state of every loop at the top of
/// `f` that starts from zeros becomes an input ("state/<k>") and its final value an output
/// (appended, "state_out/<k>"), so that the host can carry it from chunk to chunk. Inputs
/// are not differentiated: the carried state is detached, as truncated BPTT wants.
/// Returns the number of states; a loop running backwards is an error (its state would be
/// carried the wrong way).
llvm::Expected<size_t> exposeState(ir::Function &f) {
  std::vector<ir::Value *> outs;
  std::unique_ptr<ir::Op> ret = std::move(f.body.ops.back());
  f.body.ops.pop_back();
  size_t k = 0;
  for (auto &op : f.body.ops) {
    if (op->kind != ir::OpKind::Loop)
      continue;
    size_t nc = (size_t)op->intAttr("carries");
    auto zeroInit = [&](size_t i) {
      const ir::Op *def = op->operands[i]->def;
      return def && def->kind == ir::OpKind::Fill && def->floatAttr("value") == 0.0;
    };
    bool any = false;
    for (size_t i = 0; i < nc; ++i)
      any |= zeroInit(i);
    if (any && op->boolAttr("reverse"))
      return llvm::make_error<ir::LocatedError>(
          op->loc, "truncated BPTT and stateful training carry the state forward in time, but "
                   "this recurrent layer runs backwards (go_backwards or bidirectional)");
    for (size_t i = 0; i < nc; ++i) {
      if (!zeroInit(i))
        continue;
      op->operands[i] = f.insertInput(op->operands[i]->type, "state/" + std::to_string(k));
      outs.push_back(op->result(i));
      f.outputNames.push_back("state_out/" + std::to_string(k));
      ++k;
    }
  }
  ret->operands.insert(ret->operands.end(), outs.begin(), outs.end());
  f.body.ops.push_back(std::move(ret));
  return k;
}

/// Rows [t0, t0 + n) of `t` along axis 1.
rt::Tensor sliceSteps(const rt::Tensor &t, int64_t t0, int64_t n) {
  std::vector<int64_t> shape = t.shape();
  int64_t outer = shape[0], steps = shape[1], inner = 1;
  for (size_t k = 2; k < shape.size(); ++k)
    inner *= shape[k];
  shape[1] = n;
  rt::Tensor r(t.dtype(), shape);
  const char *src = static_cast<const char *>(t.data());
  char *dst = static_cast<char *>(r.data());
  size_t row = (size_t)(n * inner) * 4;
  for (int64_t b = 0; b < outer; ++b)
    std::memcpy(dst + b * row, src + (size_t)((b * steps + t0) * inner) * 4, row);
  return r;
}

const std::vector<std::string> kTrainPipeline = {"shape-inference", "cse", "hoist", "dce", "fuse"};

} // namespace

struct Trainer::Impl {
  TrainConfig config;
  std::vector<DataSlot> slots;
  std::unique_ptr<ir::Module> evalModule, stepModule;
  std::unique_ptr<codegen::CompiledFunction> evalFn, stepFn;
  bool interpret = false;
  std::vector<ir::ParamInfo> params;      // the model's weights
  std::vector<size_t> trainable;          // indices into params
  std::vector<std::string> slotKeys;      // optimizer slots, in the step function's order
  std::vector<rt::Tensor> weights, state; // current values
  int64_t iterations = 0;
  size_t numMetrics = 0;
  size_t numStates = 0; // exposed recurrent states (step function)
  /// Where the step function takes and returns each thing (found by name once, at create).
  struct StepLayout {
    std::vector<size_t> slotIn; // per data slot
    size_t lrIn = 0, alphaIn = 0;
    std::optional<size_t> rngIn;                      // the dropout key, when the model draws masks
    std::vector<size_t> stateIn, stateOut;            // per carried state
    std::vector<std::pair<size_t, size_t>> weightOut; // (weight, output): updated weights
    std::vector<size_t> slotOut;                      // per optimizer slot
  } layout;
  std::vector<rt::Tensor> carried; // the state carried between chunks / batches
  std::string timeSymbol;          // the dim chunked by truncated BPTT
  uint64_t seed = 1;               // of dropout masks
  std::optional<double> lr;        // replaces the schedule when set

  llvm::Expected<std::unique_ptr<ir::Module>> compile(frontend::SourceManager &sm,
                                                      const std::string &path,
                                                      const TrainerOptions &opts,
                                                      frontend::TrainSpec *spec) const {
    if (opts.source)
      return frontend::compileSource(sm, path, *opts.source, opts.modelName, spec);
    return frontend::compileFile(sm, path, opts.modelName, spec);
  }

  llvm::Expected<std::vector<rt::Tensor>> call(bool step, const std::vector<rt::Tensor> &in,
                                               const std::vector<rt::Tensor> &par) const {
    const ir::Module &m = step ? *stepModule : *evalModule;
    if (interpret)
      return ir::interpret(*m.main(), in, par);
    return (step ? stepFn : evalFn)->run(in, par);
  }

  llvm::Error checkBatch(const std::vector<rt::Tensor> &batch) const {
    if (batch.size() != slots.size())
      return err(fmt::format("a batch needs {} arrays, got {}", slots.size(), batch.size()));
    return llvm::Error::success();
  }
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

llvm::Expected<std::unique_ptr<Trainer>>
Trainer::create(frontend::SourceManager &sm, const std::string &path, const TrainerOptions &opts) {
  // Problems the passes find in the model, shown at their place in the file with a caret.
  auto located = [&](llvm::Error e) {
    return llvm::handleErrors(std::move(e), [&](const ir::LocatedError &le) {
      return frontend::errorAt(sm, le.loc, le.msg);
    });
  };
  auto impl = std::make_unique<Impl>();
  impl->interpret = opts.interpret;
  impl->seed = opts.seed;
  auto m = impl->compile(sm, path, opts, &impl->config);
  if (!m)
    return m.takeError();
  TrainConfig &cfg = impl->config;
  if (opts.epochs)
    cfg.epochs = *opts.epochs;
  if (opts.batchSize)
    cfg.batchSize = *opts.batchSize;
  if (opts.learningRate)
    cfg.optimizer.learningRate.initial = *opts.learningRate;
  if (opts.bptt)
    cfg.bptt = *opts.bptt;
  if (opts.stateful)
    cfg.stateful = *opts.stateful;
  if (cfg.bptt < 0)
    return err("--bptt must be at least 1 (0: off)");
  if (cfg.epochs < 1 || cfg.batchSize < 1)
    return err("epochs and batch size must be positive");
  impl->numMetrics = cfg.metrics.size();
  if (auto e = passes::runPipeline(**m, {"lower-rnn", "shape-inference"}, {}))
    return std::move(e);
  // Evaluation elaborates the model again in inference mode: no dropout, batch_norm with
  // its moving statistics, no state updates; the same weights and data inputs.
  frontend::TrainSpec evalSpec;
  evalSpec.trainingMode = false;
  auto em = impl->compile(sm, path, opts, &evalSpec);
  if (!em)
    return em.takeError();
  if (auto e = passes::runPipeline(**em, {"lower-rnn", "shape-inference"}, {}))
    return std::move(e);
  const ir::Function &lossFn = *(*em)->main();
  impl->params = lossFn.params;
  for (size_t i = 0; i < lossFn.params.size(); ++i)
    if (lossFn.params[i].trainable)
      impl->trainable.push_back(i);
  for (unsigned i = 0; i < lossFn.numInputs; ++i) {
    const ir::Value *a = lossFn.input(i);
    DataSlot s{a->name, a->type,
               std::find(cfg.targets.begin(), cfg.targets.end(), a->name) != cfg.targets.end(), 0};
    auto it = cfg.targetClasses.find(a->name);
    if (it != cfg.targetClasses.end())
      s.classes = it->second;
    impl->slots.push_back(s);
  }
  impl->evalModule = std::move(*em);
  if (auto e = passes::runPipeline(*impl->evalModule, kTrainPipeline, {}))
    return std::move(e);

  impl->stepModule = ir::cloneModule(**m);
  ir::Function &sf = *impl->stepModule->main();
  size_t nkeep = sf.returnOp()->operands.size();
  if (cfg.bptt > 0 || cfg.stateful) {
    auto ns = exposeState(sf);
    if (!ns)
      return located(ns.takeError());
    impl->numStates = *ns;
    nkeep += *ns;
    // The time dim is dim 1 of the first model input that has one.
    for (auto &slot : impl->slots)
      if (!slot.target && slot.type.rank() >= 2 && !slot.type.shape[1].isStatic()) {
        impl->timeSymbol = slot.type.shape[1].str();
        break;
      }
    if (cfg.bptt > 0 && impl->timeSymbol.empty())
      return err("truncated BPTT (--bptt) needs a model input with a time dimension [B, T, ...] "
                 "whose length is not fixed");
  }
  if (auto e = passes::differentiate(sf, 0))
    return located(std::move(e));
  UpdateBuilder ub(sf, cfg.optimizer);
  if (auto e = ub.run(nkeep))
    return std::move(e);
  for (size_t i = lossFn.params.size(); i < sf.params.size(); ++i)
    impl->slotKeys.push_back(sf.params[i].key);
  {
    std::map<std::string, size_t> in, out;
    for (unsigned i = 0; i < sf.numInputs; ++i)
      in[sf.input(i)->name] = i;
    for (size_t i = 0; i < sf.outputNames.size(); ++i)
      out[sf.outputNames[i]] = i;
    Impl::StepLayout &l = impl->layout;
    for (auto &slot : impl->slots)
      l.slotIn.push_back(in.at(slot.name));
    l.lrIn = in.at("lr");
    l.alphaIn = in.at("alpha");
    if (in.count("rng_key"))
      l.rngIn = in.at("rng_key");
    for (size_t k = 0; k < impl->numStates; ++k) {
      l.stateIn.push_back(in.at("state/" + std::to_string(k)));
      l.stateOut.push_back(out.at("state_out/" + std::to_string(k)));
    }
    for (size_t i : impl->trainable)
      l.weightOut.push_back({i, out.at("new/" + impl->params[i].key)});
    // Non-trainable weights a layer updates in training (batch_norm's moving statistics).
    for (size_t i = 0; i < impl->params.size(); ++i)
      if (out.count("update/" + impl->params[i].key))
        l.weightOut.push_back({i, out.at("update/" + impl->params[i].key)});
    for (auto &key : impl->slotKeys)
      l.slotOut.push_back(out.at("new/" + key));
  }
  if (auto e = ir::verify(*impl->stepModule))
    return err("internal error: the training step is invalid: " + llvm::toString(std::move(e)));
  if (auto e = passes::runPipeline(*impl->stepModule, kTrainPipeline, {}))
    return std::move(e);
  if (!opts.interpret && opts.compile) {
    auto ef = codegen::CompiledFunction::compile(*impl->evalModule->main());
    if (!ef)
      return ef.takeError();
    impl->evalFn = std::move(*ef);
    auto sfn = codegen::CompiledFunction::compile(*impl->stepModule->main());
    if (!sfn)
      return sfn.takeError();
    impl->stepFn = std::move(*sfn);
  }
  auto t = std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
  if (auto e = t->initWeights(0))
    return std::move(e);
  return t;
}

const TrainConfig &Trainer::config() const { return impl_->config; }
const std::vector<DataSlot> &Trainer::slots() const { return impl_->slots; }
int64_t Trainer::iterations() const { return impl_->iterations; }
double Trainer::learningRate() const {
  return impl_->lr ? *impl_->lr : impl_->config.optimizer.learningRate.at(impl_->iterations);
}
void Trainer::setLearningRate(double lr) { impl_->lr = lr; }
void Trainer::setSeed(uint64_t seed) { impl_->seed = seed; }
const ir::Module &Trainer::stepModule() const { return *impl_->stepModule; }

int64_t Trainer::stepScratchBytes() const { return impl_->stepFn->scratchBytes(); }

llvm::Error Trainer::initWeights(uint64_t seed) {
  auto w = api::initWeights(*impl_->evalModule->main(), seed);
  if (!w)
    return w.takeError();
  impl_->weights.clear();
  for (auto &[k, t] : *w)
    impl_->weights.push_back(t);
  // Fresh optimizer state.
  impl_->state.clear();
  const ir::Function &sf = *impl_->stepModule->main();
  for (size_t i = impl_->params.size(); i < sf.params.size(); ++i) {
    const ir::Type &ty = sf.param((unsigned)i)->type;
    rt::Tensor z(ty.dtype, ir::concreteShape(ty, {}));
    for (int64_t k = 0; k < z.numel(); ++k)
      z.f32()[k] = 0;
    impl_->state.push_back(z);
  }
  impl_->iterations = 0;
  return llvm::Error::success();
}

llvm::Error Trainer::setWeights(const rt::NamedTensors &w, const std::string &what) {
  std::map<std::string, const rt::Tensor *> byKey;
  for (auto &[k, t] : w)
    byKey[k] = &t;
  std::vector<rt::Tensor> out;
  for (auto &p : impl_->params) {
    auto it = byKey.find(p.key);
    if (it == byKey.end())
      return err(fmt::format("{}: weight '{}' is missing", what, p.key));
    out.push_back(*it->second);
    byKey.erase(it);
  }
  if (!byKey.empty())
    return err(fmt::format("{}: '{}' is not a weight of the model", what, byKey.begin()->first));
  const ir::Function &f = *impl_->evalModule->main();
  for (size_t i = 0; i < out.size(); ++i) {
    const ir::Type &t = f.param((unsigned)i)->type;
    auto want = ir::concreteShape(t, {});
    if (out[i].dtype() != t.dtype || out[i].shape() != want)
      return err(fmt::format("{}: weight '{}' is {}{} but the model needs {}", what,
                             impl_->params[i].key, ir::dtypeName(out[i].dtype()),
                             rt::shapeStr(out[i].shape()), t.str()));
  }
  impl_->weights = std::move(out);
  return llvm::Error::success();
}

rt::NamedTensors Trainer::weights() const {
  rt::NamedTensors r;
  for (size_t i = 0; i < impl_->params.size(); ++i)
    r.push_back({impl_->params[i].key, impl_->weights[i]});
  return r;
}

rt::NamedTensors Trainer::state() const {
  rt::NamedTensors r;
  for (size_t i = 0; i < impl_->slotKeys.size(); ++i)
    r.push_back({impl_->slotKeys[i], impl_->state[i]});
  rt::Tensor it(ir::DType::I32, {});
  it.i32()[0] = (int32_t)impl_->iterations;
  r.push_back({"opt/iterations", it});
  return r;
}

llvm::Error Trainer::setState(const rt::NamedTensors &s, const std::string &what) {
  std::map<std::string, const rt::Tensor *> byKey;
  for (auto &[k, t] : s)
    byKey[k] = &t;
  std::vector<rt::Tensor> out;
  for (size_t i = 0; i < impl_->slotKeys.size(); ++i) {
    auto it = byKey.find(impl_->slotKeys[i]);
    if (it == byKey.end())
      return err(fmt::format("{}: optimizer state '{}' is missing", what, impl_->slotKeys[i]));
    if (it->second->dtype() != impl_->state[i].dtype() ||
        it->second->shape() != impl_->state[i].shape())
      return err(fmt::format("{}: optimizer state '{}' is {} but should be {}", what,
                             impl_->slotKeys[i], rt::shapeStr(it->second->shape()),
                             rt::shapeStr(impl_->state[i].shape())));
    out.push_back(*it->second);
  }
  auto it = byKey.find("opt/iterations");
  if (it == byKey.end() || it->second->numel() != 1)
    return err(fmt::format("{}: 'opt/iterations' is missing", what));
  int64_t iters =
      it->second->dtype() == ir::DType::I32 ? it->second->i32()[0] : (int64_t)it->second->f32()[0];
  if (iters < 0)
    return err(fmt::format("{}: 'opt/iterations' is negative", what));
  impl_->state = std::move(out);
  impl_->iterations = iters;
  return llvm::Error::success();
}

void Trainer::resetStates() { impl_->carried.clear(); }

llvm::Expected<BatchResult> Trainer::step(const std::vector<rt::Tensor> &batch) {
  Impl &im = *impl_;
  if (auto e = im.checkBatch(batch))
    return std::move(e);
  const ir::Function &sf = *im.stepModule->main();
  int64_t rows = batch.empty() ? 0 : batch[0].shape().empty() ? 0 : batch[0].shape()[0];
  // The time length, from the first array chunked on it.
  std::vector<bool> timed(batch.size(), false);
  int64_t steps = 0;
  if (!im.timeSymbol.empty())
    for (size_t i = 0; i < batch.size(); ++i) {
      const ir::Type &t = im.slots[i].type;
      if (t.rank() >= 2 && t.shape[1].str() == im.timeSymbol && batch[i].rank() >= 2) {
        timed[i] = true;
        steps = batch[i].shape()[1];
      }
    }
  int64_t chunk = im.config.bptt > 0 && steps > 0 ? im.config.bptt : std::max<int64_t>(steps, 1);
  if (im.numStates) {
    bool fresh = im.carried.empty() || !im.config.stateful;
    if (!fresh && im.carried[0].shape()[0] != rows)
      return err(fmt::format("stateful training needs every batch to have the same size: the "
                             "state is for {} rows, this batch has {}",
                             im.carried[0].shape()[0], rows));
    if (fresh) {
      im.carried.clear();
      for (size_t k = 0; k < im.numStates; ++k) {
        const ir::Type &t = sf.input((unsigned)im.layout.stateIn[k])->type;
        std::vector<int64_t> shape;
        for (auto &d : t.shape)
          shape.push_back(d.isStatic() ? d.value() : rows);
        rt::Tensor z(t.dtype, shape);
        std::memset(z.data(), 0, z.bytes());
        im.carried.push_back(z);
      }
    }
  }
  BatchResult total;
  total.metrics.assign(im.numMetrics, 0.0);
  for (int64_t t0 = 0; t0 < std::max<int64_t>(steps, 1); t0 += chunk) {
    int64_t n = steps ? std::min(chunk, steps - t0) : 0;
    const OptimizerSpec &o = im.config.optimizer;
    int64_t t = im.iterations + 1;
    double lr = im.lr ? *im.lr : o.learningRate.at(im.iterations);
    double alpha =
        lr * std::sqrt(1 - std::pow(o.beta2, (double)t)) / (1 - std::pow(o.beta1, (double)t));
    const Impl::StepLayout &l = im.layout;
    std::vector<rt::Tensor> in(sf.numInputs);
    for (size_t i = 0; i < batch.size(); ++i)
      in[l.slotIn[i]] = timed[i] && n != steps ? sliceSteps(batch[i], t0, n) : batch[i];
    auto scalar = [](double x) {
      rt::Tensor s(ir::DType::F32, {});
      s.f32()[0] = (float)x;
      return s;
    };
    in[l.lrIn] = scalar(lr);
    in[l.alphaIn] = scalar(alpha);
    if (l.rngIn) {
      // Dropout masks: a fresh key per optimizer step, a function of the seed and the step.
      rt::Tensor key(ir::DType::I32, {2});
      key.i32()[0] = (int32_t)(uint32_t)(im.seed ^ (im.seed >> 32));
      key.i32()[1] = (int32_t)(uint32_t)im.iterations;
      in[*l.rngIn] = key;
    }
    for (size_t k = 0; k < im.numStates; ++k)
      in[l.stateIn[k]] = im.carried[k];
    std::vector<rt::Tensor> par = im.weights;
    par.insert(par.end(), im.state.begin(), im.state.end());
    auto out = im.call(true, in, par);
    if (!out)
      return out.takeError();
    double loss = (*out)[0].f32()[0];
    if (!std::isfinite(loss))
      return err(fmt::format("the loss is {} at step {}; the weights are left as they were "
                             "before it",
                             loss, t));
    double w = steps ? (double)n / (double)steps : 1.0;
    total.loss += w * loss;
    for (size_t i = 0; i < im.numMetrics; ++i)
      total.metrics[i] += w * (*out)[1 + i].f32()[0];
    for (size_t k = 0; k < im.numStates; ++k)
      im.carried[k] = std::move((*out)[l.stateOut[k]]);
    for (auto [w, o] : l.weightOut)
      im.weights[w] = std::move((*out)[o]);
    for (size_t k = 0; k < im.state.size(); ++k)
      im.state[k] = std::move((*out)[l.slotOut[k]]);
    im.iterations = t;
    if (!steps)
      break;
  }
  if (!im.config.stateful)
    im.carried.clear();
  return total;
}

llvm::Expected<BatchResult> Trainer::evaluate(const std::vector<rt::Tensor> &batch) const {
  if (auto e = impl_->checkBatch(batch))
    return std::move(e);
  auto out = impl_->call(false, batch, impl_->weights);
  if (!out)
    return out.takeError();
  BatchResult r;
  r.loss = (*out)[0].f32()[0];
  for (size_t i = 0; i < impl_->numMetrics; ++i)
    r.metrics.push_back((*out)[1 + i].f32()[0]);
  return r;
}

} // namespace loom::api
