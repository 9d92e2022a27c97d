#pragma once
// How much memory loom may take for one thing it does: one call of a compiled model
// (outputs and scratch), one file read, one set of weights. A request beyond the limit is
// an error naming what needed how much, reported before anything is allocated. The
// default is the machine's physical memory: a request beyond it could only end with the
// kernel's OOM killer (Linux overcommits), never with an error. `--max-memory` sets the
// process-wide limit; the embedding API sets one per model (CompileOptions::maxMemory).
#include "runtime/Status.h"

#include <cstdint>
#include <string>

namespace loom::rt {

/// The process-wide limit in bytes.
int64_t memoryLimit();
/// Sets it; 0 restores the default (physical memory).
void setMemoryLimit(int64_t bytes);
/// The machine's physical memory in bytes.
int64_t physicalMemory();

/// "1.5 GiB (1610612736 bytes)"; small sizes as "4096 bytes".
std::string bytesStr(uint64_t bytes);
/// "1000000", "64K", "512M", "4G", "1T", "2.5G", "1GiB", "8MB" (K, M, G and T are powers of
/// 1024) to bytes; false if `text` is none of these or is 0.
bool parseBytes(const std::string &text, int64_t &bytes);

/// An error "`what` needs N, more than the memory limit of M" if `bytes` exceeds `limit`
/// (the process-wide one when 0).
Status checkMemory(const std::string &what, uint64_t bytes, int64_t limit = 0);

} // namespace loom::rt
