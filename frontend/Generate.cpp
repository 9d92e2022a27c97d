// Models that write sequences: generate(...) runs a step function autoregressively in one
// compiled loop that stops when every row has ended (an until loop, docs/ir.md), and
// scan(...) runs the same step over a given sequence (teacher forcing). The step is a
// `def` over a batch: step(input, states..., context...) -> (output, new states...). Its
// statements name their weights as a model's do, so a model that trains the step's layers
// and one that generates with them share one weights file.
#include "frontend/BuiltinArgs.h"
#include "ir/TypeInference.h"

#include <fmt/format.h>

namespace loom::frontend {

namespace {

using ir::DType;
using ir::OpKind;
using ir::Type;
using ir::Value;

/// Builds ops at the elaborator's current block; a type error is an internal bug here
/// (every operand's type is checked before), reported at the call.
struct Ops {
  Elaborator &el;
  ir::Loc loc;
  llvm::Error err = llvm::Error::success();
  ~Ops() { llvm::consumeError(std::move(err)); }

  Value *op(OpKind k, std::vector<Value *> in, std::map<std::string, ir::Attr> attrs = {}) {
    if (err)
      return in.empty() ? nullptr : in[0];
    auto v = el.builder().value(k, std::move(in), std::move(attrs));
    if (!v) {
      err = el.fail(loc, "generate: " + llvm::toString(v.takeError()));
      return nullptr;
    }
    return *v;
  }
  Value *typed(OpKind k, std::vector<Value *> in, Type t,
               std::map<std::string, ir::Attr> attrs = {}) {
    return el.builder().create(k, std::move(in), {std::move(t)}, std::move(attrs))->result(0);
  }
  Value *fill(double v, Type t) { return el.builder().fill(v, std::move(t)); }
  Value *scalar(double v, DType d = DType::F32) { return fill(v, Type{d, {}}); }
  /// f32 1.0 where a == b, else 0.0 (i32 or f32 operands).
  Value *equal(Value *a, Value *b) {
    Value *lt = op(OpKind::Less, {a, b}), *gt = op(OpKind::Less, {b, a});
    return op(OpKind::Sub, {scalar(1.0), op(OpKind::Add, {lt, gt})});
  }
  /// `v` f32[B, ...] viewed as f32[B, 1, ..., 1] of rank `rank`, to broadcast over a row.
  Value *rowsAs(Value *v, unsigned rank) {
    Type t = v->type;
    t.shape.resize(1);
    while (t.shape.size() < rank)
      t.shape.push_back(ir::Dim::constant(1));
    return t == v->type ? v : typed(OpKind::Reshape, {v}, t);
  }
  /// log_softmax over the last axis of `x` f32[R, V].
  Value *logSoftmax(Value *x) {
    std::map<std::string, ir::Attr> last{{"axis", int64_t(1)}, {"keepdims", true}};
    Value *z = op(OpKind::Sub, {x, op(OpKind::ReduceMax, {x}, last)});
    return op(OpKind::Sub,
              {z, op(OpKind::Log, {op(OpKind::ReduceSum, {op(OpKind::Exp, {z})}, last)})});
  }
  /// Rows `ids` (i32[R]) of `v` [N, ...].
  Value *rows(Value *v, Value *ids) {
    return op(OpKind::Gather, {v, ids}, {{"what", std::string("generate: beam row")}});
  }
  Value *i32(double v) { return scalar(v, DType::I32); }
  /// Nonzero when every element of `v` (f32[B, 1], each 0 or 1) is 1, or B is 0: an until
  /// loop's stop flag.
  Value *all(Value *v) {
    Value *m = op(OpKind::ReduceMax, {op(OpKind::Neg, {v})}, {{"axis", int64_t(1)}});
    m = op(OpKind::ReduceMax, {m}, {{"axis", int64_t(0)}});
    return op(OpKind::Neg, {m});
  }
};

/// A keyword argument after the settings given outside the model file.
struct Settings {
  int64_t maxLength = 0;
  std::optional<int64_t> endToken, topK;
  int64_t padToken = 0;
  bool sample = false;
  double temperature = 1.0, topP = 1.0, penalty = 1.0;
  int64_t beams = 1;
  double lengthPenalty = 1.0;
};

llvm::Expected<Settings> readSettings(Elaborator &el, const BoundArgs &a) {
  Settings s;
  const GenerateSettings *over = el.generateSettings;
  auto intOf = [&](const char *k,
                   std::optional<int64_t> o) -> llvm::Expected<std::optional<int64_t>> {
    if (o)
      return o;
    const Val &v = a[k];
    if (v.kind == Val::Kind::None)
      return std::optional<int64_t>();
    if (v.kind != Val::Kind::Int)
      return el.fail(a.locs.at(k),
                     fmt::format("generate: {} must be an int, got {}", k, v.describe()));
    return std::optional<int64_t>(v.i);
  };
  auto realOf = [&](const char *k, std::optional<double> o) -> llvm::Expected<double> {
    if (o)
      return *o;
    const Val &v = a[k];
    if (!v.isNumber())
      return el.fail(a.locs.at(k),
                     fmt::format("generate: {} must be a number, got {}", k, v.describe()));
    return v.number();
  };
  auto where = [&](const char *k, bool overridden) {
    return overridden ? a.callLoc : a.locs.at(k);
  };
  auto ml = intOf("max_length", over ? over->maxLength : std::nullopt);
  if (!ml)
    return ml.takeError();
  if (!*ml)
    return el.fail(a.callLoc, "generate needs max_length, the most steps it runs");
  s.maxLength = **ml;
  if (s.maxLength < 1)
    return el.fail(where("max_length", over && over->maxLength),
                   fmt::format("generate: max_length must be at least 1, got {}", s.maxLength));
  auto et = intOf("end_token", over ? over->endToken : std::nullopt);
  if (!et)
    return et.takeError();
  s.endToken = *et;
  if (s.endToken && *s.endToken < 0)
    return el.fail(
        where("end_token", over && over->endToken),
        fmt::format("generate: end_token must be a token id (0 or more), got {}", *s.endToken));
  auto pt = intOf("pad_token", std::nullopt);
  if (!pt)
    return pt.takeError();
  s.padToken = pt->value_or(0);
  auto tk = intOf("top_k", over ? over->topK : std::nullopt);
  if (!tk)
    return tk.takeError();
  s.topK = *tk;
  if (s.topK && *s.topK < 1)
    return el.fail(where("top_k", over && over->topK),
                   fmt::format("generate: top_k must be at least 1, got {}", *s.topK));
  const Val &sv = a["sample"];
  if (over && over->sample)
    s.sample = *over->sample;
  else if (sv.kind == Val::Kind::Bool)
    s.sample = sv.b;
  else
    return el.fail(a.locs.at("sample"),
                   fmt::format("generate: sample must be true or false, got {}", sv.describe()));
  auto t = realOf("temperature", over ? over->temperature : std::nullopt);
  if (!t)
    return t.takeError();
  s.temperature = *t;
  if (!(s.temperature > 0))
    return el.fail(
        where("temperature", over && over->temperature),
        fmt::format("generate: temperature must be greater than 0, got {}", s.temperature));
  auto p = realOf("top_p", over ? over->topP : std::nullopt);
  if (!p)
    return p.takeError();
  s.topP = *p;
  if (!(s.topP > 0 && s.topP <= 1))
    return el.fail(where("top_p", over && over->topP),
                   fmt::format("generate: top_p must be in (0, 1], got {}", s.topP));
  auto nb = intOf("beams", over ? over->beams : std::nullopt);
  if (!nb)
    return nb.takeError();
  s.beams = nb->value_or(1);
  if (s.beams < 1)
    return el.fail(where("beams", over && over->beams),
                   fmt::format("generate: beams must be at least 1, got {}", s.beams));
  if (s.beams > 1 && s.sample)
    return el.fail(a.callLoc, "generate: beam search (beams > 1) chooses the most likely "
                              "sequences; it does not sample (sample=false)");
  auto lp = realOf("length_penalty", over ? over->lengthPenalty : std::nullopt);
  if (!lp)
    return lp.takeError();
  s.lengthPenalty = *lp;
  auto rp = realOf("repetition_penalty", over ? over->repetitionPenalty : std::nullopt);
  if (!rp)
    return rp.takeError();
  s.penalty = *rp;
  if (!(s.penalty > 0))
    return el.fail(
        where("repetition_penalty", over && over->repetitionPenalty),
        fmt::format("generate: repetition_penalty must be greater than 0, got {}", s.penalty));
  return s;
}

/// Tensors of a `states` argument: none, one tensor, or a list/tuple of tensors.
llvm::Expected<std::vector<Value *>> tensorList(Elaborator &el, const BoundArgs &a, const char *k,
                                                const char *fn) {
  const Val &v = a[k];
  std::vector<Value *> out;
  if (v.kind == Val::Kind::None)
    return out;
  std::vector<Val> elems = v.kind == Val::Kind::Tuple ? v.elems : std::vector<Val>{v};
  for (const Val &e : elems) {
    if (!e.isTensor())
      return el.fail(a.locs.at(k),
                     fmt::format("{}: {} must be tensors, got {}", fn, k, e.describe()));
    out.push_back(e.tensor);
  }
  return out;
}

/// The step's result: its output and new states, checked against the states' types.
struct StepResult {
  Value *out = nullptr;
  std::vector<Value *> states;
};

/// Calls the step with (input, states..., context...), the input [B, ...] given to it as a
/// sequence of one step [B, 1, ...], as Keras's inference models run their layers.
/// `context` replaces the call's context argument when given (beam search's, repeated per
/// beam).
llvm::Expected<StepResult> callStep(Elaborator &el, const BoundArgs &a, Value *input,
                                    const std::vector<Value *> &states, const char *fn,
                                    const std::vector<Val> *context = nullptr) {
  Type seqT = input->type;
  seqT.shape.insert(seqT.shape.begin() + 1, ir::Dim::constant(1));
  el.builder().setLoc(el.userLoc(a.callLoc));
  Value *seq = el.builder().create(OpKind::Reshape, {input}, {seqT})->result(0);
  std::vector<CallArg> args{{"", Val::of(seq), a.callLoc}};
  for (Value *s : states)
    args.push_back({"", Val::of(s), a.callLoc});
  const Val &ctx = a["context"];
  if (context)
    for (const Val &c : *context)
      args.push_back({"", c, a.locs.at("context")});
  else if (ctx.kind == Val::Kind::Tuple)
    for (const Val &c : ctx.elems)
      args.push_back({"", c, a.locs.at("context")});
  else if (ctx.kind != Val::Kind::None)
    args.push_back({"", ctx, a.locs.at("context")});
  auto r = el.callStep(a["step"], args, a.locs.at("step"));
  if (!r)
    return r.takeError();
  std::vector<Val> got = r->kind == Val::Kind::Tuple ? r->elems : std::vector<Val>{*r};
  if (got.size() != states.size() + 1)
    return el.fail(a.locs.at("step"),
                   fmt::format("{}: the step must return its output and its {} new state(s), "
                               "got {} value(s)",
                               fn, states.size(), got.size()));
  StepResult out;
  for (size_t i = 0; i < got.size(); ++i)
    if (!got[i].isTensor() || got[i].tensor->type.dtype != DType::F32)
      return el.fail(a.locs.at("step"),
                     fmt::format("{}: the step returns {} as its {}; it must be an f32 tensor", fn,
                                 got[i].describe(),
                                 i == 0 ? std::string("output") : fmt::format("state {}", i)));
  out.out = got[0].tensor;
  for (size_t i = 1; i < got.size(); ++i) {
    if (got[i].tensor->type != states[i - 1]->type)
      return el.fail(a.locs.at("step"),
                     fmt::format("{}: the step returns {} for state {}, which is {}", fn,
                                 got[i].tensor->type.str(), i, states[i - 1]->type.str()));
    out.states.push_back(got[i].tensor);
  }
  return out;
}

/// A loop op at the current block with `carries` and `slices` operands and its body; the
/// caller fills the body and adds the results.
ir::Op *newLoop(Elaborator &el, const std::vector<Value *> &carries,
                const std::vector<Value *> &slices, ir::Dim steps, bool until) {
  std::vector<Value *> operands = carries;
  operands.insert(operands.end(), slices.begin(), slices.end());
  std::map<std::string, ir::Attr> attrs = {{"carries", (int64_t)carries.size()},
                                           {"slices", (int64_t)slices.size()},
                                           {"steps", steps},
                                           {"reverse", false}};
  if (until)
    attrs["until"] = true;
  ir::Op *loop = el.builder().create(OpKind::Loop, operands, {}, attrs);
  ir::Block *body = loop->addRegion();
  for (Value *c : carries)
    body->addArg(c->type, c->name);
  for (Value *s : slices)
    body->addArg(ir::sliceType(s->type), s->name);
  return loop;
}

llvm::Error finishLoop(Elaborator &el, ir::Op *loop, std::vector<Value *> yielded,
                       const ir::Loc &loc) {
  ir::Builder(loop->regions[0].get()).create(OpKind::Yield, std::move(yielded), {})->loc = loc;
  auto types = ir::inferTypes(*loop);
  if (!types)
    return el.fail(loc, llvm::toString(types.takeError()));
  for (auto &t : *types)
    loop->addResult(t);
  return llvm::Error::success();
}

/// The first dim of `v` must be `batch`.
llvm::Error sameBatch(Elaborator &el, const BoundArgs &a, const char *k, Value *v,
                      const ir::Dim &batch, const char *fn) {
  if (v->type.rank() < 1 || v->type.shape[0] != batch)
    return el.fail(a.locs.at(k), fmt::format("{}: {} must have the batch dim {} first, got {}", fn,
                                             k, batch.str(), v->type.str()));
  return llvm::Error::success();
}

/// Beam search (beams = K > 1) from the step's first output `first` [B, V] and states `st`
/// [B, ...]: K hypotheses per row (rows b*K + k of every carry), each step's K best
/// continuations among the K*V of the row by summed log-probability (the first maximum
/// first, as argmax), a finished hypothesis (it emitted the end token) keeping its place
/// with its score and extending only by padding. The loop stops when every hypothesis has
/// finished. Each row's result is its hypothesis of best score / length^length_penalty.
llvm::Expected<Val> beamSearch(Elaborator &el, const BoundArgs &a, const Settings &s, Ops &o,
                               Value *first, std::vector<Value *> st, bool tokens,
                               std::optional<int64_t> vocab, const ir::Dim &batch) {
  if (!tokens || !vocab)
    return el.fail(a.callLoc, "generate: beam search needs token ids and logits f32[B, V] with "
                              "V known when compiling");
  if (s.penalty != 1.0)
    return el.fail(a.callLoc, "generate: repetition_penalty is for greedy decoding and "
                              "sampling, not beam search");
  const int64_t K = s.beams, V = *vocab, N = s.maxLength;
  const ir::Dim BK = batch * ir::Dim::constant(K);
  const size_t nS = st.size();
  auto i32T = [](std::vector<ir::Dim> d) { return Type{DType::I32, std::move(d)}; };
  auto f32T = [](std::vector<ir::Dim> d) { return Type{DType::F32, std::move(d)}; };
  const ir::Dim one = ir::Dim::constant(1);
  // Row r of the beams belongs to row r / K of the batch.
  Value *r = o.typed(OpKind::Iota, {}, i32T({BK}), {{"axis", int64_t(0)}});
  Value *owner = o.op(OpKind::Div, {r, o.i32((double)K)});
  Value *expand = o.rows(first, owner);
  for (Value *&v : st)
    v = o.rows(v, owner);
  std::vector<Val> context;
  const Val &ctx = a["context"];
  for (const Val &c : ctx.kind == Val::Kind::Tuple  ? ctx.elems
                      : ctx.kind == Val::Kind::None ? std::vector<Val>{}
                                                    : std::vector<Val>{ctx})
    context.push_back(c.isTensor() && c.tensor->type.rank() >= 1 && c.tensor->type.shape[0] == batch
                          ? Val::of(o.rows(c.tensor, owner))
                          : c);
  // Scores: 0 for each row's first hypothesis, -1e9 for the others (identical until they
  // differ), so the first step takes K distinct tokens.
  Value *k = o.op(OpKind::Sub, {r, o.op(OpKind::Mul, {owner, o.i32((double)K)})});
  Value *notFirst = o.op(OpKind::Less, {o.i32(0.0), k});
  Value *score0 =
      o.typed(OpKind::Reshape, {o.op(OpKind::Mul, {notFirst, o.scalar(-1e9)})}, f32T({BK, one}));
  std::vector<Value *> carries{expand};
  carries.insert(carries.end(), st.begin(), st.end());
  carries.push_back(score0);
  carries.push_back(o.fill(0.0, f32T({BK, one})));
  carries.push_back(o.fill(0.0, i32T({BK})));
  carries.push_back(o.fill((double)s.padToken, i32T({BK, ir::Dim::constant(N)})));
  carries.push_back(o.i32(0.0));
  if (o.err)
    return std::move(o.err);
  ir::Op *loop = newLoop(el, carries, {}, ir::Dim::constant(N), /*until=*/true);
  ir::Block *body = loop->regions[0].get();
  auto built = el.inBlock(body, [&]() -> llvm::Expected<std::vector<Value *>> {
    auto arg = [&](size_t i) { return body->args[i].get(); };
    Value *logits = arg(0), *score = arg(nS + 1), *done = arg(nS + 2), *len = arg(nS + 3),
          *hist = arg(nS + 4), *counter = arg(nS + 5);
    std::vector<Value *> cur;
    for (size_t i = 0; i < nS; ++i)
      cur.push_back(arg(1 + i));
    // A finished hypothesis continues with padding only, at no cost.
    Value *padOnly = o.op(
        OpKind::Mul,
        {o.op(OpKind::Sub,
              {o.scalar(1.0), o.op(OpKind::OneHot, {o.i32((double)s.padToken)}, {{"depth", V}})}),
         o.scalar(-1e9)});
    Value *lp = o.op(OpKind::Select, {done, padOnly, o.logSoftmax(logits)});
    Value *cand = o.typed(OpKind::Reshape, {o.op(OpKind::Add, {score, lp})},
                          f32T({batch, ir::Dim::constant(K * V)}));
    std::vector<Value *> idx, val;
    for (int64_t j = 0; j < K; ++j) {
      Value *i = o.op(OpKind::ArgMax, {cand}, {{"axis", int64_t(1)}, {"keepdims", true}});
      val.push_back(o.op(OpKind::ReduceMax, {cand}, {{"axis", int64_t(1)}, {"keepdims", true}}));
      idx.push_back(i);
      if (j + 1 < K)
        cand = o.op(OpKind::Select,
                    {o.op(OpKind::OneHot, {o.typed(OpKind::Reshape, {i}, i32T({batch}))},
                          {{"depth", K * V}}),
                     o.scalar(-3e38), cand});
    }
    Value *best =
        o.typed(OpKind::Reshape, {o.op(OpKind::Concat, idx, {{"axis", int64_t(1)}})}, i32T({BK}));
    Value *newScore = o.typed(OpKind::Reshape, {o.op(OpKind::Concat, val, {{"axis", int64_t(1)}})},
                              f32T({BK, one}));
    Value *parentLocal = o.op(OpKind::Div, {best, o.i32((double)V)});
    Value *token = o.op(OpKind::Sub, {best, o.op(OpKind::Mul, {parentLocal, o.i32((double)V)})});
    Value *parent = o.op(OpKind::Add, {o.op(OpKind::Mul, {owner, o.i32((double)K)}), parentLocal});
    Value *prevDone = o.rows(done, parent);
    Value *prevDoneRow = o.typed(OpKind::Reshape, {prevDone}, f32T({BK}));
    Value *emitted = o.op(OpKind::Select, {prevDoneRow, o.i32((double)s.padToken), token});
    Value *at = o.op(OpKind::OneHot, {counter}, {{"depth", N}});
    Value *newHist = o.op(OpKind::Select, {at, o.typed(OpKind::Reshape, {emitted}, i32T({BK, one})),
                                           o.rows(hist, parent)});
    Value *newLen =
        o.op(OpKind::Add, {o.rows(len, parent),
                           o.op(OpKind::Cast, {o.op(OpKind::Sub, {o.scalar(1.0), prevDoneRow})},
                                {{"dtype", std::string("i32")}})});
    Value *newDone = prevDone;
    if (s.endToken)
      newDone = o.op(OpKind::Max, {prevDone, o.typed(OpKind::Reshape,
                                                     {o.equal(token, o.i32((double)*s.endToken))},
                                                     f32T({BK, one}))});
    std::vector<Value *> from;
    for (Value *c : cur)
      from.push_back(o.rows(c, parent));
    if (o.err)
      return std::move(o.err);
    auto step = callStep(el, a, emitted, from, "generate", &context);
    if (!step)
      return step.takeError();
    std::vector<Value *> y{step->out};
    for (size_t i = 0; i < nS; ++i)
      y.push_back(o.op(OpKind::Select,
                       {o.rowsAs(newDone, from[i]->type.rank()), from[i], step->states[i]}));
    y.push_back(newScore);
    y.push_back(newDone);
    y.push_back(newLen);
    y.push_back(newHist);
    y.push_back(o.op(OpKind::Add, {counter, o.i32(1.0)}));
    y.push_back(s.endToken ? o.all(newDone) : o.scalar(0.0));
    return y;
  });
  if (!built)
    return built.takeError();
  if (o.err)
    return std::move(o.err);
  if (auto e = finishLoop(el, loop, *built, a.callLoc))
    return e;
  Value *score = loop->result((unsigned)(nS + 1)), *len = loop->result((unsigned)(nS + 3)),
        *hist = loop->result((unsigned)(nS + 4));
  // score / length^length_penalty (a length of 0 only when max_length steps never ran).
  Value *lenF =
      o.op(OpKind::Max,
           {o.typed(OpKind::Reshape, {o.op(OpKind::Cast, {len}, {{"dtype", std::string("f32")}})},
                    f32T({BK, one})),
            o.scalar(1.0)});
  Value *norm = o.op(OpKind::Div,
                     {score, o.op(OpKind::Exp, {o.op(OpKind::Mul, {o.scalar(s.lengthPenalty),
                                                                   o.op(OpKind::Log, {lenF})})})});
  Value *byRow = o.typed(OpKind::Reshape, {norm}, f32T({batch, ir::Dim::constant(K)}));
  Value *bestK = o.op(OpKind::ArgMax, {byRow}, {{"axis", int64_t(1)}});
  Value *b = o.typed(OpKind::Iota, {}, i32T({batch}), {{"axis", int64_t(0)}});
  Value *bestRow = o.op(OpKind::Add, {o.op(OpKind::Mul, {b, o.i32((double)K)}), bestK});
  Value *ids = o.rows(hist, bestRow), *lengths = o.rows(len, bestRow);
  if (o.err)
    return std::move(o.err);
  el.noteGenerated(ids, lengths);
  std::vector<Val> result{Val::of(ids), Val::of(lengths)};
  if (a["return_beams"].kind == Val::Kind::Bool && a["return_beams"].b) {
    Value *all =
        o.typed(OpKind::Reshape, {hist}, i32T({batch, ir::Dim::constant(K), ir::Dim::constant(N)}));
    result.push_back(Val::of(all));
    result.push_back(Val::of(byRow));
    result.push_back(Val::of(o.typed(OpKind::Reshape, {len}, i32T({batch, ir::Dim::constant(K)}))));
  }
  if (a["return_steps"].kind == Val::Kind::Bool && a["return_steps"].b)
    result.push_back(Val::of(loop->results.back().get()));
  return Val::tuple(std::move(result));
}

/// generate(step, start=none, prompt=none, states=none, context=none, max_length,
///          end_token=none, pad_token=0, sample=false, temperature=1.0, top_k=none,
///          top_p=1.0, repetition_penalty=1.0, stop=none, return_state=false)
llvm::Expected<Val> generateBuiltin(Elaborator &el, const BoundArgs &a) {
  auto settings = readSettings(el, a);
  if (!settings)
    return settings.takeError();
  const Settings &s = *settings;
  const char *fn = "generate";
  const Val &startV = a["start"], &promptV = a["prompt"];
  if ((startV.kind == Val::Kind::None) == (promptV.kind == Val::Kind::None))
    return el.fail(a.callLoc, "generate needs either start= (the first input: token ids i32[B] "
                              "or vectors f32[B, ...]) or prompt= (token ids i32[B, P])");
  bool fromPrompt = promptV.kind != Val::Kind::None;
  const char *inKey = fromPrompt ? "prompt" : "start";
  const Val &inV = fromPrompt ? promptV : startV;
  Value *in = inV.isTensor() ? inV.tensor : nullptr;
  if (!fromPrompt && inV.kind == Val::Kind::Int) {
    // One start token for every row (a decoder's start token): the batch is the states'.
    auto states = tensorList(el, a, "states", "generate");
    if (!states)
      return states.takeError();
    if (states->empty() || (*states)[0]->type.rank() < 1)
      return el.fail(a.locs.at("start"), "generate: a start token given as a number needs "
                                         "states=, whose first dim is the batch");
    if (inV.i < 0)
      return el.fail(a.locs.at("start"),
                     fmt::format("generate: start token {} is not a token id", inV.i));
    el.builder().setLoc(el.userLoc(a.callLoc));
    in = el.builder().fill((double)inV.i, Type{DType::I32, {(*states)[0]->type.shape[0]}});
  }
  if (!in)
    return el.fail(a.locs.at(inKey),
                   fmt::format("generate: {} must be a tensor, got {}", inKey, inV.describe()));
  bool tokens = in->type.dtype == DType::I32;
  if (fromPrompt && (tokens ? in->type.rank() != 2 : in->type.rank() < 3))
    return el.fail(a.locs.at("prompt"),
                   fmt::format("generate: prompt must be token ids i32[B, P] or vectors f32[B, "
                               "P, ...], got {}",
                               in->type.str()));
  if (!fromPrompt && tokens && in->type.rank() != 1)
    return el.fail(a.locs.at("start"),
                   fmt::format("generate: start tokens must be i32[B], got {}", in->type.str()));
  if (!fromPrompt && !tokens && in->type.rank() < 2)
    return el.fail(
        a.locs.at("start"),
        fmt::format("generate: start vectors must be f32[B, ...], got {}", in->type.str()));
  ir::Dim batch = in->type.shape[0];
  auto states = tensorList(el, a, "states", fn);
  if (!states)
    return states.takeError();
  for (Value *st : *states)
    if (auto e = sameBatch(el, a, "states", st, batch, fn))
      return e;
  if (!tokens && (s.sample || s.topK || s.endToken || s.penalty != 1.0))
    return el.fail(a.callLoc, "generate: sample, top_k, end_token and repetition_penalty are "
                              "for token ids; a step over vectors feeds its output back as it "
                              "is (stop= ends a row)");
  const Val &stopV = a["stop"];
  if (stopV.kind != Val::Kind::None && stopV.kind != Val::Kind::Func)
    return el.fail(a.locs.at("stop"), fmt::format("generate: stop must be a function of the "
                                                  "step's output, got {}",
                                                  stopV.describe()));
  if (tokens && stopV.kind != Val::Kind::None)
    return el.fail(a.locs.at("stop"), "generate: stop= ends rows of vectors; token ids end at "
                                      "end_token");
  const Val &rs = a["return_state"];
  if (rs.kind != Val::Kind::Bool)
    return el.fail(a.locs.at("return_state"), "generate: return_state must be true or false");
  if (rs.b && s.beams > 1)
    return el.fail(a.locs.at("return_state"),
                   "generate: return_state is not available with beam search (beams > 1)");

  Ops o{el, a.callLoc};
  el.builder().setLoc(el.userLoc(a.callLoc));
  // The step's output and states before the first generated token: after the prompt (a loop
  // over its tokens), or after the start input.
  Value *first = nullptr;
  std::vector<Value *> st = *states;
  if (fromPrompt) {
    // The step's output type, from a call on a token of zeros (dead code, removed by dce).
    auto probe = callStep(el, a, o.fill(0.0, ir::sliceType(in->type)), st, fn);
    if (!probe)
      return probe.takeError();
    std::vector<Value *> carries = st;
    carries.push_back(o.fill(0.0, probe->out->type));
    ir::Op *loop = newLoop(el, carries, {in}, in->type.shape[1], false);
    ir::Block *body = loop->regions[0].get();
    auto r = el.inBlock(body, [&] {
      std::vector<Value *> cur;
      for (size_t i = 0; i < st.size(); ++i)
        cur.push_back(body->args[i].get());
      return callStep(el, a, body->args.back().get(), cur, fn);
    });
    if (!r)
      return r.takeError();
    std::vector<Value *> y = r->states;
    y.push_back(r->out);
    if (auto e = finishLoop(el, loop, y, a.callLoc))
      return e;
    for (size_t i = 0; i < st.size(); ++i)
      st[i] = loop->result((unsigned)i);
    first = loop->result((unsigned)st.size());
  } else {
    auto r = callStep(el, a, in, st, fn);
    if (!r)
      return r.takeError();
    first = r->out;
    st = r->states;
  }
  const Type outType = first->type;
  if (auto e = sameBatch(el, a, "step", first, batch, fn))
    return e;
  std::optional<int64_t> vocab;
  if (tokens) {
    if (outType.rank() != 2)
      return el.fail(a.locs.at("step"),
                     fmt::format("generate: a step over token ids must return logits f32[B, V], "
                                 "got {}",
                                 outType.str()));
    if (outType.shape[1].isStatic())
      vocab = outType.shape[1].value();
    else if (s.penalty != 1.0)
      return el.fail(a.callLoc, fmt::format("generate: repetition_penalty needs the vocabulary "
                                            "size known when compiling; the logits are {}",
                                            outType.str()));
  } else if (Type want = fromPrompt ? ir::sliceType(in->type) : in->type; outType != want) {
    return el.fail(a.locs.at("step"),
                   fmt::format("generate: a step over vectors returns its next input, so its "
                               "output must be {}, got {}",
                               want.str(), outType.str()));
  }
  if (s.endToken && vocab && *s.endToken >= *vocab)
    return el.fail(a.callLoc,
                   fmt::format("generate: end_token {} is outside the vocabulary of {} tokens",
                               *s.endToken, *vocab));
  if (s.padToken < 0 || (tokens && vocab && s.padToken >= *vocab))
    return el.fail(a.locs.at("pad_token"),
                   fmt::format("generate: pad_token {} is outside the vocabulary", s.padToken));
  if (s.topK && vocab && *s.topK > *vocab)
    return el.fail(a.callLoc, fmt::format("generate: top_k {} is more than the vocabulary of {} "
                                          "tokens",
                                          *s.topK, *vocab));
  if (s.beams > 1)
    return beamSearch(el, a, s, o, first, st, tokens, vocab, batch);

  // The loop: carries (output, states..., done f32[B, 1], length i32[B], step i32[], and for
  // the repetition penalty the tokens seen f32[B, V]); one value stacked per step.
  const size_t nS = st.size();
  const Type doneT{DType::F32, {batch, ir::Dim::constant(1)}};
  const Type rowT{DType::F32, {batch}};
  std::vector<Value *> carries{first};
  carries.insert(carries.end(), st.begin(), st.end());
  carries.push_back(o.fill(0.0, doneT));
  carries.push_back(o.fill(0.0, Type{DType::I32, {batch}}));
  carries.push_back(o.scalar(0.0, DType::I32));
  bool penalize = tokens && s.penalty != 1.0;
  if (penalize) {
    std::map<std::string, ir::Attr> depth{{"depth", *vocab}};
    carries.push_back(fromPrompt ? o.op(OpKind::ReduceMax, {o.op(OpKind::OneHot, {in}, depth)},
                                        {{"axis", int64_t(1)}})
                                 : o.op(OpKind::OneHot, {in}, depth));
  }
  bool stops = s.endToken || stopV.kind == Val::Kind::Func;
  ir::Op *loop = newLoop(el, carries, {}, ir::Dim::constant(s.maxLength), /*until=*/true);
  ir::Block *body = loop->regions[0].get();
  auto built = el.inBlock(body, [&]() -> llvm::Expected<std::vector<Value *>> {
    auto arg = [&](size_t i) { return body->args[i].get(); };
    Value *out = arg(0), *done = arg(nS + 1), *len = arg(nS + 2), *counter = arg(nS + 3);
    std::vector<Value *> cur;
    for (size_t i = 0; i < nS; ++i)
      cur.push_back(arg(1 + i));
    Value *doneRow = o.typed(OpKind::Reshape, {done}, rowT);
    Value *emitted = nullptr, *hit = nullptr, *next = nullptr;
    if (tokens) {
      Value *logits = out;
      if (penalize) { // Hugging Face's: a seen token's logit divided by p if > 0, else times p
        Value *p = o.scalar(s.penalty);
        Value *pen =
            o.op(OpKind::Select, {o.op(OpKind::Less, {o.scalar(0.0), out}),
                                  o.op(OpKind::Div, {out, p}), o.op(OpKind::Mul, {out, p})});
        logits = o.op(OpKind::Select, {arg(nS + 4), pen, out});
      }
      next = s.sample ? o.op(OpKind::Sample, {logits, el.seedInput(), counter},
                             {{"stream", el.nextStream()},
                              {"temperature", s.temperature},
                              {"top_k", s.topK.value_or(0)},
                              {"top_p", s.topP}})
                      : o.op(OpKind::ArgMax, {logits}, {{"axis", int64_t(1)}});
      emitted = o.op(OpKind::Select, {doneRow, o.scalar((double)s.padToken, DType::I32), next});
      if (s.endToken)
        hit = o.typed(OpKind::Reshape, {o.equal(next, o.scalar((double)*s.endToken, DType::I32))},
                      doneT);
    } else {
      emitted = o.op(OpKind::Select, {o.rowsAs(done, out->type.rank()), o.scalar(0.0), out});
      if (stopV.kind == Val::Kind::Func) {
        auto h = el.callValue(stopV, {{"", Val::of(out), a.locs.at("stop")}}, a.locs.at("stop"));
        if (!h)
          return h.takeError();
        if (!h->isTensor() || h->tensor->type.dtype != DType::F32 ||
            (h->tensor->type != rowT && h->tensor->type != doneT))
          return el.fail(a.locs.at("stop"),
                         fmt::format("generate: stop must return f32[{}] or f32[{}, 1] (nonzero: "
                                     "the row ends), got {}",
                                     batch.str(), batch.str(), h->describe()));
        Value *nz = o.op(OpKind::Less, {o.scalar(0.0), o.op(OpKind::Abs, {h->tensor})});
        hit = nz->type == doneT ? nz : o.typed(OpKind::Reshape, {nz}, doneT);
      }
    }
    Value *newDone = hit ? o.op(OpKind::Max, {done, hit}) : done;
    Value *newLen =
        o.op(OpKind::Add, {len, o.op(OpKind::Cast, {o.op(OpKind::Sub, {o.scalar(1.0), doneRow})},
                                     {{"dtype", std::string("i32")}})});
    auto r = callStep(el, a, emitted, cur, fn);
    if (!r)
      return r.takeError();
    if (r->out->type != outType)
      return el.fail(a.locs.at("step"),
                     fmt::format("generate: the step returns {} here but {} before the loop",
                                 r->out->type.str(), outType.str()));
    std::vector<Value *> y{r->out};
    for (size_t i = 0; i < nS; ++i) // a row that has ended keeps its states
      y.push_back(
          o.op(OpKind::Select, {o.rowsAs(newDone, cur[i]->type.rank()), cur[i], r->states[i]}));
    y.push_back(newDone);
    y.push_back(newLen);
    y.push_back(o.op(OpKind::Add, {counter, o.scalar(1.0, DType::I32)}));
    if (penalize)
      y.push_back(
          o.op(OpKind::Max, {arg(nS + 4), o.op(OpKind::OneHot, {next}, {{"depth", *vocab}})}));
    y.push_back(emitted);
    y.push_back(stops ? o.all(newDone) : o.scalar(0.0));
    return y;
  });
  if (!built)
    return built.takeError();
  if (o.err)
    return std::move(o.err);
  if (auto e = finishLoop(el, loop, *built, a.callLoc))
    return e;
  Value *seq = loop->result((unsigned)carries.size());
  Value *lengths = loop->result((unsigned)(nS + 2));
  el.noteGenerated(seq, lengths);
  std::vector<Val> result{Val::of(seq), Val::of(lengths)};
  if (rs.b)
    for (size_t i = 0; i < nS; ++i)
      result.push_back(Val::of(loop->result((unsigned)(1 + i))));
  if (a["return_steps"].kind == Val::Kind::Bool && a["return_steps"].b)
    result.push_back(Val::of(loop->results.back().get()));
  return Val::tuple(std::move(result));
}

} // namespace

void addGenerateBuiltins(std::map<std::string, Builtin> &m) {
  m["generate"] = Builtin{"generate",
                          {{"step"},
                           {"start", false, Val::none()},
                           {"prompt", false, Val::none()},
                           {"states", false, Val::none()},
                           {"context", false, Val::none()},
                           {"max_length", false, Val::none()},
                           {"end_token", false, Val::none()},
                           {"pad_token", false, Val::integer(0)},
                           {"sample", false, Val::boolean(false)},
                           {"temperature", false, Val::real(1.0)},
                           {"top_k", false, Val::none()},
                           {"top_p", false, Val::real(1.0)},
                           {"repetition_penalty", false, Val::real(1.0)},
                           {"stop", false, Val::none()},
                           {"return_state", false, Val::boolean(false)},
                           {"return_steps", false, Val::boolean(false)},
                           {"beams", false, Val::none()},
                           {"length_penalty", false, Val::real(1.0)},
                           {"return_beams", false, Val::boolean(false)}},
                          generateBuiltin};
}

} // namespace loom::frontend
