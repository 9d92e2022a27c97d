// The textual IR (printer and parser round trip, parser errors), the verifier and the
// Graphviz output. The format is described in docs/ir.md.
#include "ir/Builder.h"
#include "ir/Printer.h"
#include "ir/TextParser.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

using namespace loom::ir;

namespace {

Dim S(const char *s) { return Dim::symbol(s); }
Dim C(int64_t v) { return Dim::constant(v); }
Type f32(std::vector<Dim> shape) { return Type{DType::F32, std::move(shape)}; }

Value *V(llvm::Expected<Value *> v) {
  if (!v) {
    ADD_FAILURE() << llvm::toString(v.takeError());
    return nullptr;
  }
  return *v;
}

/// The simple RNN of docs/ir.md, built with the Builder (no name hints on op results).
std::unique_ptr<Module> buildSimpleRnn() {
  auto m = std::make_unique<Module>();
  auto f = std::make_unique<Function>();
  f->name = "simple_rnn";
  Value *x = f->body.addArg(f32({S("B"), S("T"), C(5)}), "x");
  f->numInputs = 1;
  Value *k = f->body.addArg(f32({C(5), C(64)}), "kernel");
  Value *r = f->body.addArg(f32({C(64), C(64)}), "recurrent_kernel");
  Value *bias = f->body.addArg(f32({C(64)}), "bias");
  f->params = {
      {"y/kernel", "glorot_uniform"}, {"y/recurrent_kernel", "orthogonal"}, {"y/bias", "zeros"}};
  f->outputNames = {"y"};
  Builder b(&f->body);
  Value *h0 = b.fill(0.0, f32({S("B"), C(64)}));
  Op *loop = b.create(
      OpKind::Loop, {h0, x}, {f32({S("B"), C(64)}), f32({S("B"), S("T"), C(64)})},
      {{"carries", int64_t(1)}, {"slices", int64_t(1)}, {"steps", S("T")}, {"reverse", false}});
  Block *body = loop->addRegion();
  Value *h = body->addArg(f32({S("B"), C(64)}), "h");
  Value *xt = body->addArg(f32({S("B"), C(5)}), "xt");
  Builder bb(body);
  Value *a = V(bb.value(OpKind::MatMul, {xt, k}));
  Value *c = V(bb.value(OpKind::MatMul, {h, r}));
  Value *d = V(bb.value(OpKind::Add, {a, c}));
  Value *e = V(bb.value(OpKind::Add, {d, bias}));
  Value *hn = V(bb.value(OpKind::Tanh, {e}));
  bb.create(OpKind::Yield, {hn, hn}, {});
  b.create(OpKind::Return, {loop->result(1)}, {});
  m->functions.push_back(std::move(f));
  return m;
}

const char *kSimpleRnnText = R"(func @simple_rnn(%x: f32[B,T,5]) -> (y)
    params(%kernel: f32[5,64] "y/kernel" glorot_uniform,
           %recurrent_kernel: f32[64,64] "y/recurrent_kernel" orthogonal,
           %bias: f32[64] "y/bias" zeros) {
  %0 = fill {value = 0.0} : f32[B,64]
  %1, %2 = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,64], %xt: f32[B,5]) {
    %3 = matmul %xt, %kernel : f32[B,64]
    %4 = matmul %h, %recurrent_kernel : f32[B,64]
    %5 = add %3, %4 : f32[B,64]
    %6 = add %5, %bias : f32[B,64]
    %7 = tanh %6 : f32[B,64]
    yield %7, %7
  } : f32[B,64], f32[B,T,64]
  return %2
}
)";

std::unique_ptr<Module> parseOk(const std::string &text) {
  auto m = parseModule(text, "t.lir");
  if (!m) {
    ADD_FAILURE() << llvm::toString(m.takeError());
    return nullptr;
  }
  return std::move(*m);
}

/// The rendered error of text that must not parse.
std::string parseError(const std::string &text) {
  auto m = parseModule(text, "t.lir");
  if (m)
    return "(parsed)";
  return llvm::toString(m.takeError());
}

