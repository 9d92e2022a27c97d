#include "runtime/Limits.h"

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace loom::rt {

namespace {
std::atomic<int64_t> limitSet{0};
} // namespace

int64_t physicalMemory() {
  static const int64_t bytes = [] {
    long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    return pages <= 0 || page <= 0 ? INT64_MAX : (int64_t)pages * (int64_t)page;
  }();
  return bytes;
}

int64_t memoryLimit() {
  int64_t set = limitSet.load(std::memory_order_relaxed);
  return set > 0 ? set : physicalMemory();
}

void setMemoryLimit(int64_t bytes) { limitSet.store(bytes > 0 ? bytes : 0); }

std::string bytesStr(uint64_t bytes) {
  if (bytes < 1024 * 1024)
    return std::to_string(bytes) + " bytes";
  const char *units[] = {"MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = (double)bytes / (1024.0 * 1024.0);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.1f %s (%llu bytes)", v, units[u], (unsigned long long)bytes);
  return buf;
}

bool parseBytes(const std::string &text, int64_t &bytes) {
  const char *s = text.c_str();
  char *end = nullptr;
  if (!std::isdigit((unsigned char)*s))
    return false;
  double v = std::strtod(s, &end);
  std::string unit(end);
  double scale = 1;
  if (!unit.empty()) {
    char u = (char)std::toupper((unsigned char)unit[0]);
    const std::string rest = unit.substr(1);
    if (rest != "" && rest != "B" && rest != "iB" && rest != "ib" && rest != "b")
      return false;
    switch (u) {
    case 'K':
      scale = 1024.0;
      break;
    case 'M':
      scale = 1024.0 * 1024;
      break;
    case 'G':
      scale = 1024.0 * 1024 * 1024;
      break;
    case 'T':
      scale = 1024.0 * 1024 * 1024 * 1024;
      break;
    case 'B':
      if (!rest.empty())
        return false;
      break;
    default:
      return false;
    }
  }
  double b = std::floor(v * scale);
  if (!(b >= 1) || b >= 9.2e18)
    return false;
  bytes = (int64_t)b;
  return true;
}

Status checkMemory(const std::string &what, uint64_t bytes, int64_t limit) {
  const char *source = " (set for this model)";
  if (limit <= 0) {
    limit = memoryLimit();
    source = limitSet.load() > 0 ? " (--max-memory)" : " (the machine's memory)";
  }
  if (bytes <= (uint64_t)limit)
    return Status::success();
  return Status::error(what + " needs " + bytesStr(bytes) + ", more than the memory limit of " +
                       bytesStr((uint64_t)limit) + source);
}

} // namespace loom::rt
