#pragma once
// Creating ops: either with explicit result types, or with types inferred from operands.
#include "ir/IR.h"

#include "llvm/Support/Error.h"

namespace loom::ir {

class Builder {
public:
  explicit Builder(Block *b) : block_(b) {}
  Block *block() const { return block_; }
  void setBlock(Block *b) { block_ = b; }
  void setLoc(Loc l) { loc_ = std::move(l); }
  const Loc &loc() const { return loc_; }

  /// Appends an op with the given result types (no checking; the verifier checks).
  Op *create(OpKind k, std::vector<Value *> operands, std::vector<Type> resultTypes,
             std::map<std::string, Attr> attrs = {});
  /// Appends an op whose result types come from inferTypes(); on a type error nothing is
  /// appended and the error message says what does not fit (without location). Not for
  /// ops with regions (their types depend on the body): create() those, fill the body,
  /// then add the results inferTypes() gives.
  llvm::Expected<Op *> build(OpKind k, std::vector<Value *> operands,
                             std::map<std::string, Attr> attrs = {});
  /// Single-result convenience for build().
  llvm::Expected<Value *> value(OpKind k, std::vector<Value *> operands,
                                std::map<std::string, Attr> attrs = {});
  Value *fill(double v, Type t);

private:
  Block *block_;
  Loc loc_;
};

} // namespace loom::ir