std::string verifyError(const Module &m) {
  if (auto e = verify(m))
    return llvm::toString(std::move(e));
  return "";
}

/// print -> parse -> print is byte-identical, and the parsed module verifies.
void expectRoundTrip(const Module &m) {
  std::string once = print(m);
  auto parsed = parseOk(once);
  ASSERT_TRUE(parsed) << once;
  EXPECT_EQ(print(*parsed), once);
  EXPECT_EQ(verifyError(*parsed), "") << once;
}

// --- Printer and round trip ----------------------------------------------------------

TEST(IrText, PrintsTheDocumentedFormat) {
  auto m = buildSimpleRnn();
  EXPECT_EQ(verifyError(*m), "");
  EXPECT_EQ(print(*m), kSimpleRnnText);
  expectRoundTrip(*m);
}

TEST(IrText, ShortParamListStaysOnOneLine) {
  Function f;
  f.name = "dense";
  Value *x = f.body.addArg(f32({S("B"), C(4)}), "x");
  f.numInputs = 1;
  Value *k = f.body.addArg(f32({C(4), C(2)}), "k");
  f.params = {{"d/kernel", "glorot_uniform"}};
  f.outputNames = {"p"};
  Builder b(&f.body);
  Value *y = V(b.value(OpKind::MatMul, {x, k}));
  b.create(OpKind::Return, {y}, {});
  EXPECT_EQ(print(f), "func @dense(%x: f32[B,4]) -> (p)\n"
                      "    params(%k: f32[4,2] \"d/kernel\" glorot_uniform) {\n"
                      "  %0 = matmul %x, %k : f32[B,2]\n"
                      "  return %0\n"
                      "}\n");
}

TEST(IrText, NamesAreUniqueAndHintsThatLookLikeNumbersAreNotUsed) {
  auto m = std::make_unique<Module>();
  auto f = std::make_unique<Function>();
  f->name = "names";
  Value *x = f->body.addArg(f32({C(2)}), "x");
  Value *y = f->body.addArg(f32({C(2)}), "0"); // would collide with a number
  f->numInputs = 2;
  f->outputNames = {"a", "b c"};
  Builder b(&f->body);
  Value *t1 = V(b.value(OpKind::Tanh, {x}));
  t1->name = "x"; // taken by the input
  Value *t2 = V(b.value(OpKind::Tanh, {y}));
  t2->name = "t.1";
  Value *t3 = V(b.value(OpKind::Add, {t1, t2}));
  t3->name = "1x"; // not an identifier
  Value *t4 = V(b.value(OpKind::Exp, {t3}));
  t4->name = "t.1"; // duplicate hint
  b.create(OpKind::Return, {t3, t4}, {});
  m->functions.push_back(std::move(f));
  EXPECT_EQ(print(*m), "func @names(%x: f32[2], %0: f32[2]) -> (a, \"b c\") {\n"
                       "  %1 = tanh %x : f32[2]\n"
                       "  %t.1 = tanh %0 : f32[2]\n"
                       "  %2 = add %1, %t.1 : f32[2]\n"
                       "  %3 = exp %2 : f32[2]\n"
                       "  return %2, %3\n"
                       "}\n");
  expectRoundTrip(*m);
}

