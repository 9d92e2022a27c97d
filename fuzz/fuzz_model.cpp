// libFuzzer target: model-file text through everything `loom check` does: lexer, parser,
// elaborator with the prelude, and the IR verifier.
#include "frontend/Diagnostics.h"
#include "frontend/Elaborate.h"
#include "ir/Verifier.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  loom::frontend::SourceManager sm;
  std::string text(reinterpret_cast<const char *>(data), size);
  auto m = loom::frontend::compileSource(sm, "fuzz.loom", std::move(text));
  if (!m) {
    llvm::consumeError(m.takeError());
    return 0;
  }
  // What the front end produced must verify: a failure here is a front-end bug.
  if (llvm::Error e = loom::ir::verify(**m)) {
    std::string msg = llvm::toString(std::move(e));
    (void)msg;
    __builtin_trap();
  }
  return 0;
}
