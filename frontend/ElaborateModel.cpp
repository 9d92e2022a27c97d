// Driving cells over time, and models: the parts of the elaborator that build IR
// functions and regions (see frontend/Elaborator.h).
#include "frontend/Elaborate.h"

#include "frontend/Elaborator.h"
#include "frontend/Parser.h"
#include "ir/TypeInference.h"

#include "llvm/Support/ErrorHandling.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace loom::frontend {

// ---------------------------------------------------------------------------------------
// Cells over time

llvm::Expected<Val> Elaborator::driveCell(const Val &cellVal, const Val &x, bool returnSequences,
                                          bool returnState, bool goBackwards,
                                          const Val &initialState, ir::Value *mask,
                                          const ir::Loc &loc) {
  const ast::Decl &d = *cellVal.decl;
  if (!x.isTensor() || x.tensor->type.rank() < 3 || x.tensor->type.dtype != ir::DType::F32)
    return fail(loc, fmt::format("the input of a recurrent layer must be a tensor f32[batch, "
                                 "time, features], got {}",
                                 x.describe()));
  const ir::Type &xt = x.tensor->type;
  std::vector<const ast::Param *> attrs, tensors;
  for (auto &p : d.params)
    (isTensorParam(p) ? tensors : attrs).push_back(&p);
  if (tensors.size() < 2)
    return fail(d.loc, fmt::format("cell '{}' needs a step input and at least one state, each "
                                   "with a tensor type",
                                   d.name));

  Frame fr;
  fr.decl = &d;
  fr.perExample = true;
  BoundArgs args;
  args.callLoc = loc;
  args.values = cellVal.attrs;
  for (auto &[k, _] : args.values)
    args.locs[k] = loc;
  callStack_.push_back(loc);
  auto done = [&](llvm::Error e) -> llvm::Error {
    callStack_.pop_back();
    return e;
  };
  if (auto e = bindParams(d, fr, args, attrs))
    return done(std::move(e));

  ir::Value stepProbe;
  stepProbe.type = ir::sliceType(xt);
  if (auto e =
          matchType(*tensors[0]->type, Val::of(&stepProbe), fr,
                    fmt::format("the step input '{}' of cell {}", tensors[0]->name, d.name), loc))
    return done(std::move(e));

  std::vector<ir::Type> stateTypes;
  for (size_t i = 1; i < tensors.size(); ++i) {
    auto t = typeFromExpr(*tensors[i]->type, fr,
                          fmt::format("state '{}' of cell {}", tensors[i]->name, d.name));
    if (!t)
      return done(t.takeError());
    t->shape.insert(t->shape.begin(), xt.shape[0]);
    stateTypes.push_back(*t);
  }

  std::vector<ir::Value *> inits;
  if (initialState.kind == Val::Kind::None) {
    for (auto &t : stateTypes)
      inits.push_back(builder_->fill(0.0, t));
  } else {
    std::vector<Val> given =
        initialState.kind == Val::Kind::Tuple ? initialState.elems : std::vector<Val>{initialState};
    if (given.size() != stateTypes.size())
      return done(fail(loc, fmt::format("initial_state has {} tensor(s), but cell {} has {} "
                                        "state(s)",
                                        given.size(), d.name, stateTypes.size())));
    for (size_t i = 0; i < given.size(); ++i) {
      if (!given[i].isTensor() || given[i].tensor->type != stateTypes[i])
        return done(
            fail(loc, fmt::format("initial_state for state '{}' must be {}, got {}",
                                  tensors[i + 1]->name, stateTypes[i].str(), given[i].describe())));
      inits.push_back(given[i].tensor);
    }
  }

  std::vector<ir::Value *> operands{x.tensor};
  operands.insert(operands.end(), inits.begin(), inits.end());
  std::map<std::string, ir::Attr> flags = {{"return_sequences", returnSequences},
                                           {"return_state", returnState},
                                           {"go_backwards", goBackwards}};
  if (mask) {
    operands.push_back(mask);
    flags["masked"] = true;
    flags["zero_output_for_mask"] = zeroOutputForMask;
  }
  builder_->setLoc(userLoc(loc));
  ir::Op *rnn = builder_->create(ir::OpKind::Rnn, operands, {}, flags);
  ir::Block *body = rnn->addRegion();
  fr.vars[tensors[0]->name] = Val::of(body->addArg(stepProbe.type, tensors[0]->name));
  for (size_t i = 0; i < stateTypes.size(); ++i)
    fr.vars[tensors[i + 1]->name] = Val::of(body->addArg(stateTypes[i], tensors[i + 1]->name));

  ir::Block *outer = builder_->block();
  builder_->setBlock(body);
  frames_.push_back(std::move(fr));
  auto result = exec(d.body);
  frames_.pop_back();
  builder_->setBlock(outer);
  if (!result)
    return done(result.takeError());
  if (!*result)
    return done(fail(d.loc, fmt::format("cell '{}' must return its new state(s)", d.name)));
  std::vector<Val> next =
      (*result)->kind == Val::Kind::Tuple ? (*result)->elems : std::vector<Val>{**result};
  if (next.size() != stateTypes.size())
    return done(fail(d.loc, fmt::format("cell '{}' returns {} value(s) but has {} state(s)", d.name,
                                        next.size(), stateTypes.size())));
  std::vector<ir::Value *> yielded;
  for (size_t i = 0; i < next.size(); ++i) {
    if (!next[i].isTensor() || next[i].tensor->type != stateTypes[i])
      return done(
          fail(d.loc, fmt::format("cell '{}' returns {} for state '{}', which is {}", d.name,
                                  next[i].describe(), tensors[i + 1]->name, stateTypes[i].str())));
    yielded.push_back(next[i].tensor);
  }
  ir::Builder(body).create(ir::OpKind::Yield, yielded, {})->loc = userLoc(loc);

  auto types = ir::inferTypes(*rnn);
  if (!types)
    return done(fail(loc, llvm::toString(types.takeError())));
  for (auto &t : *types)
    rnn->addResult(t);
  callStack_.pop_back();
  Val out = Val::of(rnn->result(0));
  if (returnSequences)
    out.mask = mask; // Keras passes the mask on with the sequence
  if (!returnState)
    return out;
  std::vector<Val> all{out};
  for (size_t i = 1; i < rnn->results.size(); ++i)
    all.push_back(Val::of(rnn->result(i)));
  return Val::tuple(std::move(all));
}

