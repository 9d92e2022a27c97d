// The autodiff pass: every op's gradient rule, loops (both directions, masked, several
// carries, stacked outputs) and the built-in layers (recurrent, conv1d, pooling), each
// checked against central finite differences of the reference interpreter (f32, so with a
// stated tolerance: |ad - fd| <= 3e-3 * (1 + |fd|), at eps = 1e-2, skipping points where the
// loss has a kink: there the estimates at eps and eps/2 disagree). The compiled gradient
// function (after the full pipeline: hoisting, fusion) is then checked against the
// interpreter's.
#include "codegen/JIT.h"
#include "codegen_helpers.h"
#include "frontend/Elaborate.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Autodiff.h"
#include "passes/PassManager.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace loom;

namespace {

struct Args {
  std::vector<rt::Tensor> in, par;
};

Args makeArgs(const ir::Function &f, const ir::SymbolMap &syms, uint32_t seed) {
  std::mt19937 rng(seed);
  Args a;
  for (unsigned i = 0; i < f.body.args.size(); ++i) {
    const ir::Value *v = f.body.args[i].get();
    rt::Tensor t(v->type.dtype, ir::concreteShape(v->type, syms));
    bool input = i < f.numInputs;
    if (t.dtype() == ir::DType::F32) {
      std::uniform_real_distribution<float> d(input ? -1.0f : -0.6f, input ? 1.0f : 0.6f);
      for (int64_t k = 0; k < t.numel(); ++k)
        t.f32()[k] = d(rng);
    } else {
      // Token ids in [0, 4); lengths in [1, T].
      int64_t hi = v->name == "lengths" ? syms.at("T") : 3;
      std::uniform_int_distribution<int> d(v->name == "lengths" ? 1 : 0, (int)hi);
      for (int64_t k = 0; k < t.numel(); ++k)
        t.i32()[k] = d(rng);
    }
    (input ? a.in : a.par).push_back(std::move(t));
  }
  return a;
}

double lossOf(const ir::Function &f, const Args &a) {
  auto out = ir::interpret(f, a.in, a.par);
  EXPECT_TRUE(bool(out)) << llvm::toString(out.takeError());
  return out ? (*out)[0].f32()[0] : NAN;
}

/// Differentiates output 0 of `m`'s main function and checks the gradients against finite
/// differences at up to `samples` elements of each parameter, then the compiled gradient
/// function against the interpreter.
void checkGradients(const ir::Module &m, const ir::SymbolMap &syms, uint32_t seed = 7,
                    int samples = 6) {
  const ir::Function &f = *m.main();
  auto gm = ir::cloneModule(m);
  ir::Function &g = *gm->main();
  ASSERT_FALSE(bool(passes::differentiate(g))) << "differentiate failed";
  if (auto e = ir::verify(*gm))
    FAIL() << llvm::toString(std::move(e)) << "\n" << ir::print(*gm);
  Args a = makeArgs(f, syms, seed);
  auto grads = ir::interpret(g, a.in, a.par);
  ASSERT_TRUE(bool(grads)) << llvm::toString(grads.takeError()) << "\n" << ir::print(*gm);
  size_t nout = f.returnOp()->operands.size();
  ASSERT_EQ(grads->size(), nout + f.params.size());
  std::mt19937 rng(seed + 1);
  int checked = 0;
  for (size_t p = 0; p < f.params.size(); ++p) {
    rt::Tensor &w = a.par[p];
    const rt::Tensor &dw = (*grads)[nout + p];
    ASSERT_EQ(dw.shape(), w.shape()) << f.params[p].key;
    for (int s = 0; s < samples && w.numel(); ++s) {
      int64_t k = std::uniform_int_distribution<int64_t>(0, w.numel() - 1)(rng);
      float orig = w.f32()[k];
      auto fd = [&](float eps) {
        w.f32()[k] = orig + eps;
        double lp = lossOf(f, a);
        w.f32()[k] = orig - eps;
        double lm = lossOf(f, a);
        w.f32()[k] = orig;
        // The perturbation actually applied in f32.
        return (lp - lm) / ((double)(orig + eps) - (double)(orig - eps));
      };
      double d1 = fd(1e-2f), d2 = fd(5e-3f);
      if (std::fabs(d1 - d2) > 1e-2 * (1 + std::fabs(d1)))
        continue; // a kink (relu, max, abs) within eps
      double ad = dw.f32()[k];
      EXPECT_NEAR(ad, d1, 3e-3 * (1 + std::fabs(d1))) << f.params[p].key << "[" << k << "]\n"
                                                      << ir::print(*gm);
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);

  // The compiled gradient function after the inference pipeline matches the interpreter.
  auto cm = ir::cloneModule(*gm);
  ASSERT_FALSE(
      bool(passes::runPipeline(*cm, {"shape-inference", "cse", "hoist", "dce", "fuse"}, {})));
  auto cf = codegen::CompiledFunction::compile(*cm->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  auto got = (*cf)->run(a.in, a.par);
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  for (size_t i = 0; i < grads->size(); ++i)
    cgtest::expectClose((*got)[i], (*grads)[i], 2e-4, "compiled output " + std::to_string(i));
}

void checkText(const std::string &text, const ir::SymbolMap &syms = {{"B", 3}, {"T", 4}}) {
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m);
  checkGradients(*m, syms);
}

/// A model from loom source, lowered, with loss = sum(0.5 y^2 + 0.3 y) over every output.
void checkModel(const std::string &src, const ir::SymbolMap &syms = {{"B", 3}, {"T", 5}}) {
  frontend::SourceManager sm;
  auto m = frontend::compileSource(sm, "model.loom", src);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  ASSERT_FALSE(bool(passes::runPipeline(**m, {"lower-rnn", "shape-inference"}, {})));
  ir::Function &f = *(*m)->main();
  ir::Op *ret = f.returnOp();
  std::unique_ptr<ir::Op> retOp = std::move(f.body.ops.back());
  f.body.ops.pop_back();
  ir::Builder b(&f.body);
  ir::Value *loss = nullptr;
  for (ir::Value *y : ret->operands) {
    ir::Value *t = *b.value(ir::OpKind::Mul, {y, y});
    t = *b.value(ir::OpKind::Mul, {t, b.fill(0.5, ir::Type{ir::DType::F32, {}})});
    t = *b.value(ir::OpKind::Add,
                 {t, *b.value(ir::OpKind::Mul, {y, b.fill(0.3, ir::Type{ir::DType::F32, {}})})});
    while (t->type.rank() > 0)
      t = *b.value(ir::OpKind::ReduceSum, {t}, {{"axis", (int64_t)0}, {"keepdims", false}});
    loss = loss ? *b.value(ir::OpKind::Add, {loss, t}) : t;
  }
  retOp->operands = {loss};
  f.outputNames = {"loss"};
  f.body.ops.push_back(std::move(retOp));
  checkGradients(**m, syms);
}

/// A model's training function: its train block's loss with training-mode layers (dropout
/// masks from the fixed rng_key makeArgs gives, batch_norm on the batch's statistics).
void checkTraining(const std::string &src, const ir::SymbolMap &syms = {{"B", 4}, {"T", 5}}) {
  frontend::SourceManager sm;
  frontend::TrainSpec spec;
  auto m = frontend::compileSource(sm, "model.loom", src, "", &spec);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  ASSERT_FALSE(bool(passes::runPipeline(**m, {"lower-rnn", "shape-inference"}, {})));
  ASSERT_EQ((*m)->main()->input((*m)->main()->numInputs - 1)->name, "rng_key");
  checkGradients(**m, syms);
}

TEST(Autodiff, Unary) {
  checkText(R"(
func @f(%x: f32[B,4]) -> (l) params(%w: f32[4] "w" zeros) {
  %a = mul %x, %w : f32[B,4]
  %e = exp %a : f32[B,4]
  %n = neg %e : f32[B,4]
  %t = tanh %a : f32[B,4]
  %s = sigmoid %a : f32[B,4]
  %r = relu %a : f32[B,4]
  %ab = abs %a : f32[B,4]
  %one = fill {value = 1.0} : f32[]
  %p = add %ab, %one : f32[B,4]
  %lg = log %p : f32[B,4]
  %sq = sqrt %p : f32[B,4]
  %er = erf %a : f32[B,4]
  %c = cast %er {dtype = "f32"} : f32[B,4]
  %1 = add %n, %t : f32[B,4]
  %2 = mul %1, %s : f32[B,4]
  %3 = add %2, %r : f32[B,4]
  %4 = mul %3, %lg : f32[B,4]
  %5 = add %4, %sq : f32[B,4]
  %6 = mul %5, %c : f32[B,4]
  %7 = mul %6, %x : f32[B,4]
  %8 = reduce_sum %7 {axis = 1, keepdims = false} : f32[B]
  %l = reduce_sum %8 {axis = 0, keepdims = false} : f32[]
  return %l
})");
}

TEST(Autodiff, BinaryWithBroadcasting) {
  checkText(R"(
func @f(%x: f32[B,4], %c: f32[B,4]) -> (l)
    params(%u: f32[4] "u" zeros, %v: f32[B,1] "v" zeros, %s: f32[] "s" zeros) {
  %a = add %x, %u : f32[B,4]
  %b = sub %a, %v : f32[B,4]
  %m = mul %b, %s : f32[B,4]
  %two = fill {value = 2.0} : f32[]
  %d0 = add %v, %two : f32[B,1]
  %d = div %m, %d0 : f32[B,4]
  %mx = max %d, %u : f32[B,4]
  %mn = min %mx, %x : f32[B,4]
  %sel = select %c, %mn, %a : f32[B,4]
  %q = mul %sel, %sel : f32[B,4]
  %q2 = add %q, %d : f32[B,4]
  %8 = reduce_sum %q2 {axis = 1, keepdims = false} : f32[B]
  %l = reduce_sum %8 {axis = 0, keepdims = false} : f32[]
  return %l
})",
            {{"B", 3}});
}

TEST(Autodiff, MatMulForms) {
  checkText(R"(
func @f(%x: f32[B,T,3]) -> (l)
    params(%w: f32[3,4] "w" zeros, %wt: f32[5,4] "wt" zeros, %z: f32[B,T,2] "z" zeros) {
  %a = matmul %x, %w : f32[B,T,4]
  %t = tanh %a : f32[B,T,4]
  %b = matmul %t, %wt {transpose_rhs = true} : f32[B,T,5]
  %c = matmul %b, %z {transpose_lhs = true} : f32[5,2]
  %q = mul %c, %c : f32[5,2]
  %8 = reduce_sum %q {axis = 1, keepdims = false} : f32[5]
  %l = reduce_sum %8 {axis = 0, keepdims = false} : f32[]
  return %l
})");
}

TEST(Autodiff, Reductions) {
  checkText(R"(
func @f(%x: f32[B,T,4]) -> (l) params(%w: f32[4] "w" zeros) {
  %a = mul %x, %w : f32[B,T,4]
  %m = reduce_max %a {axis = 2, keepdims = true} : f32[B,T,1]
  %s = sub %a, %m : f32[B,T,4]
  %e = exp %s : f32[B,T,4]
  %mean = reduce_mean %e {axis = 1, keepdims = false} : f32[B,4]
  %mx = reduce_max %a {axis = 1, keepdims = false} : f32[B,4]
  %p = mul %mean, %mx : f32[B,4]
  %mt = reduce_mean %p {axis = 1, keepdims = true} : f32[B,1]
  %8 = reduce_sum %mt {axis = 1, keepdims = false} : f32[B]
  %l = reduce_mean %8 {axis = 0, keepdims = false} : f32[]
  return %l
})");
}

TEST(Autodiff, BatchMatMul) {
  // Every transpose form (M = 2, K = 3, N = 4, so a wrong layout cannot type-check), each
  // operand depending on a weight, so both rules are checked.
  for (bool tl : {false, true})
    for (bool tr : {false, true}) {
      SCOPED_TRACE(std::string(tl ? "lhs^T " : "lhs ") + (tr ? "rhs^T" : "rhs"));
      std::string as = tl ? "3,2" : "2,3", bs = tr ? "4,3" : "3,4";
      std::string wa = tl ? "2" : "3", wb = tr ? "3" : "4";
      checkText("func @f(%x: f32[B," + as + "], %y: f32[B," + bs + "]) -> (l) params(%w: f32[" +
                wa + "] \"w\" zeros, %v: f32[" + wb + "] \"v\" zeros) {\n" +
                "  %a = mul %x, %w : f32[B," + as + "]\n" + "  %b = mul %y, %v : f32[B," + bs +
                "]\n" + "  %c = batch_matmul %a, %b {transpose_lhs = " + (tl ? "true" : "false") +
                ", transpose_rhs = " + (tr ? "true" : "false") + "} : f32[B,2,4]\n" +
                "  %d = tanh %c : f32[B,2,4]\n"
                "  %e = reduce_sum %d {axis = 2, keepdims = false} : f32[B,2]\n"
                "  %g = reduce_sum %e {axis = 1, keepdims = false} : f32[B]\n"
                "  %l = reduce_mean %g {axis = 0, keepdims = false} : f32[]\n"
                "  return %l\n}");
    }
}

TEST(Autodiff, SwapAxes) {
  checkText(R"(
func @f(%x: f32[B,T,4]) -> (l) params(%w: f32[4] "w" zeros) {
  %a = mul %x, %w : f32[B,T,4]
  %s = swap_axes %a {axis1 = 1, axis2 = 2} : f32[B,4,T]
  %v = fill {value = 0.5} : f32[T]
  %t = iota {axis = 1} : i32[4,T]
  %tf = cast %t {dtype = "f32"} : f32[4,T]
  %m = mul %s, %tf : f32[B,4,T]
  %e = tanh %m : f32[B,4,T]
  %r = reduce_sum %e {axis = 2, keepdims = false} : f32[B,4]
  %q = reduce_sum %r {axis = 1, keepdims = false} : f32[B]
  %l = reduce_mean %q {axis = 0, keepdims = false} : f32[]
  return %l
})");
}

TEST(Autodiff, Layout) {
  checkText(R"(
func @f(%x: f32[B,T,4], %ids: i32[B,T]) -> (l) params(%w: f32[4,6] "w" zeros, %e: f32[4,6] "e" zeros) {
  %a = matmul %x, %w : f32[B,T,6]
  %r = reverse %a {axis = 1} : f32[B,T,6]
  %s1 = slice %r {axis = 2, size = 2, start = 1} : f32[B,T,2]
  %s2 = slice %r {axis = 2, size = 3, start = 3} : f32[B,T,3]
  %c = concat %s2, %s1 {axis = 2} : f32[B,T,5]
  %rs = reshape %c : f32[B,T,5,1]
  %bc = broadcast %rs : f32[B,T,5,2]
  %t = tanh %bc : f32[B,T,5,2]
  %g = gather %e, %ids {what = "ids"} : f32[B,T,6]
  %gq = mul %g, %a : f32[B,T,6]
  %1 = reduce_sum %t {axis = 3, keepdims = false} : f32[B,T,5]
  %2 = reduce_sum %1 {axis = 2, keepdims = false} : f32[B,T]
  %3 = reduce_sum %gq {axis = 2, keepdims = false} : f32[B,T]
  %4 = add %2, %3 : f32[B,T]
  %5 = reduce_sum %4 {axis = 1, keepdims = false} : f32[B]
  %l = reduce_sum %5 {axis = 0, keepdims = false} : f32[]
  return %l
})");
}

/// `text` with every "ATTRS" replaced by `attrs`.
std::string withAttrs(std::string text, const std::string &attrs) {
  for (size_t at; (at = text.find("ATTRS")) != std::string::npos;)
    text.replace(at, 5, attrs);
  return text;
}

TEST(Autodiff, Conv1D) {
  // x is scaled by a parameter first, so conv1d's gradient with respect to its input is
  // checked too (through %s).
  for (const char *padding : {"valid", "same", "causal"})
    for (auto [stride, dilation] : {std::pair{1, 1}, {2, 1}, {3, 1}, {1, 2}, {2, 2}}) {
      std::string attrs = "{dilation = " + std::to_string(dilation) + ", padding = \"" + padding +
                          "\", stride = " + std::to_string(stride) + "}";
      SCOPED_TRACE(attrs);
      checkText(withAttrs(R"(
func @f(%x: f32[B,T,3]) -> (l)
    params(%s: f32[3] "s" zeros, %k: f32[3,3,4] "k" zeros, %b: f32[4] "b" zeros,
           %k2: f32[2,4,2] "k2" zeros) {
  %xs = mul %x, %s
  %c = conv1d %xs, %k ATTRS
  %cb = add %c, %b
  %t = tanh %cb
  %c2 = conv1d %t, %k2 ATTRS
  %q = mul %c2, %c2
  %q2 = add %q, %c2
  %1 = reduce_sum %q2 {axis = 2, keepdims = false}
  %2 = reduce_sum %1 {axis = 1, keepdims = false}
  %l = reduce_sum %2 {axis = 0, keepdims = false}
  return %l
})",
                          attrs),
                {{"B", 2}, {"T", 9}});
    }
}

