// The IR verifier: structure first (counts, terminators, dominance, back-pointers, loop
// attributes), then types (inferTypes must reproduce every op's recorded result types).
// Structure is checked before an op's types, so inferTypes never sees a malformed op.
#include "ir/Verifier.h"

#include "ir/PrinterDetail.h"
#include "ir/TypeInference.h"

#include <unordered_map>
#include <unordered_set>

namespace loom::ir {

namespace {

template <typename T> const char *attrTypeName();
template <> const char *attrTypeName<int64_t>() { return "an integer"; }
template <> const char *attrTypeName<double>() { return "a float"; }
template <> const char *attrTypeName<bool>() { return "a bool"; }
template <> const char *attrTypeName<std::string>() { return "a string"; }
template <> const char *attrTypeName<Dim>() { return "a dim"; }

class Verifier {
public:
  explicit Verifier(const Function &f) : f_(f), names_(detail::valueNames(f)) {}

  llvm::Error run() {
    const Block &body = f_.body;
    if (body.parent)
      return fail("function @" + f_.name + ": body block has a parent op");
    if (f_.numInputs > body.args.size())
      return fail("function @" + f_.name + ": numInputs is " + std::to_string(f_.numInputs) +
                  " but the body has only " + std::to_string(body.args.size()) + " arguments");
    if (f_.params.size() != body.args.size() - f_.numInputs)
      return fail("function @" + f_.name + ": " + std::to_string(f_.params.size()) +
                  " param infos but " + std::to_string(body.args.size() - f_.numInputs) +
                  " param arguments");
    if (auto e = verifyBlock(body, OpKind::Return))
      return e;
    const Op *ret = body.terminator();
    if (ret->operands.size() != f_.outputNames.size())
      return failOp(*ret, "returns " + std::to_string(ret->operands.size()) +
                              " values but the function has " +
                              std::to_string(f_.outputNames.size()) + " output names");
    return llvm::Error::success();
  }

private:
  llvm::Error fail(const std::string &msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "verifier: " + msg);
  }
  llvm::Error failOp(const Op &op, const std::string &msg) {
    return fail("`" + detail::printOpSummary(op, names_) + "` in @" + f_.name + ": " + msg);
  }
  std::string ref(const Value *v) const { return detail::valueRef(v, names_); }

  /// Records where each value is defined, to explain a use that is not visible.
  void indexDefinitions(const Block &b) {
    for (auto &a : b.args)
      definedIn_[a.get()] = &b;
    for (auto &op : b.ops) {
      for (auto &r : op->results)
        definedIn_[r.get()] = &b;
      for (auto &r : op->regions)
        indexDefinitions(*r);
    }
  }
  bool encloses(const Block *outer, const Block *inner) const {
    for (const Block *b = inner; b; b = b->parent ? b->parent->parent : nullptr)
      if (b == outer)
        return true;
    return false;
  }

  llvm::Error verifyBlock(const Block &b, OpKind terminator) {
    if (&b == &f_.body)
      indexDefinitions(b);
    for (size_t i = 0; i < b.args.size(); ++i) {
      const Value *a = b.args[i].get();
      if (!a || a->def || a->owner != &b || a->index != i) {
        std::string where = b.parent ? "`" + detail::printOpSummary(*b.parent, names_) + "`"
                                     : "the body of @" + f_.name;
        return fail("block argument " + std::to_string(i) + " of " + where +
                    " has inconsistent back-pointers (def/owner/index)");
      }
      visible_.insert(a);
    }
    if (b.ops.empty())
      return fail(
          std::string(b.parent ? "a region of `" + detail::printOpSummary(*b.parent, names_) + "`"
                               : "the body of @" + f_.name) +
          " is empty; it must end with `" + opName(terminator) + "`");
    for (size_t i = 0; i < b.ops.size(); ++i) {
      const Op &op = *b.ops[i];
      bool last = i + 1 == b.ops.size();
      bool isTerm = op.kind == OpKind::Yield || op.kind == OpKind::Return;
      if (isTerm && !last)
        return failOp(op, "terminator in the middle of a block");
      if (last && op.kind != terminator)
        return failOp(op, std::string(isTerm ? "wrong terminator" : "missing terminator") +
                              "; this block must end with `" + opName(terminator) + "`");
      if (op.parent != &b)
        return failOp(op, "op's parent pointer does not point to its block");
      if (auto e = verifyOp(op))
        return e;
    }
    // Values of a region are not visible after it.
    for (auto &a : b.args)
      visible_.erase(a.get());
    for (auto &op : b.ops)
      for (auto &r : op->results)
        visible_.erase(r.get());
    return llvm::Error::success();
  }