// ---------------------------------------------------------------------------------------
// Training mode: the random key and weight updates

llvm::Expected<Val> Elaborator::callStep(const Val &step, const std::vector<CallArg> &args,
                                         const ir::Loc &loc) {
  size_t savedDepth = bindDepth_;
  bool savedShare = shareWeights_;
  std::string savedBinding = binding_;
  bindDepth_ = callStack_.size() + 1; // the statements of the step's own body
  shareWeights_ = true;
  auto r = callValue(step, args, loc);
  bindDepth_ = savedDepth;
  shareWeights_ = savedShare;
  binding_ = savedBinding;
  return r;
}

ir::Value *Elaborator::seedInput() {
  if (!seed_)
    seed_ = func_->insertInput(ir::Type{ir::DType::I32, {}}, "seed");
  return seed_;
}

ir::Value *Elaborator::rngKey() {
  if (rngKey_)
    return rngKey_;
  // The last input; the train block's targets, added later, go before it.
  rngKey_ = func_->insertInput(ir::Type{ir::DType::I32, {ir::Dim::constant(2)}}, "rng_key");
  return rngKey_;
}

llvm::Error Elaborator::recordUpdate(ir::Value *weight, ir::Value *value, const ir::Loc &loc) {
  for (auto &[w, _] : updates_)
    if (w == weight)
      return fail(loc, fmt::format("weight '{}' is assigned twice",
                                   func_->params[weight->index - func_->numInputs].key));
  updates_.push_back({weight, value});
  return llvm::Error::success();
}

// ---------------------------------------------------------------------------------------
// Models

