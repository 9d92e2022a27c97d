// The gradient rule of every op: given d(result), the operands' gradients, built from ops
// of the table itself. Conventions: ties of max/min and relu at 0 follow PyTorch and
// TensorFlow (relu'(0) = 0; max/min send the gradient to the first operand on a tie;
// reduce_max splits it evenly between tied elements; max_pool1d sends it to the first
// maximum of each window).
#include "passes/Gradients.h"

#include "ir/TypeInference.h"

#include <cmath>

namespace loom::passes {

using namespace ir;

bool differentiable(OpKind k) {
  switch (k) {
  case OpKind::Fill:
  case OpKind::Iota:
  case OpKind::RandomUniform:
  case OpKind::Less:
  case OpKind::ArgMax:
  case OpKind::Sample:
  case OpKind::OneHot:
  case OpKind::CheckRange:
  case OpKind::Conv1DGradInput: // no second derivatives
  case OpKind::Conv1DGradKernel:
  case OpKind::MaxPool1DGrad:
  case OpKind::Yield:
  case OpKind::Return:
    return false;
  default:
    return true;
  }
}

namespace {

const Type kScalar{DType::F32, {}};

/// g (the shape of a reduction's result) with the reduced axis put back as size 1.
Value *keepDims(GradContext &c, const Op &op, Value *g) {
  if (op.boolAttr("keepdims"))
    return g;
  Type t = op.operands[0]->type;
  t.shape[op.intAttr("axis")] = Dim::constant(1);
  t.dtype = DType::F32;
  return c.emitTyped(OpKind::Reshape, {g}, t);
}

} // namespace

void gradient(GradContext &c, const Op &op, const std::vector<Value *> &dres) {
  auto x = [&](unsigned i) { return c.fwd(op.operands[i]); };
  auto y = [&] { return c.fwd(op.result()); };
  auto one = [&] { return c.constant(1.0, kScalar); };
  auto zero = [&] { return c.constant(0.0, kScalar); };
  auto e = [&](OpKind k, std::vector<Value *> v, std::map<std::string, Attr> a = {}) {
    return c.emit(k, std::move(v), std::move(a));
  };
  auto need = [&](unsigned i) { return c.active(op.operands[i]); };
  Value *g = dres.empty() ? nullptr : dres[0];
  using K = OpKind;
  switch (op.kind) {
  // --- unary ---
  case K::Neg:
    c.addGrad(op.operands[0], e(K::Neg, {g}));
    return;
  case K::Exp:
    c.addGrad(op.operands[0], e(K::Mul, {g, y()}));
    return;
  case K::Log:
    c.addGrad(op.operands[0], e(K::Div, {g, x(0)}));
    return;
  case K::Tanh: { // g * (1 - y^2)
    Value *t = y();
    c.addGrad(op.operands[0], e(K::Mul, {g, e(K::Sub, {one(), e(K::Mul, {t, t})})}));
    return;
  }
  case K::Sigmoid: { // g * y * (1 - y)
    Value *s = y();
    c.addGrad(op.operands[0], e(K::Mul, {g, e(K::Mul, {s, e(K::Sub, {one(), s})})}));
    return;
  }
  case K::Relu:
    c.addGrad(op.operands[0], e(K::Select, {e(K::Less, {zero(), x(0)}), g, zero()}));
    return;
  case K::Sqrt: // g / (2 sqrt(x))
    c.addGrad(op.operands[0], e(K::Div, {e(K::Mul, {g, c.constant(0.5, kScalar)}), y()}));
    return;
  case K::Abs: { // g * sign(x), sign(0) = 0
    Value *a = x(0);
    Value *sign = e(K::Sub, {e(K::Less, {zero(), a}), e(K::Less, {a, zero()})});
    c.addGrad(op.operands[0], e(K::Mul, {g, sign}));
    return;
  }
  case K::Erf: { // g * 2/sqrt(pi) * exp(-x^2)
    Value *a = x(0);
    Value *d = e(K::Exp, {e(K::Neg, {e(K::Mul, {a, a})})});
    c.addGrad(op.operands[0],
              e(K::Mul, {g, e(K::Mul, {d, c.constant(2.0 / std::sqrt(M_PI), kScalar)})}));
    return;
  }
  case K::Cast:
  case K::Broadcast:
    if (op.operands[0]->type.dtype == DType::F32)
      c.addGrad(op.operands[0], g); // addGrad sums a broadcast back
    return;
  // --- binary ---
  case K::Add:
    c.addGrad(op.operands[0], g);
    c.addGrad(op.operands[1], g);
    return;
  case K::Sub:
    c.addGrad(op.operands[0], g);
    if (need(1))
      c.addGrad(op.operands[1], e(K::Neg, {g}));
    return;
  case K::Mul:
    if (need(0))
      c.addGrad(op.operands[0], e(K::Mul, {g, x(1)}));
    if (need(1))
      c.addGrad(op.operands[1], e(K::Mul, {g, x(0)}));
    return;
  case K::Div: { // y = a / b: da = g / b, db = -g * y / b
    Value *b = x(1);
    if (need(0))
      c.addGrad(op.operands[0], e(K::Div, {g, b}));
    if (need(1))
      c.addGrad(op.operands[1], e(K::Neg, {e(K::Div, {e(K::Mul, {g, y()}), b})}));
    return;
  }
  case K::Max:
  case K::Min: {
    // The first operand wins ties: max takes a where !(a < b), min where !(b < a).
    Value *a = x(0), *b = x(1);
    Value *second = op.kind == K::Max ? e(K::Less, {a, b}) : e(K::Less, {b, a});
    if (need(0))
      c.addGrad(op.operands[0], e(K::Select, {second, zero(), g}));
    if (need(1))
      c.addGrad(op.operands[1], e(K::Select, {second, g, zero()}));
    return;
  }
  case K::Select: {
    Value *cond = x(0);
    if (need(1))
      c.addGrad(op.operands[1], e(K::Select, {cond, g, zero()}));
    if (need(2))
      c.addGrad(op.operands[2], e(K::Select, {cond, zero(), g}));
    return;
  }
  // --- contractions ---
  case K::MatMul: {
    bool tl = op.boolAttr("transpose_lhs"), tr = op.boolAttr("transpose_rhs");
    if (tl) { // y[K,N] = A^T B over rows: dA = B g^T, dB = A g
      if (need(0))
        c.addGrad(op.operands[0], e(K::MatMul, {x(1), g}, {{"transpose_rhs", true}}));
      if (need(1))
        c.addGrad(op.operands[1], e(K::MatMul, {x(0), g}));
      return;
    }
    if (need(0)) // dA = g W^T (or g W when W is stored transposed)
      c.addGrad(op.operands[0],
                tr ? e(K::MatMul, {g, x(1)}) : e(K::MatMul, {g, x(1)}, {{"transpose_rhs", true}}));
    if (need(1))
      c.addMatmulRhsGrad(op.operands[1], op.operands[0], g, tr);
    return;
  }
  case K::BatchMatMul: {
    // y = op(A) op(B) per batch item, op a transpose where the flag is set:
    // d op(A) = g op(B)^T and d op(B) = op(A)^T g, each written back in its operand's layout.
    bool tl = op.boolAttr("transpose_lhs"), tr = op.boolAttr("transpose_rhs");
    auto bmm = [&](Value *a, Value *b, bool ta, bool tb) {
      return e(K::BatchMatMul, {a, b}, {{"transpose_lhs", ta}, {"transpose_rhs", tb}});
    };
    if (need(0))
      c.addGrad(op.operands[0], tl ? bmm(x(1), g, tr, true) : bmm(g, x(1), false, !tr));
    if (need(1))
      c.addGrad(op.operands[1], tr ? bmm(g, x(0), true, tl) : bmm(x(0), g, !tl, false));
    return;
  }
  case K::Conv1D: // the backward passes over the same windows (oneDNN's, in codegen)
    if (need(0))
      c.addGrad(op.operands[0],
                c.emitTyped(K::Conv1DGradInput, {g, x(1)}, op.operands[0]->type, op.attrs));
    if (need(1))
      c.addGrad(op.operands[1],
                c.emitTyped(K::Conv1DGradKernel, {x(0), g}, op.operands[1]->type, op.attrs));
    return;
  case K::MaxPool1D: // to the first maximum of each window
    c.addGrad(op.operands[0], e(K::MaxPool1DGrad, {x(0), g}, op.attrs));
    return;
  // --- reductions ---
  case K::ReduceSum:
    c.addGrad(op.operands[0],
              c.emitTyped(K::Broadcast, {keepDims(c, op, g)}, op.operands[0]->type));
    return;
  case K::ReduceMean: {
    const Type &t = op.operands[0]->type;
    const Dim &n = t.shape[op.intAttr("axis")];
    Value *gk = keepDims(c, op, g);
    // A symbolic count is the sum of n ones (n only: the ones of the whole operand would
    // cost a pass over it at run time).
    Value *scale = n.isStatic()
                       ? c.constant(n.value() ? 1.0 / (double)n.value() : 0.0, kScalar)
                       : e(K::Div, {one(), e(K::ReduceSum, {c.constant(1.0, Type{t.dtype, {n}})},
                                             {{"axis", int64_t(0)}, {"keepdims", false}})});
    c.addGrad(op.operands[0], c.emitTyped(K::Broadcast, {e(K::Mul, {gk, scale})}, t));
    return;
  }
  case K::ReduceMax: { // split evenly between the elements equal to the max
    Value *a = x(0);
    Value *m = keepDims(c, op, y());
    Value *hit = e(K::Sub, {one(), e(K::Less, {a, m})});
    Value *count = e(K::ReduceSum, {hit}, {{"axis", op.intAttr("axis")}, {"keepdims", true}});
    c.addGrad(op.operands[0], e(K::Mul, {hit, e(K::Div, {keepDims(c, op, g), count})}));
    return;
  }
  // --- layout ---
  case K::SwapAxes:
    c.addGrad(op.operands[0], e(K::SwapAxes, {g},
                                {{"axis1", op.intAttr("axis1")}, {"axis2", op.intAttr("axis2")}}));
    return;
  case K::Reverse:
    c.addGrad(op.operands[0], e(K::Reverse, {g}, {{"axis", op.intAttr("axis")}}));
    return;
  case K::Reshape:
    c.addGrad(op.operands[0], c.emitTyped(K::Reshape, {g}, op.operands[0]->type));
    return;
  case K::Slice:
    c.addSliceGrad(op.operands[0], g, op.intAttr("axis"), op.intAttr("start"));
    return;
  case K::Concat: {
    int64_t axis = op.intAttr("axis"), offset = 0;
    for (unsigned i = 0; i < op.operands.size(); ++i) {
      const Dim &d = op.operands[i]->type.shape[axis];
      if (!d.isStatic()) {
        c.fail(op, "training through a concatenation along a dimension not known when "
                   "compiling is not supported");
        return;
      }
      if (need(i))
        c.addGrad(op.operands[i],
                  e(K::Slice, {g}, {{"axis", axis}, {"start", offset}, {"size", d.value()}}));
      offset += d.value();
    }
    return;
  }
  case K::Gather: { // d(table) = one_hot(ids)^T g, summed over every lookup
    const Type &table = op.operands[0]->type;
    if (!table.shape[0].isStatic()) {
      c.fail(op, "training a lookup table whose size is not known when compiling is not "
                 "supported");
      return;
    }
    Value *hot = e(K::OneHot, {x(1)}, {{"depth", table.shape[0].value()}});
    Value *gg = g;
    Dim row = Dim::constant(1);
    for (int64_t k = 1; k < table.rank(); ++k)
      row = row * table.shape[k];
    if (table.rank() != 2) {
      Type flat = op.operands[1]->type;
      flat.dtype = DType::F32;
      flat.shape.push_back(row);
      gg = c.emitTyped(K::Reshape, {g}, flat);
    }
    Value *d = e(K::MatMul, {hot, gg}, {{"transpose_lhs", true}});
    if (table.rank() != 2)
      d = c.emitTyped(K::Reshape, {d}, table);
    c.addGrad(op.operands[0], d);
    return;
  }
  case K::Rnn:
    c.fail(op, "internal error: autodiff needs rnn ops lowered to loops (run lower-rnn first)");
    return;
  case K::Fused:
    c.fail(op, "internal error: autodiff must run before fuse");
    return;
  case K::Loop: // the driver builds the adjoint loop
  case K::Fill:
  case K::Iota:
  case K::RandomUniform:
  case K::Less:
  case K::Sample:
  case K::OneHot:
  case K::CheckRange:
  case K::Conv1DGradInput:
  case K::Conv1DGradKernel:
  case K::MaxPool1DGrad:
  case K::Yield:
  case K::Return:
    return;
  }
}

} // namespace loom::passes
