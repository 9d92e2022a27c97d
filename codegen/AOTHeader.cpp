// The C header of an AOT-compiled model: declarations of the object's functions, the
// sizes, inputs and outputs as documented macros, and the status codes. Plain C89/C99
// (block comments, no inline, no // comments), usable from C++.
#include "codegen/AOT.h"

#include "ir/Bind.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace loom::codegen {
namespace {

// C89..C23 and C++20 keywords, and names the header itself must not shadow.
const char kReservedWords[] =
    "alignas alignof and and_eq asm atomic_cancel atomic_commit atomic_noexcept auto bitand "
    "bitor bool break case catch char char8_t char16_t char32_t class co_await co_return "
    "co_yield compl concept const consteval constexpr constinit const_cast continue "
    "decltype default delete do double dynamic_cast else enum explicit export extern false "
    "float for friend goto if inline int long mutable namespace new noexcept not not_eq "
    "nullptr operator or or_eq private protected public reflexpr register reinterpret_cast "
    "requires restrict return short signed sizeof static static_assert static_cast struct "
    "switch synchronized template this thread_local throw true try typedef typeid typename "
    "typeof typeof_unqual union unsigned using virtual void volatile wchar_t while xor "
    "xor_eq NULL int32_t int64_t uint32_t uint64_t size_t ";

bool isReservedWord(const std::string &s) {
  static const std::set<std::string> words = [] {
    std::set<std::string> w;
    std::string text = kReservedWords, cur;
    for (char c : text + " ") {
      if (c != ' ')
        cur += c;
      else if (!cur.empty())
        w.insert(std::move(cur)), cur.clear();
    }
    return w;
  }();
  return words.count(s) ||
         (s.size() > 1 && s[0] == '_' && (s[1] == '_' || std::isupper((unsigned char)s[1])));
}

bool isIdentifier(const std::string &s) {
  if (s.empty() || std::isdigit((unsigned char)s[0]))
    return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum((unsigned char)c) || c == '_'; });
}

std::string upper(std::string s) {
  for (char &c : s)
    c = (char)std::toupper((unsigned char)c);
  return s;
}

/// A valid C identifier for `s`: other characters become '_', a leading digit or a
/// reserved name gets a prefix or suffix.
std::string sanitize(const std::string &s) {
  std::string out;
  for (char c : s)
    out += std::isalnum((unsigned char)c) || c == '_' ? c : '_';
  if (out.empty() || std::isdigit((unsigned char)out[0]) ||
      (out.size() > 1 && out[0] == '_' && (out[1] == '_' || std::isupper((unsigned char)out[1]))))
    out = "v" + out;
  if (isReservedWord(out))
    out += "_";
  return out;
}

/// Unique identifiers for the sizes, inputs and outputs (in that order). They share one
/// namespace, the parameters of <name>_run; macros use them upper-cased with suffixes
/// (<NAME>_INPUT_X_NAME, ..._DIM0), so those forms must not meet another name either.
struct Names {
  std::vector<std::string> syms, inputs, outputs;
};

std::vector<std::string> macroForms(const std::string &name) {
  std::string u = upper(name);
  std::vector<std::string> forms = {u, u + "_NAME", u + "_RANK", u + "_NUMEL"};
  for (int k = 0; k < 32; ++k)
    forms.push_back(u + "_DIM" + std::to_string(k));
  return forms;
}

Names cNames(const ir::Function &f) {
  // ctx: <name>_run's first parameter; NAMES, RANKS: the <NAME>_INPUT_NAMES lists.
  std::set<std::string> taken = {"CTX", "NAMES", "RANKS"};
  auto clashes = [&](const std::string &name) {
    for (const std::string &form : macroForms(name))
      if (taken.count(form))
        return true;
    return false;
  };
  auto unique = [&](const std::string &raw) {
    std::string base = sanitize(raw), name = base;
    for (int k = 2; clashes(name); ++k)
      name = base + "_" + std::to_string(k);
    for (const std::string &form : macroForms(name))
      taken.insert(form);
    return name;
  };
  Names n;
  for (const std::string &s : ir::symbolOrder(f))
    n.syms.push_back(unique(s));
  for (unsigned i = 0; i < f.numInputs; ++i)
    n.inputs.push_back(unique(f.input(i)->name));
  for (const std::string &o : f.outputNames)
    n.outputs.push_back(unique(o));
  return n;
}

