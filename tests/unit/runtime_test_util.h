#pragma once
// Helpers shared by the runtime unit tests: a scratch directory and hand-built .npy
// images (for dtypes and malformed headers that loom itself never writes).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <ftw.h>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>
#include <zip.h>

namespace loom::rt::test {

/// A fresh directory under the build tree, removed with everything in it at the end.
class ScratchDir {
public:
  ScratchDir() {
    std::string base = std::string(LOOM_BINARY_DIR) + "/test-scratch";
    ::mkdir(base.c_str(), 0755);
    std::string tmpl = base + "/runtime-XXXXXX";
    if (!::mkdtemp(&tmpl[0]))
      ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    path_ = tmpl;
  }
  ~ScratchDir() {
    ::nftw(
        path_.c_str(), [](const char *p, const struct stat *, int, FTW *) { return ::remove(p); },
        16, FTW_DEPTH | FTW_PHYS);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;

  const std::string &path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }

  /// Every entry in the directory except "." and "..".
  std::set<std::string> entries() const {
    std::set<std::string> out;
    if (DIR *d = ::opendir(path_.c_str())) {
      while (dirent *e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
          out.insert(e->d_name);
      ::closedir(d);
    }
    return out;
  }

private:
  std::string path_;
};

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), (std::streamsize)bytes.size());
}

/// A .npy image with `dict` as its header text, unpadded, followed by `data`.
inline std::string npyImage(const std::string &dict, const std::string &data, int major = 1) {
  std::string s("\x93NUMPY", 6);
  s += (char)major;
  s += (char)0;
  size_t n = dict.size();
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i)
    s += (char)((n >> (8 * i)) & 0xff);
  return s + dict + data;
}

inline std::string npyDict(const std::string &descr, const std::string &shape,
                           bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }\n";
}

template <typename T> std::string rawBytes(std::initializer_list<T> values) {
  std::string s;
  for (T v : values)
    s.append(reinterpret_cast<const char *>(&v), sizeof v);
  return s;
}

/// EXPECT_CONTAINS(message, part): plain GoogleTest, so the tests need no gmock.
inline ::testing::AssertionResult containsFormat(const char *, const char *, const std::string &s,
                                                 const std::string &part) {
  if (s.find(part) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << s << "\"\n  does not contain \"" << part << "\"";
}
#define EXPECT_CONTAINS(s, part) EXPECT_PRED_FORMAT2(::loom::rt::test::containsFormat, s, part)

inline const uint8_t *u8(const std::string &s) {
  return reinterpret_cast<const uint8_t *>(s.data());
}

/// A zip archive built with libzip directly, for members loom itself would not write.
inline std::string buildZip(const std::vector<std::pair<std::string, std::string>> &members,
                            int method = ZIP_CM_DEFLATE) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(nullptr, 0, 0, &ze);
  zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
  EXPECT_NE(za, nullptr);
  zip_source_keep(src);
  for (const auto &[name, bytes] : members) {
    zip_source_t *m = zip_source_buffer(za, bytes.data(), bytes.size(), 0);
    zip_int64_t idx = zip_file_add(za, name.c_str(), m, 0);
    EXPECT_GE(idx, 0);
    zip_set_file_compression(za, (zip_uint64_t)idx, method, 0);
  }
  EXPECT_EQ(zip_close(za), 0);
  zip_stat_t st;
  zip_stat_init(&st);
  zip_source_stat(src, &st);
  std::string out(st.size, '\0');
  zip_source_open(src);
  zip_source_read(src, &out[0], st.size);
  zip_source_close(src);
  zip_source_free(src);
  zip_error_fini(&ze);
  return out;
}

} // namespace loom::rt::test
