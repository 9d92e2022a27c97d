// lower-rnn: the layer-level `rnn` op becomes a `loop` whose carries are the cell's states
// and whose only slice is the input sequence.
//
//   %out[, %states...] = rnn %x, %s0... {return_sequences, return_state, go_backwards}
//       (%xt, %h...) { ...; yield %h' ... }
// becomes
//   %fin..., [%seq] = loop %s0..., %x {carries = n, slices = 1, steps = T, reverse = go_backwards}
//       (%h..., %xt) { ...; yield %h'..., [%h'0] }
//   [%seq' = reverse %seq {axis = 1}]      // go_backwards: Keras returns processing order
// where the stacked first state is produced only with return_sequences. With a mask
// operand (f32[B,T,1], sliced like x), the body ends in selects that keep each state at a
// masked step and repeat the previous output there (an extra carry), or output zeros with
// zero_output_for_mask: Keras's semantics.
#include "ir/Builder.h"
#include "ir/TypeInference.h"
#include "passes/Passes.h"

namespace loom::passes {

namespace {

bool lowerIn(ir::Block &block);

/// Rewrites the rnn op at block.ops[idx] in place; returns how many ops replaced it.
size_t lowerOne(ir::Block &block, size_t idx) {
  using namespace ir;
  Op &rnn = *block.ops[idx];
  size_t ns = rnnNumStates(rnn);
  bool seqs = rnn.boolAttr("return_sequences"), states = rnn.boolAttr("return_state");
  bool backwards = rnn.boolAttr("go_backwards"), masked = rnn.boolAttr("masked");
  bool zeroOut = rnn.boolAttr("zero_output_for_mask");
  // With a mask, a sequence output repeats the previous output at masked steps: that
  // needs its own carry (it is not the held state when an initial state is given).
  bool prevCarry = masked && seqs && !zeroOut;
  Value *x = rnn.operands[0];
  Value *mask = masked ? rnn.operands.back() : nullptr;
  const Type &outType = rnn.operands[1]->type;

  Block scratch;
  Builder b(&scratch);
  b.setLoc(rnn.loc);
  std::vector<Value *> operands(rnn.operands.begin() + 1, rnn.operands.begin() + 1 + ns);
  if (prevCarry)
    operands.push_back(b.fill(0.0, outType));
  operands.push_back(x);
  if (masked)
    operands.push_back(mask);
  size_t nc = ns + (prevCarry ? 1 : 0);
  Op *loop = b.create(OpKind::Loop, operands, {},
                      {{"carries", (int64_t)nc},
                       {"slices", (int64_t)(masked ? 2 : 1)},
                       {"steps", x->type.shape[1]},
                       {"reverse", backwards}});

  // Move the cell body into the loop: [states..., prev?, x_t, mask_t?].
  loop->regions.push_back(std::move(rnn.regions[0]));
  Block &body = *loop->regions[0];
  body.parent = loop;
  std::rotate(body.args.begin(), body.args.begin() + 1, body.args.end());
  Value *prev = nullptr, *maskT = nullptr;
  if (prevCarry) {
    auto v = std::make_unique<Value>();
    v->type = outType;
    v->owner = &body;
    prev = v.get();
    body.args.insert(body.args.begin() + ns, std::move(v));
  }
  if (masked)
    maskT = body.addArg(sliceType(mask->type), "mask_t");
  for (unsigned i = 0; i < body.args.size(); ++i)
    body.args[i]->index = i;

  // Masked steps keep each state and repeat (or zero) the output.
  std::unique_ptr<Op> yield = std::move(body.ops.back());
  body.ops.pop_back();
  std::vector<Value *> next = yield->operands;
  Value *out = next[0];
  if (masked) {
    Builder in(&body);
    in.setLoc(rnn.loc);
    auto maskFor = [&](const Type &t) {
      if (t.rank() == 2)
        return maskT;
      Type mt{DType::F32, {t.shape[0]}};
      mt.shape.resize(t.rank(), Dim::constant(1));
      return in.create(OpKind::Reshape, {maskT}, {mt})->result(0);
    };
    for (size_t i = 0; i < ns; ++i)
      next[i] = in.create(OpKind::Select, {maskFor(next[i]->type), next[i], body.args[i].get()},
                          {next[i]->type})
                    ->result(0);
    if (seqs) {
      Value *other = zeroOut ? in.fill(0.0, Type{DType::F32, {}}) : prev;
      out = in.create(OpKind::Select, {maskFor(out->type), yield->operands[0], other}, {out->type})
                ->result(0);
    }
  }
  yield->operands = next;
  if (prevCarry)
    yield->operands.push_back(out);
  if (seqs)
    yield->operands.push_back(out);
  body.ops.push_back(std::move(yield));
  lowerIn(body);

  for (size_t i = 0; i < ns; ++i)
    loop->addResult(operands[i]->type, states ? rnn.result(1 + i)->name : "");
  if (prevCarry)
    loop->addResult(outType);
  if (seqs)
    loop->addResult(stackType(outType, x->type.shape[1]), rnn.result(0)->name);

  Value *result = seqs ? loop->result(nc) : loop->result(0);
  if (seqs && backwards)
    result = b.create(OpKind::Reverse, {result}, {result->type}, {{"axis", (int64_t)1}})->result(0);
  replaceUsesFrom(block, idx + 1, rnn.result(0), result);
  if (states)
    for (size_t i = 0; i < ns; ++i)
      replaceUsesFrom(block, idx + 1, rnn.result(1 + i), loop->result(i));

  return replaceOpWith(block, idx, scratch);
}

bool lowerIn(ir::Block &block) {
  bool changed = false;
  for (size_t i = 0; i < block.ops.size();) {
    ir::Op &op = *block.ops[i];
    if (op.kind != ir::OpKind::Rnn) {
      for (auto &r : op.regions)
        changed |= lowerIn(*r);
      ++i;
      continue;
    }
    i += lowerOne(block, i);
    changed = true;
  }
  return changed;
}

} // namespace

llvm::Expected<bool> lowerRnn(ir::Module &m) {
  bool changed = false;
  for (auto &f : m.functions)
    changed |= lowerIn(f->body);
  return changed;
}

} // namespace loom::passes
