// The reference interpreter. Every op is computed the plainest way (dense tensors, index
// arithmetic, double accumulation in matmul), so that it can be trusted as the oracle.
#include "ir/Interpreter.h"

#include "ir/Bind.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace loom::ir {

namespace {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape &s) {
  int64_t n = 1;
  for (auto d : s)
    n *= d;
  return n;
}

/// Element offsets of `in` (shape `inShape`) for each element of `outShape` under numpy
/// broadcasting.
std::vector<int64_t> broadcastIndex(const Shape &inShape, const Shape &outShape) {
  size_t r = outShape.size(), off = r - inShape.size();
  std::vector<int64_t> stride(r, 0);
  int64_t s = 1;
  for (size_t i = inShape.size(); i-- > 0;) {
    stride[off + i] = inShape[i] == 1 ? 0 : s;
    s *= inShape[i];
  }
  std::vector<int64_t> out(numel(outShape));
  std::vector<int64_t> idx(r, 0);
  for (size_t e = 0; e < out.size(); ++e) {
    int64_t o = 0;
    for (size_t k = 0; k < r; ++k)
      o += idx[k] * stride[k];
    out[e] = o;
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < outShape[k])
        break;
      idx[k] = 0;
    }
  }
  return out;
}

float unary(OpKind k, float x) {
  switch (k) {
  case OpKind::Neg:
    return -x;
  case OpKind::Exp:
    return (float)std::exp((double)x);
  case OpKind::Log:
    return (float)std::log((double)x);
  case OpKind::Tanh:
    return (float)std::tanh((double)x);
  case OpKind::Sigmoid:
    return (float)(1.0 / (1.0 + std::exp(-(double)x)));
  case OpKind::Relu:
    return x > 0 ? x : 0.0f;
  case OpKind::Sqrt:
    return (float)std::sqrt((double)x);
  case OpKind::Abs:
    return std::fabs(x);
  default:
    assert(false && "not a unary float op");
    return 0;
  }
}

template <typename T> T binary(OpKind k, T a, T b) {
  switch (k) {
  case OpKind::Add:
    return a + b;
  case OpKind::Sub:
    return a - b;
  case OpKind::Mul:
    return a * b;
  case OpKind::Div:
    if constexpr (std::is_integral_v<T>)
      return b == 0 ? 0 : (b == -1 ? (T)(0u - (uint32_t)a) : a / b);
    else
      return a / b;
  case OpKind::Max:
    return a > b || b != b ? a : b;
  case OpKind::Min:
    return a < b || b != b ? a : b;
  default:
    assert(false && "not a binary op");
    return 0;
  }
}

/// f32 -> i32 saturating, NaN -> 0 (the semantics of llvm.fptosi.sat).
int32_t castToI32(float x) {
  if (x != x)
    return 0;
  if (x >= 2147483648.0f)
    return std::numeric_limits<int32_t>::max();
  if (x <= -2147483648.0f)
    return std::numeric_limits<int32_t>::min();
  return (int32_t)x;
}

class Interp {
public:
  explicit Interp(const SymbolMap &syms) : syms_(syms) {}

  std::unordered_map<const Value *, rt::Tensor> env;

  llvm::Error runBlock(const Block &b) {
    for (auto &op : b.ops)
      if (auto e = runOp(*op))
        return e;
    return llvm::Error::success();
  }

  rt::Tensor &get(const Value *v) {
    auto it = env.find(v);
    assert(it != env.end() && "value used before definition");
    return it->second;
  }

private:
  const SymbolMap &syms_;

  rt::Tensor make(const Value *v) {
    return rt::Tensor(v->type.dtype, concreteShape(v->type, syms_));
  }