TEST(Autodiff, MaxPool1D) {
  for (const char *padding : {"valid", "same"})
    for (auto [size, stride] : {std::pair{2, 2}, {3, 1}, {3, 2}, {2, 3}}) {
      std::string attrs = "{padding = \"" + std::string(padding) +
                          "\", size = " + std::to_string(size) +
                          ", stride = " + std::to_string(stride) + "}";
      SCOPED_TRACE(attrs);
      checkText(withAttrs(R"(
func @f(%x: f32[B,T,3]) -> (l) params(%w: f32[3,4] "w" zeros, %b: f32[4] "b" zeros) {
  %a = matmul %x, %w
  %ab = add %a, %b
  %p = max_pool1d %ab ATTRS
  %t = tanh %p
  %q = mul %t, %p
  %1 = reduce_sum %q {axis = 2, keepdims = false}
  %2 = reduce_sum %1 {axis = 1, keepdims = false}
  %l = reduce_sum %2 {axis = 0, keepdims = false}
  return %l
})",
                          attrs),
                // (B = 3, T = 7 would draw two elements within 1e-3 of each other in one
                // window: a kink at the point itself, where finite differences average.)
                {{"B", 2}, {"T", 8}});
    }
}

TEST(Autodiff, LoopForwardAndReverseWithStacks) {
  for (const char *rev : {"false", "true"})
    checkText(std::string(R"(
func @f(%x: f32[B,T,3]) -> (l)
    params(%w: f32[3,4] "w" zeros, %u: f32[4,4] "u" zeros, %b: f32[4] "b" zeros, %h0: f32[B,4] "h0" zeros) {
  %c0 = fill {value = 0.0} : f32[B,4]
  %hT, %cT, %seq = loop %h0, %c0, %x {carries = 2, reverse = )") +
              rev + R"(, slices = 1, steps = dim<T>}
      (%h: f32[B,4], %c: f32[B,4], %xt: f32[B,3]) {
    %a = matmul %xt, %w : f32[B,4]
    %ab = add %a, %b : f32[B,4]
    %r = matmul %h, %u : f32[B,4]
    %s = add %ab, %r : f32[B,4]
    %g = sigmoid %s : f32[B,4]
    %cn0 = mul %g, %c : f32[B,4]
    %tn = tanh %s : f32[B,4]
    %cn = add %cn0, %tn : f32[B,4]
    %half = fill {value = 0.5} : f32[]
    %hn0 = tanh %cn : f32[B,4]
    %hn = mul %hn0, %half : f32[B,4]
    yield %hn, %cn, %hn
  } : f32[B,4], f32[B,4], f32[B,T,4]
  %q = mul %seq, %seq : f32[B,T,4]
  %1 = reduce_sum %q {axis = 2, keepdims = false} : f32[B,T]
  %2 = reduce_sum %1 {axis = 1, keepdims = false} : f32[B]
  %cq = mul %cT, %hT : f32[B,4]
  %3 = reduce_sum %cq {axis = 1, keepdims = false} : f32[B]
  %4 = add %2, %3 : f32[B]
  %l = reduce_sum %4 {axis = 0, keepdims = false} : f32[]
  return %l
})");
}

TEST(Autodiff, BuiltinLayers) {
  checkModel(R"(model m(x: f32[B, T, 3]) -> (y: f32[B, 2]) {
    h = lstm(x, units=4)
    y = dense(h, units=2, activation=tanh)
  })");
  checkModel(R"(model m(x: f32[B, T, 3]) -> (y: f32[B, T, 2]) {
    h = gru(x, units=4, return_sequences=true)
    y = dense(h, units=2)
  })");
  checkModel(R"(model m(x: f32[B, T, 3]) -> (y: f32[B, 3]) {
    y = gru(x, units=3, reset_after=false, go_backwards=true)
  })");
  checkModel(R"(model m(x: f32[B, T, 3]) -> (y: f32[B, T, 4]) {
    y = simple_rnn(x, units=4, return_sequences=true, go_backwards=true)
  })");
}

