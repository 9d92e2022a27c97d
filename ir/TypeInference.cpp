#include "ir/TypeInference.h"

#include <fmt/format.h>

#include <cassert>

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
  for (size_t i = nc; i < y->operands.size(); ++i)
    out.push_back(stackType(y->operands[i]->type, steps));
  return out;
}

llvm::Expected<std::vector<Type>> inferRnn(const Op &op) {
  for (const char *flag : {"return_sequences", "return_state", "go_backwards"}) {
    auto it = op.attrs.find(flag);
    if (it != op.attrs.end() && !std::holds_alternative<bool>(it->second))
      return err(fmt::format("rnn attribute '{}' must be a bool", flag));
  }
  if (op.operands.size() < 2)
    return err("rnn needs an input sequence and at least one state");
  if (op.regions.size() != 1)
    return err("rnn needs exactly one region (the cell)");
  const Type &x = op.operands[0]->type;
  if (x.rank() < 3)
    return err(fmt::format("rnn input must be [batch, time, features...], got {}", x.str()));
  const Block &body = *op.regions[0];
  size_t ns = op.operands.size() - 1;
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
    if (a.rank() < 1 || b.rank() != 2)
      return err(fmt::format("matmul needs [..., K] x [K, N], got {} and {}", a.str(), b.str()));
    if (a.shape.back() != b.shape[0])
      return err(fmt::format("matmul of {} and {}: inner dims {} and {} differ", a.str(), b.str(),
                             a.shape.back().str(), b.shape[0].str()));
    Type t = a;
    t.shape.back() = b.shape[1];
    return std::vector<Type>{t};
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
  case OpKind::Loop:
    return inferLoop(op);
  case OpKind::Rnn:
    return inferRnn(op);
  case OpKind::Yield:
  case OpKind::Return:
    return std::vector<Type>{};
  }
  return err("unknown op");
}

} // namespace loom::ir