  template <typename T>
  llvm::Error requireAttr(const Op &op, const std::string &key, bool optional = false) {
    auto it = op.attrs.find(key);
    if (it == op.attrs.end())
      return optional ? llvm::Error::success() : failOp(op, "missing attribute '" + key + "'");
    if (!std::holds_alternative<T>(it->second))
      return failOp(op, "attribute '" + key + "' must be " + attrTypeName<T>());
    return llvm::Error::success();
  }

  llvm::Error verifyAttrs(const Op &op) {
    switch (op.kind) {
    case OpKind::Fill:
      return requireAttr<double>(op, "value");
    case OpKind::Cast:
      return requireAttr<std::string>(op, "dtype");
    case OpKind::RandomUniform:
      return requireAttr<int64_t>(op, "stream");
    case OpKind::Reverse:
      return requireAttr<int64_t>(op, "axis");
    case OpKind::Loop:
      if (auto e = requireAttr<int64_t>(op, "carries"))
        return e;
      if (auto e = requireAttr<int64_t>(op, "slices"))
        return e;
      if (auto e = requireAttr<Dim>(op, "steps"))
        return e;
      if (auto e = requireAttr<bool>(op, "until", /*optional=*/true))
        return e;
      return requireAttr<bool>(op, "reverse");
    case OpKind::Rnn:
      for (const char *k :
           {"return_sequences", "return_state", "go_backwards", "masked", "zero_output_for_mask"})
        if (auto e = requireAttr<bool>(op, k, /*optional=*/true))
          return e;
      return llvm::Error::success();
    default:
      return llvm::Error::success();
    }
  }

  /// Loop and rnn, before the body is verified: the region's arguments against the operands.
  llvm::Error verifyRegionArgs(const Op &op) {
    const Block &body = *op.regions[0];
    size_t nArgs = body.args.size();
    auto argTypeIs = [&](size_t i, const Type &t, const char *what) -> llvm::Error {
      if (body.args[i] && body.args[i]->type != t)
        return failOp(op, "body argument " + std::to_string(i) + " (" + ref(body.args[i].get()) +
                              ") has type " + detail::printType(body.args[i]->type) + " but its " +
                              what + " has type " + detail::printType(t));
      return llvm::Error::success();
    };
    auto isSequence = [&](size_t i) -> llvm::Error {
      if (op.operands[i]->type.rank() < 2)
        return failOp(op, "operand " + std::to_string(i) + " (" + ref(op.operands[i]) +
                              ") is sliced over time but has rank " +
                              std::to_string(op.operands[i]->type.rank()) + " (needs >= 2)");
      return llvm::Error::success();
    };
    if (op.kind == OpKind::Fused) {
      if (nArgs != op.operands.size())
        return failOp(op, "the body has " + std::to_string(nArgs) + " arguments; expected " +
                              std::to_string(op.operands.size()) + " (one per operand)");
      for (size_t i = 0; i < nArgs; ++i)
        if (auto e = argTypeIs(i, op.operands[i]->type, "operand"))
          return e;
      return llvm::Error::success();
    }
    if (op.kind == OpKind::Loop) {
      int64_t carries = op.intAttr("carries"), slices = op.intAttr("slices");
      if (carries < 0 || slices < 0 || (size_t)(carries + slices) != op.operands.size())
        return failOp(op, "carries (" + std::to_string(carries) + ") + slices (" +
                              std::to_string(slices) + ") must equal the number of operands (" +
                              std::to_string(op.operands.size()) + ")");
      if (nArgs != op.operands.size())
        return failOp(op, "the body has " + std::to_string(nArgs) + " arguments; expected " +
                              std::to_string(op.operands.size()) + " (carries, then slices)");
      for (size_t i = 0; i < nArgs; ++i) {
        bool carry = (int64_t)i < carries;
        if (!carry)
          if (auto e = isSequence(i))
            return e;
        Type want = carry ? op.operands[i]->type : sliceType(op.operands[i]->type);
        if (auto e = argTypeIs(i, want, carry ? "initial value" : "sequence's slice"))
          return e;
      }
      return llvm::Error::success();
    }
    // rnn: operands [x, states..., mask?], body args [x_t, states...]
    size_t masked = op.boolAttr("masked") ? 1 : 0;
    if (op.operands.size() < 1 + masked)
      return failOp(op, "rnn needs an input sequence operand");
    if (nArgs + masked != op.operands.size())
      return failOp(op, "the body has " + std::to_string(nArgs) + " arguments; expected " +
                            std::to_string(op.operands.size() - masked) + " (x_t, then states)");
    if (auto e = isSequence(0))
      return e;
    if (auto e = argTypeIs(0, sliceType(op.operands[0]->type), "sequence's slice"))
      return e;
    for (size_t i = 1; i < nArgs; ++i)
      if (auto e = argTypeIs(i, op.operands[i]->type, "initial state"))
        return e;
    return llvm::Error::success();
  }

