// loom generate: run a model whose outputs come from generate(...) (docs/language.md,
// "Generating sequences"), with its generation settings overridden by flags, a text prompt
// encoded through a vocabulary file, and the generated ids decoded back to text.
#include "tools/Commands.h"

#include "api/Compiler.h"
#include "api/Weights.h"
#include "runtime/Npy.h"

#include <fmt/format.h>

#include <fstream>
#include <optional>

using namespace loom;

namespace {

llvm::Error fail(const std::string &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), llvm::Twine(msg));
}

/// A vocabulary file: one token per line, line i (from 0) is token i; in a line, `\n`,
/// `\t` and `\\` stand for a newline, a tab and a backslash (so a character vocabulary can
/// hold them); any other character stands for itself, spaces included.
llvm::Expected<std::vector<std::string>> readVocab(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(fmt::format("--vocab {}: cannot read the file", path));
  std::vector<std::string> tokens;
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    std::string tok;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] != '\\') {
        tok += line[i];
        continue;
      }
      char n = i + 1 < line.size() ? line[i + 1] : '\0';
      if (n != 'n' && n != 't' && n != '\\')
        return fail(fmt::format("--vocab {}:{}: '\\{}' is not an escape (\\n, \\t or \\\\)", path,
                                lineNo, n ? std::string(1, n) : std::string("")));
      tok += n == 'n' ? '\n' : n == 't' ? '\t' : '\\';
      ++i;
    }
    tokens.push_back(tok);
  }
  if (tokens.empty())
    return fail(fmt::format("--vocab {}: the file has no tokens", path));
  return tokens;
}

/// Token ids of `text`, each the longest vocabulary token that matches where it starts.
llvm::Expected<std::vector<int32_t>> encode(const std::string &text,
                                            const std::vector<std::string> &vocab,
                                            const std::string &vocabPath) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < text.size();) {
    int best = -1;
    size_t bestLen = 0;
    for (size_t v = 0; v < vocab.size(); ++v)
      if (vocab[v].size() > bestLen && text.compare(i, vocab[v].size(), vocab[v]) == 0) {
        best = (int)v;
        bestLen = vocab[v].size();
      }
    if (best < 0) {
      unsigned char c = (unsigned char)text[i];
      std::string shown =
          c >= 32 && c < 127 ? fmt::format("'{}'", (char)c) : fmt::format("byte 0x{:02x}", c);
      return fail(fmt::format("--prompt: {} at position {} is not in the vocabulary {}", shown, i,
                              vocabPath));
    }
    ids.push_back(best);
    i += bestLen;
  }
  if (ids.empty())
    return fail("--prompt: the prompt is empty; give at least one token");
  return ids;
}

struct Flags {
  std::string file, model, weights, inputsNpz, output, prompt, vocab, targetCpu;
  std::vector<std::string> inputs;
  std::optional<int64_t> maxLength, topK, endToken, beams;
  std::optional<double> temperature, topP, repetitionPenalty, lengthPenalty;
  bool greedy = false, interpret = false;
  int64_t seed = 0;
  int threads = 0;
};