llvm::Expected<std::unique_ptr<ir::Module>>
Elaborator::model(const ast::Decl &d, const ast::Decl *train, TrainSpec *spec) {
  module_ = std::make_unique<ir::Module>();
  auto f = std::make_unique<ir::Function>();
  f->name = d.name;
  func_ = f.get();
  builder_ = std::make_unique<ir::Builder>(&f->body);
  Frame fr;
  fr.decl = &d;
  for (auto &p : d.params) {
    if (!isTensorParam(p))
      return fail(p.loc, fmt::format("model input '{}' must have a tensor type, e.g. {}: "
                                     "f32[B, T, 8]",
                                     p.name, p.name));
    ir::Type t;
    t.dtype = *ir::parseDType(p.type->dtype);
    for (auto &de : p.type->dims) {
      if (de.kind == ast::DimExpr::Kind::Ellipsis)
        return fail(de.loc, "a model input needs every dimension: a number or a name like B or T");
      if (de.kind == ast::DimExpr::Kind::Int && de.value < 0)
        return fail(de.loc, "dimensions cannot be negative");
      t.shape.push_back(de.kind == ast::DimExpr::Kind::Int ? ir::Dim::constant(de.value)
                                                           : ir::Dim::symbol(de.name));
    }
    fr.vars[p.name] = Val::of(f->body.addArg(t, p.name));
  }
  f->numInputs = (unsigned)d.params.size();
  frames_.push_back(std::move(fr));
  auto r = exec(d.body);
  if (!r)
    return r.takeError();

  std::vector<ir::Value *> outs;
  for (auto &o : d.outputs) {
    auto it = frame().vars.find(o.name);
    if (it == frame().vars.end())
      return fail(o.loc, fmt::format("output '{}' is never assigned in model {}", o.name, d.name));
    if (!it->second.isTensor())
      return fail(o.loc, fmt::format("output '{}' must be a tensor, got {}", o.name,
                                     it->second.describe()));
    ir::Value *v = it->second.tensor;
    if (o.type) {
      if (o.type->kind != ast::TypeExpr::Kind::Tensor)
        return fail(o.loc, fmt::format("output '{}' must have a tensor type", o.name));
      ir::Type want;
      want.dtype = *ir::parseDType(o.type->dtype);
      bool ok = true;
      for (auto &de : o.type->dims) {
        if (de.kind == ast::DimExpr::Kind::Ellipsis)
          ok = false;
        want.shape.push_back(de.kind == ast::DimExpr::Kind::Int ? ir::Dim::constant(de.value)
                                                                : ir::Dim::symbol(de.name));
      }
      if (!ok || want != v->type)
        return fail(o.loc, fmt::format("output '{}' is {}, but it is declared {}", o.name,
                                       v->type.str(), want.str()));
    }
    outs.push_back(v);
    f->outputNames.push_back(o.name);
  }
  // A generated sequence output is trimmed to its longest row when its lengths are an
  // output too (api/; ir::Function::hints "trim:<output>" = "<lengths output>").
  for (size_t i = 0; i < outs.size(); ++i) {
    auto g = generated_.find(outs[i]);
    if (g == generated_.end())
      continue;
    for (size_t j = 0; j < outs.size(); ++j)
      if (outs[j] == g->second) {
        f->hints["trim:" + f->outputNames[i]] = f->outputNames[j];
        break;
      }
  }
  if (seed_)
    for (unsigned i = 0; i < f->numInputs; ++i)
      if (f->input(i) != seed_ && f->input(i)->name == "seed")
        return fail(d.loc, "'seed' names the sampling seed of generate(sample=true); rename the "
                           "input called seed");
  if (train) {
    auto touts = trainBlock(*train, *spec, f->outputNames);
    if (!touts)
      return touts.takeError();
    outs = *touts;
    // The weights assign()ed (batch_norm's moving statistics) come out after the loss and
    // metrics as update/<key>; the trainer stores them after the step.
    for (auto &[w, v] : updates_) {
      outs.push_back(v);
      f->outputNames.push_back("update/" + f->params[w->index - f->numInputs].key);
    }
    if (rngKey_)
      for (unsigned i = 0; i < f->numInputs; ++i)
        if (f->input(i) != rngKey_ && f->input(i)->name == "rng_key")
          return fail(d.loc, "'rng_key' names the training step's random key (dropout); rename "
                             "the input or target called rng_key");
  }
  builder_->setLoc(train ? train->loc : d.loc);
  builder_->create(ir::OpKind::Return, outs, {});
  frames_.pop_back();
  module_->functions.push_back(std::move(f));
  return std::move(module_);
}