const char *cType(ir::DType t) { return t == ir::DType::F32 ? "float" : "int32_t"; }

/// A C expression for `d` (int64_t), the symbols spelled by `cSym`.
std::string cExpr(const ir::Dim &d, const std::map<std::string, std::string> &cSym,
                  const std::string &macro, bool top = true) {
  switch (d.kind()) {
  case ir::Dim::Kind::Const:
    return std::to_string(d.value());
  case ir::Dim::Kind::Sym:
    return "(int64_t)(" + cSym.at(d.symbol()) + ")";
  case ir::Dim::Kind::Div: // the macro parenthesises its arguments
    return macro + "_FLOOR_DIV(" + cExpr(d.lhs(), cSym, macro) + ", " +
           cExpr(d.rhs(), cSym, macro) + ")";
  default: {
    const char *op = d.kind() == ir::Dim::Kind::Add   ? " + "
                     : d.kind() == ir::Dim::Kind::Sub ? " - "
                                                      : " * ";
    std::string e = cExpr(d.lhs(), cSym, macro, false) + op + cExpr(d.rhs(), cSym, macro, false);
    return top ? e : "(" + e + ")";
  }
  }
}

/// "f32[B, (T - 5) / 2 + 1, 8]": the type with spaces, for comments.
std::string typeText(const ir::Type &t) {
  std::string s = std::string(ir::dtypeName(t.dtype)) + "[";
  for (size_t i = 0; i < t.shape.size(); ++i)
    s += (i ? ", " : "") + t.shape[i].str();
  return s + "]";
}

/// Comment text must not end the comment early.
std::string commentSafe(std::string s) {
  for (size_t i; (i = s.find("*/")) != std::string::npos;)
    s.replace(i, 2, "* /");
  return s;
}

/// `s` as the body of a C string literal.
std::string cString(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if ((unsigned char)c < 0x20)
      out += fmt::format("\\{:03o}", (unsigned)(unsigned char)c);
    else
      out += c;
  }
  return out;
}

} // namespace

llvm::Error checkCName(const std::string &name) {
  auto bad = [&](const std::string &why) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "--name '%s' %s; it prefixes every C identifier of the "
                                   "model (e.g. --name %s)",
                                   name.c_str(), why.c_str(), sanitize(name).c_str());
  };
  if (!isIdentifier(name))
    return bad("is not a C identifier (letters, digits and '_', not starting with a digit)");
  if (isReservedWord(name))
    return bad("is a C or C++ keyword or a reserved name");
  if (name == "loom_aot" || name == "loom_rt" || name.rfind("loom_aot_", 0) == 0 ||
      name.rfind("loom_rt_", 0) == 0)
    return bad("would clash with the loom runtime's own functions");
  return llvm::Error::success();
}

std::string defaultCName(const std::string &modelName) {
  std::string s = sanitize(modelName);
  if (s == "loom_aot" || s == "loom_rt" || s.rfind("loom_aot_", 0) == 0 ||
      s.rfind("loom_rt_", 0) == 0)
    s = "model_" + s;
  return s;
}

