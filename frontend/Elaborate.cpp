#include "frontend/Elaborate.h"

#include "frontend/Elaborator.h"
#include "frontend/Parser.h"
#include "ir/TypeInference.h"

#include "llvm/ADT/StringRef.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace loom::frontend {

extern const char *const kPreludeText;
const char *preludeText() { return kPreludeText; }

std::string Val::describe() const {
  switch (kind) {
  case Kind::None:
    return "none";
  case Kind::Int:
    return fmt::format("int {}", i);
  case Kind::Float:
    return fmt::format("float {}", f);
  case Kind::Bool:
    return b ? "bool true" : "bool false";
  case Kind::Str:
    return fmt::format("string \"{}\"", s);
  case Kind::Dim:
    return fmt::format("dim {}", dim.str());
  case Kind::Tensor:
    return fmt::format("tensor {}", tensor->type.str());
  case Kind::Tuple:
    return fmt::format("tuple of {}", elems.size());
  case Kind::Func:
    return fmt::format("function {}", decl ? decl->name : builtin->name);
  case Kind::Cell:
    return fmt::format("cell {}", decl->name);
  }
  return "?";
}

Elaborator::Elaborator(const SourceManager &sm, const ast::File &user, const ast::File &prelude)
    : sm_(sm), user_(user), prelude_(prelude) {
  for (auto &d : prelude.decls)
    decls_[d.name] = &d;
  for (auto &d : user.decls)
    if (d.kind != ast::Decl::Kind::Model && d.kind != ast::Decl::Kind::Train) // not callable
      decls_[d.name] = &d; // a user's def or cell shadows the prelude's
}

const ir::Loc &Elaborator::userLoc(const ir::Loc &loc) const {
  if (loc.file != kPreludeName)
    return loc;
  for (auto it = callStack_.rbegin(); it != callStack_.rend(); ++it)
    if (it->file != kPreludeName)
      return *it;
  return loc;
}

llvm::Error Elaborator::fail(const ir::Loc &loc, const std::string &msg) const {
  const ir::Loc &at = userLoc(loc);
  if (&at == &loc)
    return errorAt(sm_, loc, msg);
  // Raised inside a prelude layer: report at the user's call, and say where.
  std::string text = formatDiagnostic(sm_, at, "error", msg);
  text += formatDiagnostic(sm_, loc, "note", "inside the built-in layer here");
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), text);
}

// ---------------------------------------------------------------------------------------
// Tensors

ir::Value *Elaborator::scalar(double v, ir::DType dtype) {
  return builder_->fill(v, ir::Type{dtype, {}});
}

llvm::Expected<Val> Elaborator::reduceLeading(ir::Value *x, ir::OpKind kind, const ir::Loc &loc,
                                              int64_t keepRank) {
  Val v = Val::of(x);
  while (v.tensor->type.rank() > keepRank) {
    auto r = tensorOp(kind, {v.tensor}, loc, "cannot reduce",
                      {{"axis", (int64_t)0}, {"keepdims", false}});
    if (!r)
      return r.takeError();
    v = *r;
  }
  return v;
}

llvm::Expected<Val> Elaborator::tensorOp(ir::OpKind k, std::vector<ir::Value *> operands,
                                         const ir::Loc &loc, const std::string &what,
                                         std::map<std::string, ir::Attr> attrs) {
  builder_->setLoc(userLoc(loc));
  auto v = builder_->value(k, std::move(operands), std::move(attrs));
  if (!v)
    return fail(loc, fmt::format("{}: {}", what, llvm::toString(v.takeError())));
  return Val::of(*v);
}

llvm::Expected<ir::Value *> Elaborator::createParam(const std::string &name, ir::Type type,
                                                    const std::string &init, const ir::Loc &loc) {
  std::string prefix = binding_;
  if (!subBinding_.empty())
    prefix += (prefix.empty() ? "" : "/") + subBinding_;
  std::string key = prefix.empty() ? name : prefix + "/" + name;
  if (shareWeights_ && paramKeys_.count(key))
    for (size_t i = 0; i < func_->params.size(); ++i)
      if (func_->params[i].key == key) {
        ir::Value *w = func_->param((unsigned)i);
        if (w->type != type)
          return fail(loc, fmt::format("weight '{}' is {} here but {} where it was created", key,
                                       type.str(), w->type.str()));
        return w;
      }
  if (!paramKeys_.insert(key).second)
    return fail(loc, fmt::format("weight '{}' is created twice; give each layer its own "
                                 "binding (one layer call per assignment)",
                                 key));
  std::string hint = key;
  std::replace(hint.begin(), hint.end(), '/', '.');
  ir::Value *v = func_->body.addArg(std::move(type), hint);
  func_->params.push_back({key, init});
  return v;
}

