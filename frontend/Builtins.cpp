// The functions the language provides natively: elementwise activations, weights, the
// recurrence driver rnn(), and require() for argument checks in layers written in loom. The
// training builtins (losses, regularizers, training-mode layers) are in BuiltinsTrain.cpp.
#include "frontend/BuiltinArgs.h"

#include "ir/TypeInference.h"

#include <fmt/format.h>

#include <cmath>

namespace loom::frontend {

namespace {

const std::set<std::string> kInitializers = {
    "zeros",        "ones",       "glorot_uniform",  "glorot_normal",
    "orthogonal",   "he_uniform", "he_normal",       "lecun_uniform",
    "lecun_normal", "uniform",    "unit_forget_bias"};

Builtin unaryBuiltin(const std::string &name, std::optional<ir::OpKind> kind) {
  Builtin b;
  b.name = name;
  b.activation = true;
  b.params = {{"x"}};
  b.fn = [name, kind](Elaborator &el, const BoundArgs &a) -> llvm::Expected<Val> {
    const Val &x = a["x"];
    // Of a number, the math functions are evaluated when compiling: 1.0 / sqrt(key_dim).
    if (x.isNumber() && kind) {
      double v = x.number();
      switch (*kind) {
      case ir::OpKind::Sqrt:
        if (v < 0)
          return el.fail(a.locs.at("x"), fmt::format("sqrt of a negative number ({})", v));
        return Val::real(std::sqrt(v));
      case ir::OpKind::Exp:
        return Val::real(std::exp(v));
      case ir::OpKind::Log:
        if (v <= 0)
          return el.fail(a.locs.at("x"),
                         fmt::format("log of a number that is not positive ({})", v));
        return Val::real(std::log(v));
      case ir::OpKind::Tanh:
        return Val::real(std::tanh(v));
      case ir::OpKind::Abs:
        return Val::real(std::fabs(v));
      default:
        break;
      }
    }
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
  // 2^46 f32 elements are 256 TiB, the most the runtime ever allocates at once; checking
  // here also keeps every later element count of a weight from overflowing int64.
  constexpr int64_t kMaxElements = int64_t(1) << 46;
  int64_t elements = 1;
  std::vector<int64_t> dims;
  for (const ir::Dim &d : t.shape)
    dims.push_back(d.value());
  for (int64_t d : dims)
    if (__builtin_mul_overflow(elements, d, &elements) || elements > kMaxElements)
      return el.fail(a.locs.at("shape"),
                     fmt::format("a weight of shape [{}] has more than 2^46 elements (256 TiB "
                                 "as f32), more than loom can allocate",
                                 fmt::join(dims, ", ")));
  Val init = a["init"];
  // init=zeros names the initializer even though zeros is also a function.
  if (init.kind == Val::Kind::Func && init.builtin && kInitializers.count(init.builtin->name))
    init = Val::str(init.builtin->name);
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
  if (a["trainable"].kind != Val::Kind::Bool)
    return el.fail(a.locs.at("trainable"), "trainable must be true or false");
  auto v = el.createParam(name, t, init.s, a.callLoc);
  if (!v)
    return v.takeError();
  el.function().params.back().trainable = a["trainable"].b;
  return Val::of(*v);
}

} // namespace

llvm::Expected<ir::Value *> tensorArg(Elaborator &el, const BoundArgs &a, const char *name,
                                      const char *fn) {
  const Val &v = a[name];
  if (!v.isTensor())
    return el.fail(a.locs.at(name), fmt::format("argument '{}' of {} must be a tensor, got {}",
                                                name, fn, v.describe()));
  return v.tensor;
}

llvm::Expected<int64_t> intArg(Elaborator &el, const BoundArgs &a, const char *name,
                               const char *fn) {
  const Val &v = a[name];
  if (v.kind != Val::Kind::Int)
    return el.fail(a.locs.at(name), fmt::format("argument '{}' of {} must be an int, got {}", name,
                                                fn, v.describe()));
  return v.i;
}

/// An axis argument, negative counting from the end, checked against `rank`.
llvm::Expected<int64_t> axisArg(Elaborator &el, const BoundArgs &a, const char *name,
                                const char *fn, int64_t rank) {
  auto axis = intArg(el, a, name, fn);
  if (!axis)
    return axis.takeError();
  int64_t ax = *axis < 0 ? *axis + rank : *axis;
  if (ax < 0 || ax >= rank)
    return el.fail(a.locs.at(name),
                   fmt::format("axis {} is out of range for a tensor of rank {}", *axis, rank));
  return ax;
}

llvm::Expected<std::vector<ir::Dim>> shapeArg(Elaborator &el, const BoundArgs &a,
                                              const char *name) {
  const Val &v = a[name];
  if (v.kind != Val::Kind::Tuple)
    return el.fail(a.locs.at(name),
                   fmt::format("{} must be a list of sizes, got {}", name, v.describe()));
  std::vector<ir::Dim> dims;
  for (auto &e : v.elems) {
    if (e.kind == Val::Kind::Int && e.i >= 0)
      dims.push_back(ir::Dim::constant(e.i));
    else if (e.kind == Val::Kind::Dim)
      dims.push_back(e.dim);
    else
      return el.fail(a.locs.at(name),
                     fmt::format("{} entries must be sizes, got {}", name, e.describe()));
  }
  return dims;
}

namespace {

ir::Value *sliceAxis(Elaborator &el, ir::Value *x, int64_t axis, int64_t start, int64_t size) {
  ir::Type t = x->type;
  t.shape[axis] = ir::Dim::constant(size);
  return el.builder()
      .create(ir::OpKind::Slice, {x}, {t}, {{"axis", axis}, {"start", start}, {"size", size}})
      ->result(0);
}

llvm::Expected<Val> splitBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "split");
  if (!x)
    return x.takeError();
  auto n = intArg(el, a, "n", "split");
  if (!n)
    return n.takeError();
  auto axis = axisArg(el, a, "axis", "split", (*x)->type.rank());
  if (!axis)
    return axis.takeError();
  const ir::Dim &d = (*x)->type.shape[*axis];
  if (*n < 1 || !d.isStatic() || d.value() % *n != 0)
    return el.fail(a.callLoc, fmt::format("cannot split axis {} of {} into {} equal parts", *axis,
                                          (*x)->type.str(), *n));
  std::vector<Val> parts;
  int64_t size = d.value() / *n;
  for (int64_t i = 0; i < *n; ++i)
    parts.push_back(Val::of(sliceAxis(el, *x, *axis, i * size, size)));
  return Val::tuple(std::move(parts));
}

llvm::Expected<Val> takeBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "take");
  if (!x)
    return x.takeError();
  auto axis = axisArg(el, a, "axis", "take", (*x)->type.rank());
  if (!axis)
    return axis.takeError();
  auto index = intArg(el, a, "index", "take");
  if (!index)
    return index.takeError();
  const ir::Dim &d = (*x)->type.shape[*axis];
  if (!d.isStatic() || *index < 0 || *index >= d.value())
    return el.fail(a.locs.at("index"), fmt::format("index {} is outside axis {} of {}", *index,
                                                   *axis, (*x)->type.str()));
  ir::Value *row = sliceAxis(el, *x, *axis, *index, 1);
  ir::Type t = (*x)->type;
  t.shape.erase(t.shape.begin() + *axis);
  return Val::of(el.builder().create(ir::OpKind::Reshape, {row}, {t})->result(0));
}

