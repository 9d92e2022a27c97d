#pragma once
// Whole-file reads and atomic whole-file writes, shared by the .npy/.npz code and usable
// by anything else that must never leave a half-written file behind (object files,
// generated headers).
#include "runtime/Status.h"

#include <cstddef>
#include <string>

namespace loom::rt {

/// Reads the whole file. Errors name the path and say why (errno text).
Status readWholeFile(const std::string &path, std::string &out);

/// Writes `size` bytes to a temporary file beside `path` (path + ".tmp.XXXXXX"), flushes
/// it to disk and renames it over `path`. On any failure the temporary file is removed
/// and `path` is left as it was.
Status writeFileAtomic(const std::string &path, const void *data, size_t size);

} // namespace loom::rt