int run(const Flags &fl) {
  api::CompileOptions opts;
  opts.modelName = fl.model;
  frontend::GenerateSettings &g = opts.generate;
  g.maxLength = fl.maxLength;
  g.topK = fl.topK;
  g.endToken = fl.endToken;
  g.temperature = fl.temperature;
  g.topP = fl.topP;
  g.repetitionPenalty = fl.repetitionPenalty;
  g.beams = fl.beams;
  g.lengthPenalty = fl.lengthPenalty;
  bool sampling = fl.temperature || fl.topK || fl.topP;
  if (fl.greedy && sampling)
    return reportError("--greedy chooses the most likely token; it does not go with "
                       "--temperature, --top-k or --top-p");
  if (fl.beams && sampling)
    return reportError("--beams searches for the most likely sequences; it does not go with "
                       "--temperature, --top-k or --top-p");
  if (fl.beams && *fl.beams < 1)
    return reportError(fmt::format("--beams must be at least 1, got {}", *fl.beams));
  if (fl.greedy)
    g.sample = false;
  else if (sampling)
    g.sample = true;
  if (!fl.prompt.empty() && fl.vocab.empty())
    return reportError("--prompt needs --vocab, the file that maps text to token ids");
  std::optional<std::vector<std::string>> vocab;
  if (!fl.vocab.empty()) {
    auto v = readVocab(fl.vocab);
    if (!v)
      return report(v.takeError());
    vocab = std::move(*v);
  }
  if (fl.endToken && vocab && *fl.endToken >= (int64_t)vocab->size())
    return reportError(fmt::format("--end-token {} is outside the vocabulary of {} tokens ({})",
                                   *fl.endToken, vocab->size(), fl.vocab));

  frontend::SourceManager sm;
  auto m = api::compile(sm, fl.file, opts);
  if (!m)
    return report(m.takeError());
  const ir::Function &f = *(*m)->main();
  bool generates = false;
  for (auto &[k, _] : f.hints)
    generates |= k.rfind("trim:", 0) == 0;
  ir::walkConst(f.body, [&](const ir::Op &op) { generates |= ir::loopUntil(op); });
  if (!generates)
    return reportError(fmt::format("model {} does not generate: none of its outputs comes "
                                   "from generate(...) (use loom run)",
                                   f.name));

  auto params = weightsFlag(f, fl.weights);
  if (!params)
    return report(params.takeError());
  std::string what;
  auto inputs = inputFlags(fl.inputsNpz, fl.inputs, what);
  if (!inputs)
    return report(inputs.takeError());
  rt::NamedTensors &given = *inputs;
  auto has = [&](const std::string &name) {
    for (auto &[k, _] : given)
      if (k == name)
        return true;
    return false;
  };
  if (!fl.prompt.empty()) {
    // The prompt goes to the model's token input i32[B, P]: the one called prompt, else its
    // only such input.
    const ir::Value *target = nullptr;
    int candidates = 0;
    for (unsigned i = 0; i < f.numInputs; ++i) {
      const ir::Type &t = f.input(i)->type;
      if (t.dtype == ir::DType::I32 && t.rank() == 2) {
        ++candidates;
        if (!target || f.input(i)->name == "prompt")
          target = f.input(i);
      }
    }
    if (!target)
      return reportError(fmt::format("--prompt: model {} has no token input i32[B, P]", f.name));
    if (candidates > 1 && target->name != "prompt")
      return reportError(fmt::format("--prompt: model {} has several token inputs; call the one "
                                     "for the prompt 'prompt'",
                                     f.name));
    if (has(target->name))
      return reportError(
          fmt::format("--prompt gives input '{}', which is given again", target->name));
    auto ids = encode(fl.prompt, *vocab, fl.vocab);
    if (!ids)
      return report(ids.takeError());
    rt::Tensor t(rt::DType::I32, {1, (int64_t)ids->size()});
    std::copy(ids->begin(), ids->end(), t.i32());
    given.emplace_back(target->name, t);
  }
  for (unsigned i = 0; i < f.numInputs; ++i)
    if (f.input(i)->name == "seed" && f.input(i)->type == ir::Type{ir::DType::I32, {}} &&
        !has("seed")) {
      rt::Tensor t(rt::DType::I32, {});
      t.i32()[0] = (int32_t)fl.seed;
      given.emplace_back("seed", t);
    }
  auto in = api::matchInputs(f, given, what);
  if (!in)
    return report(in.takeError());

  if (fl.threads > 0)
    setThreads(fl.threads);
  auto outs = runFunction(f, *in, *params, fl.interpret, fl.targetCpu);
  if (!outs)
    return report(outs.takeError());

  rt::NamedTensors named;
  for (size_t i = 0; i < outs->size(); ++i)
    named.emplace_back(f.outputNames[i], (*outs)[i]);
  if (!fl.output.empty())
    if (auto s = rt::writeNpz(fl.output, named))
      return reportError(s.message());
  // Each generated sequence: its rows as text (with a vocabulary) or as ids.
  for (auto &[key, lengthsName] : f.hints) {
    if (key.rfind("trim:", 0) != 0)
      continue;
    const rt::Tensor *seq = nullptr, *len = nullptr;
    for (auto &[k, t] : named) {
      if (k == key.substr(5))
        seq = &t;
      if (k == lengthsName)
        len = &t;
    }
    if (!seq || !len || seq->dtype() != rt::DType::I32 || seq->rank() != 2)
      continue;
    int64_t B = seq->shape()[0], L = seq->shape()[1];
    for (int64_t b = 0; b < B; ++b) {
      int64_t n = std::min<int64_t>(len->i32()[b], L);
      std::string line;
      for (int64_t j = 0; j < n; ++j) {
        int32_t id = seq->i32()[b * L + j];
        if (vocab)
          line += id >= 0 && id < (int32_t)vocab->size() ? (*vocab)[(size_t)id] : "?";
        else
          line += (j ? " " : "") + std::to_string(id);
      }
      if (vocab)
        fmt::print("{}{}\n", fl.prompt, line);
      else
        fmt::print("{}[{}]: {}\n", key.substr(5), b, line);
    }
  }
  return 0;
}

} // namespace