TEST(IrText, AttributesRoundTrip) {
  auto m = std::make_unique<Module>();
  auto f = std::make_unique<Function>();
  f->name = "attrs";
  f->outputNames = {"y"};
  Builder b(&f->body);
  std::vector<double> values = {0.0,  -0.0,        1e-05,     0.1,      -2.5,
                                1e20, 123456789.0, 1.0 / 3.0, HUGE_VAL, -HUGE_VAL};
  Value *last = nullptr;
  for (double v : values)
    last = b.fill(v, f32({C(1)}));
  Op *odd = b.create(OpKind::Fill, {}, {f32({})},
                     {{"value", 2.0},
                      {"note", std::string("a \"quoted\"\\ line\nnext\ttab\x01")},
                      {"n", int64_t(-42)},
                      {"flag", true},
                      {"t", S("T")},
                      {"c", C(64)},
                      {"odd key", int64_t(1)}});
  (void)odd;
  b.create(OpKind::Return, {last}, {});
  m->functions.push_back(std::move(f));
  std::string text = print(*m);
  EXPECT_NE(text.find("{value = 0.0}"), std::string::npos) << text;
  EXPECT_NE(text.find("{value = -0.0}"), std::string::npos) << text;
  EXPECT_NE(text.find("{value = 1e-05}"), std::string::npos) << text;
  EXPECT_NE(text.find("{value = 1e+20}"), std::string::npos) << text;
  EXPECT_NE(text.find("{value = 123456789.0}"), std::string::npos) << text;
  EXPECT_NE(text.find("{value = -inf}"), std::string::npos) << text;
  EXPECT_NE(text.find("{c = dim<64>, flag = true, n = -42, note = \"a \\\"quoted\\\"\\\\ "
                      "line\\nnext\\ttab\\x01\", \"odd key\" = 1, t = dim<T>, value = 2.0}"),
            std::string::npos)
      << text;
  expectRoundTrip(*m);
  auto parsed = parseOk(text);
  ASSERT_TRUE(parsed);
  const Function &pf = *parsed->functions[0];
  for (size_t i = 0; i < values.size(); ++i) {
    double got = pf.body.ops[i]->floatAttr("value");
    EXPECT_EQ(got, values[i]);
    EXPECT_EQ(std::signbit(got), std::signbit(values[i]));
  }
  const Op &po = *pf.body.ops[values.size()];
  EXPECT_EQ(po.strAttr("note"), "a \"quoted\"\\ line\nnext\ttab\x01");
  EXPECT_EQ(po.intAttr("n"), -42);
  EXPECT_EQ(po.dimAttr("t"), S("T"));
  EXPECT_EQ(po.dimAttr("c"), C(64));
  EXPECT_EQ(po.result()->type.rank(), 0);
}

TEST(IrText, ModuleFunctionsAreSeparatedByABlankLine) {
  const char *text = "func @a(%x: f32[2]) -> (y) {\n"
                     "  return %x\n"
                     "}\n"
                     "\n"
                     "func @b() -> () {\n"
                     "  return\n"
                     "}\n";
  auto m = parseOk(text);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->functions.size(), 2u);
  EXPECT_EQ(print(*m), text);
  EXPECT_EQ(print(Module()), "");
}

// --- Parsing handwritten text --------------------------------------------------------

TEST(IrText, ParsesOmittedTypesCommentsAndCapture) {
  const char *text = R"(
// A loop that runs backwards and captures %w from the function body.
func @rev(%x: f32[B,T,3], %w: f32[3,3]) -> (last, all) {
  %h0 = fill {value = 1.5} : f32[B,3]
  %hT, %hs = loop %h0, %x {carries = 1, slices = 1, steps = dim<T>, reverse = true}
      (%h: f32[B,3], %xt: f32[B,3]) {
    %m = matmul %h, %w      // types inferred
    %s = add %m, %xt
    %n = sigmoid %s
    yield %n, %n
  }
  %r = reverse %hs {axis = 1}
  return %hT, %r
})";
  auto m = parseOk(text);
  ASSERT_TRUE(m);
  EXPECT_EQ(verifyError(*m), "");
  const Function &f = *m->functions[0];
  EXPECT_EQ(f.numInputs, 2u);
  ASSERT_EQ(f.body.ops.size(), 4u);
  const Op &loop = *f.body.ops[1];
  EXPECT_EQ(loop.kind, OpKind::Loop);
  EXPECT_EQ(loop.result(1)->type, f32({S("B"), S("T"), C(3)}));
  EXPECT_EQ(loop.result(0)->name, "hT");
  EXPECT_TRUE(loop.boolAttr("reverse"));
  EXPECT_EQ(loop.regions[0]->ops[0]->operands[1], f.input(1)); // implicit capture
  EXPECT_EQ(f.body.ops[2]->result()->type, f32({S("B"), S("T"), C(3)}));
  std::string printed = print(*m);
  EXPECT_NE(printed.find("  %hT, %hs = loop %h0, %x {carries = 1, reverse = true, slices = 1, "
                         "steps = dim<T>}\n      (%h: f32[B,3], %xt: f32[B,3]) {\n"
                         "    %m = matmul %h, %w : f32[B,3]\n"),
            std::string::npos)
      << printed;
  expectRoundTrip(*m);
}

