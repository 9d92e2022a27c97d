// Randomised differential testing: a deterministic generator of small well-typed IR
// functions (elementwise chains with numpy broadcasting, matmuls with fresh params, casts,
// reverses, and an optional time loop with one or two carries, slices and stacks), each
// compiled and compared with ir::interpret for several (B, T).
#include "codegen/JIT.h"
#include "ir/Builder.h"
#include "ir/Printer.h"
#include "ir/TypeInference.h"
#include "ir/Verifier.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

using namespace loom;
using ir::Dim;
using ir::OpKind;
using ir::Type;

namespace {

Type f32(std::vector<Dim> shape) { return Type{ir::DType::F32, std::move(shape)}; }

class Generator {
public:
  Generator(uint32_t seed, ir::Function &f) : rng_(seed), f_(f) {}

  void generate() {
    f_.name = "random" + std::to_string(rng_() % 1000);
    H_ = 1 + pick(8);
    I_ = 1 + pick(8);
    B_ = Dim::symbol("B");
    T_ = Dim::symbol("T");
    std::vector<ir::Value *> pool;
    pool.push_back(f_.body.addArg(f32({B_, T_, Dim::constant(I_)}), "x"));
    pool.push_back(f_.body.addArg(f32({B_, Dim::constant(H_)}), "h"));
    f_.numInputs = 2;
    if (pick(3) == 0) {
      pool.push_back(f_.body.addArg(f32({}), "s"));
      f_.numInputs = 3;
    }
    ir::Builder b(&f_.body);
    int n = 2 + pick(5);
    for (int i = 0; i < n; ++i)
      step(b, pool);
    if (pick(3) != 0)
      loop(b, pool);
    for (int i = 0, m = 1 + pick(2); i < m; ++i)
      step(b, pool);
    std::vector<ir::Value *> outs;
    for (int i = 0, m = 1 + pick(3); i < m; ++i)
      outs.push_back(i == 0 ? pool.back() : pool[pick(pool.size())]);
    for (size_t i = 0; i < outs.size(); ++i)
      f_.outputNames.push_back("y" + std::to_string(i));
    b.create(OpKind::Return, outs, {});
  }

private:
  std::mt19937 rng_;
  ir::Function &f_;
  int H_ = 1, I_ = 1;
  Dim B_, T_;
  int paramCount_ = 0;

  int pick(size_t n) { return (int)(rng_() % n); }

  ir::Value *V(llvm::Expected<ir::Value *> v) {
    if (!v) {
      ADD_FAILURE() << "generator built an ill-typed op: " << llvm::toString(v.takeError());
      return nullptr;
    }
    return *v;
  }

  /// A new param (static shape). Params follow the inputs in the argument list, so they
  /// can be added while the body is being built.
  ir::Value *param(std::vector<Dim> shape) {
    std::string name = "p" + std::to_string(paramCount_++);
    f_.params.push_back({"r/" + name, "zeros"});
    return f_.body.addArg(f32(std::move(shape)), name);
  }

  ir::Value *fill(ir::Builder &b, Type t) {
    return b.fill(std::uniform_real_distribution<double>(-1, 1)(rng_), std::move(t));
  }

  /// A value that broadcasts against `a` (same shape, a suffix, dims set to 1, a scalar).
  ir::Value *partner(ir::Builder &b, std::vector<ir::Value *> &pool, ir::Value *a) {
    const auto &s = a->type.shape;
    std::vector<ir::Value *> same;
    for (ir::Value *v : pool)
      if (v != a && v->type == a->type)
        same.push_back(v);
    switch (pick(6)) {
    case 0:
      if (!same.empty())
        return same[pick(same.size())];
      [[fallthrough]];
    case 1: // a static suffix, e.g. [H] against [B,H]
      if (!s.empty() && s.back().isStatic())
        return param({s.back()});
      [[fallthrough]];
    case 2: // [1,n]
      if (!s.empty() && s.back().isStatic())
        return param({Dim::constant(1), s.back()});
      [[fallthrough]];
    case 3: // [..., 1] from a matmul over the same leading dims
      if (!s.empty() && s.back().isStatic())
        return V(b.value(OpKind::MatMul, {a, param({s.back(), Dim::constant(1)})}));
      [[fallthrough]];
    case 4:
      return param({});
    default:
      return fill(b, f32({}));
    }
  }

