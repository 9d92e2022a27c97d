// lower-rnn: the layer-level `rnn` op becomes a `loop` whose carries are the cell's states
// and whose only slice is the input sequence.
//
//   %out[, %states...] = rnn %x, %s0... {return_sequences, return_state, go_backwards}
//       (%xt, %h...) { ...; yield %h' ... }
// becomes
//   %fin..., [%seq] = loop %s0..., %x {carries = n, slices = 1, steps = T, reverse = go_backwards}
//       (%h..., %xt) { ...; yield %h'..., [%h'0] }
//   [%seq' = reverse %seq {axis = 1}]      // go_backwards: Keras returns processing order
// where the stacked first state is produced only with return_sequences.
#include "ir/Builder.h"
#include "ir/TypeInference.h"
#include "passes/Passes.h"

namespace loom::passes {

namespace {

/// Uses of a value defined in `block` can only follow its definition in the same block
/// (possibly inside later ops' regions).
void replaceUsesAfter(ir::Block &block, size_t from, ir::Value *old, ir::Value *repl) {
  for (size_t i = from; i < block.ops.size(); ++i) {
    ir::Op &op = *block.ops[i];
    for (auto &v : op.operands)
      if (v == old)
        v = repl;
    for (auto &r : op.regions)
      ir::replaceAllUses(*r, old, repl);
  }
}

bool lowerIn(ir::Block &block);

/// Rewrites the rnn op at block.ops[idx] in place; returns how many ops replaced it.
size_t lowerOne(ir::Block &block, size_t idx) {
  using namespace ir;
  Op &rnn = *block.ops[idx];
  size_t ns = rnn.operands.size() - 1;
  bool seqs = rnn.boolAttr("return_sequences"), states = rnn.boolAttr("return_state");
  bool backwards = rnn.boolAttr("go_backwards");
  Value *x = rnn.operands[0];

  Block scratch;
  Builder b(&scratch);
  b.setLoc(rnn.loc);
  std::vector<Value *> operands(rnn.operands.begin() + 1, rnn.operands.end());
  operands.push_back(x);
  Op *loop = b.create(OpKind::Loop, operands, {},
                      {{"carries", (int64_t)ns},
                       {"slices", (int64_t)1},
                       {"steps", x->type.shape[1]},
                       {"reverse", backwards}});

  // Move the cell body into the loop, with the step input moved after the states.
  loop->regions.push_back(std::move(rnn.regions[0]));
  Block &body = *loop->regions[0];
  body.parent = loop;
  std::rotate(body.args.begin(), body.args.begin() + 1, body.args.end());
  for (unsigned i = 0; i < body.args.size(); ++i)
    body.args[i]->index = i;
  Op *yield = body.terminator();
  if (seqs)
    yield->operands.push_back(yield->operands[0]);
  lowerIn(body);

  for (size_t i = 0; i < ns; ++i)
    loop->addResult(operands[i]->type, states ? rnn.result(1 + i)->name : "");
  if (seqs)
    loop->addResult(stackType(yield->operands[0]->type, x->type.shape[1]), rnn.result(0)->name);

  Value *out = seqs ? loop->result(ns) : loop->result(0);
  if (seqs && backwards)
    out = b.create(OpKind::Reverse, {out}, {out->type}, {{"axis", (int64_t)1}})->result(0);
  replaceUsesAfter(block, idx + 1, rnn.result(0), out);
  if (states)
    for (size_t i = 0; i < ns; ++i)
      replaceUsesAfter(block, idx + 1, rnn.result(1 + i), loop->result(i));

  size_t n = scratch.ops.size();
  for (auto &op : scratch.ops)
    op->parent = &block;
  block.ops.erase(block.ops.begin() + idx);
  block.ops.insert(block.ops.begin() + idx, std::make_move_iterator(scratch.ops.begin()),
                   std::make_move_iterator(scratch.ops.end()));
  return n;
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