TEST(Autodiff, LayerNorm) {
  checkModel(R"(model m(x: f32[B, T, 5]) -> (y: f32[B, T, 5], z: f32[B, 3]) {
    y = layer_norm(x)
    z = layer_norm(dense(reduce_mean(x, axis=1), units=3), epsilon=0.01, center=false)
  })");
  // Inside a cell: the layer-normalised SimpleRNN (examples/cells/layernorm_rnn.loom).
  checkModel(R"(cell ln_rnn(x: f32[I], h: f32[units], units: int) -> f32[units] {
    kernel = param([I, units], init=glorot_uniform)
    recurrent_kernel = param([units, units], init=orthogonal)
    return tanh(layer_norm(x @ kernel + h @ recurrent_kernel))
  }
  model m(x: f32[B, T, 3]) -> (y: f32[B, T, 4]) {
    y = rnn(ln_rnn(units=4), x, return_sequences=true)
  })");
}

TEST(Autodiff, AttentionLayers) {
  checkModel(R"(model m(q: f32[B, T, 4], v: f32[B, T, 4], lengths: i32[B]) -> (y: f32[B, T, 4]) {
    y = attention(dense(q, 4), v, use_scale=true, value_lengths=lengths)
  })");
  checkModel(R"(model m(x: f32[B, T, 3]) -> (y: f32[B, T, 3], w: f32[B, T, T]) {
    y, w = attention(x, dense(x, 3, activation=tanh), score_mode=concat, use_scale=true,
                     use_causal_mask=true, return_attention_scores=true)
  })");
  checkModel(R"(model m(q: f32[B, T, 4], v: f32[B, T, 5], lengths: i32[B]) -> (y: f32[B, T, 5]) {
    qq = dense(q, 4)
    k = dense(v, 4)
    y = additive_attention(qq, v, key=k, query_lengths=lengths)
  })");
  checkModel(R"(model m(x: i32[B, T]) -> (y: f32[B, 2]) {
    e = embedding(x, 4, 3, mask_zero=true)
    a = attention(e, e)
    h = gru(a, 3)
    y = dense(h, 2)
  })");
}