llvm::Expected<std::unique_ptr<ir::Module>> Elaborator::run(const std::string &modelName,
                                                            TrainSpec *train) {
  std::vector<const ast::Decl *> models;
  for (auto &d : user_.decls)
    if (d.kind == ast::Decl::Kind::Model)
      models.push_back(&d);
  // Every train block names a model of the file.
  for (auto &d : user_.decls) {
    if (d.kind != ast::Decl::Kind::Train)
      continue;
    if (std::none_of(models.begin(), models.end(),
                     [&](const ast::Decl *m) { return m->name == d.name; }))
      return fail(d.loc, fmt::format("train block for '{}', but the file has no model of that "
                                     "name",
                                     d.name));
  }
  const ast::Decl *chosen = nullptr;
  if (!modelName.empty()) {
    for (auto *m : models)
      if (m->name == modelName)
        chosen = m;
    if (!chosen)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "%s: error: no model named '%s'", user_.name.c_str(),
                                     modelName.c_str());
  } else if (models.size() != 1) {
    std::string names;
    for (auto *m : models)
      names += (names.empty() ? "" : ", ") + m->name;
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(), "%s: error: %s", user_.name.c_str(),
        models.empty() ? "no model declared (a file needs `model NAME(inputs) -> (outputs) {...}`)"
                       : ("several models (" + names + "): choose one with --model").c_str());
  } else {
    chosen = models[0];
  }
  training_ = train && train->trainingMode;
  if (!train)
    return model(*chosen);
  const ast::Decl *block = nullptr;
  for (auto &d : user_.decls)
    if (d.kind == ast::Decl::Kind::Train && d.name == chosen->name) {
      if (block)
        return fail(d.loc, fmt::format("a second train block for model '{}'", d.name));
      block = &d;
    }
  if (!block)
    return fail(chosen->loc,
                fmt::format("model '{}' has no train block to train with (add `train {}(target: "
                            "f32[B, 1]) {{ loss = mse(y, target)  optimizer = adam() }}`)",
                            chosen->name, chosen->name));
  return model(*chosen, block, train);
}

llvm::Expected<std::unique_ptr<ir::Module>>
elaborate(const SourceManager &sm, const ast::File &user, const ast::File &prelude,
          const std::string &modelName, TrainSpec *train, const GenerateSettings *generate) {
  Elaborator el(sm, user, prelude);
  el.generateSettings = generate;
  return el.run(modelName, train);
}

const ast::File &parsedPrelude() {
  // Parsed on first use (thread-safe) and never changed: elaboration only reads the syntax
  // tree, and every location in it names kPreludeName, not a manager's buffer.
  static const std::unique_ptr<const ast::File> prelude = [] {
    SourceManager sm;
    sm.add(kPreludeName, preludeText());
    auto f = parseFile(sm, kPreludeName);
    if (!f)
      llvm::report_fatal_error(llvm::Twine("the prelude does not parse: ") +
                               llvm::toString(f.takeError()));
    return std::unique_ptr<const ast::File>(std::move(*f));
  }();
  return *prelude;
}

llvm::Expected<std::unique_ptr<ir::Module>>
compileSource(SourceManager &sm, const std::string &name, std::string text,
              const std::string &modelName, TrainSpec *train, const GenerateSettings *generate) {
  // The caller's manager holds the prelude's text too: its diagnostics may point into it.
  sm.add(kPreludeName, preludeText());
  const ast::File &prelude = parsedPrelude();
  sm.add(name, std::move(text));
  auto user = parseFile(sm, name);
  if (!user)
    return user.takeError();
  return elaborate(sm, **user, prelude, modelName, train, generate);
}

llvm::Expected<std::unique_ptr<ir::Module>> compileFile(SourceManager &sm, const std::string &path,
                                                        const std::string &modelName,
                                                        TrainSpec *train,
                                                        const GenerateSettings *generate) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "cannot read '%s': it is a directory", path.c_str());
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "cannot read '%s'",
                                   path.c_str());
  std::stringstream ss;
  ss << in.rdbuf();
  return compileSource(sm, path, ss.str(), modelName, train, generate);
}

} // namespace loom::frontend
