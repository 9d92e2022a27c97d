// The reference interpreter. Every op is computed the plainest way (dense tensors, index
// arithmetic, double accumulation in matmul), so that it can be trusted as the oracle.
#include "ir/Interpreter.h"

#include "ir/Bind.h"
#include "ir/TypeInference.h"
#include "runtime/Kernels.h"
#include "runtime/Limits.h"
#include "runtime/Random.h"

#include <fmt/format.h>

#include <tuple>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace loom::ir {

namespace {

using Shape = std::vector<int64_t>;

/// A tensor seen around one of its axes: (the elements before it, its size, after it).
std::tuple<int64_t, int64_t, int64_t> aroundAxis(const rt::Tensor &a, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= a.shape()[i];
  for (int64_t i = axis + 1; i < a.rank(); ++i)
    inner *= a.shape()[i];
  return {outer, a.shape()[axis], inner};
}

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

/// Element i of `t` set to `v`, converted to its element type.
void store(rt::Tensor &t, int64_t i, double v) {
  if (t.dtype() == DType::F32)
    t.f32()[i] = (float)v;
  else
    t.i32()[i] = (int32_t)v;
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
  case OpKind::Erf:
    return (float)std::erf((double)x);
  default:
    assert(false && "not a unary float op");
    return 0;
  }
}

/// memcpy, but an empty tensor's null data pointer is fine (memcpy's is undefined even
/// for zero bytes).
void copyBytes(void *dst, const void *src, size_t n) {
  if (n)
    std::memcpy(dst, src, n);
}

/// i32 add, sub and mul wrap around, as generated code's do (LLVM's add without nsw);
/// signed overflow is undefined in C++, so the oracle computes them unsigned.
template <typename T> T wrapping(OpKind k, T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    uint32_t x = (uint32_t)a, y = (uint32_t)b;
    return (T)(k == OpKind::Add ? x + y : k == OpKind::Sub ? x - y : x * y);
  } else {
    return k == OpKind::Add ? a + b : k == OpKind::Sub ? a - b : a * b;
  }
}