llvm::Expected<Val> concatBuiltin(Elaborator &el, const BoundArgs &a) {
  const Val &xs = a["inputs"];
  if (xs.kind != Val::Kind::Tuple || xs.elems.empty())
    return el.fail(a.locs.at("inputs"), "concatenate needs a list of tensors, like [a, b]");
  std::vector<ir::Value *> ts;
  for (auto &e : xs.elems) {
    if (!e.isTensor())
      return el.fail(a.locs.at("inputs"),
                     fmt::format("concatenate needs tensors, got {}", e.describe()));
    ts.push_back(e.tensor);
  }
  auto axis = axisArg(el, a, "axis", "concatenate", ts[0]->type.rank());
  if (!axis)
    return axis.takeError();
  return el.tensorOp(ir::OpKind::Concat, ts, a.callLoc, "cannot concatenate", {{"axis", *axis}});
}

llvm::Expected<Val> reverseBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "reverse");
  if (!x)
    return x.takeError();
  auto axis = axisArg(el, a, "axis", "reverse", (*x)->type.rank());
  if (!axis)
    return axis.takeError();
  return el.tensorOp(ir::OpKind::Reverse, {*x}, a.callLoc, "cannot reverse", {{"axis", *axis}});
}

llvm::Expected<Val> swapaxesBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "swapaxes");
  if (!x)
    return x.takeError();
  auto a1 = axisArg(el, a, "axis1", "swapaxes", (*x)->type.rank());
  if (!a1)
    return a1.takeError();
  auto a2 = axisArg(el, a, "axis2", "swapaxes", (*x)->type.rank());
  if (!a2)
    return a2.takeError();
  return el.tensorOp(ir::OpKind::SwapAxes, {*x}, a.callLoc, "cannot swap axes",
                     {{"axis1", *a1}, {"axis2", *a2}});
}

