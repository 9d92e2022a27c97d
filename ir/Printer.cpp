// The textual IR printer. The format is specified in ir/Printer.h and docs/ir.md; the
// parser (ir/TextParser.cpp) reads exactly what this file writes.
#include "ir/Printer.h"

#include <fmt/format.h>

#include <cctype>
#include <unordered_map>
#include <unordered_set>

namespace loom::ir {
namespace detail {

using ValueNames = std::unordered_map<const Value *, std::string>;

bool isIdentifier(const std::string &s) {
  if (s.empty() || !(std::isalpha((unsigned char)s[0]) || s[0] == '_'))
    return false;
  for (char c : s)
    if (!(std::isalnum((unsigned char)c) || c == '_' || c == '.'))
      return false;
  return true;
}

std::string quote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7f)
        out += fmt::format("\\x{:02x}", c);
      else
        out += (char)c;
    }
  }
  return out + "\"";
}

/// An identifier as is, anything else as a quoted string.
static std::string identOrQuote(const std::string &s) { return isIdentifier(s) ? s : quote(s); }

std::string printDim(const Dim &d) { return d.str(); }

std::string printType(const Type &t) {
  std::string s = dtypeName(t.dtype);
  s += '[';
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (i)
      s += ',';
    s += printDim(t.shape[i]);
  }
  return s + ']';
}

std::string printFloat(double d) {
  // fmt's default is the shortest representation that reads back to the same double.
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".en") == std::string::npos) // "e": 1e+20, "n": inf, nan
    s += ".0";
  return s;
}

std::string printAttr(const Attr &a) {
  if (auto *i = std::get_if<int64_t>(&a))
    return std::to_string(*i);
  if (auto *d = std::get_if<double>(&a))
    return printFloat(*d);
  if (auto *b = std::get_if<bool>(&a))
    return *b ? "true" : "false";
  if (auto *s = std::get_if<std::string>(&a))
    return quote(*s);
  return "dim<" + printDim(std::get<Dim>(a)) + ">";
}

namespace {
/// Assigns every value of a function its printed name, in textual order: a valid,
/// unused hint is kept; anything else gets the next number. Hints never start with a
/// digit, so numbers and hints cannot collide.
class Namer {
public:
  explicit Namer(ValueNames &names) : names_(names) {}

  void name(const Value *v) {
    if (!v || names_.count(v))
      return;
    if (isIdentifier(v->name) && used_.insert(v->name).second)
      names_[v] = v->name;
    else
      names_[v] = std::to_string(next_++);
  }
  void nameBlock(const Block &b) {
    for (auto &a : b.args)
      name(a.get());
    for (auto &op : b.ops) {
      for (auto &r : op->results)
        name(r.get());
      for (auto &r : op->regions)
        nameBlock(*r);
    }
  }

private:
  ValueNames &names_;
  std::unordered_set<std::string> used_;
  unsigned next_ = 0;
};
} // namespace

ValueNames valueNames(const Function &f) {
  ValueNames names;
  Namer(names).nameBlock(f.body);
  return names;
}

std::string valueRef(const Value *v, const ValueNames &names) {
  if (!v)
    return "%<null>";
  auto it = names.find(v);
  return it == names.end() ? "%<undefined>" : "%" + it->second;
}

static std::string printArgList(const Block &b, size_t begin, size_t end, const ValueNames &names) {
  std::string s;
  for (size_t i = begin; i < end; ++i) {
    if (i != begin)
      s += ", ";
    s += valueRef(b.args[i].get(), names) + ": " + printType(b.args[i]->type);
  }
  return s;
}

