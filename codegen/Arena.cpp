// Memory planning: every scratch buffer of a call lives in one arena (one loom_rt_alloc),
// and buffers whose lives do not overlap share its bytes.
//
// A buffer's life is an interval of positions in the order the code runs: each op has a
// position, a loop op two (its start and its end) with its body's ops between them. A
// buffer is live from the first op that writes it to the last op that reads it, through a
// view too (slices, reshapes, a loop's per-step slices of a sequence). Read inside a loop
// but written before it, it stays live to the loop's end, since the next step reads it
// again; a loop's carries, temporaries and stacks live through the whole loop; an op's
// own scratch (dense copies for a product, conv1d's operands) only at the op.
//
// Sizes are known only at run time (they depend on B, T): buffers are coloured into slots
// when compiling (interval colouring: the buffers of a slot never live at the same time),
// and on entry each slot gets the size of its largest buffer and the slots are laid end to
// end. The arena is never larger than the sum of the buffers.
#include "codegen/Lowering.h"

#include "ir/Bind.h"

#include <algorithm>
#include <climits>

using namespace llvm;

namespace loom::codegen {

std::vector<std::pair<int64_t, int64_t>> Lowerer::liveRanges() const {
  const int64_t kUnset = INT64_MAX;
  std::vector<std::pair<int64_t, int64_t>> live(bufTypes.size(), {kUnset, -1});
  std::map<const ir::Value *, int> stor; // loop arguments, results and stacked step values
  auto storageOf = [&](const ir::Value *v) -> int {
    for (;;) {
      if (auto it = stor.find(v); it != stor.end())
        return it->second;
      if (auto it = bufOf.find(v); it != bufOf.end())
        return it->second;
      auto r = viewRoot.find(v);
      if (r == viewRoot.end() || r->second == v)
        return -1; // an input or a weight: not in the arena
      v = r->second;
    }
  };
  // The loops around the current op: the buffers read inside each, and every buffer used
  // inside it at all.
  struct Frame {
    int64_t start;
    std::set<int> used, touched;
  };
  std::vector<Frame> loops;
  auto touch = [&](int buf, int64_t at) {
    if (buf < 0)
      return;
    live[buf].first = std::min(live[buf].first, at);
    live[buf].second = std::max(live[buf].second, at);
    for (Frame &f : loops) // every loop around the current op
      f.touched.insert(buf);
  };
  auto use = [&](const ir::Value *v, int64_t at) {
    int buf = storageOf(v);
    touch(buf, at);
    if (buf >= 0 && !loops.empty())
      loops.back().used.insert(buf);
  };
  int64_t pos = 0;
  std::function<void(const ir::Block &)> walk = [&](const ir::Block &blk) {
    for (auto &opp : blk.ops) {
      const ir::Op &op = *opp;
      if (op.kind != ir::OpKind::Loop) {
        int64_t at = pos++;
        for (const ir::Value *v : op.operands)
          use(v, at);
        for (auto &r : op.results)
          use(r.get(), at);
        if (auto s = scratch.find(&op); s != scratch.end())
          for (int buf : s->second)
            touch(buf, at);
        if (auto m = matmulCopies.find(&op); m != matmulCopies.end()) {
          touch(m->second.first, at);
          touch(m->second.second, at);
        }
        continue;
      }
      const LoopPlan &p = loopPlans.at(&op);
      const ir::Block &body = *op.regions[0];
      size_t nc = p.carryBuf.size();
      int64_t start = pos++;
      for (const ir::Value *v : op.operands)
        use(v, start);
      std::vector<int> own = p.carryBuf;
      own.insert(own.end(), p.stackBuf.begin(), p.stackBuf.end());
      own.insert(own.end(), p.tempBuf.begin(), p.tempBuf.end());
      own.insert(own.end(), p.nextBuf.begin(), p.nextBuf.end());
      own.push_back(p.countBuf);
      for (int buf : own)
        touch(buf, start);
      for (size_t i = 0; i < nc; ++i)
        stor[body.args[i].get()] = p.carryBuf[i];
      for (size_t j = nc; j < body.args.size(); ++j)
        stor[body.args[j].get()] = storageOf(op.operands[j]);
      for (auto &[v, k] : p.direct)
        stor[v] = p.stackBuf[k];
      for (size_t i = 0; i < nc; ++i)
        if (p.nextBuf[i] >= 0 && !p.direct.count(body.terminator()->operands[i]))
          stor[body.terminator()->operands[i]] = p.nextBuf[i];
      loops.push_back({start, {}, {}});
      walk(body);
      int64_t end = pos++;
      Frame f = std::move(loops.back());
      loops.pop_back();
      // A loop over ranges of rows runs its steps on several threads at once, each at its
      // own step: a body buffer must not share bytes with another (their rows would differ
      // in width), so each lives for the whole loop. So do those of a loop over units,
      // whose threads are at different ops of one step.
      if (p.rows || p.units)
        for (int buf : f.touched) {
          touch(buf, start);
          touch(buf, end);
        }
      // Written before the loop and read in it: needed again by the next step.
      for (int buf : f.used)
        if (live[buf].first < f.start)
          touch(buf, end);
      for (const ir::Value *v : op.operands) // the sequences are sliced at every step
        use(v, end);
      for (int buf : own)
        touch(buf, end);
      for (size_t i = 0; i < op.results.size(); ++i)
        stor[op.result((unsigned)i)] = i < nc                       ? p.carryBuf[i]
                                       : i - nc < p.stackBuf.size() ? p.stackBuf[i - nc]
                                                                    : p.countBuf;
      if (!loops.empty())
        loops.back().used.insert(f.used.begin(), f.used.end());
    }
  };
  walk(func.body);
  for (auto &l : live)
    if (l.first == kUnset) // planned but never used: a life of its own, after everything
      l = {pos, pos};
  return live;
}

Value *Lowerer::planArena(std::vector<Value *> &offsets) {
  std::vector<std::pair<int64_t, int64_t>> live = liveRanges();
  // Sizes at a typical binding (every symbol 64), to choose between slots; the slots'
  // sizes themselves are computed at run time, so any binding is right.
  ir::SymbolMap typical;
  for (const std::string &s : ir::symbolOrder(func))
    typical[s] = 64;
  auto typicalBytes = [&](size_t i) {
    int64_t n = 4;
    for (const ir::Dim &d : bufTypes[i].shape)
      n *= std::max<int64_t>(ir::evalDim(d, typical).value_or(1), 0);
    return n;
  };
  struct Slot {
    int64_t lastEnd;
    int64_t typical; // the largest member's typical size
    Value *bytes;    // the largest member's size at run time
  };
  std::vector<Slot> slots;
  std::vector<size_t> order(bufBytes.size()), slotOf(bufBytes.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t c) { return live[a].first < live[c].first; });
  // Interval colouring in order of birth: a buffer takes a slot whose buffers are all dead
  // by then, the smallest that holds it at the typical sizes (else the largest free one),
  // or a new slot. Buffers of one slot never live at the same time, and slots do not
  // overlap, so no two live buffers share a byte.
  for (size_t i : order) {
    int64_t want = typicalBytes(i);
    int best = -1;
    for (size_t k = 0; k < slots.size(); ++k) {
      if (slots[k].lastEnd >= live[i].first)
        continue;
      if (best < 0) {
        best = (int)k;
        continue;
      }
      int64_t have = slots[k].typical, bestHave = slots[best].typical;
      bool fits = have >= want, bestFits = bestHave >= want;
      if (fits != bestFits ? fits : (fits ? have < bestHave : have > bestHave))
        best = (int)k;
    }
    Value *bytes = b.CreateAnd(b.CreateAdd(bufBytes[i], i64c(63)), i64c(~int64_t(63)));
    if (best < 0) {
      slots.push_back({live[i].second, want, bytes});
      slotOf[i] = slots.size() - 1;
      continue;
    }
    Slot &s = slots[best];
    s.lastEnd = live[i].second;
    s.typical = std::max(s.typical, want);
    s.bytes = b.CreateBinaryIntrinsic(Intrinsic::umax, s.bytes, bytes);
    slotOf[i] = (size_t)best;
  }
  std::vector<Value *> slotOffset;
  Value *total = i64c(0);
  for (const Slot &s : slots) {
    slotOffset.push_back(total);
    total = b.CreateAdd(total, s.bytes);
  }
  for (size_t i = 0; i < bufBytes.size(); ++i)
    offsets.push_back(slotOffset[slotOf[i]]);
  return b.CreateBinaryIntrinsic(Intrinsic::umax, total, i64c(64));
}

} // namespace loom::codegen