// ---------------------------------------------------------------------------------------
// Names, calls and argument binding

llvm::Expected<Val> Elaborator::lookup(const std::string &name, const ir::Loc &loc) {
  auto &vars = frame().vars;
  if (auto it = vars.find(name); it != vars.end())
    return it->second;
  if (auto it = decls_.find(name); it != decls_.end()) {
    Val v;
    v.kind = Val::Kind::Func;
    v.decl = it->second;
    return v;
  }
  if (auto it = builtins().find(name); it != builtins().end()) {
    Val v;
    v.kind = Val::Kind::Func;
    v.builtin = &it->second;
    return v;
  }
  if (name == "none")
    return Val::none();
  // Keras's string-valued options may be written bare: padding=causal, merge_mode=sum,
  // init=zeros. They mean their name only where no variable or function has it.
  if (isInitializerName(name) || isOptionName(name))
    return Val::str(name);
  // Suggest the closest known name.
  std::vector<std::string> known;
  for (auto &[n, _] : vars)
    known.push_back(n);
  for (auto &[n, _] : decls_)
    known.push_back(n);
  for (auto &[n, _] : builtins())
    known.push_back(n);
  return fail(loc, fmt::format("unknown name '{}'{}", name, didYouMean(name, known)));
}

std::string didYouMean(const std::string &name, const std::vector<std::string> &candidates) {
  std::string best;
  unsigned bestDist = 3;
  for (const std::string &c : candidates) {
    unsigned d = llvm::StringRef(name).edit_distance(c);
    if (d < bestDist)
      bestDist = d, best = c;
  }
  return best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best);
}

llvm::Expected<BoundArgs> Elaborator::bindArgs(const std::string &callee,
                                               const std::vector<std::string> &names,
                                               const std::vector<CallArg> &args,
                                               const ir::Loc &loc) {
  BoundArgs out;
  out.callLoc = loc;
  size_t pos = 0;
  for (auto &a : args) {
    std::string name = a.keyword;
    if (name.empty()) {
      if (pos >= names.size())
        return fail(
            a.loc, fmt::format("{} takes at most {} positional argument(s)", callee, names.size()));
      name = names[pos++];
    } else if (std::find(names.begin(), names.end(), name) == names.end()) {
      return fail(a.loc,
                  fmt::format("{} has no argument '{}'{}", callee, name, didYouMean(name, names)));
    }
    if (out.values.count(name))
      return fail(a.loc, fmt::format("argument '{}' of {} given twice", name, callee));
    out.values[name] = a.value;
    out.locs[name] = a.loc;
  }
  return out;
}