TEST(IrText, ParsesRnnOps) {
  const char *text = R"(func @cell(%x: f32[B,T,4], %h0: f32[B,8], %c0: f32[B,8]) -> (ys, h, c)
    params(%k: f32[4,8] "l/kernel" glorot_uniform) {
  %ys, %h, %c = rnn %x, %h0, %c0 {return_sequences = true, return_state = true}
      (%xt: f32[B,4], %hp: f32[B,8], %cp: f32[B,8]) {
    %a = matmul %xt, %k
    %hn = add %a, %hp
    %cn = mul %cp, %hn
    yield %hn, %cn
  }
  return %ys, %h, %c
})";
  auto m = parseOk(text);
  ASSERT_TRUE(m);
  EXPECT_EQ(verifyError(*m), "");
  const Op &rnn = *m->functions[0]->body.ops[0];
  ASSERT_EQ(rnn.results.size(), 3u);
  EXPECT_EQ(rnn.result(0)->type, f32({S("B"), S("T"), C(8)}));
  EXPECT_EQ(rnn.result(2)->type, f32({S("B"), C(8)}));
  EXPECT_EQ(m->functions[0]->params[0].key, "l/kernel");
  expectRoundTrip(*m);
}

TEST(IrText, SiblingRegionsMayReuseNames) {
  const char *text = R"(func @two(%x: f32[B,T,2]) -> (a, b) {
  %a = loop %x {carries = 0, reverse = false, slices = 1, steps = dim<T>} (%t: f32[B,2]) {
    %u = neg %t
    yield %u
  }
  %b = loop %x {carries = 0, reverse = false, slices = 1, steps = dim<T>} (%t: f32[B,2]) {
    %u = abs %t
    yield %u
  }
  return %a, %b
})";
  auto m = parseOk(text);
  ASSERT_TRUE(m);
  std::string printed = print(*m);
  // Names are unique per function when printed: the second %t and %u become numbers.
  EXPECT_NE(printed.find("(%0: f32[B,2]) {\n    %1 = abs %0 : f32[B,2]\n"), std::string::npos)
      << printed;
  expectRoundTrip(*m);
}

// --- Parser errors -------------------------------------------------------------------

const char *kHeader = "func @f(%x: f32[2], %y: f32[3]) -> (r) {\n";

TEST(IrTextErrors, RendersLocationSourceLineAndCaret) {
  EXPECT_EQ(parseError(std::string(kHeader) + "  %a = frob %x\n  return %a\n}\n"),
            "t.lir:2:8: error: unknown op 'frob'\n"
            "    %a = frob %x\n"
            "         ^\n");
}

struct ErrorCase {
  const char *body;  // placed after kHeader (line 2 on)
  const char *where; // "line:col"
  const char *message;
};