llvm::Expected<Val> reshapeBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "reshape");
  if (!x)
    return x.takeError();
  auto dims = shapeArg(el, a, "shape");
  if (!dims)
    return dims.takeError();
  ir::Op *op = el.builder().create(ir::OpKind::Reshape, {*x}, {ir::Type{(*x)->type.dtype, *dims}});
  if (auto t = ir::inferTypes(*op); !t)
    return el.fail(a.callLoc, llvm::toString(t.takeError()));
  return Val::of(op->result(0));
}

/// matmul(a, b, transpose_a, transpose_b): keras.ops.matmul with transposes of the last two
/// dims; a batched product when b has rank 3 or more (equal batch dims), else a product
/// by the matrix b.
llvm::Expected<Val> matmulBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "a", "matmul");
  if (!x)
    return x.takeError();
  auto y = tensorArg(el, a, "b", "matmul");
  if (!y)
    return y.takeError();
  bool ta = a["transpose_a"].b, tb = a["transpose_b"].b;
  if (a["transpose_a"].kind != Val::Kind::Bool || a["transpose_b"].kind != Val::Kind::Bool)
    return el.fail(a.callLoc, "matmul: transpose_a and transpose_b must be booleans");
  std::string what = fmt::format("cannot matmul {} and {}", (*x)->type.str(), (*y)->type.str());
  if ((*y)->type.rank() >= 3)
    return el.tensorOp(ir::OpKind::BatchMatMul, {*x, *y}, a.callLoc, what,
                       {{"transpose_lhs", ta}, {"transpose_rhs", tb}});
  if (ta)
    return el.fail(a.callLoc, "matmul: transpose_a needs a batched product (b of rank 3 or more)");
  std::map<std::string, ir::Attr> attrs;
  if (tb)
    attrs["transpose_rhs"] = true;
  return el.tensorOp(ir::OpKind::MatMul, {*x, *y}, a.callLoc, what, attrs);
}

llvm::Expected<Val> zerosBuiltin(Elaborator &el, const BoundArgs &a) {
  auto dims = shapeArg(el, a, "shape");
  if (!dims)
    return dims.takeError();
  return Val::of(el.builder().fill(0.0, ir::Type{ir::DType::F32, *dims}));
}

llvm::Expected<Val> dimBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "dim");
  if (!x)
    return x.takeError();
  auto axis = axisArg(el, a, "axis", "dim", (*x)->type.rank());
  if (!axis)
    return axis.takeError();
  const ir::Dim &d = (*x)->type.shape[*axis];
  return d.isStatic() ? Val::integer(d.value()) : Val::symDim(d);
}

Builtin reduceBuiltin(const std::string &name, ir::OpKind kind) {
  Builtin b;
  b.name = name;
  b.params = {{"x"}, {"axis", false, Val::integer(-1)}, {"keepdims", false, Val::boolean(false)}};
  b.fn = [name, kind](Elaborator &el, const BoundArgs &a) -> llvm::Expected<Val> {
    auto x = tensorArg(el, a, "x", name.c_str());
    if (!x)
      return x.takeError();
    auto axis = axisArg(el, a, "axis", name.c_str(), (*x)->type.rank());
    if (!axis)
      return axis.takeError();
    if (a["keepdims"].kind != Val::Kind::Bool)
      return el.fail(a.locs.at("keepdims"), "keepdims must be true or false");
    return el.tensorOp(kind, {*x}, a.callLoc, "cannot apply " + name,
                       {{"axis", *axis}, {"keepdims", a["keepdims"].b}});
  };
  return b;
}

/// An op over arguments `names`, each a tensor or a number (an f32 scalar).
llvm::Expected<Val> tensorsOrNumbersOp(Elaborator &el, const BoundArgs &a,
                                       std::initializer_list<const char *> names, ir::OpKind kind,
                                       const char *fn) {
  std::vector<ir::Value *> ts;
  for (const char *n : names) {
    const Val &v = a[n];
    if (v.isTensor())
      ts.push_back(v.tensor);
    else if (v.isNumber())
      ts.push_back(el.scalar(v.number(), ir::DType::F32));
    else
      return el.fail(a.locs.at(n),
                     fmt::format("{} needs tensors or numbers, got {}", fn, v.describe()));
  }
  return el.tensorOp(kind, ts, a.callLoc, std::string("cannot apply ") + fn);
}