llvm::Expected<Val> Elaborator::callValue(const Val &callee, const std::vector<CallArg> &args,
                                          const ir::Loc &loc) {
  if (callee.kind == Val::Kind::Str) {
    // activation="tanh" names an activation: a builtin or a prelude def.
    if (!isActivationName(callee.s))
      return fail(loc, fmt::format("unknown activation \"{}\"", callee.s));
    auto f = lookup(callee.s, loc);
    if (!f)
      return f.takeError();
    return callValue(*f, args, loc);
  }
  if (callee.kind != Val::Kind::Func)
    return fail(loc, fmt::format("{} is not callable", callee.describe()));
  if (callee.decl) {
    if (callee.attrs.empty())
      return callDecl(*callee.decl, args, loc);
    // A partially applied layer: the call's positional arguments, the layer's keywords
    // (unless the call gives them again), the call's keywords.
    std::vector<CallArg> all;
    for (auto &a : args)
      if (a.keyword.empty())
        all.push_back(a);
    for (auto &[k, v] : callee.attrs)
      if (std::none_of(args.begin(), args.end(), [&](const CallArg &a) { return a.keyword == k; }))
        all.push_back({k, v, loc});
    for (auto &a : args)
      if (!a.keyword.empty())
        all.push_back(a);
    return callDecl(*callee.decl, all, loc);
  }
  const Builtin &b = *callee.builtin;
  std::vector<std::string> names;
  for (auto &p : b.params)
    names.push_back(p.name);
  std::vector<CallArg> all = args;
  if (!callee.attrs.empty()) {
    // A partially applied builtin layer: positional arguments fill the parameters it has
    // not bound, in order; its bound arguments follow unless given again.
    size_t next = 0;
    for (auto &a : all) {
      if (!a.keyword.empty())
        continue;
      while (next < names.size() && callee.attrs.count(names[next]))
        ++next;
      if (next < names.size())
        a.keyword = names[next++];
    }
    for (auto &[k, v] : callee.attrs)
      if (std::none_of(all.begin(), all.end(), [&](const CallArg &a) { return a.keyword == k; }))
        all.push_back({k, v, loc});
  }
  auto bound = bindArgs(b.name, names, all, loc);
  if (!bound)
    return bound.takeError();
  // rnn(cell, return_sequences=true) without its input is a layer value, as lstm(units=8) is.
  if (b.layer && !bound->values.count("x")) {
    Val layer = callee;
    for (auto &[k, v] : bound->values)
      layer.attrs[k] = v;
    return layer;
  }
  for (auto &p : b.params)
    if (!bound->values.count(p.name)) {
      if (p.required)
        return fail(loc, fmt::format("missing argument '{}' in call to {}", p.name, b.name));
      bound->values[p.name] = p.dflt;
      bound->locs[p.name] = loc;
    }
  return b.fn(*this, *bound);
}

llvm::Expected<Val> Elaborator::callDecl(const ast::Decl &d, const std::vector<CallArg> &callArgs,
                                         const ir::Loc &loc) {
  std::vector<std::string> names;
  for (auto &p : d.params)
    names.push_back(p.name);
  auto args = bindArgs(d.name, names, callArgs, loc);
  if (!args)
    return args.takeError();

  if (d.kind == ast::Decl::Kind::Cell) {
    // Calling a cell binds its attributes; rnn() drives it over time.
    Val cell;
    cell.kind = Val::Kind::Cell;
    cell.decl = &d;
    for (auto &p : d.params)
      if (args->values.count(p.name)) {
        if (isTensorParam(p))
          return fail(loc, fmt::format("cell '{}' is driven over time by rnn(); call it with its "
                                       "attributes only, e.g. rnn({}(...), x)",
                                       d.name, d.name));
        cell.attrs[p.name] = args->values[p.name];
      }
    return cell;
  }

  // A layer called without its input (lstm(units=8)) is a layer value, applied later
  // (bidirectional(lstm(units=8), x), time_distributed(dense(units=1), x)).
  if (!d.params.empty() && !args->values.count(d.params[0].name) && !d.params[0].defaultValue &&
      isTensorParam(d.params[0])) {
    bool keywordsOnly = true;
    for (auto &a : callArgs)
      keywordsOnly &= !a.keyword.empty();
    if (keywordsOnly) {
      Val layer;
      layer.kind = Val::Kind::Func;
      layer.decl = &d;
      for (auto &a : callArgs)
        layer.attrs[a.keyword] = a.value;
      return layer;
    }
  }

  Frame fr;
  fr.decl = &d;
  std::vector<const ast::Param *> params;
  for (auto &p : d.params)
    params.push_back(&p);
  callStack_.push_back(loc);
  if (auto e = bindParams(d, fr, *args, params)) {
    callStack_.pop_back();
    return std::move(e);
  }
  const Val *first = d.params.empty() ? nullptr : &fr.vars[d.params[0].name];
  ir::Value *inMask = first && first->isTensor() ? first->mask : nullptr;
  ir::Value *inTensor = first && first->isTensor() ? first->tensor : nullptr;
  frames_.push_back(std::move(fr));
  auto result = exec(d.body);
  frames_.pop_back();
  callStack_.pop_back();
  if (!result)
    return result.takeError();
  Val out = result->value_or(Val::none());
  // Keras layers pass their input's mask on when they keep its [batch, time] axes.
  if (inMask && out.isTensor() && !out.mask && out.tensor->type.rank() >= 3 &&
      inTensor->type.rank() >= 3 && out.tensor->type.shape[0] == inTensor->type.shape[0] &&
      out.tensor->type.shape[1] == inTensor->type.shape[1])
    out.mask = inMask;
  return out;
}

