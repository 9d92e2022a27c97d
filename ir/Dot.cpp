// Graphviz output (render with `dot -Tsvg`).
// One cluster per function; region ops (loop, rnn) are nested clusters holding a node for
// the op itself (where operands enter and results leave), the region's arguments and the
// body. Edges go from the defining op (or argument) to each user, labelled with the type.
#include "ir/Printer.h"
#include "ir/PrinterDetail.h"

#include <unordered_map>

namespace loom::ir {

namespace {

/// A dot string literal; `lines` are joined with dot's "\n".
std::string dotString(const std::vector<std::string> &lines) {
  std::string s = "\"";
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i)
      s += "\\n";
    for (char c : lines[i]) {
      if (c == '"' || c == '\\')
        s += '\\';
      s += c == '\n' ? ' ' : c;
    }
  }
  return s + "\"";
}

class DotPrinter {
public:
  std::string run(const Module &m) {
    out_ = "digraph loom {\n"
           "  node [fontname=\"monospace\", fontsize=10];\n"
           "  edge [fontname=\"monospace\", fontsize=9];\n";
    for (auto &f : m.functions)
      printFunction(*f);
    out_ += "}\n";
    return std::move(out_);
  }

private:
  std::string newNode() { return "n" + std::to_string(nextNode_++); }
  std::string indent(int depth) { return std::string(2 * depth, ' '); }

  void node(int depth, const std::string &id, const char *shape,
            const std::vector<std::string> &label, const char *extra = "") {
    out_ +=
        indent(depth) + id + " [shape=" + shape + ", label=" + dotString(label) + extra + "];\n";
  }
  void edge(const Value *v, const std::string &to, const char *extra = "") {
    auto it = source_.find(v);
    if (!v || it == source_.end())
      return; // dangling operand: the verifier reports it; draw what exists
    std::string label = detail::printType(v->type);
    if (v->def && v->def->results.size() > 1)
      label = "#" + std::to_string(v->index) + " " + label;
    edges_ += "    " + it->second + " -> " + to + " [label=" + dotString({label}) + extra + "];\n";
  }
  std::string argLabel(const Value *v) {
    auto it = names_.find(v);
    return "%" + (it == names_.end() ? std::string("?") : it->second);
  }

  void printFunction(const Function &f) {
    names_ = detail::valueNames(f);
    source_.clear();
    edges_.clear();
    out_ += "  subgraph cluster_" + std::to_string(nextCluster_++) + " {\n";
    out_ += "    label=" + dotString({"@" + f.name}) + ";\n";
    for (size_t i = 0; i < f.body.args.size(); ++i) {
      const Value *a = f.body.args[i].get();
      std::string id = newNode();
      source_[a] = id;
      if (i < f.numInputs) {
        node(2, id, "invhouse", {"input " + argLabel(a), detail::printType(a->type)});
      } else {
        size_t p = i - f.numInputs;
        std::string key = p < f.params.size() ? f.params[p].key : argLabel(a);
        node(2, id, "cylinder", {"param " + key, detail::printType(a->type)});
      }
    }
    printOps(f.body, 2);
    if (const Op *ret = f.returnOp(); ret && ret->kind == OpKind::Return) {
      for (size_t i = 0; i < ret->operands.size(); ++i) {
        std::string id = newNode();
        std::string name = i < f.outputNames.size() ? f.outputNames[i] : std::to_string(i);
        node(2, id, "house", {"output " + name});
        edge(ret->operands[i], id);
      }
    }
    out_ += edges_ + "  }\n";
  }

  void printOps(const Block &b, int depth) {
    for (auto &op : b.ops) {
      if (op->kind == OpKind::Return)
        continue; // drawn as output nodes
      if (op->regions.empty()) {
        std::string id = newNode();
        std::vector<std::string> label = {opName(op->kind)};
        if (!op->results.empty())
          label.push_back(resultTypes(*op));
        node(depth, id, op->kind == OpKind::Yield ? "plain" : "box", label);
        for (auto *v : op->operands)
          edge(v, id);
        for (auto &r : op->results)
          source_[r.get()] = id;
        if (op->kind == OpKind::Yield && b.parent && regionNode_.count(b.parent))
          edges_ +=
              "    " + id + " -> " + regionNode_[b.parent] + " [style=dashed, constraint=false];\n";
        continue;
      }
      printRegionOp(*op, depth);
    }
  }

  std::string resultTypes(const Op &op) {
    std::string s;
    for (size_t i = 0; i < op.results.size(); ++i)
      s += (i ? ", " : "") + detail::printType(op.results[i]->type);
    return s;
  }

  std::string clusterLabel(const Op &op) {
    std::string steps = "?";
    if (op.kind == OpKind::Loop) {
      auto it = op.attrs.find("steps");
      if (it != op.attrs.end() && std::holds_alternative<Dim>(it->second))
        steps = detail::printDim(std::get<Dim>(it->second));
    } else if (!op.operands.empty() && op.operands[0] && op.operands[0]->type.rank() >= 2) {
      steps = detail::printDim(op.operands[0]->type.shape[1]);
    }
    auto flag = [&](const char *k) {
      auto it = op.attrs.find(k);
      return it != op.attrs.end() && std::holds_alternative<bool>(it->second) &&
             std::get<bool>(it->second);
    };
    bool reverse = flag(op.kind == OpKind::Loop ? "reverse" : "go_backwards");
    if (op.kind == OpKind::Fused)
      return "fused kernel";
    return std::string(opName(op.kind)) + " over " + steps + (reverse ? " (reversed)" : "");
  }

  void printRegionOp(const Op &op, int depth) {
    std::string in = indent(depth);
    out_ += in + "subgraph cluster_" + std::to_string(nextCluster_++) + " {\n";
    out_ += in + "  label=" + dotString({clusterLabel(op)}) + ";\n";
    out_ += in + "  style=dashed;\n";
    std::string id = newNode();
    regionNode_[&op] = id;
    node(depth + 1, id, "box3d", {opName(op.kind), resultTypes(op)});
    for (auto *v : op.operands)
      edge(v, id);
    for (auto &r : op.regions) {
      for (auto &a : r->args) {
        std::string argId = newNode();
        source_[a.get()] = argId;
        node(depth + 1, argId, "ellipse", {argLabel(a.get()), detail::printType(a->type)});
        edges_ += "    " + id + " -> " + argId + " [style=dashed];\n";
      }
      printOps(*r, depth + 1);
    }
    for (auto &r : op.results)
      source_[r.get()] = id;
    out_ += in + "}\n";
  }

  std::string out_, edges_;
  detail::ValueNames names_;
  std::unordered_map<const Value *, std::string> source_; // value -> node it leaves
  std::unordered_map<const Op *, std::string> regionNode_;
  unsigned nextNode_ = 0, nextCluster_ = 0;
};

} // namespace

std::string printDot(const Module &m) { return DotPrinter().run(m); }

} // namespace loom::ir
