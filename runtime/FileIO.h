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
/// it to disk, renames it over `path` and flushes the directory. On any failure the
/// temporary file is removed and `path` is left as it was. A process killed at any moment
/// leaves `path` as it was or complete, never partial (at worst a stray temporary file).
Status writeFileAtomic(const std::string &path, const void *data, size_t size);

/// The two halves of writeFileAtomic, for several files that should appear together
/// (an object file and its header): stageFile writes and flushes the temporary file and
/// returns its name in `tmp`; commitFile renames it over `path` (removing it on failure);
/// discardFile removes a staged file that will not be committed.
Status stageFile(const std::string &path, const void *data, size_t size, std::string &tmp);
Status commitFile(const std::string &tmp, const std::string &path);
void discardFile(const std::string &tmp);

} // namespace loom::rt