llvm::Expected<Val> whereBuiltin(Elaborator &el, const BoundArgs &a) {
  return tensorsOrNumbersOp(el, a, {"condition", "a", "b"}, ir::OpKind::Select, "where");
}

llvm::Expected<Val> gatherBuiltin(Elaborator &el, const BoundArgs &a) {
  auto table = tensorArg(el, a, "table", "gather");
  if (!table)
    return table.takeError();
  auto ids = tensorArg(el, a, "ids", "gather");
  if (!ids)
    return ids.takeError();
  if ((*ids)->type.dtype != ir::DType::I32)
    return el.fail(a.locs.at("ids"),
                   fmt::format("token ids must be i32, got {}", (*ids)->type.str()));
  std::string what = a["what"].kind == Val::Kind::Str ? a["what"].s : "index";
  if (!el.binding().empty())
    what = el.binding() + ": " + what;
  return el.tensorOp(ir::OpKind::Gather, {*table, *ids}, a.callLoc, "cannot gather",
                     {{"what", what}});
}

llvm::Expected<Val> oneHotBuiltin(Elaborator &el, const BoundArgs &a) {
  auto ids = tensorArg(el, a, "ids", "one_hot");
  if (!ids)
    return ids.takeError();
  auto depth = intArg(el, a, "depth", "one_hot");
  if (!depth)
    return depth.takeError();
  if (*depth < 1)
    return el.fail(a.locs.at("depth"), fmt::format("depth must be positive, got {}", *depth));
  if ((*ids)->type.dtype != ir::DType::I32)
    return el.fail(a.locs.at("ids"),
                   fmt::format("one_hot needs i32 ids, got {}", (*ids)->type.str()));
  return el.tensorOp(ir::OpKind::OneHot, {*ids}, a.callLoc, "cannot apply one_hot",
                     {{"depth", *depth}});
}

/// conv(x, kernel, stride, dilation, padding) and max_pool(x, size, stride, padding):
/// the window ops the prelude's conv1d and pooling layers are written with.
llvm::Expected<Val> windowBuiltin(Elaborator &el, const BoundArgs &a, bool conv) {
  const char *fn = conv ? "conv" : "max_pool";
  auto x = tensorArg(el, a, "x", fn);
  if (!x)
    return x.takeError();
  std::map<std::string, ir::Attr> attrs;
  for (const char *k : {"stride", "dilation", "size"}) {
    if (!a.values.count(k))
      continue;
    auto v = intArg(el, a, k, fn);
    if (!v)
      return v.takeError();
    attrs[k] = *v;
  }
  if (a["padding"].kind != Val::Kind::Str)
    return el.fail(a.locs.at("padding"), "padding must be valid, same or causal");
  attrs["padding"] = a["padding"].s;
  std::vector<ir::Value *> operands{*x};
  if (conv) {
    auto k = tensorArg(el, a, "kernel", fn);
    if (!k)
      return k.takeError();
    operands.push_back(*k);
  }
  return el.tensorOp(conv ? ir::OpKind::Conv1D : ir::OpKind::MaxPool1D, operands, a.callLoc,
                     conv ? "cannot apply conv1d" : "cannot apply max_pooling1d", attrs);
}

} // namespace

/// The step mask f32[B, T, 1] of `lengths` i32[B] for sequences like `x` [B, T, ...]: 1
/// where t < lengths[b]. Lengths outside [1, T] fail the call.
llvm::Expected<ir::Value *> lengthsMask(Elaborator &el, const Val &lengths, ir::Value *x,
                                        const ir::Loc &loc) {
  const ir::Type &xt = x->type;
  if (!lengths.isTensor() || lengths.tensor->type.dtype != ir::DType::I32 ||
      lengths.tensor->type.rank() != 1 || lengths.tensor->type.shape[0] != xt.shape[0])
    return el.fail(loc, fmt::format("lengths must be i32[{}] (one length per sequence), got {}",
                                    xt.shape[0].str(), lengths.describe()));
  ir::Builder &b = el.builder();
  ir::Value *len =
      b.create(ir::OpKind::CheckRange, {lengths.tensor}, {lengths.tensor->type},
               {{"lo", (int64_t)1}, {"hi", xt.shape[1]}, {"what", std::string("lengths")}})
          ->result(0);
  ir::Type col{ir::DType::I32, {xt.shape[0], ir::Dim::constant(1), ir::Dim::constant(1)}};
  len = b.create(ir::OpKind::Reshape, {len}, {col})->result(0);
  ir::Type steps{ir::DType::I32, {xt.shape[0], xt.shape[1], ir::Dim::constant(1)}};
  ir::Value *t = b.create(ir::OpKind::Iota, {}, {steps}, {{"axis", (int64_t)1}})->result(0);
  ir::Type maskType{ir::DType::F32, steps.shape};
  return b.create(ir::OpKind::Less, {t, len}, {maskType})->result(0);
}