  ir::Value *any(std::vector<ir::Value *> &pool) {
    // Prefer recent values so that chains get long.
    size_t n = pool.size();
    return pick(2) ? pool[n - 1 - pick(std::min<size_t>(n, 3))] : pool[pick(n)];
  }

  void step(ir::Builder &b, std::vector<ir::Value *> &pool) {
    ir::Value *a = any(pool);
    ir::Value *r = nullptr;
    switch (pick(14)) {
    case 0: {
      OpKind k[] = {OpKind::Neg, OpKind::Tanh, OpKind::Sigmoid, OpKind::Relu, OpKind::Abs};
      r = V(b.value(k[pick(5)], {a}));
      break;
    }
    case 1:
      r = V(b.value(OpKind::Exp, {V(b.value(OpKind::Tanh, {a}))}));
      break;
    case 2: {
      ir::Value *ab = V(b.value(OpKind::Abs, {a}));
      ir::Value *p = V(b.value(OpKind::Add, {ab, b.fill(1.0, f32({}))}));
      r = V(b.value(pick(2) ? OpKind::Log : OpKind::Sqrt, {p}));
      break;
    }
    case 3:
    case 4: {
      OpKind k[] = {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Max, OpKind::Min};
      ir::Value *p = partner(b, pool, a);
      r = pick(2) ? V(b.value(k[pick(5)], {a, p})) : V(b.value(k[pick(5)], {p, a}));
      break;
    }
    case 5: {
      ir::Value *p = V(b.value(OpKind::Abs, {partner(b, pool, a)}));
      p = V(b.value(OpKind::Add, {p, b.fill(1.0, f32({}))}));
      r = V(b.value(OpKind::Div, {a, p}));
      break;
    }
    case 6:
    case 7:
      if (a->type.rank() >= 1 && a->type.shape.back().isStatic()) {
        int n = pick(2) ? H_ : 1 + pick(8);
        r = V(b.value(OpKind::MatMul, {a, param({a->type.shape.back(), Dim::constant(n)})}));
        break;
      }
      [[fallthrough]];
    case 8:
      if (a->type.rank() >= 1) {
        r = V(b.value(OpKind::Reverse, {a}, {{"axis", int64_t(pick(a->type.rank()))}}));
        break;
      }
      [[fallthrough]];
    case 10: {
      ir::Value *p = partner(b, pool, a);
      ir::Value *c = V(b.value(OpKind::Less, {a, p}));
      r = pick(2) ? V(b.value(OpKind::Select, {c, a, p})) : V(b.value(OpKind::Erf, {a}));
      break;
    }
    case 11: { // a view (slice) of a static axis, sometimes concatenated back
      std::vector<int64_t> axes;
      for (int64_t k = 0; k < a->type.rank(); ++k)
        if (a->type.shape[k].isStatic() && a->type.shape[k].value() >= 2)
          axes.push_back(k);
      if (axes.empty())
        break;
      int64_t axis = axes[pick(axes.size())], n = a->type.shape[axis].value();
      int64_t start = pick(n), size = 1 + pick(n - start);
      r = V(b.value(OpKind::Slice, {a}, {{"axis", axis}, {"start", start}, {"size", size}}));
      if (pick(2))
        r = V(b.value(OpKind::Concat, {r, a}, {{"axis", axis}}));
      break;
    }
    case 12: // a reduction over any axis
      if (a->type.rank() >= 1) {
        OpKind k[] = {OpKind::ReduceSum, OpKind::ReduceMax, OpKind::ReduceMean};
        r = V(b.value(k[pick(3)], {a},
                      {{"axis", int64_t(pick(a->type.rank()))}, {"keepdims", bool(pick(2))}}));
        break;
      }
      [[fallthrough]];
    case 13: // reshape: merge the last two dims (a view when a is dense)
      if (a->type.rank() >= 2) {
        Type t = a->type;
        Dim last = t.shape.back();
        t.shape.pop_back();
        t.shape.back() = t.shape.back() * last;
        r = b.create(OpKind::Reshape, {a}, {t})->result();
        break;
      }
      [[fallthrough]];
    default: {
      ir::Value *m = V(b.value(OpKind::Mul, {a, b.fill(3.0, f32({}))}));
      ir::Value *i = V(b.value(OpKind::Cast, {m}, {{"dtype", std::string("i32")}}));
      if (pick(2))
        i = V(b.value(OpKind::Add, {i, V(b.value(OpKind::Abs, {i}))}));
      r = V(b.value(OpKind::Cast, {i}, {{"dtype", std::string("f32")}}));
      break;
    }
    }
    if (r)
      pool.push_back(r);
  }

