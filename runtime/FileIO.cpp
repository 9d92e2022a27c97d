#include "runtime/FileIO.h"
#include "runtime/Limits.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace loom::rt {

namespace {
Status fail(const std::string &path, const std::string &what, int err) {
  return Status::error(path + ": " + what + ": " + std::strerror(err));
}

// mkstemp creates files 0600; a finished file should get the mode any ordinary write
// would give it (0666 minus the umask). umask() itself cannot be read without setting it,
// which races with other threads creating files, so read it from /proc.
mode_t finishedFileMode() {
  mode_t mask = 022;
  if (FILE *f = std::fopen("/proc/self/status", "re")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      unsigned m;
      if (std::sscanf(line, "Umask: %o", &m) == 1) {
        mask = (mode_t)m;
        break;
      }
    }
    std::fclose(f);
  }
  return 0666 & ~mask;
}
} // namespace

Status readWholeFile(const std::string &path, std::string &out) {
  out.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(path, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return Status::error(path + ": is a directory, not a file");
    }
    if (S_ISREG(st.st_mode)) {
      if (Status s = checkMemory(path + ": reading it", (uint64_t)st.st_size)) {
        ::close(fd);
        return s;
      }
      out.reserve((size_t)st.st_size);
    }
  }
  // Read until EOF rather than trusting st_size: pipes and /proc files report 0.
  constexpr size_t kChunk = 1 << 20;
  size_t used = 0;
  for (;;) {
    if (out.size() - used < kChunk)
      out.resize(used + kChunk);
    ssize_t n = ::read(fd, &out[used], out.size() - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      out.clear();
      return fail(path, "cannot read", e);
    }
    if (n == 0)
      break;
    used += (size_t)n;
    if (used > (size_t)memoryLimit()) {
      ::close(fd);
      out.clear();
      return checkMemory(path + ": reading it", used);
    }
  }
  ::close(fd);
  out.resize(used);
  return Status::success();
}

Status stageFile(const std::string &path, const void *data, size_t size, std::string &tmp) {
  tmp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(&tmp[0]);
  if (fd < 0)
    return fail(path, "cannot create temporary file '" + tmp + "'", errno);
  // Takes errno before anything else can change it, then removes the temporary file.
  auto abandon = [&](const char *what) {
    int err = errno;
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmp.c_str());
    return fail(path, std::string(what) + " '" + tmp + "'", err);
  };

  const char *p = static_cast<const char *>(data);
  size_t left = size;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return abandon("cannot write");
    p += n;
    left -= (size_t)n;
  }
  if (::fchmod(fd, finishedFileMode()) != 0)
    return abandon("cannot set the mode of");
  // Without the fsync a crash shortly after the rename can leave an empty file under the
  // final name on some file systems, which is exactly what the rename is meant to prevent.
  if (::fsync(fd) != 0)
    return abandon("cannot flush");
  int closed = ::close(fd);
  fd = -1;
  if (closed != 0)
    return abandon("cannot close");
  return Status::success();
}

Status commitFile(const std::string &tmp, const std::string &path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail(path, "cannot rename '" + tmp + "' into place", err);
  }
  // The rename is durable once the directory is flushed; until then a power cut could
  // bring back the old file (never a partial one). Best effort: some file systems refuse
  // to fsync a directory, and the new file is already complete.
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return Status::success();
}

void discardFile(const std::string &tmp) { ::unlink(tmp.c_str()); }

Status writeFileAtomic(const std::string &path, const void *data, size_t size) {
  std::string tmp;
  if (Status s = stageFile(path, data, size, tmp))
    return s;
  return commitFile(tmp, path);
}

} // namespace loom::rt