namespace {

/// sequence_mask(lengths, like): the step mask f32[B, T, 1] of lengths i32[B] for sequences
/// like `like` [B, T, ...] (attention's query_lengths / value_lengths).
llvm::Expected<Val> sequenceMaskBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "like", "sequence_mask");
  if (!x)
    return x.takeError();
  if ((*x)->type.rank() < 2)
    return el.fail(a.locs.at("like"),
                   "sequence_mask needs sequences [B, T, ...], got " + (*x)->type.str());
  auto m = lengthsMask(el, a["lengths"], *x, a.locs.at("lengths"));
  if (!m)
    return m.takeError();
  return Val::of(*m);
}

/// causal_mask(scores): f32[Tq, Tv] for scores [..., Tq, Tv], 1 where the key step is not
/// after the query step (j <= i), else 0: Keras's use_causal_mask.
llvm::Expected<Val> causalMaskBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "scores", "causal_mask");
  if (!x)
    return x.takeError();
  const ir::Type &t = (*x)->type;
  if (t.rank() < 2)
    return el.fail(a.locs.at("scores"), "causal_mask needs scores [..., Tq, Tv], got " + t.str());
  ir::Builder &b = el.builder();
  ir::Type ids{ir::DType::I32, {t.shape[t.rank() - 2], t.shape[t.rank() - 1]}};
  ir::Value *row = b.create(ir::OpKind::Iota, {}, {ids}, {{"axis", (int64_t)0}})->result(0);
  ir::Value *col = b.create(ir::OpKind::Iota, {}, {ids}, {{"axis", (int64_t)1}})->result(0);
  ir::Type mask{ir::DType::F32, ids.shape};
  ir::Value *later = b.create(ir::OpKind::Less, {row, col}, {mask})->result(0);
  ir::Value *one = b.fill(1.0, ir::Type{ir::DType::F32, {}});
  return el.tensorOp(ir::OpKind::Sub, {one, later}, a.callLoc, "causal_mask");
}

llvm::Expected<Val> withMaskBuiltin(Elaborator &el, const BoundArgs &a) {
  // ids_mask(ids): the Keras mask_zero mask of i32 ids [B, T]: f32[B, T, 1], 1 where id != 0.
  auto ids = tensorArg(el, a, "ids", "mask_zero");
  if (!ids)
    return ids.takeError();
  const ir::Type &t = (*ids)->type;
  if (t.dtype != ir::DType::I32 || t.rank() != 2)
    return el.fail(a.locs.at("ids"), fmt::format("mask_zero needs ids i32[B, T], got {}", t.str()));
  ir::Builder &b = el.builder();
  ir::Type col{ir::DType::I32, {t.shape[0], t.shape[1], ir::Dim::constant(1)}};
  ir::Value *r = b.create(ir::OpKind::Reshape, {*ids}, {col})->result(0);
  ir::Value *zero = b.fill(0.0, ir::Type{ir::DType::I32, {}});
  ir::Value *m =
      b.create(ir::OpKind::Less, {zero, r}, {ir::Type{ir::DType::F32, col.shape}})->result(0);
  Val out = a["x"];
  if (!out.isTensor())
    return el.fail(a.locs.at("x"), "with_mask needs a tensor");
  out.mask = m;
  return out;
}

/// add([a, b, ...]): elementwise sum (Keras's Add layer).
llvm::Expected<Val> addBuiltin(Elaborator &el, const BoundArgs &a) {
  const Val &xs = a["inputs"];
  if (xs.kind != Val::Kind::Tuple || xs.elems.size() < 2)
    return el.fail(a.locs.at("inputs"), "add needs a list of at least two tensors, like [a, b]");
  Val sum = xs.elems[0];
  for (size_t i = 1; i < xs.elems.size(); ++i) {
    if (!sum.isTensor() || !xs.elems[i].isTensor())
      return el.fail(a.locs.at("inputs"), "add needs tensors");
    auto s =
        el.tensorOp(ir::OpKind::Add, {sum.tensor, xs.elems[i].tensor}, a.callLoc, "cannot add");
    if (!s)
      return s.takeError();
    sum = *s;
  }
  return sum;
}

