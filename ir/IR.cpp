#include "ir/IR.h"

#include <algorithm>
#include <unordered_map>

namespace loom::ir {

static const OpInfo kOpInfos[] = {
#define OP(Enum, Mnemonic, NumOperands, NumResults, Kind)                                          \
  {Mnemonic, NumOperands, NumResults, FusionKind::Kind},
#include "ir/Ops.def"
};

const OpInfo &opInfo(OpKind k) { return kOpInfos[static_cast<int>(k)]; }
const char *opName(OpKind k) { return opInfo(k).mnemonic; }

std::optional<OpKind> parseOpName(const std::string &s) {
  static const std::unordered_map<std::string, OpKind> byName = [] {
    std::unordered_map<std::string, OpKind> m;
#define OP(Enum, Mnemonic, NumOperands, NumResults, Kind) m[Mnemonic] = OpKind::Enum;
#include "ir/Ops.def"
    return m;
  }();
  auto it = byName.find(s);
  if (it == byName.end())
    return std::nullopt;
  return it->second;
}

Value *Block::addArg(Type t, std::string name) {
  auto v = std::make_unique<Value>();
  v->type = std::move(t);
  v->name = std::move(name);
  v->owner = this;
  v->index = (unsigned)args.size();
  args.push_back(std::move(v));
  return args.back().get();
}

char LocatedError::ID = 0;

void LocatedError::log(llvm::raw_ostream &os) const {
  if (loc.line)
    os << loc.file << ":" << loc.line << ":" << loc.col << ": ";
  os << msg;
}

Value *Function::insertInput(Type t, std::string name, unsigned at) {
  at = std::min(at, numInputs);
  auto v = std::make_unique<Value>();
  v->type = std::move(t);
  v->name = std::move(name);
  v->owner = &body;
  Value *raw = v.get();
  body.args.insert(body.args.begin() + at, std::move(v));
  ++numInputs;
  for (unsigned i = at; i < body.args.size(); ++i)
    body.args[i]->index = i;
  return raw;
}

Value *Op::addResult(Type t, std::string name) {
  auto v = std::make_unique<Value>();
  v->type = std::move(t);
  v->name = std::move(name);
  v->def = this;
  v->index = (unsigned)results.size();
  results.push_back(std::move(v));
  return results.back().get();
}

Block *Op::addRegion() {
  regions.push_back(std::make_unique<Block>());
  regions.back()->parent = this;
  return regions.back().get();
}

Function *Module::lookup(const std::string &name) const {
  for (auto &f : functions)
    if (f->name == name)
      return f.get();
  return nullptr;
}

void replaceAllUses(Block &b, Value *from, Value *to) {
  walk(b, [&](Op &op) {
    for (auto &v : op.operands)
      if (v == from)
        v = to;
  });
}

void replaceUsesFrom(Block &b, size_t begin, Value *from, Value *to) {
  for (size_t j = begin; j < b.ops.size(); ++j) {
    for (auto &v : b.ops[j]->operands)
      if (v == from)
        v = to;
    for (auto &r : b.ops[j]->regions)
      replaceAllUses(*r, from, to);
  }
}

size_t replaceOpWith(Block &b, size_t idx, Block &with) {
  size_t n = with.ops.size();
  for (auto &op : with.ops)
    op->parent = &b;
  b.ops.erase(b.ops.begin() + idx);
  b.ops.insert(b.ops.begin() + idx, std::make_move_iterator(with.ops.begin()),
               std::make_move_iterator(with.ops.end()));
  with.ops.clear();
  return n;
}

namespace {
void cloneBlockInto(const Block &src, Block &dst, ValueMap &map) {
  for (auto &a : src.args)
    map[a.get()] = dst.addArg(a->type, a->name);
  for (auto &op : src.ops)
    cloneOpInto(*op, dst, map);
}
} // namespace

Op *cloneOpInto(const Op &op, Block &dst, ValueMap &map) {
  auto c = std::make_unique<Op>(op.kind);
  c->attrs = op.attrs;
  c->loc = op.loc;
  c->parent = &dst;
  for (Value *v : op.operands) {
    auto it = map.find(v);
    c->operands.push_back(it == map.end() ? v : it->second);
  }
  for (auto &r : op.results)
    map[r.get()] = c->addResult(r->type, r->name);
  for (auto &reg : op.regions)
    cloneBlockInto(*reg, *c->addRegion(), map);
  dst.ops.push_back(std::move(c));
  return dst.ops.back().get();
}

std::unique_ptr<Module> cloneModule(const Module &m) {
  auto out = std::make_unique<Module>();
  for (auto &f : m.functions) {
    auto nf = std::make_unique<Function>();
    nf->name = f->name;
    nf->numInputs = f->numInputs;
    nf->params = f->params;
    nf->outputNames = f->outputNames;
    nf->hints = f->hints;
    ValueMap map;
    cloneBlockInto(f->body, nf->body, map);
    out->functions.push_back(std::move(nf));
  }
  return out;
}

} // namespace loom::ir