/// Binds `params` of `d` in `fr` from `args` (defaults evaluated in the callee), static
/// attributes first so that tensor types may refer to them (f32[units]).
llvm::Error Elaborator::bindParams(const ast::Decl &d, Frame &fr, const BoundArgs &args,
                                   const std::vector<const ast::Param *> &params) {
  for (int pass = 0; pass < 2; ++pass)
    for (const ast::Param *p : params) {
      if (isTensorParam(*p) != (pass == 1))
        continue;
      Val v;
      ir::Loc loc = args.callLoc;
      if (auto it = args.values.find(p->name); it != args.values.end()) {
        v = it->second;
        loc = args.locs.at(p->name);
      } else if (p->defaultValue) {
        frames_.push_back(fr);
        auto dv = eval(*p->defaultValue);
        frames_.pop_back();
        if (!dv)
          return dv.takeError();
        v = *dv;
      } else {
        return fail(args.callLoc,
                    fmt::format("missing argument '{}' in call to {}", p->name, d.name));
      }
      if (p->type)
        if (auto e = matchType(*p->type, v, fr, fmt::format("argument '{}' of {}", p->name, d.name),
                               loc))
          return e;
      fr.vars[p->name] = v;
    }
  return llvm::Error::success();
}

// ---------------------------------------------------------------------------------------
// Types

llvm::Error Elaborator::matchType(const ast::TypeExpr &te, const Val &v, Frame &fr,
                                  const std::string &what, const ir::Loc &loc) {
  using K = ast::TypeExpr::Kind;
  auto mismatch = [&](const std::string &want) {
    return fail(loc, fmt::format("{} must be {}, got {}", what, want, v.describe()));
  };
  switch (te.kind) {
  case K::Int:
    return v.kind == Val::Kind::Int ? llvm::Error::success() : mismatch("int");
  case K::Float:
    return v.isNumber() ? llvm::Error::success() : mismatch("float");
  case K::Bool:
    return v.kind == Val::Kind::Bool ? llvm::Error::success() : mismatch("bool");
  case K::Str:
    return v.kind == Val::Kind::Str ? llvm::Error::success() : mismatch("a string");
  case K::Fn:
    return v.kind == Val::Kind::Func || v.kind == Val::Kind::Str ? llvm::Error::success()
                                                                 : mismatch("a function");
  case K::Cell:
    return v.kind == Val::Kind::Cell ||
                   (v.kind == Val::Kind::Func && v.decl && v.decl->kind == ast::Decl::Kind::Cell)
               ? llvm::Error::success()
               : mismatch("a cell");
  case K::Tensor:
    break;
  }
  std::string want = te.dtype + "[";
  for (size_t i = 0; i < te.dims.size(); ++i) {
    auto &d = te.dims[i];
    want += (i ? "," : "") + (d.kind == ast::DimExpr::Kind::Int        ? std::to_string(d.value)
                              : d.kind == ast::DimExpr::Kind::Ellipsis ? std::string("...")
                                                                       : d.name);
  }
  want += "]";
  if (fr.perExample)
    want += " per example";
  if (!v.isTensor())
    return mismatch("a tensor " + want);
  const ir::Type &t = v.tensor->type;
  auto got = [&](const std::string &why) {
    return fail(loc, fmt::format("{} must be {}, got {} ({})", what, want, t.str(), why));
  };
  if (ir::dtypeName(t.dtype) != te.dtype)
    return got("element type differs");
  std::vector<ir::Dim> dims = t.shape;
  if (fr.perExample) {
    if (dims.empty())
      return got("no batch dimension");
    dims.erase(dims.begin());
  }
  bool ellipsis = !te.dims.empty() && te.dims[0].kind == ast::DimExpr::Kind::Ellipsis;
  size_t fixed = te.dims.size() - (ellipsis ? 1 : 0);
  if (ellipsis ? dims.size() < fixed : dims.size() != fixed)
    return got(
        fmt::format("rank {}, expected {}{}", dims.size(), ellipsis ? "at least " : "", fixed));
  size_t off = dims.size() - fixed;
  for (size_t i = 0; i < fixed; ++i) {
    const ast::DimExpr &de = te.dims[i + (ellipsis ? 1 : 0)];
    const ir::Dim &d = dims[off + i];
    if (de.kind == ast::DimExpr::Kind::Ellipsis)
      return fail(de.loc, "'...' may only stand first in a tensor type");
    if (de.kind == ast::DimExpr::Kind::Int) {
      if (!d.isStatic() || d.value() != de.value)
        return got(fmt::format("dim {} is {}, expected {}", off + i, d.str(), de.value));
      continue;
    }
    Val dv = d.isStatic() ? Val::integer(d.value()) : Val::symDim(d);
    auto it = fr.vars.find(de.name);
    if (it == fr.vars.end()) {
      fr.vars[de.name] = dv;
      continue;
    }
    const Val &bound = it->second;
    bool same = (bound.kind == Val::Kind::Int && d.isStatic() && bound.i == d.value()) ||
                (bound.kind == Val::Kind::Dim && bound.dim == d);
    if (!same)
      return got(fmt::format("dim {} is {}, but {} is {}", off + i, d.str(), de.name,
                             bound.kind == Val::Kind::Int   ? std::to_string(bound.i)
                             : bound.kind == Val::Kind::Dim ? bound.dim.str()
                                                            : bound.describe()));
  }
  return llvm::Error::success();
}