/// flatten(x): [B, d1, d2, ...] -> [B, d1 * d2 * ...].
llvm::Expected<Val> flattenBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "flatten");
  if (!x)
    return x.takeError();
  const ir::Type &t = (*x)->type;
  if (t.rank() < 2)
    return el.fail(a.locs.at("x"), fmt::format("flatten needs [batch, ...], got {}", t.str()));
  ir::Dim n = ir::Dim::constant(1);
  for (int64_t i = 1; i < t.rank(); ++i)
    n = n * t.shape[i];
  ir::Type out{t.dtype, {t.shape[0], n}};
  return Val::of(el.builder().create(ir::OpKind::Reshape, {*x}, {out})->result(0));
}

/// time_distributed(layer, x): the layer applied to every step of x [B, T, ...] on its own.
llvm::Expected<Val> timeDistributedBuiltin(Elaborator &el, const BoundArgs &a) {
  auto x = tensorArg(el, a, "x", "time_distributed");
  if (!x)
    return x.takeError();
  const ir::Type &xt = (*x)->type;
  if (xt.rank() < 3)
    return el.fail(a.locs.at("x"), fmt::format("time_distributed needs a sequence [B, T, ...], "
                                               "got {}",
                                               xt.str()));
  ir::Builder &b = el.builder();
  ir::Op *loop = b.create(ir::OpKind::Loop, {*x}, {},
                          {{"carries", (int64_t)0},
                           {"slices", (int64_t)1},
                           {"steps", xt.shape[1]},
                           {"reverse", false}});
  ir::Block *body = loop->addRegion();
  ir::Value *step = body->addArg(ir::sliceType(xt), "x_t");
  auto y = el.inBlock(body, [&]() -> llvm::Expected<Val> {
    auto r = el.callValue(a["layer"], {{"", Val::of(step), a.locs.at("x")}}, a.callLoc);
    if (!r)
      return r.takeError();
    if (!r->isTensor() || r->tensor->type.rank() < 1)
      return el.fail(a.callLoc, "time_distributed's layer must return a tensor per step");
    el.builder().create(ir::OpKind::Yield, {r->tensor}, {});
    return *r;
  });
  if (!y)
    return y.takeError();
  auto types = ir::inferTypes(*loop);
  if (!types)
    return el.fail(a.callLoc, llvm::toString(types.takeError()));
  for (auto &t : *types)
    loop->addResult(t);
  Val out = Val::of(loop->result(0));
  out.mask = a["x"].mask;
  return out;
}