  void loop(ir::Builder &b, std::vector<ir::Value *> &pool) {
    Type hT = f32({B_, Dim::constant(H_)});
    int nc = 1 + pick(2);
    std::vector<ir::Value *> operands, seqs;
    for (int i = 0; i < nc; ++i) {
      std::vector<ir::Value *> inits;
      for (ir::Value *v : pool)
        if (v->type == hT)
          inits.push_back(v);
      operands.push_back(inits.empty() || pick(3) == 0 ? fill(b, hT) : inits[pick(inits.size())]);
    }
    for (ir::Value *v : pool)
      if (v->type.rank() >= 3 && v->type.shape[0] == B_ && v->type.shape[1] == T_)
        seqs.push_back(v);
    int ns = 1 + pick(std::min<size_t>(seqs.size(), 2));
    for (int j = 0; j < ns; ++j)
      operands.push_back(seqs[pick(seqs.size())]);
    bool reverse = pick(2);
    ir::Op *op = b.create(
        OpKind::Loop, operands, {},
        {{"carries", int64_t(nc)}, {"slices", int64_t(ns)}, {"steps", T_}, {"reverse", reverse}});
    ir::Block *body = op->addRegion();
    ir::Builder bb(body);
    std::vector<ir::Value *> inner = pool, carries;
    for (int i = 0; i < nc; ++i) {
      carries.push_back(body->addArg(hT, "c" + std::to_string(i)));
      inner.push_back(carries.back());
    }
    for (int j = 0; j < ns; ++j)
      inner.push_back(body->addArg(ir::sliceType(operands[nc + j]->type), "s" + std::to_string(j)));
    for (int i = 0, n = 2 + pick(5); i < n; ++i)
      step(bb, inner);
    std::vector<ir::Value *> yields;
    for (int i = 0; i < nc; ++i) {
      int mode = pick(6);
      if (mode == 0) {
        yields.push_back(carries[pick(nc)]); // unchanged, or another carry's value
        continue;
      }
      // tanh(carry + something of a broadcastable shape) keeps the state bounded.
      ir::Value *other = nullptr;
      for (int tries = 0; tries < 8 && !other; ++tries) {
        ir::Value *c = any(inner);
        auto s = ir::broadcastShapes(hT.shape, c->type.shape);
        if (s && *s == hT.shape)
          other = c;
        else if (!s)
          llvm::consumeError(s.takeError());
      }
      ir::Value *sum =
          V(bb.value(OpKind::Add, {carries[i], other ? other : partner(bb, inner, carries[i])}));
      yields.push_back(V(bb.value(OpKind::Tanh, {sum})));
    }
    std::vector<Type> resultTypes(nc, hT);
    for (int k = 0, m = pick(3); k < m; ++k) {
      ir::Value *v = any(inner);
      if (v->type.rank() == 0)
        continue;
      yields.push_back(v);
      resultTypes.push_back(ir::stackType(v->type, T_));
    }
    bb.create(OpKind::Yield, yields, {});
    for (Type &t : resultTypes)
      pool.push_back(op->addResult(t));
  }
};

TEST(CodegenRandom, MatchesInterpreter) {
  const std::vector<ir::SymbolMap> cases = {{{"B", 1}, {"T", 1}},
                                            {{"B", 2}, {"T", 3}},
                                            {{"B", 3}, {"T", 0}},
                                            {{"B", 1}, {"T", 5}},
                                            {{"B", 4}, {"T", 2}}};
  // LOOM_RANDOM_SEEDS=n runs more functions than the default 50 (for soak testing).
  const char *env = std::getenv("LOOM_RANDOM_SEEDS");
  uint32_t seeds = env ? (uint32_t)std::atoi(env) : 50;
  for (uint32_t seed = 1; seed <= seeds; ++seed) {
    ir::Function f;
    Generator(seed, f).generate();
    if (auto e = ir::verify(f)) {
      ADD_FAILURE() << "seed " << seed << ": " << llvm::toString(std::move(e)) << "\n"
                    << ir::print(f);
      continue;
    }
    SCOPED_TRACE("seed " + std::to_string(seed) + ":\n" + ir::print(f));
    cgtest::checkAgainstInterpreter(f, cases, seed * 100, 1e-5);
    if (HasFailure())
      break; // one failing function is enough to read
  }
}

} // namespace
