#include "frontend/Diagnostics.h"

#include <algorithm>

namespace loom::frontend {

const std::string &SourceManager::add(const std::string &name, std::string text) {
  std::string &slot = buffers_[name];
  slot = std::move(text);
  return slot;
}

const std::string *SourceManager::text(const std::string &name) const {
  auto it = buffers_.find(name);
  return it == buffers_.end() ? nullptr : &it->second;
}

std::string SourceManager::line(const std::string &name, int line) const {
  const std::string *buf = text(name);
  if (!buf || line < 1)
    return "";
  size_t start = 0;
  for (int i = 1; i < line; ++i) {
    size_t nl = buf->find('\n', start);
    if (nl == std::string::npos)
      return "";
    start = nl + 1;
  }
  size_t end = buf->find('\n', start);
  if (end == std::string::npos)
    end = buf->size();
  if (end > start && (*buf)[end - 1] == '\r')
    --end;
  return buf->substr(start, end - start);
}

std::string formatDiagnostic(const SourceManager &sm, const ir::Loc &loc,
                             const std::string &severity, const std::string &msg) {
  std::string out;
  if (!loc.file.empty())
    out += loc.file + ":";
  if (loc.line > 0) {
    out += std::to_string(loc.line) + ":" + std::to_string(std::max(loc.col, 1)) + ":";
  }
  if (!out.empty())
    out += " ";
  out += severity + ": " + msg + "\n";
  const std::string *buf = sm.text(loc.file);
  if (loc.line <= 0 || !buf || loc.line > std::count(buf->begin(), buf->end(), '\n') + 1)
    return out;

  std::string src = sm.line(loc.file, loc.line);
  out += "  " + src + "\n  ";
  // Keep tabs so the caret lines up with the source line whatever the tab width; a
  // column past the end of the line (e.g. at a newline) points just after it.
  size_t pad = std::min<size_t>(std::max(loc.col, 1) - 1, src.size());
  for (size_t i = 0; i < pad; ++i)
    out += src[i] == '\t' ? '\t' : ' ';
  out += "^\n";
  return out;
}

llvm::Error errorAt(const SourceManager &sm, const ir::Loc &loc, const std::string &msg) {
  return llvm::make_error<llvm::StringError>(formatDiagnostic(sm, loc, "error", msg),
                                             llvm::inconvertibleErrorCode());
}

} // namespace loom::frontend