TEST(Autodiff, MultiHeadAttention) {
  checkModel(R"(model m(q: f32[B, T, 4], v: f32[B, T, 3]) -> (y: f32[B, T, 4]) {
    y = multi_head_attention(q, v, num_heads=2, key_dim=2)
  })");
  checkModel(R"(model m(x: f32[B, T, 4], lengths: i32[B]) -> (y: f32[B, T, 3], w) {
    y, w = multi_head_attention(x, x, num_heads=2, key_dim=3, value_dim=2, output_shape=3,
                                use_bias=false, use_causal_mask=true, query_lengths=lengths,
                                value_lengths=lengths, return_attention_scores=true)
  })");
}

TEST(Autodiff, ConvPoolingRecurrentModel) {
  checkModel(R"(model m(x: f32[B, T, 3]) -> (y: f32[B, 2]) {
    c = conv1d(x, filters=4, kernel_size=3, padding=causal, dilation_rate=2, activation=tanh)
    p = max_pooling1d(c, pool_size=2, padding=same)
    h = lstm(p, units=4)
    y = dense(h, units=2)
  })",
             {{"B", 3}, {"T", 7}});
  checkModel(R"(model m(x: f32[B, T, 3]) -> (y) {
    c = conv1d(x, filters=5, kernel_size=2, strides=2, activation=sigmoid)
    p = max_pooling1d(c, pool_size=3, strides=1, padding=same)
    h = gru(p, units=3, return_sequences=true)
    y = conv1d(h, filters=2, kernel_size=3, padding=same)
  })",
             {{"B", 2}, {"T", 9}});
}