  llvm::Error runOp(const Op &op) {
    switch (op.kind) {
    case OpKind::Fill: {
      rt::Tensor t = make(op.result());
      double v = op.floatAttr("value");
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (t.dtype() == DType::F32)
          t.f32()[i] = (float)v;
        else
          t.i32()[i] = (int32_t)v;
      }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Neg:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Sqrt:
    case OpKind::Abs: {
      const rt::Tensor &a = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (t.dtype() == DType::F32) {
          t.f32()[i] = unary(op.kind, a.f32()[i]);
        } else {
          int32_t x = a.i32()[i];
          t.i32()[i] = op.kind == OpKind::Neg   ? (int32_t)(0u - (uint32_t)x)
                       : op.kind == OpKind::Abs ? (x < 0 ? (int32_t)(0u - (uint32_t)x) : x)
                                                : (x > 0 ? x : 0);
        }
      }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Cast: {
      const rt::Tensor &a = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      for (int64_t i = 0; i < t.numel(); ++i) {
        float x = a.dtype() == DType::F32 ? a.f32()[i] : (float)a.i32()[i];
        if (t.dtype() == DType::F32)
          t.f32()[i] = x;
        else
          t.i32()[i] = a.dtype() == DType::I32 ? a.i32()[i] : castToI32(x);
      }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Max:
    case OpKind::Min: {
      const rt::Tensor &a = get(op.operands[0]), &b = get(op.operands[1]);
      rt::Tensor t = make(op.result());
      auto ia = broadcastIndex(a.shape(), t.shape()), ib = broadcastIndex(b.shape(), t.shape());
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (t.dtype() == DType::F32)
          t.f32()[i] = binary<float>(op.kind, a.f32()[ia[i]], b.f32()[ib[i]]);
        else
          t.i32()[i] = binary<int32_t>(op.kind, a.i32()[ia[i]], b.i32()[ib[i]]);
      }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::MatMul: {
      const rt::Tensor &a = get(op.operands[0]), &b = get(op.operands[1]);
      rt::Tensor t = make(op.result());
      int64_t K = b.shape()[0], N = b.shape()[1], M = K ? a.numel() / K : numel(t.shape()) / N;
      if (N == 0)
        M = 0;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k)
            acc += (double)a.f32()[m * K + k] * (double)b.f32()[k * N + n];
          t.f32()[m * N + n] = (float)acc;
        }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Reverse: {
      const rt::Tensor &a = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      int64_t axis = op.intAttr("axis");
      int64_t outer = 1, n = a.shape()[axis], inner = 1;
      for (int64_t i = 0; i < axis; ++i)
        outer *= a.shape()[i];
      for (int64_t i = axis + 1; i < a.rank(); ++i)
        inner *= a.shape()[i];
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < n; ++j)
          std::memcpy((char *)t.data() + ((o * n + j) * inner) * 4,
                      (const char *)a.data() + ((o * n + (n - 1 - j)) * inner) * 4, inner * 4);
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Loop:
      return runLoop(op);
    case OpKind::Rnn:
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "the interpreter runs lowered IR: run lower-rnn first");
    case OpKind::Yield:
    case OpKind::Return:
      return llvm::Error::success();
    }
    return llvm::Error::success();
  }

  /// Copies x[:, t] (axis 1) of `seq` into `out`.
  static void sliceInto(const rt::Tensor &seq, int64_t t, rt::Tensor &out) {
    int64_t B = seq.shape()[0], T = seq.shape()[1],
            inner = seq.numel() / std::max<int64_t>(1, B * T);
    for (int64_t b = 0; b < B; ++b)
      std::memcpy((char *)out.data() + b * inner * 4,
                  (const char *)seq.data() + (b * T + t) * inner * 4, inner * 4);
  }
  static void stackInto(const rt::Tensor &step, int64_t t, rt::Tensor &seq) {
    int64_t B = seq.shape()[0], T = seq.shape()[1],
            inner = seq.numel() / std::max<int64_t>(1, B * T);
    for (int64_t b = 0; b < B; ++b)
      std::memcpy((char *)seq.data() + (b * T + t) * inner * 4,
                  (const char *)step.data() + b * inner * 4, inner * 4);
  }

  llvm::Error runLoop(const Op &op) {
    int64_t nc = op.intAttr("carries"), ns = op.intAttr("slices");
    auto steps = evalDim(op.dimAttr("steps"), syms_);
    assert(steps && "unbound loop steps");
    bool reverse = op.boolAttr("reverse");
    const Block &body = *op.regions[0];
    const Op &yield = *body.terminator();
    std::vector<rt::Tensor> carry;
    for (int64_t i = 0; i < nc; ++i)
      carry.push_back(get(op.operands[i]).clone());
    std::vector<rt::Tensor> stacks;
    for (size_t i = nc; i < op.results.size(); ++i)
      stacks.push_back(make(op.result(i)));
    for (int64_t s = 0; s < *steps; ++s) {
      int64_t t = reverse ? *steps - 1 - s : s;
      for (int64_t i = 0; i < nc; ++i)
        env[body.args[i].get()] = carry[i];
      for (int64_t i = 0; i < ns; ++i) {
        rt::Tensor x = make(body.args[nc + i].get());
        sliceInto(get(op.operands[nc + i]), t, x);
        env[body.args[nc + i].get()] = x;
      }
      if (auto e = runBlock(body))
        return e;
      std::vector<rt::Tensor> next;
      for (int64_t i = 0; i < nc; ++i)
        next.push_back(get(yield.operands[i]).clone());
      for (size_t i = nc; i < yield.operands.size(); ++i)
        stackInto(get(yield.operands[i]), t, stacks[i - nc]);
      carry = std::move(next);
    }
    for (int64_t i = 0; i < nc; ++i)
      env[op.result(i)] = carry[i];
    for (size_t i = nc; i < op.results.size(); ++i)
      env[op.result(i)] = stacks[i - nc];
    return llvm::Error::success();
  }
};

} // namespace

llvm::Expected<std::vector<rt::Tensor>> interpret(const Function &f,
                                                  const std::vector<rt::Tensor> &inputs,
                                                  const std::vector<rt::Tensor> &params) {
  auto syms = bindSymbols(f, inputs, params);
  if (!syms)
    return syms.takeError();
  Interp in(*syms);
  for (unsigned i = 0; i < f.numInputs; ++i)
    in.env[f.input(i)] = inputs[i];
  for (unsigned i = 0; i < f.params.size(); ++i)
    in.env[f.param(i)] = params[i];
  if (auto e = in.runBlock(f.body))
    return e;
  std::vector<rt::Tensor> out;
  for (Value *v : f.returnOp()->operands)
    out.push_back(in.get(v).clone());
  return out;
}

} // namespace loom::ir