llvm::Expected<ir::Type> Elaborator::typeFromExpr(const ast::TypeExpr &te, Frame &fr,
                                                  const std::string &what) {
  ir::Type t;
  t.dtype = *ir::parseDType(te.dtype);
  for (auto &de : te.dims) {
    if (de.kind == ast::DimExpr::Kind::Int) {
      t.shape.push_back(ir::Dim::constant(de.value));
      continue;
    }
    if (de.kind == ast::DimExpr::Kind::Ellipsis)
      return fail(de.loc, fmt::format("the size of {} cannot contain '...'", what));
    auto it = fr.vars.find(de.name);
    if (it == fr.vars.end() ||
        (it->second.kind != Val::Kind::Int && it->second.kind != Val::Kind::Dim))
      return fail(de.loc, fmt::format("cannot tell the size '{}' of {}: it is not an int "
                                      "attribute or a dim of the input",
                                      de.name, what));
    t.shape.push_back(it->second.kind == Val::Kind::Int ? ir::Dim::constant(it->second.i)
                                                        : it->second.dim);
  }
  return t;
}

// ---------------------------------------------------------------------------------------
// Statements and expressions

llvm::Expected<std::optional<Val>> Elaborator::exec(const std::vector<ast::Stmt> &body) {
  for (auto &s : body) {
    if (callStack_.size() == bindDepth_) {
      builder_->setLoc(s.loc);
      binding_ = s.kind == ast::Stmt::Kind::Assign ? s.targets[0] : "";
    }
    switch (s.kind) {
    case ast::Stmt::Kind::Assign: {
      frame().assignRhs = s.values[0].get();
      frame().assignTarget = s.targets[0];
      auto v = eval(*s.values[0]);
      frame().assignRhs = nullptr;
      if (!v)
        return v.takeError();
      if (s.targets.size() == 1) {
        frame().vars[s.targets[0]] = *v;
        break;
      }
      if (v->kind != Val::Kind::Tuple || v->elems.size() != s.targets.size())
        return fail(s.loc,
                    fmt::format("cannot unpack {} into {} names{}", v->describe(), s.targets.size(),
                                v->isTensor() ? " (did you mean return_state=true?)" : ""));
      for (size_t i = 0; i < s.targets.size(); ++i)
        frame().vars[s.targets[i]] = v->elems[i];
      break;
    }
    case ast::Stmt::Kind::ExprStmt: {
      auto v = eval(*s.values[0]);
      if (!v)
        return v.takeError();
      break;
    }
    case ast::Stmt::Kind::Return: {
      if (!frame().decl || frame().decl->kind == ast::Decl::Kind::Model)
        return fail(s.loc, "a model does not return: assign its outputs by name");
      std::vector<Val> vals;
      for (auto &e : s.values) {
        auto v = eval(*e);
        if (!v)
          return v.takeError();
        vals.push_back(*v);
      }
      if (vals.size() == 1)
        return std::optional<Val>(vals[0]);
      return std::optional<Val>(Val::tuple(std::move(vals)));
    }
    case ast::Stmt::Kind::If: {
      auto c = eval(*s.values[0]);
      if (!c)
        return c.takeError();
      if (c->kind != Val::Kind::Bool)
        return fail(s.values[0]->loc, fmt::format("an if condition must be a bool known at "
                                                  "compile time, got {}",
                                                  c->describe()));
      auto r = exec(c->b ? s.thenBody : s.elseBody);
      if (!r)
        return r.takeError();
      if (*r)
        return r;
      break;
    }
    }
  }
  return std::optional<Val>();
}

