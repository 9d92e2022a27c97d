// The functions the language provides natively: elementwise activations, weights, the
// recurrence driver rnn(), and require() for argument checks in layers written in loom.
#include "frontend/Elaborator.h"

#include <fmt/format.h>

namespace loom::frontend {

namespace {

const std::set<std::string> kInitializers = {"zeros",         "ones",          "glorot_uniform",
                                             "glorot_normal", "orthogonal",    "he_uniform",
                                             "he_normal",     "lecun_uniform", "lecun_normal"};

Builtin unaryBuiltin(const std::string &name, std::optional<ir::OpKind> kind) {
  Builtin b;
  b.name = name;
  b.activation = true;
  b.params = {{"x"}};
  b.fn = [name, kind](Elaborator &el, const BoundArgs &a) -> llvm::Expected<Val> {
    const Val &x = a["x"];
    if (!x.isTensor())
      return el.fail(a.locs.at("x"), fmt::format("{} needs a tensor, got {}", name, x.describe()));
    if (!kind)
      return x; // linear
    return el.tensorOp(*kind, {x.tensor}, a.callLoc, fmt::format("cannot apply {}", name));
  };
  return b;
}

Builtin binaryBuiltin(const std::string &name, ir::OpKind kind) {
  Builtin b;
  b.name = name;
  b.params = {{"a"}, {"b"}};
  b.fn = [name, kind](Elaborator &el, const BoundArgs &a) -> llvm::Expected<Val> {
    const Val &x = a["a"], &y = a["b"];
    if (!x.isTensor() && !y.isTensor())
      return el.fail(a.callLoc, fmt::format("{} needs tensors", name));
    ir::DType dt = x.isTensor() ? x.tensor->type.dtype : y.tensor->type.dtype;
    auto asTensor = [&](const Val &v, const char *which) -> llvm::Expected<ir::Value *> {
      if (v.isTensor())
        return v.tensor;
      if (v.isNumber())
        return el.scalar(v.number(), dt);
      return el.fail(a.locs.at(which),
                     fmt::format("{} needs a tensor or a number, got {}", name, v.describe()));
    };
    auto tx = asTensor(x, "a");
    if (!tx)
      return tx.takeError();
    auto ty = asTensor(y, "b");
    if (!ty)
      return ty.takeError();
    return el.tensorOp(kind, {*tx, *ty}, a.callLoc, fmt::format("cannot apply {}", name));
  };
  return b;
}

llvm::Expected<Val> paramBuiltin(Elaborator &el, const BoundArgs &a) {
  const Val &shape = a["shape"];
  if (shape.kind != Val::Kind::Tuple)
    return el.fail(a.locs.at("shape"),
                   fmt::format("param shape must be a list like [4, 8], got {}", shape.describe()));
  ir::Type t;
  for (auto &d : shape.elems) {
    if (d.kind == Val::Kind::Dim)
      return el.fail(a.locs.at("shape"),
                     fmt::format("weight shapes must be known when compiling, but {} is a "
                                 "symbolic dimension",
                                 d.dim.str()));
    if (d.kind != Val::Kind::Int)
      return el.fail(a.locs.at("shape"),
                     fmt::format("param shape entries must be ints, got {}", d.describe()));
    if (d.i <= 0)
      return el.fail(a.locs.at("shape"),
                     fmt::format("weight dimensions must be positive, got {}", d.i));
    t.shape.push_back(ir::Dim::constant(d.i));
  }
  const Val &init = a["init"];
  if (init.kind != Val::Kind::Str || !kInitializers.count(init.s))
    return el.fail(a.locs.at("init"), fmt::format("unknown initializer {}", init.describe()));
  std::string name;
  if (a["name"].kind == Val::Kind::Str) {
    name = a["name"].s;
  } else {
    const Frame &fr = el.frame();
    const ast::Expr *rhs = fr.assignRhs;
    if (!rhs || rhs->kind != ast::Expr::Kind::Call || rhs->loc.line != a.callLoc.line ||
        rhs->loc.col != a.callLoc.col || rhs->loc.file != a.callLoc.file)
      return el.fail(a.callLoc, "a param needs a name: assign it directly (kernel = param(...)) "
                                "or pass name=\"...\"");
    name = fr.assignTarget;
  }
  auto v = el.createParam(name, t, init.s, a.callLoc);
  if (!v)
    return v.takeError();
  return Val::of(*v);
}

llvm::Expected<Val> rnnBuiltin(Elaborator &el, const BoundArgs &a) {
  Val cell = a["cell"];
  if (cell.kind == Val::Kind::Func && cell.decl && cell.decl->kind == ast::Decl::Kind::Cell) {
    cell.kind = Val::Kind::Cell;
  } else if (cell.kind != Val::Kind::Cell) {
    return el.fail(
        a.locs.at("cell"),
        fmt::format("rnn needs a cell, like rnn(my_cell(units=8), x), got {}", cell.describe()));
  }
  bool flags[3];
  const char *names[3] = {"return_sequences", "return_state", "go_backwards"};
  for (int i = 0; i < 3; ++i) {
    const Val &v = a[names[i]];
    if (v.kind != Val::Kind::Bool)
      return el.fail(a.locs.at(names[i]),
                     fmt::format("{} must be true or false, got {}", names[i], v.describe()));
    flags[i] = v.b;
  }
  return el.driveCell(cell, a["x"], flags[0], flags[1], flags[2], a["initial_state"], a.callLoc);
}

llvm::Expected<Val> requireBuiltin(Elaborator &el, const BoundArgs &a) {
  const Val &c = a["condition"];
  if (c.kind != Val::Kind::Bool)
    return el.fail(a.locs.at("condition"),
                   fmt::format("require needs a bool condition, got {}", c.describe()));
  if (c.b)
    return Val::none();
  const Val &m = a["message"];
  return el.fail(a.callLoc, m.kind == Val::Kind::Str ? m.s : "requirement failed");
}

std::map<std::string, Builtin> makeBuiltins() {
  std::map<std::string, Builtin> m;
  auto add = [&](Builtin b) { m[b.name] = std::move(b); };
  add(unaryBuiltin("linear", std::nullopt));
  add(unaryBuiltin("tanh", ir::OpKind::Tanh));
  add(unaryBuiltin("sigmoid", ir::OpKind::Sigmoid));
  add(unaryBuiltin("relu", ir::OpKind::Relu));
  add(unaryBuiltin("exp", ir::OpKind::Exp));
  add(unaryBuiltin("log", ir::OpKind::Log));
  add(unaryBuiltin("sqrt", ir::OpKind::Sqrt));
  add(unaryBuiltin("abs", ir::OpKind::Abs));
  add(binaryBuiltin("maximum", ir::OpKind::Max));
  add(binaryBuiltin("minimum", ir::OpKind::Min));
  add(Builtin{
      "param",
      {{"shape"}, {"init", false, Val::str("glorot_uniform")}, {"name", false, Val::none()}},
      paramBuiltin});
  add(Builtin{"rnn",
              {{"cell"},
               {"x"},
               {"return_sequences", false, Val::boolean(false)},
               {"return_state", false, Val::boolean(false)},
               {"go_backwards", false, Val::boolean(false)},
               {"initial_state", false, Val::none()}},
              rnnBuiltin});
  add(Builtin{"require", {{"condition"}, {"message", false, Val::none()}}, requireBuiltin});
  return m;
}

} // namespace

const std::map<std::string, Builtin> &builtins() {
  static const std::map<std::string, Builtin> m = makeBuiltins();
  return m;
}

bool isInitializerName(const std::string &name) { return kInitializers.count(name) != 0; }

} // namespace loom::frontend
