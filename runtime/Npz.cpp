// The .npz half of Npy.h: a zip archive of .npy members, read and written with libzip.
// Archives are handled in memory: readNpz reads the file and parses the bytes, writeNpz
// builds the bytes and writes them atomically. That costs a second copy of the weights
// while loading or saving, and buys one code path that the fuzz tests exercise entirely,
// and an atomic write that does not depend on how libzip replaces files.
#include "runtime/FileIO.h"
#include "runtime/Limits.h"
#include "runtime/Npy.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <set>
#include <zip.h>

namespace loom::rt {

namespace {

Status err(const std::string &what, const std::string &msg) {
  return Status::error(what + ": " + msg);
}

std::string printable(const std::string &s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += (char)c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

bool endsWith(const std::string &s, const char *suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string zipErrorText(zip_error_t *ze) {
  if (zip_error_code_zip(ze) == ZIP_ER_NOZIP)
    return "not a zip archive (an .npz file is one)";
  return std::string("cannot read the zip archive: ") + zip_error_strerror(ze);
}

struct ArchiveCloser {
  void operator()(zip_t *za) const { zip_discard(za); }
};
struct FileCloser {
  void operator()(zip_file_t *f) const { zip_fclose(f); }
};

/// Reads one member in chunks: the sizes in a zip's directory are claims, and trusting a
/// corrupt one would mean allocating gigabytes for a few bytes of data.
Status readMember(const std::string &what, zip_t *za, zip_uint64_t index, size_t archiveSize,
                  std::string &out) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, index, 0, &st) != 0)
    return err(what, std::string("cannot read its directory entry: ") + zip_strerror(za));
  bool sizeKnown = st.valid & ZIP_STAT_SIZE;
  if ((st.valid & ZIP_STAT_COMP_SIZE) && st.comp_size > archiveSize)
    return err(what, "corrupt archive: the member claims " + std::to_string(st.comp_size) +
                         " compressed bytes in a " + std::to_string(archiveSize) + "-byte file");
  // A zip bomb's directory says how large its members inflate; refuse before inflating.
  // Deflate expands at most 1032 times, so a larger claim is a lie, not a bomb.
  if (sizeKnown && (st.valid & ZIP_STAT_COMP_SIZE) && (st.valid & ZIP_STAT_COMP_METHOD) &&
      st.comp_method == ZIP_CM_DEFLATE && st.size / 1032 > st.comp_size + 64)
    return err(what, "corrupt archive: the member claims " + std::to_string(st.size) +
                         " bytes inflated from " + std::to_string(st.comp_size) +
                         " compressed ones (deflate expands at most 1032 times)");
  if (sizeKnown)
    if (Status s = checkMemory(what + ": inflating it", st.size))
      return s;
  int64_t limit = memoryLimit();
  std::unique_ptr<zip_file_t, FileCloser> f(zip_fopen_index(za, index, 0));
  if (!f)
    return err(what, std::string("cannot open: ") + zip_strerror(za));
  if (sizeKnown)
    out.reserve((size_t)std::min<zip_uint64_t>(st.size, archiveSize * 4 + (1 << 20)));
  constexpr size_t kChunk = 1 << 20;
  size_t used = 0;
  for (;;) {
    if (out.size() - used < kChunk)
      out.resize(used + kChunk);
    zip_int64_t n = zip_fread(f.get(), &out[used], out.size() - used);
    if (n < 0)
      return err(what, std::string("cannot read: ") + zip_file_strerror(f.get()));
    if (n == 0)
      break;
    used += (size_t)n;
    if (!sizeKnown && used > (uint64_t)limit)
      return checkMemory(what + ": inflating it", used);
    if (sizeKnown && used > st.size)
      return err(what, "corrupt archive: the member holds more data than its directory entry "
                       "says (" +
                           std::to_string(st.size) + " bytes)");
  }
  if (sizeKnown && used != st.size)
    return err(what, "corrupt archive: the member holds " + std::to_string(used) +
                         " bytes, its directory entry says " + std::to_string(st.size));
  out.resize(used);
  return Status::success();
}

Status parseImpl(const std::string &what, const uint8_t *data, size_t size, NamedTensors &out) {
  if (size == 0)
    return err(what, "empty file, not an .npz archive");
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
  if (!src) {
    Status s = err(what, zipErrorText(&ze));
    zip_error_fini(&ze);
    return s;
  }
  // ZIP_CHECKCONS makes libzip cross-check the central directory against the local
  // headers, so a damaged archive fails here instead of half way through the members.
  std::unique_ptr<zip_t, ArchiveCloser> za(
      zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze));
  if (!za) {
    zip_source_free(src); // the archive did not take it over
    Status s = err(what, zipErrorText(&ze));
    zip_error_fini(&ze);
    return s;
  }
  zip_error_fini(&ze);

