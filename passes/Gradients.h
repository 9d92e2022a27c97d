#pragma once
// The gradient rules: one case per op (passes/Gradients.cpp), beside the op table. A rule
// reads the op's forward values through the context, builds the adjoint with it and hands
// each operand's gradient to addGrad; the context decides where the ops go (the function
// body, or an adjoint loop's body) and how forward values are read there.
#include "ir/IR.h"

#include <map>
#include <string>
#include <vector>

namespace loom::passes {

class GradContext {
public:
  virtual ~GradContext() = default;
  /// The forward value `v`, readable where the adjoint is being built.
  virtual ir::Value *fwd(ir::Value *v) = 0;
  /// A new op with inferred types / a given type; returns its (first) result.
  virtual ir::Value *emit(ir::OpKind k, std::vector<ir::Value *> operands,
                          std::map<std::string, ir::Attr> attrs = {}) = 0;
  virtual ir::Value *emitTyped(ir::OpKind k, std::vector<ir::Value *> operands, ir::Type t,
                               std::map<std::string, ir::Attr> attrs = {}) = 0;
  virtual ir::Value *constant(double v, ir::Type t) = 0;
  /// Whether `v` depends on a parameter (only those need gradients).
  virtual bool active(const ir::Value *v) const = 0;
  /// Adds `g` to the gradient of `target`; g may have the shape `target` was broadcast to.
  virtual void addGrad(ir::Value *target, ir::Value *g) = 0;
  /// Adds the gradient of the right-hand side `w` of matmul(lhs, w) given d(result) = g:
  /// lhs^T g (or g^T lhs when the matmul has transpose_rhs).
  virtual void addMatmulRhsGrad(ir::Value *w, ir::Value *lhs, ir::Value *g, bool transposed) = 0;
  /// Adds g, the gradient of the slice of `target` starting at `start` along `axis`; the
  /// pieces of one value are combined into one concat.
  virtual void addSliceGrad(ir::Value *target, ir::Value *g, int64_t axis, int64_t start) = 0;
  /// Reports that `op` cannot be differentiated.
  virtual void fail(const ir::Op &op, const std::string &msg) = 0;
};

/// Whether an op's results can carry a gradient (false for comparisons, index ops, sources).
bool differentiable(ir::OpKind k);

/// Adds the gradients of `op`'s operands given its results' (null where a result has none).
void gradient(GradContext &c, const ir::Op &op, const std::vector<ir::Value *> &dres);

} // namespace loom::passes
