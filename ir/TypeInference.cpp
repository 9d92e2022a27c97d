#include "ir/TypeInference.h"

#include <fmt/format.h>

#include <cassert>
#include <tuple>

namespace loom::ir {

namespace {

llvm::Error err(const std::string &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string shapeStr(const std::vector<Dim> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? "," : "") + s[i].str();
  return out + "]";
}

llvm::Error needF32(const Op &op, const Value *v) {
  if (v->type.dtype != DType::F32)
    return err(fmt::format("{} needs f32 operands, got {}", opName(op.kind), v->type.str()));
  return llvm::Error::success();
}

llvm::Expected<int64_t> needInt(const Op &op, const char *key) {
  auto it = op.attrs.find(key);
  if (it == op.attrs.end() || !std::holds_alternative<int64_t>(it->second))
    return err(fmt::format("{} needs an integer attribute '{}'", opName(op.kind), key));
  return std::get<int64_t>(it->second);
}

llvm::Expected<int64_t> needAxis(const Op &op, const Type &t) {
  auto axis = needInt(op, "axis");
  if (!axis)
    return axis.takeError();
  if (*axis < 0 || *axis >= t.rank())
    return err(fmt::format("{} axis {} out of range for {}", opName(op.kind), *axis, t.str()));
  return *axis;
}

bool isConvWindow(OpKind k) {
  return k == OpKind::Conv1D || k == OpKind::Conv1DGradInput || k == OpKind::Conv1DGradKernel;
}

/// Output length of a window op over `len` steps, as a Dim (see windowGeometry).
llvm::Expected<Dim> windowLength(const Op &op, const Dim &len, int64_t window, int64_t dilation) {
  auto stride = needInt(op, "stride");
  if (!stride)
    return stride.takeError();
  if (*stride < 1)
    return err(fmt::format("{} stride must be at least 1, got {}", opName(op.kind), *stride));
  auto it = op.attrs.find("padding");
  std::string padding = it != op.attrs.end() && std::holds_alternative<std::string>(it->second)
                            ? std::get<std::string>(it->second)
                            : "";
  bool conv = isConvWindow(op.kind);
  if (padding != "valid" && padding != "same" && !(conv && padding == "causal"))
    return err(fmt::format("{} padding must be valid, same{}; got '{}'", opName(op.kind),
                           conv ? " or causal" : "", padding));
  int64_t span = dilation * (window - 1) + 1;
  Dim s = Dim::constant(*stride), one = Dim::constant(1);
  if (padding == "same")
    return (len + s - one) / s;
  if (padding == "causal")
    return (len - one) / s + one;
  if (len.isStatic() && len.value() < span)
    return err(fmt::format("{}: the window spans {} steps but the sequence has {}", opName(op.kind),
                           span, len.value()));
  return (len - Dim::constant(span)) / s + one;
}

llvm::Expected<std::vector<Type>> inferLoop(const Op &op) {
  auto carries = needInt(op, "carries");
  if (!carries)
    return carries.takeError();
  auto slices = needInt(op, "slices");
  if (!slices)
    return slices.takeError();
  auto stepsIt = op.attrs.find("steps");
  if (stepsIt == op.attrs.end() || !std::holds_alternative<Dim>(stepsIt->second))
    return err("loop needs a dim attribute 'steps'");
  const Dim &steps = std::get<Dim>(stepsIt->second);
  int64_t nc = *carries, ns = *slices;
  if (nc < 0 || ns < 0 || (int64_t)op.operands.size() != nc + ns)
    return err(fmt::format("loop has {} operands, but carries + slices = {}", op.operands.size(),
                           nc + ns));
  if (op.regions.size() != 1)
    return err("loop needs exactly one region");
  const Block &body = *op.regions[0];
  if ((int64_t)body.args.size() != nc + ns)
    return err(fmt::format("loop body has {} arguments, expected {}", body.args.size(), nc + ns));
  for (int64_t i = 0; i < nc; ++i)
    if (body.args[i]->type != op.operands[i]->type)
      return err(fmt::format("loop carry {} is {} but its initial value is {}", i,
                             body.args[i]->type.str(), op.operands[i]->type.str()));
  for (int64_t i = 0; i < ns; ++i) {
    const Type &seq = op.operands[nc + i]->type;
    if (seq.rank() < 2 || seq.shape[1] != steps)
      return err(fmt::format("loop sequence {} is {}: axis 1 must be the {} steps", i, seq.str(),
                             steps.str()));
    if (body.args[nc + i]->type != sliceType(seq))
      return err(fmt::format("loop slice {} is {}, expected {}", i, body.args[nc + i]->type.str(),
                             sliceType(seq).str()));
  }
  const Op *y = body.terminator();
  if (!y || y->kind != OpKind::Yield || (int64_t)y->operands.size() < nc)
    return err("loop body must end with a yield of at least the carries");
  std::vector<Type> out;
  for (int64_t i = 0; i < nc; ++i) {
    if (y->operands[i]->type != body.args[i]->type)
      return err(fmt::format("loop yields {} for carry {} of type {}", y->operands[i]->type.str(),
                             i, body.args[i]->type.str()));
    out.push_back(body.args[i]->type);
  }
  bool until = op.boolAttr("until");
  if (until) {
    if (y->operands.size() < (size_t)nc + 1)
      return err("an until loop's body must yield its carries, its stacked values and a stop "
                 "flag");
    const Type &flag = y->operands.back()->type;
    if (flag.rank() != 0 || flag.dtype != DType::F32)
      return err(fmt::format("an until loop's stop flag (its last yielded value) must be f32[], "
                             "got {}",
                             flag.str()));
    if (op.boolAttr("reverse"))
      return err("an until loop runs forwards (reverse = false)");
  }
  for (size_t i = nc; i + (until ? 1 : 0) < y->operands.size(); ++i)
    out.push_back(stackType(y->operands[i]->type, steps));
  if (until)
    out.push_back(Type{DType::I32, {}});
  return out;
}

llvm::Expected<std::vector<Type>> inferRnn(const Op &op) {
  for (const char *flag :
       {"return_sequences", "return_state", "go_backwards", "masked", "zero_output_for_mask"}) {
    auto it = op.attrs.find(flag);
    if (it != op.attrs.end() && !std::holds_alternative<bool>(it->second))
      return err(fmt::format("rnn attribute '{}' must be a bool", flag));
  }
  size_t masked = op.boolAttr("masked") ? 1 : 0;
  if (op.operands.size() < 2 + masked)
    return err("rnn needs an input sequence and at least one state");
  if (op.regions.size() != 1)
    return err("rnn needs exactly one region (the cell)");
  const Type &x = op.operands[0]->type;
  if (x.rank() < 3)
    return err(fmt::format("rnn input must be [batch, time, features...], got {}", x.str()));
  const Block &body = *op.regions[0];
  size_t ns = rnnNumStates(op);
  if (masked) {
    const Type &m = op.operands.back()->type;
    if (m.dtype != DType::F32 || m.rank() != 3 || m.shape[0] != x.shape[0] ||
        m.shape[1] != x.shape[1] || m.shape[2] != Dim::constant(1))
      return err(fmt::format("rnn mask must be f32[{},{},1], got {}", x.shape[0].str(),
                             x.shape[1].str(), m.str()));
  }
  if (body.args.size() != ns + 1)
    return err("rnn cell must take the step input and one argument per state");
  if (body.args[0]->type != sliceType(x))
    return err(fmt::format("rnn cell input is {}, expected {}", body.args[0]->type.str(),
                           sliceType(x).str()));
  const Op *y = body.terminator();
  if (!y || y->kind != OpKind::Yield || y->operands.size() != ns)
    return err(fmt::format("rnn cell must yield its {} new state(s)", ns));
  for (size_t i = 0; i < ns; ++i) {
    const Type &s = op.operands[1 + i]->type;
    if (body.args[1 + i]->type != s || y->operands[i]->type != s)
      return err(fmt::format("rnn state {} is {}, but the cell takes {} and yields {}", i, s.str(),
                             body.args[1 + i]->type.str(), y->operands[i]->type.str()));
  }
  std::vector<Type> out;
  const Type &first = op.operands[1]->type;
  out.push_back(op.boolAttr("return_sequences") ? stackType(first, x.shape[1]) : first);
  if (op.boolAttr("return_state"))
    for (size_t i = 0; i < ns; ++i)
      out.push_back(op.operands[1 + i]->type);
  return out;
}

} // namespace

WindowGeometry windowGeometry(const Op &op, int64_t steps) {
  bool conv = isConvWindow(op.kind);
  int64_t window = !conv                                 ? op.intAttr("size")
                   : op.kind == OpKind::Conv1DGradKernel ? op.results[0]->type.shape[0].value()
                                                         : op.operands[1]->type.shape[0].value();
  int64_t dilation = conv ? op.intAttr("dilation") : 1;
  WindowGeometry g{dilation * (window - 1) + 1, op.intAttr("stride"), 0, 0, 0};
  const std::string &padding = op.strAttr("padding");
  if (padding == "same") {
    g.outSteps = (steps + g.stride - 1) / g.stride;
    int64_t total = std::max<int64_t>((g.outSteps - 1) * g.stride + g.span - steps, 0);
    g.padLeft = total / 2;
    g.padRight = total - g.padLeft;
  } else if (padding == "causal") {
    g.padLeft = g.span - 1;
    g.outSteps = steps >= 1 ? (steps - 1) / g.stride + 1 : 0;
  } else {
    g.outSteps = steps >= g.span ? (steps - g.span) / g.stride + 1 : 0;
  }
  return g;
}

Type sliceType(const Type &seq) {
  assert(seq.rank() >= 2 && "a sequence has batch and time axes");
  Type t = seq;
  t.shape.erase(t.shape.begin() + 1);
  return t;
}

Type stackType(const Type &step, const Dim &steps) {
  assert(step.rank() >= 1 && "a per-step value has a batch axis");
  Type t = step;
  t.shape.insert(t.shape.begin() + 1, steps);
  return t;
}

llvm::Expected<std::vector<Dim>> broadcastShapes(const std::vector<Dim> &a,
                                                 const std::vector<Dim> &b) {
  size_t n = std::max(a.size(), b.size());
  std::vector<Dim> out(n);
  for (size_t i = 0; i < n; ++i) {
    // Align from the right, as numpy does.
    const Dim *da = i < n - a.size() ? nullptr : &a[i - (n - a.size())];
    const Dim *db = i < n - b.size() ? nullptr : &b[i - (n - b.size())];
    if (!da || (da->isStatic() && da->value() == 1 && db))
      out[i] = *db;
    else if (!db || (db->isStatic() && db->value() == 1) || *da == *db)
      out[i] = *da;
    else
      return err(fmt::format("shapes {} and {} do not broadcast", shapeStr(a), shapeStr(b)));
  }
  return out;
}

llvm::Expected<std::vector<Type>> inferTypes(const Op &op) {
  const OpInfo &info = opInfo(op.kind);
  if (info.numOperands >= 0 && (int)op.operands.size() != info.numOperands)
    return err(fmt::format("{} takes {} operand(s), got {}", info.mnemonic, info.numOperands,
                           op.operands.size()));
  switch (op.kind) {
  case OpKind::Fill:
    if (op.results.size() != 1)
      return err("fill must have its result type given");
    if (!op.hasAttr("value") || !std::holds_alternative<double>(op.attrs.at("value")))
      return err("fill needs a float attribute 'value'");
    return std::vector<Type>{op.results[0]->type};
  case OpKind::Exp:
  case OpKind::Log:
  case OpKind::Tanh:
  case OpKind::Sigmoid:
  case OpKind::Sqrt:
    if (auto e = needF32(op, op.operands[0]))
      return e;
    return std::vector<Type>{op.operands[0]->type};
  case OpKind::Neg:
  case OpKind::Relu:
  case OpKind::Abs:
    return std::vector<Type>{op.operands[0]->type};
  case OpKind::Cast: {
    auto it = op.attrs.find("dtype");
    std::optional<DType> dt;
    if (it != op.attrs.end() && std::holds_alternative<std::string>(it->second))
      dt = parseDType(std::get<std::string>(it->second));
    if (!dt)
      return err("cast needs a string attribute 'dtype' (\"f32\" or \"i32\")");
    Type t = op.operands[0]->type;
    t.dtype = *dt;
    return std::vector<Type>{t};
  }
  case OpKind::Add:
  case OpKind::Sub:
  case OpKind::Mul:
  case OpKind::Div:
  case OpKind::Max:
  case OpKind::Min: {
    const Type &a = op.operands[0]->type, &b = op.operands[1]->type;
    if (a.dtype != b.dtype)
      return err(
          fmt::format("{} of {} and {}: element types differ", info.mnemonic, a.str(), b.str()));
    auto shape = broadcastShapes(a.shape, b.shape);
    if (!shape)
      return shape.takeError();
    return std::vector<Type>{Type{a.dtype, std::move(*shape)}};
  }
  case OpKind::MatMul: {
    const Type &a = op.operands[0]->type, &b = op.operands[1]->type;
    if (a.dtype != DType::F32 || b.dtype != DType::F32)
      return err(fmt::format("matmul needs f32 operands, got {} and {}", a.str(), b.str()));
    bool tl = op.boolAttr("transpose_lhs"), tr = op.boolAttr("transpose_rhs");
    if (tl && tr)
      return err("matmul: transpose_lhs and transpose_rhs cannot both be set");
    if (tl) {
      if (a.rank() < 2 || b.rank() != a.rank())
        return err(fmt::format("matmul transpose_lhs needs [R..., K] x [R..., N], got {} and {}",
                               a.str(), b.str()));
      for (int64_t k = 0; k + 1 < a.rank(); ++k)
        if (a.shape[k] != b.shape[k])
          return err(
              fmt::format("matmul transpose_lhs of {} and {}: row dims differ", a.str(), b.str()));
      return std::vector<Type>{Type{DType::F32, {a.shape.back(), b.shape.back()}}};
    }
    if (a.rank() < 1 || b.rank() != 2)
      return err(fmt::format("matmul needs [..., K] x [{}], got {} and {}", tr ? "N, K" : "K, N",
                             a.str(), b.str()));
    const Dim &k = tr ? b.shape[1] : b.shape[0];
    if (a.shape.back() != k)
      return err(fmt::format("matmul of {} and {}: inner dims {} and {} differ", a.str(), b.str(),
                             a.shape.back().str(), k.str()));
    Type t = a;
    t.shape.back() = tr ? b.shape[0] : b.shape[1];
    return std::vector<Type>{t};
  }
  case OpKind::BatchMatMul: {
    const Type &a = op.operands[0]->type, &b = op.operands[1]->type;
    if (a.dtype != DType::F32 || b.dtype != DType::F32)
      return err(fmt::format("batch_matmul needs f32 operands, got {} and {}", a.str(), b.str()));
    bool tl = op.boolAttr("transpose_lhs"), tr = op.boolAttr("transpose_rhs");
    if (a.rank() < 3 || b.rank() != a.rank())
      return err(fmt::format("batch_matmul needs [..., M, K] x [..., K, N] of one rank (at least "
                             "3), got {} and {}",
                             a.str(), b.str()));
    int64_t r = a.rank();
    for (int64_t k = 0; k + 2 < r; ++k)
      if (a.shape[k] != b.shape[k])
        return err(fmt::format("batch_matmul of {} and {}: batch dim {} differs ({} and {})",
                               a.str(), b.str(), k, a.shape[k].str(), b.shape[k].str()));
    const Dim &m = a.shape[tl ? r - 1 : r - 2], &ka = a.shape[tl ? r - 2 : r - 1];
    const Dim &kb = b.shape[tr ? r - 1 : r - 2], &n = b.shape[tr ? r - 2 : r - 1];
    if (ka != kb)
      return err(fmt::format("batch_matmul of {}{} and {}{}: inner dims {} and {} differ", a.str(),
                             tl ? " (transposed)" : "", b.str(), tr ? " (transposed)" : "",
                             ka.str(), kb.str()));
    Type t = a;
    t.shape[r - 2] = m;
    t.shape[r - 1] = n;
    return std::vector<Type>{t};
  }
  case OpKind::Broadcast: {
    if (op.results.size() != 1)
      return err("broadcast must have its result type given");
    const Type &from = op.operands[0]->type, &to = op.results[0]->type;
    if (from.dtype != to.dtype || from.rank() > to.rank())
      return err(fmt::format("cannot broadcast {} to {}", from.str(), to.str()));
    size_t off = to.rank() - from.rank();
    for (size_t k = 0; k < from.shape.size(); ++k)
      if (from.shape[k] != to.shape[off + k] &&
          !(from.shape[k].isStatic() && from.shape[k].value() == 1))
        return err(fmt::format("cannot broadcast {} to {}", from.str(), to.str()));
    return std::vector<Type>{to};
  }
  case OpKind::Reverse: {
    auto axis = needInt(op, "axis");
    if (!axis)
      return axis.takeError();
    if (*axis < 0 || *axis >= op.operands[0]->type.rank())
      return err(
          fmt::format("reverse axis {} out of range for {}", *axis, op.operands[0]->type.str()));
    return std::vector<Type>{op.operands[0]->type};
  }
  case OpKind::SwapAxes: {
    auto a1 = needInt(op, "axis1");
    if (!a1)
      return a1.takeError();
    auto a2 = needInt(op, "axis2");
    if (!a2)
      return a2.takeError();
    Type t = op.operands[0]->type;
    for (int64_t a : {*a1, *a2})
      if (a < 0 || a >= t.rank())
        return err(fmt::format("swap_axes axis {} out of range for {}", a, t.str()));
    std::swap(t.shape[*a1], t.shape[*a2]);
    return std::vector<Type>{t};
  }
  case OpKind::Erf:
    if (auto e = needF32(op, op.operands[0]))
      return e;
    return std::vector<Type>{op.operands[0]->type};
  case OpKind::Less: {
    const Type &a = op.operands[0]->type, &b = op.operands[1]->type;
    if (a.dtype != b.dtype)
      return err(fmt::format("less of {} and {}: element types differ", a.str(), b.str()));
    auto shape = broadcastShapes(a.shape, b.shape);
    if (!shape)
      return shape.takeError();
    return std::vector<Type>{Type{DType::F32, std::move(*shape)}};
  }
  case OpKind::Select: {
    const Type &c = op.operands[0]->type, &a = op.operands[1]->type, &b = op.operands[2]->type;
    if (c.dtype != DType::F32)
      return err(fmt::format("select needs an f32 condition, got {}", c.str()));
    if (a.dtype != b.dtype)
      return err(fmt::format("select of {} and {}: element types differ", a.str(), b.str()));
    auto ab = broadcastShapes(a.shape, b.shape);
    if (!ab)
      return ab.takeError();
    auto all = broadcastShapes(c.shape, *ab);
    if (!all)
      return all.takeError();
    return std::vector<Type>{Type{a.dtype, std::move(*all)}};
  }
  case OpKind::RandomUniform: {
    if (op.results.size() != 1)
      return err("random_uniform must have its result type given");
    const Type &key = op.operands[0]->type;
    if (key.dtype != DType::I32 || key.rank() != 1 || key.shape[0] != Dim::constant(2))
      return err(fmt::format("random_uniform needs a key i32[2], got {}", key.str()));
    if (auto s = needInt(op, "stream"); !s)
      return s.takeError();
    if (op.results[0]->type.dtype != DType::F32)
      return err(fmt::format("random_uniform gives f32, not {}", op.results[0]->type.str()));
    return std::vector<Type>{op.results[0]->type};
  }
  case OpKind::Iota: {
    if (op.results.size() != 1)
      return err("iota must have its result type given");
    auto axis = needAxis(op, op.results[0]->type);
    if (!axis)
      return axis.takeError();
    return std::vector<Type>{op.results[0]->type};
  }
  case OpKind::Conv1D: {
    const Type &x = op.operands[0]->type, &k = op.operands[1]->type;
    if (x.dtype != DType::F32 || k.dtype != DType::F32 || x.rank() != 3 || k.rank() != 3)
      return err(fmt::format("conv1d needs x f32[B,T,C] and kernel f32[K,C,F], got {} and {}",
                             x.str(), k.str()));
    if (!k.shape[0].isStatic() || k.shape[1] != x.shape[2])
      return err(fmt::format("conv1d of {} with kernel {}: channels differ", x.str(), k.str()));
    auto dilation = needInt(op, "dilation");
    if (!dilation)
      return dilation.takeError();
    if (*dilation < 1)
      return err("conv1d dilation must be at least 1");
    auto len = windowLength(op, x.shape[1], k.shape[0].value(), *dilation);
    if (!len)
      return len.takeError();
    return std::vector<Type>{Type{DType::F32, {x.shape[0], *len, k.shape[2]}}};
  }
  case OpKind::MaxPool1D: {
    const Type &x = op.operands[0]->type;
    if (x.dtype != DType::F32 || x.rank() != 3)
      return err(fmt::format("max_pool1d needs f32[B,T,C], got {}", x.str()));
    auto size = needInt(op, "size");
    if (!size)
      return size.takeError();
    if (*size < 1)
      return err("max_pool1d size must be at least 1");
    auto len = windowLength(op, x.shape[1], *size, 1);
    if (!len)
      return len.takeError();
    return std::vector<Type>{Type{DType::F32, {x.shape[0], *len, x.shape[2]}}};
  }
  case OpKind::Conv1DGradInput:
  case OpKind::Conv1DGradKernel: {
    // The forward conv1d is x [B,T,C] (*) kernel [K,C,F] -> dy [B,T',F]; one of x and
    // kernel is an operand, the other's type is the result's (written).
    bool forInput = op.kind == OpKind::Conv1DGradInput;
    if (op.results.size() != 1)
      return err(fmt::format("{} must have its result type given", info.mnemonic));
    const Type &dy = op.operands[forInput ? 0 : 1]->type;
    const Type &x = forInput ? op.results[0]->type : op.operands[0]->type;
    const Type &k = forInput ? op.operands[1]->type : op.results[0]->type;
    if (x.dtype != DType::F32 || k.dtype != DType::F32 || dy.dtype != DType::F32 || x.rank() != 3 ||
        k.rank() != 3 || dy.rank() != 3)
      return err(fmt::format("{} needs x f32[B,T,C], kernel f32[K,C,F] and dy f32[B,T',F], got "
                             "{}, {} and {}",
                             info.mnemonic, x.str(), k.str(), dy.str()));
    if (!k.shape[0].isStatic() || k.shape[1] != x.shape[2] || k.shape[2] != dy.shape[2] ||
        x.shape[0] != dy.shape[0])
      return err(fmt::format("{} of x {}, kernel {} and dy {}: sizes differ", info.mnemonic,
                             x.str(), k.str(), dy.str()));
    auto dilation = needInt(op, "dilation");
    if (!dilation)
      return dilation.takeError();
    if (*dilation < 1)
      return err(fmt::format("{} dilation must be at least 1", info.mnemonic));
    auto len = windowLength(op, x.shape[1], k.shape[0].value(), *dilation);
    if (!len)
      return len.takeError();
    if (*len != dy.shape[1])
      return err(fmt::format("{}: dy {} has {} steps, but conv1d of {} steps gives {}",
                             info.mnemonic, dy.str(), dy.shape[1].str(), x.shape[1].str(),
                             len->str()));
    return std::vector<Type>{op.results[0]->type};
  }
  case OpKind::MaxPool1DGrad: {
    const Type &x = op.operands[0]->type, &dy = op.operands[1]->type;
    if (x.dtype != DType::F32 || dy.dtype != DType::F32 || x.rank() != 3 || dy.rank() != 3 ||
        x.shape[0] != dy.shape[0] || x.shape[2] != dy.shape[2])
      return err(fmt::format("max_pool1d_grad needs x f32[B,T,C] and dy f32[B,T',C], got {} "
                             "and {}",
                             x.str(), dy.str()));
    auto size = needInt(op, "size");
    if (!size)
      return size.takeError();
    if (*size < 1)
      return err("max_pool1d_grad size must be at least 1");
    auto len = windowLength(op, x.shape[1], *size, 1);
    if (!len)
      return len.takeError();
    if (*len != dy.shape[1])
      return err(fmt::format("max_pool1d_grad: dy {} has {} steps, but max_pool1d of {} steps "
                             "gives {}",
                             dy.str(), dy.shape[1].str(), x.shape[1].str(), len->str()));
    return std::vector<Type>{x};
  }
  case OpKind::ReduceSum:
  case OpKind::ReduceMax:
  case OpKind::ReduceMean:
  case OpKind::ArgMax: {
    Type t = op.operands[0]->type;
    if (op.kind == OpKind::ReduceMean)
      if (auto e = needF32(op, op.operands[0]))
        return e;
    auto axis = needAxis(op, t);
    if (!axis)
      return axis.takeError();
    if (op.boolAttr("keepdims"))
      t.shape[*axis] = Dim::constant(1);
    else
      t.shape.erase(t.shape.begin() + *axis);
    if (op.kind == OpKind::ArgMax)
      t.dtype = DType::I32;
    return std::vector<Type>{t};
  }
  case OpKind::Sample: {
    const Type &l = op.operands[0]->type;
    if (auto e = needF32(op, op.operands[0]))
      return e;
    if (l.rank() < 1)
      return err("sample needs logits f32[..., V], got a scalar");
    for (int i = 1; i < 3; ++i)
      if (op.operands[i]->type != Type{DType::I32, {}})
        return err(fmt::format("sample's {} must be i32[], got {}", i == 1 ? "seed" : "step",
                               op.operands[i]->type.str()));
    auto temperature = op.attrs.find("temperature");
    if (temperature == op.attrs.end() || !std::holds_alternative<double>(temperature->second) ||
        !(std::get<double>(temperature->second) > 0))
      return err("sample needs a float attribute 'temperature' > 0");
    auto topK = needInt(op, "top_k");
    if (!topK)
      return topK.takeError();
    if (*topK < 0)
      return err("sample's top_k must be 0 (all) or more");
    auto topP = op.attrs.find("top_p");
    if (topP == op.attrs.end() || !std::holds_alternative<double>(topP->second) ||
        !(std::get<double>(topP->second) > 0 && std::get<double>(topP->second) <= 1))
      return err("sample needs a float attribute 'top_p' in (0, 1]");
    auto stream = needInt(op, "stream");
    if (!stream)
      return stream.takeError();
    Type t = l;
    t.shape.pop_back();
    t.dtype = DType::I32;
    return std::vector<Type>{t};
  }
  case OpKind::Slice: {
    Type t = op.operands[0]->type;
    auto axis = needAxis(op, t);
    if (!axis)
      return axis.takeError();
    auto start = needInt(op, "start");
    if (!start)
      return start.takeError();
    auto size = needInt(op, "size");
    if (!size)
      return size.takeError();
    const Dim &d = t.shape[*axis];
    if (!d.isStatic() || *start < 0 || *size < 0 || *start + *size > d.value())
      return err(fmt::format("slice [{}, {}) of axis {} is outside {}", *start, *start + *size,
                             *axis, t.str()));
    t.shape[*axis] = Dim::constant(*size);
    return std::vector<Type>{t};
  }
  case OpKind::Concat: {
    if (op.operands.empty())
      return err("concat needs at least one operand");
    Type t = op.operands[0]->type;
    auto axis = needAxis(op, t);
    if (!axis)
      return axis.takeError();
    for (size_t i = 1; i < op.operands.size(); ++i) {
      const Type &u = op.operands[i]->type;
      bool same = u.dtype == t.dtype && u.rank() == t.rank();
      for (int64_t a = 0; same && a < t.rank(); ++a)
        same = a == *axis || u.shape[a] == t.shape[a];
      if (!same)
        return err(fmt::format("concat on axis {}: {} and {} differ elsewhere", *axis,
                               op.operands[0]->type.str(), u.str()));
      t.shape[*axis] = t.shape[*axis] + u.shape[*axis];
    }
    return std::vector<Type>{t};
  }
  case OpKind::Reshape: {
    if (op.results.size() != 1)
      return err("reshape must have its result type given");
    const Type &from = op.operands[0]->type, &to = op.results[0]->type;
    if (from.dtype != to.dtype)
      return err(fmt::format("reshape of {} to {}: element types differ", from.str(), to.str()));
    Dim a = Dim::constant(1), b = Dim::constant(1);
    for (auto &d : from.shape)
      a = a * d;
    for (auto &d : to.shape)
      b = b * d;
    if (a.isStatic() && b.isStatic() && a.value() != b.value())
      return err(fmt::format("reshape of {} to {}: {} elements become {}", from.str(), to.str(),
                             a.value(), b.value()));
    return std::vector<Type>{to};
  }
  case OpKind::Gather: {
    const Type &table = op.operands[0]->type, &ids = op.operands[1]->type;
    if (table.rank() < 1 || ids.dtype != DType::I32)
      return err(fmt::format("gather needs a table [V, ...] and i32 ids, got {} and {}",
                             table.str(), ids.str()));
    Type t{table.dtype, ids.shape};
    t.shape.insert(t.shape.end(), table.shape.begin() + 1, table.shape.end());
    return std::vector<Type>{t};
  }
  case OpKind::OneHot: {
    const Type &ids = op.operands[0]->type;
    auto depth = needInt(op, "depth");
    if (!depth)
      return depth.takeError();
    if (ids.dtype != DType::I32 || *depth < 1)
      return err(
          fmt::format("one_hot needs i32 ids and depth >= 1, got {} and {}", ids.str(), *depth));
    Type t{DType::F32, ids.shape};
    t.shape.push_back(Dim::constant(*depth));
    return std::vector<Type>{t};
  }
  case OpKind::CheckRange: {
    const Type &t = op.operands[0]->type;
    if (t.dtype != DType::I32)
      return err(fmt::format("check_range needs i32, got {}", t.str()));
    auto lo = needInt(op, "lo");
    if (!lo)
      return lo.takeError();
    if (!op.hasAttr("hi") || !std::holds_alternative<Dim>(op.attrs.at("hi")))
      return err("check_range needs a dim attribute 'hi'");
    if (!op.hasAttr("what") || !std::holds_alternative<std::string>(op.attrs.at("what")))
      return err("check_range needs a string attribute 'what'");
    return std::vector<Type>{t};
  }
  case OpKind::Loop:
    return inferLoop(op);
  case OpKind::Fused: {
    if (op.regions.size() != 1)
      return err("fused needs exactly one region");
    const Block &body = *op.regions[0];
    if (body.args.size() != op.operands.size())
      return err(fmt::format("fused body has {} arguments for {} operands", body.args.size(),
                             op.operands.size()));
    for (size_t i = 0; i < body.args.size(); ++i)
      if (body.args[i]->type != op.operands[i]->type)
        return err(fmt::format("fused body argument {} is {} but operand {} is {}", i,
                               body.args[i]->type.str(), i, op.operands[i]->type.str()));
    const Op *y = body.terminator();
    if (!y || y->kind != OpKind::Yield)
      return err("fused body must end with a yield");
    std::vector<Type> out;
    for (const Value *v : y->operands)
      out.push_back(v->type);
    return out;
  }
  case OpKind::Rnn:
    return inferRnn(op);
  case OpKind::Yield:
  case OpKind::Return:
    return std::vector<Type>{};
  }
  return err("unknown op");
}

} // namespace loom::ir