std::string aotHeader(const ir::Function &f, const AotOptions &opts) {
  const std::string &p = opts.name;
  const std::string P = upper(p);
  Names n = cNames(f);
  std::vector<std::string> order = ir::symbolOrder(f);
  std::map<std::string, std::string> cSym;
  for (size_t i = 0; i < order.size(); ++i)
    cSym[order[i]] = n.syms[i];
  std::string symParams, symDecl, symList;
  for (size_t i = 0; i < n.syms.size(); ++i) {
    symParams += (i ? ", " : "") + n.syms[i];
    symDecl += ", int64_t " + n.syms[i];
    symList += (i ? ", " : "") + order[i];
  }
  std::string sig = f.name + "(";
  for (unsigned i = 0; i < f.numInputs; ++i)
    sig += (i ? ", " : "") + f.input(i)->name + ": " + typeText(f.input(i)->type);
  sig += ") -> (";
  for (size_t i = 0; i < f.outputNames.size(); ++i)
    sig += (i ? ", " : "") + f.outputNames[i] + ": " + typeText(f.returnOp()->operands[i]->type);
  sig += ")";
  int64_t numWeights = 0;
  std::string weightList;
  for (unsigned i = 0; i < f.params.size(); ++i) {
    int64_t k = 1;
    for (const ir::Dim &d : f.param(i)->type.shape)
      k *= d.isStatic() ? d.value() : 0;
    numWeights += k;
    weightList += fmt::format(" *   {} {}\n", f.params[i].key, typeText(f.param(i)->type));
  }

  std::string h;
  auto out = [&](const std::string &s) { h += s; };
  out(fmt::format("/* The C interface of model {1}, compiled ahead of time by `loom compile`\n"
                  " * (C prefix {0}_). Generated: do not edit.\n"
                  " *\n"
                  " *   {2}\n"
                  " *\n",
                  p, f.name, commentSafe(sig)));
  out(fmt::format(
      " * Sizes: {0} ({1} int64_t value(s), each at least 1, passed to every call in this\n"
      " * order). One compiled object serves every value of them.\n",
      symList.empty() ? "none" : commentSafe(symList), order.size()));
  if (opts.embedWeights)
    out(fmt::format(" * Weights: {} tensor(s), {} parameter(s), embedded in the object.\n",
                    f.params.size(), numWeights));
  else
    out(fmt::format(" * Weights: {} tensor(s), {} parameter(s), read from an .npz file when a\n"
                    " * context is created. Keys and shapes:\n{}",
                    f.params.size(), numWeights, commentSafe(weightList)));
  out(" *\n"
      " * Use: create a context, run it as often as needed (it keeps its scratch memory\n"
      " * between calls), destroy it. A context serves one thread at a time; create one per\n"
      " * thread to run in parallel. Every function returns LOOM_AOT_OK or an error code, and\n"
      " * " +
      p +
      "_error_message(ctx) says what went wrong.\n"
      " * Arrays are dense and row-major; outputs are allocated by the caller.\n"
      " * Link: the object, libloom_runtime (.so, or .a plus -lzip -lstdc++ -lm) and -ldnnl.\n"
      " */\n");
  out(fmt::format("#ifndef LOOM_MODEL_{0}_H\n#define LOOM_MODEL_{0}_H\n\n#include <stdint.h>\n\n"
                  "#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n",
                  P));
  out("/* Status codes, shared by every loom model header. */\n"
      "#ifndef LOOM_AOT_STATUS_DEFINED\n"
      "#define LOOM_AOT_STATUS_DEFINED\n"
      "enum loom_aot_status {\n"
      "  LOOM_AOT_OK = 0,\n"
      "  LOOM_AOT_ERR_NULL_ARGUMENT = 1, /* a null context, size array, input or output */\n"
      "  LOOM_AOT_ERR_BAD_SIZE = 2,      /* a size below 1, inconsistent shapes, a window longer "
      "than T */\n"
      "  LOOM_AOT_ERR_WEIGHTS = 3,       /* weights file missing or a tensor missing/mis-shaped "
      "*/\n"
      "  LOOM_AOT_ERR_RUNTIME = 4,       /* found while running: a token id or length out of range "
      "*/\n"
      "  LOOM_AOT_ERR_OUT_OF_MEMORY = 5,\n"
      "  LOOM_AOT_ERR_CPU = 6            /* this CPU lacks an extension the object was compiled "
      "for */\n"
      "};\n"
      "#endif\n\n");
  out(fmt::format("/* One context: weights, scratch memory and the last error. */\n"
                  "typedef struct {0}_ctx {0}_ctx;\n\n",
                  p));
  out(fmt::format("#define {}_NUM_SIZES {}\n#define {}_NUM_INPUTS {}\n#define {}_NUM_OUTPUTS {}\n"
                  "#define {}_NUM_WEIGHTS {}\n#define {}_WEIGHTS_EMBEDDED {}\n\n",
                  P, order.size(), P, f.numInputs, P, f.outputNames.size(), P, f.params.size(), P,
                  opts.embedWeights ? 1 : 0));
  out(fmt::format("/* Floor division, as loom's shapes divide. */\n"
                  "#define {0}_FLOOR_DIV(a, b) ((a) / (b) - ((a) % (b) != 0 && "
                  "(((a) < 0) != ((b) < 0))))\n\n",
                  P));
  if (!order.empty()) {
    out("/* Index of each size in a sizes array. */\n");
    for (size_t i = 0; i < order.size(); ++i)
      out(fmt::format("#define {}_SIZE_{} {}\n", P, upper(n.syms[i]), i));
    out("\n");
  }
  auto tensorMacros = [&](const char *kind, unsigned idx, const std::string &raw,
                          const std::string &cname, const ir::Type &t) {
    std::string M = P + "_" + kind + "_" + upper(cname);
    out(fmt::format("/* {} {}: {} {} */\n", kind == std::string("INPUT") ? "Input" : "Output", idx,
                    commentSafe(raw), commentSafe(typeText(t))));
    out(fmt::format("#define {} {}\n#define {}_NAME \"{}\"\n#define {}_RANK {}\n", M, idx, M,
                    cString(raw), M, t.rank()));
    std::string numel;
    for (int64_t d = 0; d < t.rank(); ++d) {
      out(fmt::format("#define {}_DIM{}({}) ({})\n", M, d, symParams, cExpr(t.shape[d], cSym, P)));
      numel += (d ? " * " : "") + fmt::format("{}_DIM{}({})", M, d, symParams);
    }
    out(fmt::format("#define {}_NUMEL({}) ({})\n\n", M, symParams, numel.empty() ? "1" : numel));
  };
  for (unsigned i = 0; i < f.numInputs; ++i)
    tensorMacros("INPUT", i, f.input(i)->name, n.inputs[i], f.input(i)->type);
  for (size_t i = 0; i < f.outputNames.size(); ++i)
    tensorMacros("OUTPUT", (unsigned)i, f.outputNames[i], n.outputs[i],
                 f.returnOp()->operands[i]->type);
  // The names and ranks again as array initialisers, for code that loops over tensors.
  auto lists = [&](const char *kind, size_t count, auto name, auto rank) {
    if (count == 0)
      return;
    std::string names, ranks;
    for (size_t i = 0; i < count; ++i) {
      names += fmt::format("{}\"{}\"", i ? ", " : "", cString(name(i)));
      ranks += fmt::format("{}{}", i ? ", " : "", rank(i));
    }
    out(fmt::format("#define {0}_{1}_NAMES {{ {2} }}\n#define {0}_{1}_RANKS {{ {3} }}\n", P, kind,
                    names, ranks));
  };
  out("/* The same as array initialisers, in order. */\n");
  lists(
      "INPUT", f.numInputs, [&](size_t i) { return f.input(i)->name; },
      [&](size_t i) { return f.input(i)->type.rank(); });
  lists(
      "OUTPUT", f.outputNames.size(), [&](size_t i) { return f.outputNames[i]; },
      [&](size_t i) { return f.returnOp()->operands[i]->type.rank(); });
  out("\n");

  if (opts.embedWeights)
    out(fmt::format("/* Creates a context in *ctx. On failure *ctx is still a context holding\n"
                    " * the message (destroy it), or null when memory ran out. */\n"
                    "int {0}_create({0}_ctx **ctx);\n",
                    p));
  else
    out(fmt::format("/* Creates a context in *ctx with the weights of the .npz file at\n"
                    " * weights_path (LOOM_AOT_ERR_WEIGHTS if it is unreadable, or a weight is\n"
                    " * missing or mis-shaped). On failure *ctx is still a context holding the\n"
                    " * message (destroy it), or null when memory ran out. */\n"
                    "int {0}_create({0}_ctx **ctx, const char *weights_path);\n",
                    p));
  out(fmt::format("void {0}_destroy({0}_ctx *ctx);\n"
                  "/* The last error's text (\"\" after a success); valid until the next call. */\n"
                  "const char *{0}_error_message(const {0}_ctx *ctx);\n\n",
                  p));
  out("/* Runs the model on one batch.\n");
  if (!order.empty())
    out(fmt::format(" *   {}: the sizes, each at least 1\n", symParams));
  for (unsigned i = 0; i < f.numInputs; ++i)
    out(fmt::format(" *   {}: input, {}[{}_INPUT_{}_NUMEL({})], {}\n", n.inputs[i],
                    cType(f.input(i)->type.dtype), P, upper(n.inputs[i]), symParams,
                    commentSafe(typeText(f.input(i)->type))));
  for (size_t i = 0; i < f.outputNames.size(); ++i) {
    out(fmt::format(" *   {}: output, {}[{}_OUTPUT_{}_NUMEL({})], {}\n", n.outputs[i],
                    cType(f.returnOp()->operands[i]->type.dtype), P, upper(n.outputs[i]), symParams,
                    commentSafe(typeText(f.returnOp()->operands[i]->type))));
    // A generated sequence (generate(...)): the loop's most steps, each row's tokens first.
    auto trim = f.hints.find("trim:" + f.outputNames[i]);
    if (trim != f.hints.end())
      out(fmt::format(" *     generated: row b holds {}[b] steps, then padding; the steps the\n"
                      " *     generation ran are the largest {}[b] (the APIs trim to it)\n",
                      commentSafe(trim->second), commentSafe(trim->second)));
  }
  out(" */\n");
  std::string runDecl = fmt::format("int {0}_run({0}_ctx *ctx{1}", p, symDecl);
  for (unsigned i = 0; i < f.numInputs; ++i)
    runDecl += fmt::format(", const {} *{}", cType(f.input(i)->type.dtype), n.inputs[i]);
  for (size_t i = 0; i < f.outputNames.size(); ++i)
    runDecl += fmt::format(", {} *{}", cType(f.returnOp()->operands[i]->type.dtype), n.outputs[i]);
  out(runDecl + ");\n");
  out(fmt::format(
      "/* The same with arrays: sizes[{1}_NUM_SIZES], inputs[{1}_NUM_INPUTS],\n"
      " * outputs[{1}_NUM_OUTPUTS], in the orders above. */\n"
      "int {0}_run_arrays({0}_ctx *ctx, const int64_t *sizes, const void *const *inputs,\n"
      "{2}void *const *outputs);\n"
      "/* The shape of output `index` for these sizes ({1}_OUTPUT_*_RANK values). */\n"
      "int {0}_output_shape(const int64_t *sizes, int index, int64_t *shape);\n"
      "/* The sizes implied by the inputs' shapes (input_shapes[i] points at input i's\n"
      " * dims); LOOM_AOT_ERR_BAD_SIZE when they disagree, e.g. two batch sizes. */\n"
      "int {0}_sizes_from_shapes({0}_ctx *ctx, const int64_t *const *input_shapes,\n"
      "{3}int64_t *sizes);\n\n",
      p, P, std::string(p.size() + 16, ' '), std::string(p.size() + 23, ' ')));
  out(fmt::format("#ifdef __cplusplus\n}}\n#endif\n\n#endif /* LOOM_MODEL_{}_H */\n", P));
  return h;
}

} // namespace loom::codegen