  zip_int64_t n = zip_get_num_entries(za.get(), 0);
  if (n < 0)
    return err(what, std::string("cannot read the zip archive: ") + zip_strerror(za.get()));
  NamedTensors result;
  std::set<std::string> seen;
  std::string bytes;
  for (zip_int64_t i = 0; i < n; ++i) {
    const char *cname = zip_get_name(za.get(), (zip_uint64_t)i, 0);
    if (!cname)
      return err(what, "cannot read the name of member " + std::to_string(i) + ": " +
                           zip_strerror(za.get()));
    std::string name = cname;
    std::string memberWhat = what + ": member '" + printable(name) + "'";
    if (!endsWith(name, ".npy"))
      return err(memberWhat, "not a .npy array (every member of an .npz archive must be one)");
    std::string key = name.substr(0, name.size() - 4);
    if (!seen.insert(key).second)
      return err(memberWhat, "appears twice in the archive");
    bytes.clear();
    if (Status s = readMember(memberWhat, za.get(), (zip_uint64_t)i, size, bytes))
      return s;
    Tensor t;
    if (Status s =
            parseNpy(memberWhat, reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), t))
      return s;
    result.emplace_back(std::move(key), std::move(t));
  }
  out = std::move(result);
  return Status::success();
}

// An archive with no members is just the end-of-central-directory record. libzip deletes
// an archive that ends up empty instead of writing this, but numpy writes it for
// np.savez(f) and reads it back, so loom does the same.
const char kEmptyZip[22] = {'P', 'K', 5, 6};

Status serializeImpl(const std::string &what, const NamedTensors &arrays, std::string &out) {
  std::set<std::string> seen;
  std::vector<std::string> images;
  images.reserve(arrays.size());
  for (const auto &[key, t] : arrays) {
    if (key.empty())
      return err(what, "an array has an empty name");
    if (!seen.insert(key).second)
      return err(what, "two arrays are named '" + printable(key) + "'");
    if (!t.valid())
      return err(what, "array '" + printable(key) + "' has no storage (" + t.describe() + ")");
    images.push_back(serializeNpy(t)); // must outlive zip_close, which reads them
  }
  if (arrays.empty()) {
    out.assign(kEmptyZip, sizeof kEmptyZip);
    return Status::success();
  }

  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(nullptr, 0, 0, &ze);
  zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : nullptr;
  if (!za) {
    if (src)
      zip_source_free(src);
    Status s = err(what, std::string("cannot create a zip archive: ") + zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return s;
  }
  zip_error_fini(&ze);
  zip_source_keep(src); // keep the bytes after zip_close releases the archive's reference
  std::unique_ptr<zip_source_t, void (*)(zip_source_t *)> srcRef(src, zip_source_free);
  std::unique_ptr<zip_t, ArchiveCloser> archive(za);

  for (size_t i = 0; i < arrays.size(); ++i) {
    std::string name = arrays[i].first + ".npy";
    zip_source_t *member = zip_source_buffer(za, images[i].data(), images[i].size(), 0);
    zip_int64_t idx = member ? zip_file_add(za, name.c_str(), member, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
      if (member)
        zip_source_free(member);
      return err(what, "cannot add '" + printable(name) + "': " + zip_strerror(za));
    }
    // Stored, not deflated: weights barely compress and loading should be a copy. A fixed
    // timestamp (1980-01-01, the DOS epoch) makes the same weights give the same bytes.
    if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_dostime(za, (zip_uint64_t)idx, 0, (1 << 5) | 1, 0) != 0)
      return err(what, "cannot set up '" + printable(name) + "': " + zip_strerror(za));
  }
  if (zip_close(za) != 0)
    return err(what, std::string("cannot build the zip archive: ") + zip_strerror(za));
  archive.release(); // zip_close freed it

  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_source_stat(src, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || zip_source_open(src) != 0)
    return err(what, std::string("cannot read back the zip archive: ") +
                         zip_error_strerror(zip_source_error(src)));
  std::string bytes((size_t)st.size, '\0');
  zip_int64_t got = zip_source_read(src, &bytes[0], st.size);
  zip_source_close(src);
  if (got < 0 || (zip_uint64_t)got != st.size)
    return err(what, "cannot read back the zip archive");
  out = std::move(bytes);
  return Status::success();
}

} // namespace

Status parseNpz(const std::string &what, const uint8_t *data, size_t size, NamedTensors &out) {
  try {
    return parseImpl(what, data, size, out);
  } catch (const std::bad_alloc &) {
    return err(what, "out of memory");
  }
}

Status serializeNpz(const std::string &what, const NamedTensors &arrays, std::string &out) {
  try {
    return serializeImpl(what, arrays, out);
  } catch (const std::bad_alloc &) {
    return err(what, "out of memory");
  }
}

Status readNpz(const std::string &path, NamedTensors &out) {
  try {
    std::string bytes;
    if (Status s = readWholeFile(path, bytes))
      return s;
    return parseImpl(path, reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), out);
  } catch (const std::bad_alloc &) {
    return err(path, "out of memory");
  }
}

Status writeNpz(const std::string &path, const NamedTensors &arrays) {
  try {
    std::string bytes;
    if (Status s = serializeImpl(path, arrays, bytes))
      return s;
    return writeFileAtomic(path, bytes.data(), bytes.size());
  } catch (const std::bad_alloc &) {
    return err(path, "out of memory");
  }
}

} // namespace loom::rt