/// Results, mnemonic, operands and attributes: `%a, %b = loop %x, %y {k = v}`.
static std::string printOpHead(const Op &op, const ValueNames &names) {
  std::string s;
  for (size_t i = 0; i < op.results.size(); ++i)
    s += (i ? ", " : "") + valueRef(op.results[i].get(), names);
  if (!op.results.empty())
    s += " = ";
  s += opName(op.kind);
  for (size_t i = 0; i < op.operands.size(); ++i)
    s += (i ? ", " : " ") + valueRef(op.operands[i], names);
  if (!op.attrs.empty()) {
    s += " {";
    bool first = true;
    for (auto &[k, v] : op.attrs) {
      s += (first ? "" : ", ") + identOrQuote(k) + " = " + printAttr(v);
      first = false;
    }
    s += "}";
  }
  return s;
}

static std::string printResultTypes(const Op &op) {
  std::string s;
  for (size_t i = 0; i < op.results.size(); ++i)
    s += (i ? ", " : " : ") + printType(op.results[i]->type);
  return s;
}

std::string printOpSummary(const Op &op, const ValueNames &names) {
  std::string s = printOpHead(op, names);
  for (auto &r : op.regions)
    s += " (" + printArgList(*r, 0, r->args.size(), names) + ") {...}";
  return s + printResultTypes(op);
}

namespace {
class Printer {
public:
  Printer(const Function &f) : f_(f), names_(valueNames(f)) {}

  std::string run() {
    out_ = "func @" + identOrQuote(f_.name) + "(";
    size_t numInputs = std::min<size_t>(f_.numInputs, f_.body.args.size());
    out_ += printArgList(f_.body, 0, numInputs, names_) + ") -> (";
    for (size_t i = 0; i < f_.outputNames.size(); ++i)
      out_ += (i ? ", " : "") + identOrQuote(f_.outputNames[i]);
    out_ += ")";
    printParams(numInputs);
    out_ += " {\n";
    printBlockOps(f_.body, 1);
    out_ += "}\n";
    return std::move(out_);
  }

private:
  void printParams(size_t numInputs) {
    std::vector<std::string> ps;
    for (size_t i = numInputs; i < f_.body.args.size(); ++i) {
      const Value *v = f_.body.args[i].get();
      std::string p = valueRef(v, names_) + ": " + printType(v->type);
      size_t pi = i - numInputs;
      if (pi < f_.params.size())
        p += " " + quote(f_.params[pi].key) + " " + identOrQuote(f_.params[pi].init);
      ps.push_back(std::move(p));
    }
    if (ps.empty())
      return;
    // One line if it fits in 100 columns, else one parameter per line.
    std::string oneLine = "\n    params(";
    for (size_t i = 0; i < ps.size(); ++i)
      oneLine += (i ? ", " : "") + ps[i];
    oneLine += ")";
    if (oneLine.size() - 1 + 2 <= 100) {
      out_ += oneLine;
      return;
    }
    out_ += "\n    params(";
    for (size_t i = 0; i < ps.size(); ++i)
      out_ += (i ? ",\n           " : "") + ps[i];
    out_ += ")";
  }

  void printBlockOps(const Block &b, int depth) {
    for (auto &op : b.ops)
      printOp(*op, depth);
  }

  void printOp(const Op &op, int depth) {
    std::string indent(2 * depth, ' ');
    out_ += indent + printOpHead(op, names_);
    for (size_t i = 0; i < op.regions.size(); ++i) {
      const Block &r = *op.regions[i];
      // The first region's arguments go on a continuation line; later regions follow
      // the closing brace of the previous one.
      out_ += i == 0 ? "\n" + indent + "    (" : " (";
      out_ += printArgList(r, 0, r.args.size(), names_) + ") {\n";
      printBlockOps(r, depth + 1);
      out_ += indent + "}";
    }
    out_ += printResultTypes(op) + "\n";
  }

  const Function &f_;
  ValueNames names_;
  std::string out_;
};
} // namespace

} // namespace detail

std::string print(const Function &f) { return detail::Printer(f).run(); }

std::string print(const Module &m) {
  std::string s;
  for (size_t i = 0; i < m.functions.size(); ++i)
    s += (i ? "\n" : "") + print(*m.functions[i]);
  return s;
}

} // namespace loom::ir