TEST(IrTextErrors, EachMalformedInputGetsAClearMessage) {
  const ErrorCase cases[] = {
      {"  %a = tanh %z\n", "2:13", "use of undefined value '%z'"},
      {"  %x = tanh %y\n", "2:3", "redefinition of value '%x'"},
      {"  %a, %b = tanh %x : f32[2], f32[2]\n", "2:3",
       "'tanh' has 1 result(s), got 2 result name(s)"},
      {"  %a = add %x\n", "2:8", "'add' takes 2 operand(s), got 1"},
      {"  %a = tanh %x : f64[2]\n", "2:18", "unknown element type 'f64' (expected f32 or i32)"},
      {"  %a = tanh %x : f32[2, -1]\n", "2:25", "dimension must not be negative"},
      {"  %a = reverse %x {axis = }\n", "2:27", "expected an attribute value, got '}'"},
      {"  %a = reverse %x {axis = 1, axis = 2}\n", "2:30", "duplicate attribute 'axis'"},
      {"  %a = add %x, %y\n", "2:8",
       "cannot infer the result types of 'add': shapes [2] and [3] do not broadcast"},
      {"  %a = fill {value = 1.0}\n", "2:8",
       "cannot infer the result types of 'fill': fill must have its result type given"},
      {"  %a = cast %x {dtype = \"f32}\n", "2:25", "unterminated string"},
      {"  %a = tanh %x $\n", "2:16", "unexpected character '$'"},
      {"  %a = reverse %x {axis = 99999999999999999999}\n", "2:27",
       "integer '99999999999999999999' is out of range"},
      {"  %a = tanh %x\n", "2:15", "expected '}' at the end of the block, got end of input"},
      {"  %a = loop %x {carries = 0, reverse = false, slices = 1, steps = dim<T>}\n"
       "      (%t: f32[]) {\n    yield %t\n  } : f32[T], f32[T]\n",
       "5:5", "1 result name(s) but 2 result type(s)"},
      {"  %s = loop %x {carries = 1, reverse = false, slices = 0, steps = dim<3>}\n"
       "      (%h: f32[2]) {\n    %n = neg %h\n    yield %n\n  } : f32[2]\n"
       "  return %n\n",
       "7:10", "value '%n' is defined inside a region and is not visible here"},
      {"  %a = tanh %x : f32[2]\n  return %a\n}\nfunc @f() -> () {\n", "5:6",
       "redefinition of function '@f'"},
  };
  for (const ErrorCase &c : cases) {
    std::string err = parseError(std::string(kHeader) + c.body);
    std::string want = std::string("t.lir:") + c.where + ": error: " + c.message + "\n";
    EXPECT_EQ(err.substr(0, err.find('\n') + 1), want) << c.body;
    EXPECT_EQ(err.back(), '\n');
  }
}

TEST(IrTextErrors, HeaderErrors) {
  EXPECT_EQ(parseError("fun @f() -> () {}").substr(0, 40),
            "t.lir:1:1: error: expected 'func', got '");
  EXPECT_EQ(parseError("func @f() (y) {}\n"),
            "t.lir:1:11: error: expected '->' after the inputs, got '('\n"
            "  func @f() (y) {}\n"
            "            ^\n");
  EXPECT_EQ(parseError("func @f() -> () params(%p: f32[2] zeros) {}\n").substr(0, 20),
            "t.lir:1:35: error: e");
}

TEST(IrTextErrors, NestingIsCappedAndEndOfInputIsReportedOnTheLastLine) {
  std::string text = "func @deep(%x: f32[2]) -> () {\n";
  for (int i = 0; i < 200; ++i)
    text += "%l" + std::to_string(i) +
            " = loop {carries = 0, reverse = false, slices = 0, "
            "steps = dim<1>} () {\n";
  std::string err = parseError(text);
  EXPECT_NE(err.find("error: regions are nested too deeply"), std::string::npos) << err;
  // Never crashes on truncated input, whatever the cut.
  std::string full = kSimpleRnnText;
  for (size_t n = 0; n < full.size(); n += 7)
    (void)parseError(full.substr(0, n));
  EXPECT_EQ(parseError("func @f() -> () {\n  return\n"),
            "t.lir:2:9: error: expected '}' at the end of the block, got end of input\n"
            "    return\n"
            "          ^\n");
}

// --- Verifier ------------------------------------------------------------------------