llvm::Expected<Val> Elaborator::eval(const ast::Expr &e) {
  using K = ast::Expr::Kind;
  switch (e.kind) {
  case K::Int:
    return Val::integer(e.intValue);
  case K::Float:
    return Val::real(e.floatValue);
  case K::Bool:
    return Val::boolean(e.boolValue);
  case K::String:
    return Val::str(e.text);
  case K::Name:
    return lookup(e.text, e.loc);
  case K::List:
  case K::Tuple: {
    std::vector<Val> elems;
    for (auto &c : e.children) {
      auto v = eval(*c);
      if (!v)
        return v.takeError();
      elems.push_back(*v);
    }
    return Val::tuple(std::move(elems));
  }
  case K::Unary: {
    auto v = eval(*e.children[0]);
    if (!v)
      return v.takeError();
    if (e.text == "not") {
      if (v->kind != Val::Kind::Bool)
        return fail(e.loc, fmt::format("'not' needs a bool, got {}", v->describe()));
      return Val::boolean(!v->b);
    }
    if (v->kind == Val::Kind::Int)
      return Val::integer(-v->i);
    if (v->kind == Val::Kind::Float)
      return Val::real(-v->f);
    if (v->isTensor())
      return tensorOp(ir::OpKind::Neg, {v->tensor}, e.loc, "cannot negate");
    return fail(e.loc, fmt::format("cannot negate {}", v->describe()));
  }
  case K::Binary:
    return evalBinary(e);
  case K::Call:
    return evalCall(e);
  }
  return fail(e.loc, "unsupported expression");
}

