// libFuzzer target: IR text through the parser and the verifier (`loom ir FILE.lir`).
#include "ir/TextParser.h"
#include "ir/Verifier.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  auto m = loom::ir::parseModule(text, "fuzz.lir");
  if (!m) {
    llvm::consumeError(m.takeError());
    return 0;
  }
  if (llvm::Error e = loom::ir::verify(**m))
    llvm::consumeError(std::move(e));
  return 0;
}