/// A valid two-op function to break: tanh(x) + x, returned.
struct Small {
  Module m;
  Function *f;
  Op *tanh, *add, *ret;
  Small() {
    m.functions.push_back(std::make_unique<Function>());
    f = m.functions[0].get();
    f->name = "small";
    Value *x = f->body.addArg(f32({C(2)}), "x");
    f->numInputs = 1;
    f->outputNames = {"y"};
    Builder b(&f->body);
    tanh = b.create(OpKind::Tanh, {x}, {f32({C(2)})});
    add = b.create(OpKind::Add, {tanh->result(), x}, {f32({C(2)})});
    ret = b.create(OpKind::Return, {add->result()}, {});
  }
  std::string error() { return verifyError(m); }
};

TEST(Verifier, AcceptsValidIr) {
  Small s;
  EXPECT_EQ(s.error(), "");
  EXPECT_EQ(verifyError(*buildSimpleRnn()), "");
}

TEST(Verifier, CatchesBrokenIr) {
  auto expectError = [](Small &s, const std::string &part) {
    std::string e = s.error();
    EXPECT_EQ(e.rfind("verifier: ", 0), 0u) << e;
    EXPECT_NE(e.find(part), std::string::npos) << "got: " << e;
  };
  { // missing terminator
    Small s;
    s.f->body.ops.pop_back();
    expectError(s, "`%1 = add %0, %x : f32[2]` in @small: missing terminator; this block must "
                   "end with `return`");
  }
  { // terminator in the middle
    Small s;
    Builder(&s.f->body).create(OpKind::Tanh, {s.add->result()}, {f32({C(2)})});
    expectError(s, "`return %1` in @small: terminator in the middle of a block");
  }
  { // wrong terminator kind
    Small s;
    s.ret->kind = OpKind::Yield;
    expectError(s, "`yield %1` in @small: wrong terminator");
  }
  { // return count vs outputs
    Small s;
    s.f->outputNames.push_back("z");
    expectError(s, "returns 1 values but the function has 2 output names");
  }
  { // operand count vs the op table
    Small s;
    s.add->operands.pop_back();
    expectError(s, "`%1 = add %0 : f32[2]` in @small: expected 2 operand(s), got 1");
  }
  { // use before definition
    Small s;
    s.tanh->operands[0] = s.add->result();
    expectError(s, "operand 0 (%1) is used before its definition");
  }
  { // value from another function
    Small s, other;
    s.tanh->operands[0] = other.f->input(0);
    expectError(s, "operand 0 (%<undefined>) is not defined in this function");
  }
  { // back-pointers
    Small s;
    s.tanh->results[0]->index = 3;
    expectError(s, "result 0 has inconsistent back-pointers");
    Small t;
    t.add->parent = nullptr;
    expectError(t, "op's parent pointer does not point to its block");
    Small u;
    u.f->body.args[0]->owner = nullptr;
    expectError(u, "block argument 0 of the body of @small has inconsistent back-pointers");
  }
  { // params vs body arguments
    Small s;
    s.f->params.push_back({"k", "zeros"});
    expectError(s, "function @small: 1 param infos but 0 param arguments");
  }
  { // recorded type differs from the inferred one
    Small s;
    s.add->results[0]->type = f32({C(3)});
    expectError(s, "`%1 = add %0, %x : f32[3]` in @small: result 0 (%1) has type f32[3] but "
                   "type inference gives f32[2]");
  }
  { // type inference fails
    Small s;
    s.f->body.args[0]->type = f32({C(5)});
    expectError(s, "`%0 = tanh %x : f32[2]` in @small: result 0 (%0) has type f32[2] but type "
                   "inference gives f32[5]");
  }
  { // null operand
    Small s;
    s.add->operands[1] = nullptr;
    expectError(s, "`%1 = add %0, %<null> : f32[2]` in @small: operand 1 is null");
  }
}