template <typename T> T binary(OpKind k, T a, T b) {
  switch (k) {
  case OpKind::Add:
  case OpKind::Sub:
  case OpKind::Mul:
    return wrapping(k, a, b);
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
  Interp(const SymbolMap &syms, int64_t memoryLimit) : syms_(syms), memoryLimit_(memoryLimit) {}

  std::unordered_map<const Value *, rt::Tensor> env;

  llvm::Error runBlock(const Block &b) {
    for (auto &arg : b.args)
      if (auto e = reserve(arg.get()))
        return e;
    for (auto &op : b.ops) {
      for (auto &r : op->results)
        if (auto e = reserve(r.get()))
          return e;
      if (auto e = runOp(*op))
        return e;
    }
    return llvm::Error::success();
  }

  rt::Tensor &get(const Value *v) {
    auto it = env.find(v);
    assert(it != env.end() && "value used before definition");
    return it->second;
  }

private:
  const SymbolMap &syms_;
  // The memory limit, as the compiled code's (runtime/Limits.h): env keeps one tensor per
  // value for the whole call, so the sum of the sizes of the values defined so far (block
  // arguments and op results, not the inputs and weights) is what the call holds; it is
  // checked before each op allocates. 0: the process-wide limit (--max-memory).
  int64_t memoryLimit_;
  std::unordered_set<const Value *> reserved_;
  uint64_t bytes_ = 0;

  llvm::Error reserve(const Value *v) {
    if (!reserved_.insert(v).second)
      return llvm::Error::success();
    uint64_t n = (uint64_t)dtypeSize(v->type.dtype);
    for (int64_t d : concreteShape(v->type, syms_))
      if (d > 0 && __builtin_mul_overflow(n, (uint64_t)d, &n))
        n = UINT64_MAX;
      else if (d <= 0)
        n = 0;
    if (__builtin_add_overflow(bytes_, n, &bytes_))
      bytes_ = UINT64_MAX;
    if (auto s = rt::checkMemory("interpreting this call (its values, for these input shapes)",
                                 bytes_, memoryLimit_))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), llvm::Twine(s.message()));
    return llvm::Error::success();
  }

  rt::Tensor make(const Value *v) {
    return rt::Tensor(v->type.dtype, concreteShape(v->type, syms_));
  }

  llvm::Error runOp(const Op &op) {
    switch (op.kind) {
    case OpKind::Fill: {
      rt::Tensor t = make(op.result());
      double v = op.floatAttr("value");
      for (int64_t i = 0; i < t.numel(); ++i)
        store(t, i, v);
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
    case OpKind::Erf:
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
      bool tl = op.boolAttr("transpose_lhs"), tr = op.boolAttr("transpose_rhs");
      // Every form is C[M,N] = sum_k A(m,k) B(k,n) over flattened operands.
      int64_t M, N, K;
      std::function<double(int64_t, int64_t)> A, Bv;
      if (tl) { // a [R, M], b [R, N]
        M = a.shape().back(), N = b.shape().back(), K = M ? a.numel() / M : 0;
        if (M == 0 && N)
          K = b.numel() / N;
        A = [&](int64_t m, int64_t k) { return (double)a.f32()[k * M + m]; };
        Bv = [&](int64_t k, int64_t n) { return (double)b.f32()[k * N + n]; };
      } else {
        K = tr ? b.shape()[1] : b.shape()[0], N = tr ? b.shape()[0] : b.shape()[1];
        M = K ? a.numel() / K : (N ? numel(t.shape()) / N : 0);
        A = [&](int64_t m, int64_t k) { return (double)a.f32()[m * K + k]; };
        if (tr)
          Bv = [&](int64_t k, int64_t n) { return (double)b.f32()[n * K + k]; };
        else
          Bv = [&](int64_t k, int64_t n) { return (double)b.f32()[k * N + n]; };
      }
      if (N == 0)
        M = 0;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k)
            acc += A(m, k) * Bv(k, n);
          t.f32()[m * N + n] = (float)acc;
        }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::BatchMatMul: {
      const rt::Tensor &a = get(op.operands[0]), &b = get(op.operands[1]);
      rt::Tensor t = make(op.result());
      bool tl = op.boolAttr("transpose_lhs"), tr = op.boolAttr("transpose_rhs");
      const auto &as = a.shape(), &bs = b.shape();
      size_t r = as.size();
      int64_t M = t.shape()[r - 2], N = t.shape()[r - 1], K = tl ? as[r - 2] : as[r - 1];
      int64_t batch = 1;
      for (size_t k = 0; k + 2 < r; ++k)
        batch *= as[k];
      int64_t sa = as[r - 2] * as[r - 1], sb = bs[r - 2] * bs[r - 1];
      for (int64_t i = 0; i < batch; ++i)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            double acc = 0;
            for (int64_t k = 0; k < K; ++k)
              acc += (double)a.f32()[i * sa + (tl ? k * M + m : m * K + k)] *
                     (double)b.f32()[i * sb + (tr ? n * K + k : k * N + n)];
            t.f32()[(i * M + m) * N + n] = (float)acc;
          }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Broadcast: {
      const rt::Tensor &a = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      auto ia = broadcastIndex(a.shape(), t.shape());
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (t.dtype() == DType::F32)
          t.f32()[i] = a.f32()[ia[i]];
        else
          t.i32()[i] = a.i32()[ia[i]];
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
          copyBytes((char *)t.data() + ((o * n + j) * inner) * 4,
                    (const char *)a.data() + ((o * n + (n - 1 - j)) * inner) * 4, inner * 4);
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::SwapAxes: {
      const rt::Tensor &a = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      int64_t a1 = op.intAttr("axis1"), a2 = op.intAttr("axis2"), r = a.rank();
      // The result's index, digit by digit, read from the operand with the two swapped.
      std::vector<int64_t> stride(r, 1), idx(r, 0);
      for (int64_t k = r - 2; k >= 0; --k)
        stride[k] = stride[k + 1] * a.shape()[k + 1];
      std::swap(stride[a1], stride[a2]);
      for (int64_t i = 0; i < t.numel(); ++i) {
        int64_t src = 0;
        for (int64_t k = 0; k < r; ++k)
          src += idx[k] * stride[k];
        std::memcpy((char *)t.data() + i * 4, (const char *)a.data() + src * 4, 4);
        for (int64_t k = r - 1; k >= 0 && ++idx[k] == t.shape()[k]; --k)
          idx[k] = 0;
      }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Less: {
      const rt::Tensor &a = get(op.operands[0]), &b = get(op.operands[1]);
      rt::Tensor t = make(op.result());
      auto ia = broadcastIndex(a.shape(), t.shape()), ib = broadcastIndex(b.shape(), t.shape());
      for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = a.dtype() == DType::F32 ? (a.f32()[ia[i]] < b.f32()[ib[i]])
                                             : (a.i32()[ia[i]] < b.i32()[ib[i]]);
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Select: {
      const rt::Tensor &c = get(op.operands[0]), &a = get(op.operands[1]), &b = get(op.operands[2]);
      rt::Tensor t = make(op.result());
      auto ic = broadcastIndex(c.shape(), t.shape()), ia = broadcastIndex(a.shape(), t.shape()),
           ib = broadcastIndex(b.shape(), t.shape());
      for (int64_t i = 0; i < t.numel(); ++i) {
        bool take = c.f32()[ic[i]] != 0;
        if (t.dtype() == DType::F32)
          t.f32()[i] = take ? a.f32()[ia[i]] : b.f32()[ib[i]];
        else
          t.i32()[i] = take ? a.i32()[ia[i]] : b.i32()[ib[i]];
      }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::RandomUniform: {
      const rt::Tensor &key = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      uint64_t s = rt::random::seed(key.i32()[0], key.i32()[1], op.intAttr("stream"));
      for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = rt::random::uniform(s, (uint64_t)i);
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Iota: {
      rt::Tensor t = make(op.result());
      int64_t axis = op.intAttr("axis"), n = t.shape()[axis], inner = 1;
      for (int64_t i = axis + 1; i < t.rank(); ++i)
        inner *= t.shape()[i];
      for (int64_t i = 0; i < t.numel(); ++i)
        store(t, i, (double)((i / inner) % n));
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Conv1D:
    case OpKind::MaxPool1D:
      return runWindow(op);
    case OpKind::Conv1DGradInput:
    case OpKind::Conv1DGradKernel:
    case OpKind::MaxPool1DGrad:
      return runWindowGrad(op);
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean: {
      const rt::Tensor &a = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      auto [outer, n, inner] = aroundAxis(a, op.intAttr("axis"));
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          double acc = op.kind == OpKind::ReduceMax ? -INFINITY : 0.0;
          for (int64_t k = 0; k < n; ++k) {
            int64_t idx = (o * n + k) * inner + j;
            // Both arms double: `? float : int32_t` is float, which rounds i32 values.
            double v = a.dtype() == DType::F32 ? (double)a.f32()[idx] : (double)a.i32()[idx];
            acc = op.kind == OpKind::ReduceMax ? (v > acc || v != v ? v : acc) : acc + v;
          }
          if (op.kind == OpKind::ReduceMean)
            acc = n ? acc / (double)n : NAN;
          if (t.dtype() == DType::F32)
            t.f32()[o * inner + j] = (float)acc;
          else
            // A sum beyond i32 wraps, as generated code's i64 sum truncated to i32 does
            // (exact in the double up to 2^53).
            t.i32()[o * inner + j] = n || op.kind == OpKind::ReduceSum
                                         ? (int32_t)(uint32_t)(int64_t)acc
                                         : std::numeric_limits<int32_t>::min();
        }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Sample: { // the runtime's own draw, so both give the same tokens
      const rt::Tensor &a = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      loom_rt_sample(a.f32(), t.numel(), a.shape().back(), t.i32(), get(op.operands[1]).i32()[0],
                     get(op.operands[2]).i32()[0], op.intAttr("stream"),
                     op.floatAttr("temperature"), op.intAttr("top_k"), op.floatAttr("top_p"));
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::ArgMax: {
      const rt::Tensor &a = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      auto [outer, n, inner] = aroundAxis(a, op.intAttr("axis"));
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
          int32_t best = 0;
          double bv = 0;
          for (int64_t k = 0; k < n; ++k) {
            int64_t idx = (o * n + k) * inner + j;
            double v = a.dtype() == DType::F32 ? a.f32()[idx] : a.i32()[idx];
            if (k == 0 || (bv == bv && (v > bv || v != v))) {
              best = (int32_t)k;
              bv = v;
            }
          }
          t.i32()[o * inner + j] = best;
        }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Slice:
    case OpKind::Concat: {
      // Both copy blocks along one axis: slice reads [start, start+size) of its operand,
      // concat writes each operand after the previous one.
      rt::Tensor t = make(op.result());
      int64_t axis = op.intAttr("axis"), outer = 1, inner = 1;
      for (int64_t i = 0; i < axis; ++i)
        outer *= t.shape()[i];
      for (int64_t i = axis + 1; i < t.rank(); ++i)
        inner *= t.shape()[i];
      int64_t outN = t.shape()[axis], offset = 0;
      for (Value *v : op.operands) {
        const rt::Tensor &a = get(v);
        int64_t inN = a.shape()[axis];
        int64_t count = op.kind == OpKind::Slice ? op.intAttr("size") : inN;
        int64_t from = op.kind == OpKind::Slice ? op.intAttr("start") : 0;
        if (from < 0 || count < 0 || from + count > inN)
          return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                         "slice [%lld, %lld) of axis %lld of %s: the axis has %lld",
                                         (long long)from, (long long)(from + count),
                                         (long long)axis, op.operands[0]->type.str().c_str(),
                                         (long long)inN);
        for (int64_t o = 0; o < outer; ++o)
          copyBytes((char *)t.data() + ((o * outN + offset) * inner) * 4,
                    (const char *)a.data() + ((o * inN + from) * inner) * 4, count * inner * 4);
        offset += count;
      }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Reshape: {
      rt::Tensor t = make(op.result());
      const rt::Tensor &a = get(op.operands[0]);
      if (t.numel() != a.numel())
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "reshape of %s to %s: element counts differ",
                                       a.describe().c_str(), t.describe().c_str());
      copyBytes(t.data(), a.data(), a.bytes());
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::Gather: {
      const rt::Tensor &table = get(op.operands[0]), &ids = get(op.operands[1]);
      rt::Tensor t = make(op.result());
      int64_t V = table.shape()[0], row = V ? table.numel() / V : 0;
      for (int64_t i = 0; i < ids.numel(); ++i) {
        int32_t id = ids.i32()[i];
        if (id < 0 || id >= V)
          return rangeError(op.strAttr("what"), id, i, ids.shape(), 0, V - 1);
        copyBytes((char *)t.data() + i * row * 4, (const char *)table.data() + id * row * 4,
                  row * 4);
      }
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::OneHot: {
      const rt::Tensor &ids = get(op.operands[0]);
      rt::Tensor t = make(op.result());
      int64_t depth = op.intAttr("depth");
      for (int64_t i = 0; i < ids.numel(); ++i)
        if (ids.i32()[i] >= 0 && ids.i32()[i] < depth)
          t.f32()[i * depth + ids.i32()[i]] = 1.0f;
      env[op.result()] = t;
      return llvm::Error::success();
    }
    case OpKind::CheckRange: {
      const rt::Tensor &a = get(op.operands[0]);
      int64_t lo = op.intAttr("lo"), hi = *evalDim(op.dimAttr("hi"), syms_);
      for (int64_t i = 0; i < a.numel(); ++i)
        if (a.i32()[i] < lo || a.i32()[i] > hi)
          return rangeError(op.strAttr("what"), a.i32()[i], i, a.shape(), lo, hi);
      env[op.result()] = a;
      return llvm::Error::success();
    }
    case OpKind::Loop:
      return runLoop(op);
    case OpKind::Fused: {
      const Block &body = *op.regions[0];
      for (size_t i = 0; i < body.args.size(); ++i)
        env[body.args[i].get()] = get(op.operands[i]);
      if (auto e = runBlock(body))
        return e;
      const Op &y = *body.terminator();
      for (size_t i = 0; i < op.results.size(); ++i)
        env[op.result(i)] = get(y.operands[i]);
      return llvm::Error::success();
    }
    case OpKind::Rnn:
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "the interpreter runs lowered IR: run lower-rnn first");
    case OpKind::Yield:
    case OpKind::Return:
      return llvm::Error::success();
    }
    return llvm::Error::success();
  }

  /// The message of loom_rt_range_error (runtime/Kernels.h), so both backends agree.
  static llvm::Error rangeError(const std::string &what, int64_t v, int64_t flat,
                                const std::vector<int64_t> &shape, int64_t lo, int64_t hi) {
    std::vector<int64_t> idx(shape.size());
    for (size_t k = shape.size(); k-- > 0;) {
      idx[k] = shape[k] ? flat % shape[k] : 0;
      flat = shape[k] ? flat / shape[k] : 0;
    }
    std::string at;
    for (size_t k = 0; k < idx.size(); ++k)
      at += (k ? ", " : "") + std::to_string(idx[k]);
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "%s: %lld at [%s] is outside [%lld, %lld]", what.c_str(),
                                   (long long)v, at.c_str(), (long long)lo, (long long)hi);
  }

  /// conv1d and max_pool1d: windows over axis 1 of a [B, T, C] input, zero padding for
  /// conv, padding that never wins for max.
  llvm::Error runWindow(const Op &op) {
    const rt::Tensor &x = get(op.operands[0]);
    rt::Tensor y = make(op.result());
    bool conv = op.kind == OpKind::Conv1D;
    int64_t B = x.shape()[0], T = x.shape()[1], C = x.shape()[2], To = y.shape()[1];
    WindowGeometry g = windowGeometry(op, T);
    if (g.span > T + g.padLeft + g.padRight)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "%s: the window spans %lld steps but the sequence has %lld",
                                     opName(op.kind), (long long)g.span, (long long)T);
    int64_t stride = g.stride, pl = g.padLeft;
    int64_t d = conv ? op.intAttr("dilation") : 1;
    const rt::Tensor *w = conv ? &get(op.operands[1]) : nullptr;
    int64_t K = conv ? w->shape()[0] : op.intAttr("size"), F = conv ? w->shape()[2] : C;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < To; ++t)
        for (int64_t f = 0; f < F; ++f) {
          double acc = conv ? 0.0 : -INFINITY;
          for (int64_t k = 0; k < K; ++k) {
            int64_t src = t * stride + k * d - pl;
            if (src < 0 || src >= T)
              continue;
            if (conv) {
              for (int64_t c = 0; c < C; ++c)
                acc += (double)x.f32()[(b * T + src) * C + c] * w->f32()[(k * C + c) * F + f];
            } else {
              double v = x.f32()[(b * T + src) * C + f];
              acc = v > acc || v != v ? v : acc;
            }
          }
          y.f32()[(b * To + t) * F + f] = (float)acc;
        }
    env[op.result()] = y;
    return llvm::Error::success();
  }

  /// The gradients of conv1d (with respect to x or to the kernel) and of max_pool1d: each
  /// dy[b, t, f] goes back along the forward op's window at t, to every input it read
  /// (conv) or to the window's first maximum (max pooling).
  llvm::Error runWindowGrad(const Op &op) {
    rt::Tensor out = make(op.result());
    bool pool = op.kind == OpKind::MaxPool1DGrad, gradInput = op.kind == OpKind::Conv1DGradInput;
    const rt::Tensor &dy = get(op.operands[gradInput ? 0 : 1]);
    const Shape &xs = gradInput ? out.shape() : get(op.operands[0]).shape();
    int64_t B = xs[0], T = xs[1], C = xs[2], To = dy.shape()[1], F = dy.shape()[2];
    WindowGeometry g = windowGeometry(op, T);
    if (g.span > T + g.padLeft + g.padRight)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "%s: the window spans %lld steps but the sequence has %lld",
                                     opName(op.kind), (long long)g.span, (long long)T);
    int64_t d = pool ? 1 : op.intAttr("dilation");
    int64_t K = pool ? op.intAttr("size") : (gradInput ? get(op.operands[1]) : out).shape()[0];
    const float *x = gradInput ? nullptr : get(op.operands[0]).f32();
    const float *w = gradInput ? get(op.operands[1]).f32() : nullptr;
    std::vector<double> acc(out.numel(), 0.0);
    auto src = [&](int64_t t, int64_t k) { return t * g.stride + k * d - g.padLeft; };
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < To; ++t) {
        const float *dyt = dy.f32() + (b * To + t) * F;
        if (pool) {
          for (int64_t c = 0; c < C; ++c) {
            int64_t best = -1;
            float bv = 0;
            for (int64_t k = 0; k < K; ++k) {
              int64_t s = src(t, k);
              if (s < 0 || s >= T)
                continue;
              float v = x[(b * T + s) * C + c];
              if (best < 0 || v > bv || (v != v && bv == bv))
                best = s, bv = v;
            }
            if (best >= 0)
              acc[(b * T + best) * C + c] += dyt[c];
          }
          continue;
        }
        for (int64_t k = 0; k < K; ++k) {
          int64_t s = src(t, k);
          if (s < 0 || s >= T)
            continue;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t f = 0; f < F; ++f) {
              if (gradInput)
                acc[(b * T + s) * C + c] += (double)dyt[f] * w[(k * C + c) * F + f];
              else
                acc[(k * C + c) * F + f] += (double)x[(b * T + s) * C + c] * dyt[f];
            }
        }
      }
    for (int64_t i = 0; i < out.numel(); ++i)
      out.f32()[i] = (float)acc[i];
    env[op.result()] = out;
    return llvm::Error::success();
  }

  /// Copies x[:, t] (axis 1) of `seq` into `out`.
  static void sliceInto(const rt::Tensor &seq, int64_t t, rt::Tensor &out) {
    int64_t B = seq.shape()[0], T = seq.shape()[1],
            inner = seq.numel() / std::max<int64_t>(1, B * T);
    for (int64_t b = 0; b < B; ++b)
      copyBytes((char *)out.data() + b * inner * 4,
                (const char *)seq.data() + (b * T + t) * inner * 4, inner * 4);
  }
  static void stackInto(const rt::Tensor &step, int64_t t, rt::Tensor &seq) {
    int64_t B = seq.shape()[0], T = seq.shape()[1],
            inner = seq.numel() / std::max<int64_t>(1, B * T);
    for (int64_t b = 0; b < B; ++b)
      copyBytes((char *)seq.data() + (b * T + t) * inner * 4,
                (const char *)step.data() + b * inner * 4, inner * 4);
  }

  llvm::Error runLoop(const Op &op) {
    int64_t nc = op.intAttr("carries"), ns = op.intAttr("slices");
    auto steps = evalDim(op.dimAttr("steps"), syms_);
    assert(steps && "unbound loop steps");
    bool reverse = op.boolAttr("reverse");
    bool until = loopUntil(op);
    size_t nstack = loopStacks(op);
    const Block &body = *op.regions[0];
    const Op &yield = *body.terminator();
    std::vector<rt::Tensor> carry;
    for (int64_t i = 0; i < nc; ++i)
      carry.push_back(get(op.operands[i]).clone());
    std::vector<rt::Tensor> stacks;
    for (size_t k = 0; k < nstack; ++k)
      stacks.push_back(make(op.result(nc + k)));
    int64_t ran = 0;
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
      for (size_t k = 0; k < nstack; ++k)
        stackInto(get(yield.operands[nc + k]), t, stacks[k]);
      carry = std::move(next);
      ran = s + 1;
      if (until && get(yield.operands.back()).f32()[0] != 0.0f)
        break;
    }
    for (int64_t i = 0; i < nc; ++i)
      env[op.result(i)] = carry[i];
    for (size_t k = 0; k < nstack; ++k)
      env[op.result(nc + k)] = stacks[k];
    if (until) {
      rt::Tensor count = make(op.results.back().get());
      count.i32()[0] = (int32_t)ran;
      env[op.results.back().get()] = count;
    }
    return llvm::Error::success();
  }
};

} // namespace

llvm::Expected<std::vector<rt::Tensor>> interpret(const Function &f,
                                                  const std::vector<rt::Tensor> &inputs,
                                                  const std::vector<rt::Tensor> &params,
                                                  int64_t memoryLimit) {
  auto syms = bindSymbols(f, inputs, params);
  if (!syms)
    return syms.takeError();
  Interp in(*syms, memoryLimit);
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