TEST(Autodiff, MaskedAndBidirectional) {
  checkModel(R"(model m(x: f32[B, T, 3], lengths: i32[B]) -> (y: f32[B, T, 4], s: f32[B, 2]) {
    y = bidirectional(lstm(units=2, return_sequences=true), x, lengths=lengths)
    s = gru(x, units=2, lengths=lengths)
  })");
  checkModel(R"(model m(x: i32[B, T]) -> (y: f32[B, 1]) {
    e = embedding(x, 4, 3, mask_zero=true)
    h = gru(e, 5)
    y = dense(h, 1, activation=sigmoid)
  })");
}

TEST(Autodiff, TrainingModeLayers) {
  checkTraining(R"(model m(x: f32[B, 6]) -> (y) {
    h = dense(x, units=8, activation=tanh)
    d = dropout(h, 0.4)
    n = batch_norm(d, center=true, scale=true)
    y = dense(n, units=2)
  }
  train m(t: f32[B, 2]) { loss = mse(y, t) })");
  checkTraining(R"(model m(x: f32[B, T, 3]) -> (y) {
    y = lstm(x, units=4, dropout=0.3, recurrent_dropout=0.3)
  }
  train m(t: f32[B, 4]) { loss = mse(y, t) })");
  checkTraining(R"(model m(x: f32[B, T, 3]) -> (y) {
    h = gru(x, units=4, dropout=0.25, recurrent_dropout=0.5, return_sequences=true)
    n = batch_norm(h)
    y = gru(n, units=3, reset_after=false, recurrent_dropout=0.3, go_backwards=true)
  }
  train m(t: f32[B, 3]) { loss = mse(y, t) })");
  checkTraining(R"(model m(x: f32[B, T, 3], lengths: i32[B]) -> (y) {
    h = simple_rnn(x, units=4, dropout=0.2, recurrent_dropout=0.2, return_sequences=true,
                   lengths=lengths)
    y = dense(dropout(h, 0.5), units=2)
  }
  train m(t: f32[B, T, 2]) { loss = mse(y, t) })");
}

} // namespace