TEST(Verifier, CatchesBrokenLoops) {
  auto check = [](auto breakIt, const std::string &part) {
    auto m = buildSimpleRnn();
    Op &loop = *m->functions[0]->body.ops[1];
    breakIt(loop);
    std::string e = verifyError(*m);
    EXPECT_NE(e.find(part), std::string::npos) << "got: " << e;
  };
  check([](Op &l) { l.attrs.erase("steps"); }, "missing attribute 'steps'");
  check([](Op &l) { l.attrs["reverse"] = int64_t(0); }, "attribute 'reverse' must be a bool");
  check([](Op &l) { l.attrs["carries"] = int64_t(2); },
        "carries (2) + slices (1) must equal the number of operands (2)");
  check(
      [](Op &l) {
        l.regions[0]->args[1]->type = f32({S("B"), C(6)});
      },
      "body argument 1 (%xt) has type f32[B,6] but its sequence's slice has type f32[B,5]");
  check([](Op &l) { l.regions[0]->ops.back()->operands.pop_back(); },
        "2 results but the body yields 1 values");
  check([](Op &l) { l.regions[0]->ops.back()->kind = OpKind::Return; },
        "`return %7, %7` in @simple_rnn: wrong terminator; this block must end with `yield`");
  check([](Op &l) { l.regions[0]->parent = nullptr; },
        "region's parent pointer does not point to the op");
  // A value defined in the loop body, used after the loop.
  auto m = buildSimpleRnn();
  Function &f = *m->functions[0];
  f.returnOp()->operands[0] = f.body.ops[1]->regions[0]->ops[0]->result();
  EXPECT_NE(verifyError(*m).find("`return %3` in @simple_rnn: operand 0 (%3) is defined inside "
                                 "a region that does not enclose this use"),
            std::string::npos)
      << verifyError(*m);
}

TEST(Verifier, RejectsRnnFlagsOfTheWrongKind) {
  auto m = parseOk(R"(func @r(%x: f32[B,T,2], %h0: f32[B,2]) -> (h) {
  %h = rnn %x, %h0 (%xt: f32[B,2], %hp: f32[B,2]) {
    %n = add %xt, %hp
    yield %n
  }
  return %h
})");
  ASSERT_TRUE(m);
  EXPECT_EQ(verifyError(*m), "");
  m->functions[0]->body.ops[0]->attrs["go_backwards"] = int64_t(1);
  EXPECT_NE(verifyError(*m).find("attribute 'go_backwards' must be a bool"), std::string::npos);
  EXPECT_NE(parseError("func @r(%x: f32[B,T,2], %h0: f32[B,2]) -> (h) {\n"
                       "  %h = rnn %x, %h0 {return_state = 1} (%xt: f32[B,2], %hp: f32[B,2]) {\n"
                       "    yield %hp\n  }\n  return %h\n}\n")
                .find("t.lir:2:8: error: attribute 'return_state' of 'rnn' must be true or false"),
            std::string::npos);
}

// --- Graphviz ------------------------------------------------------------------------

TEST(Dot, DrawsLoopsAsClusters) {
  std::string dot = printDot(*buildSimpleRnn());
  EXPECT_EQ(dot.rfind("digraph loom {\n", 0), 0u);
  EXPECT_NE(dot.find("subgraph cluster_1 {"), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"loop over T\";"), std::string::npos) << dot;
  EXPECT_NE(dot.find("shape=invhouse, label=\"input %x\\nf32[B,T,5]\""), std::string::npos);
  EXPECT_NE(dot.find("shape=cylinder, label=\"param y/kernel\\nf32[5,64]\""), std::string::npos);
  EXPECT_NE(dot.find("shape=house, label=\"output y\""), std::string::npos);
  EXPECT_NE(dot.find("[label=\"#1 f32[B,T,64]\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("shape=box, label=\"matmul\\nf32[B,64]\""), std::string::npos);
  // Balanced braces: every cluster is closed.
  EXPECT_EQ(std::count(dot.begin(), dot.end(), '{'), std::count(dot.begin(), dot.end(), '}'));
}

} // namespace