/// bidirectional(layer, x, merge_mode, lengths): the layer forward and backward (weights
/// <binding>/forward/... and <binding>/backward/...), the backward output reversed back
/// into input order, merged.
llvm::Expected<Val> bidirectionalBuiltin(Elaborator &el, const BoundArgs &a) {
  Val layer = a["layer"];
  if (layer.kind != Val::Kind::Func)
    return el.fail(a.locs.at("layer"), "bidirectional needs a recurrent layer, like "
                                       "bidirectional(lstm(units=8), x)");
  const Val &mode = a["merge_mode"];
  std::string merge = mode.kind == Val::Kind::None ? "none" : mode.s;
  if (mode.kind != Val::Kind::None &&
      (mode.kind != Val::Kind::Str || (merge != "concat" && merge != "sum" && merge != "mul" &&
                                       merge != "ave" && merge != "none")))
    return el.fail(a.locs.at("merge_mode"), "merge_mode must be concat, sum, mul, ave or none");
  auto flag = [&](const char *k) {
    auto it = layer.attrs.find(k);
    return it != layer.attrs.end() && it->second.kind == Val::Kind::Bool && it->second.b;
  };
  bool seqs = flag("return_sequences"), state = flag("return_state");
  Val x = a["x"];
  if (!x.isTensor())
    return el.fail(a.locs.at("x"), "bidirectional needs an input sequence");
  if (a["lengths"].kind != Val::Kind::None) {
    auto m = lengthsMask(el, a["lengths"], x.tensor, a.locs.at("lengths"));
    if (!m)
      return m.takeError();
    x.mask = *m;
  }
  bool savedZero = el.zeroOutputForMask;
  el.zeroOutputForMask = seqs; // as Keras's Bidirectional does
  auto run = [&](const char *sub, bool backwards) {
    return el.withSubBinding(sub, [&]() -> llvm::Expected<Val> {
      std::vector<CallArg> args{{"", x, a.locs.at("x")}};
      if (backwards)
        args.push_back({"go_backwards", Val::boolean(!flag("go_backwards")), a.callLoc});
      return el.callValue(layer, args, a.callLoc);
    });
  };
  auto fwd = run("forward", false);
  auto bwd = fwd ? run("backward", true) : llvm::Expected<Val>(Val());
  el.zeroOutputForMask = savedZero;
  if (!fwd)
    return fwd.takeError();
  if (!bwd)
    return bwd.takeError();
  Val f = state ? fwd->elems[0] : *fwd, r = state ? bwd->elems[0] : *bwd;
  if (!f.isTensor() || !r.isTensor())
    return el.fail(a.callLoc, "bidirectional's layer must return a tensor");
  if (seqs) {
    auto rev = el.tensorOp(ir::OpKind::Reverse, {r.tensor}, a.callLoc, "bidirectional",
                           {{"axis", (int64_t)1}});
    if (!rev)
      return rev.takeError();
    r.tensor = rev->tensor;
  }
  std::vector<Val> outs;
  if (merge == "none") {
    outs = {f, r};
  } else {
    llvm::Expected<Val> m = Val();
    if (merge == "concat")
      m = el.tensorOp(ir::OpKind::Concat, {f.tensor, r.tensor}, a.callLoc, "bidirectional",
                      {{"axis", (int64_t)f.tensor->type.rank() - 1}});
    else if (merge == "sum")
      m = el.tensorOp(ir::OpKind::Add, {f.tensor, r.tensor}, a.callLoc, "bidirectional");
    else if (merge == "mul")
      m = el.tensorOp(ir::OpKind::Mul, {f.tensor, r.tensor}, a.callLoc, "bidirectional");
    else {
      m = el.tensorOp(ir::OpKind::Add, {f.tensor, r.tensor}, a.callLoc, "bidirectional");
      if (m)
        m = el.tensorOp(ir::OpKind::Mul, {m->tensor, el.scalar(0.5, ir::DType::F32)}, a.callLoc,
                        "bidirectional");
    }
    if (!m)
      return m.takeError();
    if (seqs)
      m->mask = x.mask;
    outs = {*m};
  }
  if (state) {
    for (size_t i = 1; i < fwd->elems.size(); ++i)
      outs.push_back(fwd->elems[i]);
    for (size_t i = 1; i < bwd->elems.size(); ++i)
      outs.push_back(bwd->elems[i]);
  }
  return outs.size() == 1 ? outs[0] : Val::tuple(std::move(outs));
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
  const Val &x = a["x"];
  ir::Value *mask = x.isTensor() ? x.mask : nullptr;
  if (a["lengths"].kind != Val::Kind::None && x.isTensor()) {
    auto m = lengthsMask(el, a["lengths"], x.tensor, a.locs.at("lengths"));
    if (!m)
      return m.takeError();
    mask = *m;
  }
  return el.driveCell(cell, x, flags[0], flags[1], flags[2], a["initial_state"], mask, a.callLoc);
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

/// unroll(full) / unroll(none) / unroll(N) in a model's body: how its loops are compiled
/// unless the command line says otherwise (N: each time loop's body N times per iteration).
llvm::Expected<Val> unrollBuiltin(Elaborator &el, const BoundArgs &a) {
  if (!el.atModelLevel())
    return el.fail(a.callLoc, "unroll(...) is a statement of a model's body");
  const Val &mode = a["mode"];
  if (mode.kind == Val::Kind::Int && mode.i >= 1) {
    el.function().hints["unroll"] = mode.i == 1 ? "none" : std::to_string(mode.i);
    return Val::none();
  }
  if (mode.kind != Val::Kind::Str || (mode.s != "full" && mode.s != "none"))
    return el.fail(a.locs.at("mode"), "unroll takes full, none or a step count (1 or more)");
  el.function().hints["unroll"] = mode.s;
  return Val::none();
}

/// less(a, b): 1.0 where a < b, else 0.0.
llvm::Expected<Val> lessBuiltin(Elaborator &el, const BoundArgs &a) {
  return tensorsOrNumbersOp(el, a, {"a", "b"}, ir::OpKind::Less, "less");
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
  add(Builtin{"param",
              {{"shape"},
               {"init", false, Val::str("glorot_uniform")},
               {"name", false, Val::none()},
               {"trainable", false, Val::boolean(true)}},
              paramBuiltin});
  add(Builtin{"rnn",
              {{"cell"},
               {"x"},
               {"return_sequences", false, Val::boolean(false)},
               {"return_state", false, Val::boolean(false)},
               {"go_backwards", false, Val::boolean(false)},
               {"initial_state", false, Val::none()},
               {"lengths", false, Val::none()}},
              rnnBuiltin});
  m["rnn"].layer = true;
  add(unaryBuiltin("erf", ir::OpKind::Erf));
  m["erf"].activation = false;
  add(Builtin{"split", {{"x"}, {"n"}, {"axis", false, Val::integer(-1)}}, splitBuiltin});
  add(Builtin{"take", {{"x"}, {"index"}, {"axis", false, Val::integer(0)}}, takeBuiltin});
  add(Builtin{"concatenate", {{"inputs"}, {"axis", false, Val::integer(-1)}}, concatBuiltin});
  add(Builtin{"reverse", {{"x"}, {"axis"}}, reverseBuiltin});
  add(Builtin{"reshape", {{"x"}, {"shape"}}, reshapeBuiltin});
  add(Builtin{"swapaxes", {{"x"}, {"axis1"}, {"axis2"}}, swapaxesBuiltin});
  add(Builtin{"zeros", {{"shape"}}, zerosBuiltin});
  add(Builtin{"sequence_mask", {{"lengths"}, {"like"}}, sequenceMaskBuiltin});
  add(Builtin{"causal_mask", {{"scores"}}, causalMaskBuiltin});
  add(Builtin{"matmul",
              {{"a"},
               {"b"},
               {"transpose_a", false, Val::boolean(false)},
               {"transpose_b", false, Val::boolean(false)}},
              matmulBuiltin});
  add(Builtin{"dim", {{"x"}, {"axis"}}, dimBuiltin});
  add(reduceBuiltin("reduce_sum", ir::OpKind::ReduceSum));
  add(reduceBuiltin("reduce_max", ir::OpKind::ReduceMax));
  add(reduceBuiltin("reduce_mean", ir::OpKind::ReduceMean));
  add(reduceBuiltin("argmax", ir::OpKind::ArgMax));
  add(Builtin{"where", {{"condition"}, {"a"}, {"b"}}, whereBuiltin});
  add(Builtin{"gather", {{"table"}, {"ids"}, {"what", false, Val::none()}}, gatherBuiltin});
  add(Builtin{"one_hot", {{"ids"}, {"depth"}}, oneHotBuiltin});
  add(Builtin{"conv",
              {{"x"},
               {"kernel"},
               {"stride", false, Val::integer(1)},
               {"dilation", false, Val::integer(1)},
               {"padding", false, Val::str("valid")}},
              [](Elaborator &el, const BoundArgs &a) { return windowBuiltin(el, a, true); }});
  add(Builtin{"max_pool",
              {{"x"}, {"size"}, {"stride"}, {"padding", false, Val::str("valid")}},
              [](Elaborator &el, const BoundArgs &a) { return windowBuiltin(el, a, false); }});
  add(Builtin{"with_zero_mask", {{"x"}, {"ids"}}, withMaskBuiltin});
  add(Builtin{"time_distributed", {{"layer"}, {"x"}}, timeDistributedBuiltin});
  add(Builtin{"add", {{"inputs"}}, addBuiltin});
  add(Builtin{"unroll", {{"mode"}}, unrollBuiltin});
  add(Builtin{"flatten", {{"x"}}, flattenBuiltin});
  add(Builtin{"bidirectional",
              {{"layer"},
               {"x"},
               {"merge_mode", false, Val::str("concat")},
               {"lengths", false, Val::none()}},
              bidirectionalBuiltin});
  add(Builtin{"require", {{"condition"}, {"message", false, Val::none()}}, requireBuiltin});
  add(Builtin{"less", {{"a"}, {"b"}}, lessBuiltin});
  addTrainingBuiltins(m);
  addGenerateBuiltins(m);
  return m;
}

} // namespace

const std::map<std::string, Builtin> &builtins() {
  static const std::map<std::string, Builtin> m = makeBuiltins();
  return m;
}

bool isInitializerName(const std::string &name) { return kInitializers.count(name) != 0; }

bool isOptionName(const std::string &name) {
  static const std::set<std::string> options = {"valid", "same", "causal", "concat", "sum",
                                                "mul",   "ave",  "full",   "dot"};
  return options.count(name) != 0;
}

bool isActivationName(const std::string &name) {
  static const std::set<std::string> names = {
      "linear", "relu", "tanh",  "sigmoid", "hard_sigmoid", "softmax", "log_softmax",
      "elu",    "gelu", "swish", "exp",     "log",          "abs",     "sqrt"};
  return names.count(name) != 0;
}

} // namespace loom::frontend