llvm::Expected<Val> Elaborator::evalBinary(const ast::Expr &e) {
  auto lhs = eval(*e.children[0]);
  if (!lhs)
    return lhs.takeError();
  const std::string &op = e.text;
  if (op == "and" || op == "or") {
    if (lhs->kind != Val::Kind::Bool)
      return fail(e.loc, fmt::format("'{}' needs bools, got {}", op, lhs->describe()));
    if ((op == "and" && !lhs->b) || (op == "or" && lhs->b))
      return *lhs;
    auto rhs = eval(*e.children[1]);
    if (!rhs)
      return rhs.takeError();
    if (rhs->kind != Val::Kind::Bool)
      return fail(e.loc, fmt::format("'{}' needs bools, got {}", op, rhs->describe()));
    return *rhs;
  }
  auto rhs = eval(*e.children[1]);
  if (!rhs)
    return rhs.takeError();
  const Val &a = *lhs, &b = *rhs;

  if (op == "+" && (a.kind == Val::Kind::Str || b.kind == Val::Kind::Str)) {
    // Messages for require(): "units must be positive, got " + units
    auto text = [](const Val &v) {
      return v.kind == Val::Kind::Str   ? v.s
             : v.kind == Val::Kind::Int ? std::to_string(v.i)
                                        : v.describe();
    };
    return Val::str(text(a) + text(b));
  }
  // Anything compares with none ("not given"): `if mask == none`, also for tensors.
  if ((op == "==" || op == "!=") && (a.kind == Val::Kind::None || b.kind == Val::Kind::None))
    return Val::boolean((a.kind == b.kind) == (op == "=="));
  if (a.isTensor() || b.isTensor()) {
    static const std::map<std::string, std::pair<ir::OpKind, const char *>> ops = {
        {"+", {ir::OpKind::Add, "add"}},
        {"-", {ir::OpKind::Sub, "subtract"}},
        {"*", {ir::OpKind::Mul, "multiply"}},
        {"/", {ir::OpKind::Div, "divide"}},
        {"@", {ir::OpKind::MatMul, "matmul"}}};
    auto it = ops.find(op);
    if (it == ops.end())
      return fail(e.loc, fmt::format("operator '{}' is not defined on tensors", op));
    auto asTensor = [&](const Val &v, const Val &other) -> llvm::Expected<ir::Value *> {
      if (v.isTensor())
        return v.tensor;
      if (v.isNumber() && op != "@")
        return scalar(v.number(), other.tensor->type.dtype);
      return fail(
          e.loc, fmt::format("cannot {} {} and {}", it->second.second, a.describe(), b.describe()));
    };
    auto ta = asTensor(a, b);
    if (!ta)
      return ta.takeError();
    auto tb = asTensor(b, a);
    if (!tb)
      return tb.takeError();
    // a @ b with b of rank 3 or more is a batched product (numpy's matmul): b is not a weight.
    ir::OpKind kind =
        op == "@" && (*tb)->type.rank() >= 3 ? ir::OpKind::BatchMatMul : it->second.first;
    return tensorOp(kind, {*ta, *tb}, e.loc,
                    fmt::format("cannot {} {} and {}", it->second.second, (*ta)->type.str(),
                                (*tb)->type.str()));
  }

  if (a.isNumber() && b.isNumber()) {
    bool ints = a.kind == Val::Kind::Int && b.kind == Val::Kind::Int;
    double x = a.number(), y = b.number();
    // Integer arithmetic is checked: a silent wrap would turn units=2^62 * 4 into 0 (and
    // signed overflow is undefined in C++).
    int64_t r = 0;
    if (ints && (op == "+" || op == "-" || op == "*") &&
        (op == "+"   ? __builtin_add_overflow(a.i, b.i, &r)
         : op == "-" ? __builtin_sub_overflow(a.i, b.i, &r)
                     : __builtin_mul_overflow(a.i, b.i, &r)))
      return fail(e.loc,
                  fmt::format("integer overflow: {} {} {} does not fit in 64 bits", a.i, op, b.i));
    if (op == "+")
      return ints ? Val::integer(r) : Val::real(x + y);
    if (op == "-")
      return ints ? Val::integer(r) : Val::real(x - y);
    if (op == "*")
      return ints ? Val::integer(r) : Val::real(x * y);
    if (op == "/") {
      if (y == 0)
        return fail(e.loc, "division by zero");
      return Val::real(x / y);
    }
    if (op == "==")
      return Val::boolean(x == y);
    if (op == "!=")
      return Val::boolean(x != y);
    if (op == "<")
      return Val::boolean(x < y);
    if (op == "<=")
      return Val::boolean(x <= y);
    if (op == ">")
      return Val::boolean(x > y);
    if (op == ">=")
      return Val::boolean(x >= y);
  }
  if ((op == "==" || op == "!=") && a.kind == b.kind &&
      (a.kind == Val::Kind::Bool || a.kind == Val::Kind::Str)) {
    bool eq = a.kind == Val::Kind::Bool ? a.b == b.b : a.s == b.s;
    return Val::boolean(op == "==" ? eq : !eq);
  }
  return fail(e.loc, fmt::format("operator '{}' is not defined on {} and {}", op, a.describe(),
                                 b.describe()));
}

llvm::Expected<Val> Elaborator::evalCall(const ast::Expr &e) {
  auto callee = eval(*e.children[0]);
  if (!callee)
    return callee.takeError();
  std::vector<CallArg> args;
  for (auto &a : e.args) {
    auto v = eval(*a.value);
    if (!v)
      return v.takeError();
    args.push_back({a.keyword, *v, a.loc});
  }
  return callValue(*callee, args, e.loc);
}

} // namespace loom::frontend