std::function<int()> addGenerateCommand(CLI::App &app) {
  auto fl = std::make_shared<Flags>();
  auto *c = app.add_subcommand(
      "generate", "run a model that generates (generate(...) in its body), print what it writes");
  c->add_option("file", fl->file, "model file (.loom)")->required();
  c->add_option("--model", fl->model, "which model of the file (default: its only one)");
  c->add_option("--weights", fl->weights, "weights (.npz)");
  c->add_option("--input", fl->inputs, "NAME=FILE.npy, once per model input");
  c->add_option("--inputs", fl->inputsNpz, "an .npz holding the model's inputs, by name");
  c->add_option("--prompt", fl->prompt,
                "text for the model's token input i32[B, P] (B = 1), encoded with --vocab");
  c->add_option("--vocab", fl->vocab,
                "the vocabulary: token i on line i (\\n, \\t, \\\\ escaped); generated ids are "
                "printed as text");
  c->add_option("--max-length", fl->maxLength, "the most tokens generated (max_length)");
  c->add_flag("--greedy", fl->greedy, "choose the most likely token at each step (sample=false)");
  c->add_option("--temperature", fl->temperature, "sample, with the logits divided by T");
  c->add_option("--top-k", fl->topK, "sample among the K most likely tokens");
  c->add_option("--top-p", fl->topP, "sample within the smallest set holding probability P");
  c->add_option("--repetition-penalty", fl->repetitionPenalty,
                "divide a positive logit of a token already seen by this (multiply a negative "
                "one)");
  c->add_option("--beams", fl->beams, "beam search with K hypotheses per row (beams)");
  c->add_option("--length-penalty", fl->lengthPenalty,
                "beam search: rank the final hypotheses by score / length^P (default 1)");
  c->add_option("--end-token", fl->endToken, "the token id that ends a row (end_token)");
  c->add_option("--seed", fl->seed, "the sampling seed (the model's seed input; default 0)");
  c->add_option("-o,--output", fl->output, "write the outputs (.npz)");
  c->add_flag("--interpret", fl->interpret, "use the reference interpreter instead of the JIT");
  c->add_option("--target-cpu", fl->targetCpu,
                "native (default), x86-64-v3 (AVX2) or x86-64-v4 (AVX-512)");
  c->add_option("--threads", fl->threads, "threads (default: OMP_NUM_THREADS, else all cores)")
      ->check(positiveCount());
  return [fl, c]() { return *c ? run(*fl) : -1; };
}