  /// Loop and rnn, after the body is verified: what the body yields against the op.
  llvm::Error verifyRegionYield(const Op &op) {
    size_t nYield = op.regions[0]->terminator()->operands.size();
    if (op.kind == OpKind::Fused) {
      if (op.results.size() != nYield)
        return failOp(op, std::to_string(op.results.size()) + " results but the body yields " +
                              std::to_string(nYield) + " values");
      return llvm::Error::success();
    }
    if (op.kind == OpKind::Loop) {
      size_t carries = (size_t)op.intAttr("carries");
      if (loopUntil(op) && nYield < carries + 1)
        return failOp(op, "the body yields " + std::to_string(nYield) +
                              " values; expected at least the " + std::to_string(carries) +
                              " carries and the stop flag (until)");
      if (nYield < carries)
        return failOp(op, "the body yields " + std::to_string(nYield) +
                              " values; expected at least the " + std::to_string(carries) +
                              " carries");
      if (op.results.size() != nYield)
        return failOp(op, std::to_string(op.results.size()) + " results but the body yields " +
                              std::to_string(nYield) + " values (carries, then stacks)");
      return llvm::Error::success();
    }
    // rnn: yield [new states...]
    if (nYield != rnnNumStates(op))
      return failOp(op, "the body yields " + std::to_string(nYield) + " values; expected " +
                            std::to_string(rnnNumStates(op)) + " (one per state)");
    return llvm::Error::success();
  }

  llvm::Error verifyOp(const Op &op) {
    const OpInfo &info = opInfo(op.kind);
    if (info.numOperands >= 0 && (int)op.operands.size() != info.numOperands)
      return failOp(op, "expected " + std::to_string(info.numOperands) + " operand(s), got " +
                            std::to_string(op.operands.size()));
    if (info.numResults >= 0 && (int)op.results.size() != info.numResults)
      return failOp(op, "expected " + std::to_string(info.numResults) + " result(s), got " +
                            std::to_string(op.results.size()));
    for (size_t i = 0; i < op.operands.size(); ++i) {
      const Value *v = op.operands[i];
      if (!v)
        return failOp(op, "operand " + std::to_string(i) + " is null");
      if (visible_.count(v))
        continue;
      auto it = definedIn_.find(v);
      std::string what = "operand " + std::to_string(i) + " (" + ref(v) + ")";
      if (it == definedIn_.end())
        return failOp(op, what + " is not defined in this function");
      if (encloses(it->second, op.parent))
        return failOp(op, what + " is used before its definition");
      return failOp(op, what + " is defined inside a region that does not enclose this use");
    }
    for (size_t i = 0; i < op.results.size(); ++i) {
      const Value *r = op.results[i].get();
      if (!r || r->def != &op || r->index != i)
        return failOp(op, "result " + std::to_string(i) +
                              " has inconsistent back-pointers (def/index)");
    }
    bool hasRegion = op.kind == OpKind::Loop || op.kind == OpKind::Rnn || op.kind == OpKind::Fused;
    if (op.regions.size() != (hasRegion ? 1u : 0u))
      return failOp(op, std::string("expected ") + (hasRegion ? "1 region" : "no regions") +
                            ", got " + std::to_string(op.regions.size()));
    if (auto e = verifyAttrs(op))
      return e;
    if (hasRegion) {
      if (op.regions[0]->parent != &op)
        return failOp(op, "region's parent pointer does not point to the op");
      if (auto e = verifyRegionArgs(op))
        return e;
      if (auto e = verifyBlock(*op.regions[0], OpKind::Yield))
        return e;
      if (auto e = verifyRegionYield(op))
        return e;
    }
    if (info.numResults != 0) {
      auto inferred = inferTypes(op);
      if (!inferred)
        return failOp(op, llvm::toString(inferred.takeError()));
      if (inferred->size() != op.results.size())
        return failOp(op, "type inference gives " + std::to_string(inferred->size()) +
                              " results, the op has " + std::to_string(op.results.size()));
      for (size_t i = 0; i < inferred->size(); ++i)
        if ((*inferred)[i] != op.results[i]->type)
          return failOp(op, "result " + std::to_string(i) + " (" + ref(op.result(i)) +
                                ") has type " + detail::printType(op.results[i]->type) +
                                " but type inference gives " + detail::printType((*inferred)[i]));
    }
    for (auto &r : op.results)
      visible_.insert(r.get());
    return llvm::Error::success();
  }

  const Function &f_;
  detail::ValueNames names_;
  std::unordered_set<const Value *> visible_;
  std::unordered_map<const Value *, const Block *> definedIn_;
};

} // namespace

llvm::Error verify(const Function &f) { return Verifier(f).run(); }

llvm::Error verify(const Module &m) {
  std::unordered_set<std::string> seen;
  for (auto &f : m.functions) {
    if (!seen.insert(f->name).second)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "verifier: function @" + f->name + " is defined twice");
    if (auto e = verify(*f))
      return e;
  }
  return llvm::Error::success();
}

} // namespace loom::ir
