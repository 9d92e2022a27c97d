// The .npy half of Npy.h. The format: "\x93NUMPY", a version, a header length, a Python
// dict literal describing the array, then the raw data. Everything read here may be
// hostile or truncated, so every length is checked before it is used.
#include "runtime/Npy.h"
#include "runtime/FileIO.h"

#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>
#include <new>

namespace loom::rt {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kMaxRank = 64;

Status err(const std::string &what, const std::string &msg) {
  return Status::error(what + ": " + msg);
}

/// Messages quote text from the file; keep them printable whatever the file holds.
std::string printable(const char *p, size_t n, size_t limit = 80) {
  std::string s;
  for (size_t i = 0; i < n && i < limit; ++i) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f) {
      s += (char)c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
    }
  }
  if (n > limit)
    s += "...";
  return s;
}

struct Header {
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  bool hasDescr = false, hasFortranOrder = false, hasShape = false;
  bool structured = false; // descr is a list: a record dtype
};

/// Parses the restricted Python literal numpy writes: a dict with the keys 'descr',
/// 'fortran_order' and 'shape'. Returns an empty string on success, else what is wrong.
class HeaderParser {
public:
  HeaderParser(const char *begin, const char *end) : p_(begin), end_(end) {}

  std::string parse(Header &h) {
    if (!eat('{'))
      return "expected a dict";
    while (!eat('}')) {
      std::string key;
      if (!quoted(key))
        return "expected a quoted key";
      if (!eat(':'))
        return "expected ':' after '" + printable(key.data(), key.size()) + "'";
      if (key == "descr") {
        if (h.hasDescr)
          return "duplicate key 'descr'";
        h.hasDescr = true;
        if (peek('[')) {
          h.structured = true; // reported as a dtype problem, not a syntax one
          return "";
        }
        if (!quoted(h.descr))
          return "expected a string for 'descr'";
      } else if (key == "fortran_order") {
        if (h.hasFortranOrder)
          return "duplicate key 'fortran_order'";
        h.hasFortranOrder = true;
        if (word("True"))
          h.fortranOrder = true;
        else if (!word("False"))
          return "expected True or False for 'fortran_order'";
      } else if (key == "shape") {
        if (h.hasShape)
          return "duplicate key 'shape'";
        h.hasShape = true;
        std::string e = tuple(h.shape);
        if (!e.empty())
          return e;
      } else {
        return "unexpected key '" + printable(key.data(), key.size()) + "'";
      }
      if (!eat(',')) {
        if (!eat('}'))
          return "expected ',' or '}'";
        break;
      }
    }
    skipSpace();
    if (p_ != end_)
      return "unexpected text after the dict";
    if (!h.hasDescr || !h.hasFortranOrder || !h.hasShape)
      return "the dict lacks 'descr', 'fortran_order' or 'shape'";
    return "";
  }

private:
  void skipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }
  bool peek(char c) {
    skipSpace();
    return p_ < end_ && *p_ == c;
  }
  bool eat(char c) {
    if (!peek(c))
      return false;
    ++p_;
    return true;
  }
  bool word(const char *w) {
    skipSpace();
    size_t n = std::strlen(w);
    if ((size_t)(end_ - p_) < n || std::memcmp(p_, w, n) != 0)
      return false;
    if ((size_t)(end_ - p_) > n && (std::isalnum((unsigned char)p_[n]) || p_[n] == '_'))
      return false;
    p_ += n;
    return true;
  }
  // Escapes never occur in the strings numpy writes; refusing them keeps this small.
  bool quoted(std::string &out) {
    skipSpace();
    if (p_ >= end_ || (*p_ != '\'' && *p_ != '"'))
      return false;
    char q = *p_++;
    const char *start = p_;
    while (p_ < end_ && *p_ != q) {
      if (*p_ == '\\' || *p_ == '\n')
        return false;
      ++p_;
    }
    if (p_ >= end_)
      return false;
    out.assign(start, p_);
    ++p_;
    return true;
  }
  std::string tuple(std::vector<int64_t> &dims) {
    if (!eat('('))
      return "expected a tuple for 'shape'";
    while (!eat(')')) {
      skipSpace();
      if (p_ < end_ && *p_ == '-')
        return "negative dimension in 'shape'";
      if (p_ >= end_ || !std::isdigit((unsigned char)*p_))
        return "expected an integer in 'shape'";
      int64_t v = 0;
      while (p_ < end_ && std::isdigit((unsigned char)*p_)) {
        if (v > (INT64_MAX - 9) / 10)
          return "dimension too large in 'shape'";
        v = v * 10 + (*p_++ - '0');
      }
      if (p_ < end_ && (*p_ == 'L' || *p_ == 'l')) // Python 2 long literal
        ++p_;
      if (dims.size() == kMaxRank)
        return "more than " + std::to_string(kMaxRank) + " dimensions";
      dims.push_back(v);
      if (!eat(',')) {
        if (!eat(')'))
          return "expected ',' or ')' in 'shape'";
        break;
      }
    }
    return "";
  }

  const char *p_;
  const char *end_;
};

uint32_t readLE(const uint8_t *p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

Status parseImpl(const std::string &what, const uint8_t *data, size_t size, Tensor &out) {
  if (size < kMagicLen || std::memcmp(data, kMagic, kMagicLen) != 0)
    return err(what, "not a .npy file (it does not start with \"\\x93NUMPY\")");
  if (size < kMagicLen + 2)
    return err(what, "truncated .npy file (" + std::to_string(size) + " bytes)");
  int major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0)
    return err(what, "unsupported .npy format version " + std::to_string(major) + "." +
                         std::to_string(minor) + " (loom reads 1.0, 2.0 and 3.0)");
  // Version 1.0 has a 2-byte header length; 2.0 and 3.0 a 4-byte one (3.0 only allows
  // UTF-8 in the header, which the ASCII-only parser below does not care about).
  size_t lenBytes = major == 1 ? 2 : 4;
  size_t preamble = kMagicLen + 2 + lenBytes;
  if (size < preamble)
    return err(what, "truncated .npy file (" + std::to_string(size) + " bytes)");
  size_t headerLen = readLE(data + 8, (int)lenBytes);
  if (headerLen > size - preamble)
    return err(what, "truncated .npy header: it claims " + std::to_string(headerLen) +
                         " bytes, the file has " + std::to_string(size - preamble) +
                         " after the preamble");
  const char *hdr = reinterpret_cast<const char *>(data + preamble);

  Header h;
  std::string problem = HeaderParser(hdr, hdr + headerLen).parse(h);
  if (!problem.empty())
    return err(what,
               "malformed .npy header: " + problem + " in \"" + printable(hdr, headerLen) + "\"");
  static const char *const kAccepted = "(loom reads little-endian f4, i4, f8, i8)";
  if (h.structured)
    return err(what, std::string("unsupported structured dtype ") + kAccepted);
  if (h.fortranOrder)
    return err(what, "fortran_order arrays are not supported (save a C-ordered array, e.g. "
                     "np.ascontiguousarray(a))");

  DType dt;
  size_t itemSize;
  if (h.descr == "<f4" || h.descr == "<i4") {
    dt = h.descr[1] == 'f' ? DType::F32 : DType::I32;
    itemSize = 4;
  } else if (h.descr == "<f8" || h.descr == "<i8") {
    dt = h.descr[1] == 'f' ? DType::F32 : DType::I32;
    itemSize = 8;
  } else {
    return err(what, "unsupported dtype '" + printable(h.descr.data(), h.descr.size()) + "' " +
                         kAccepted);
  }

  // The data must be exactly what the shape needs: a shorter file is truncated, a longer
  // one is not what numpy wrote. Checked with overflow in mind before anything is allocated.
  size_t dataSize = size - preamble - headerLen;
  uint64_t need = itemSize;
  bool overflow = false;
  for (int64_t d : h.shape)
    overflow |= __builtin_mul_overflow(need, (uint64_t)d, &need);
  if (overflow || need != dataSize)
    return err(what, "data is " + std::to_string(dataSize) + " bytes, shape " + shapeStr(h.shape) +
                         " needs " +
                         (overflow ? std::string("more than 2^64") : std::to_string(need)));

  Tensor t(dt, h.shape);
  if (!t.valid())
    return err(what, "out of memory for an array of shape " + shapeStr(h.shape));
  const uint8_t *src = data + preamble + headerLen;
  int64_t n = t.numel();
  if (itemSize == 4) {
    if (n)
      std::memcpy(t.data(), src, (size_t)n * 4);
  } else if (dt == DType::F32) {
    // Narrowing f64 to f32 rounds; values beyond f32's range become inf, as in numpy.
    float *dst = t.f32();
    for (int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, src + i * 8, 8);
      dst[i] = (float)v;
    }
  } else {
    int32_t *dst = t.i32();
    for (int64_t i = 0; i < n; ++i) {
      int64_t v;
      std::memcpy(&v, src + i * 8, 8);
      if (v < INT32_MIN || v > INT32_MAX)
        return err(what, "i8 value " + std::to_string(v) + " at flat index " + std::to_string(i) +
                             " does not fit in i32");
      dst[i] = (int32_t)v;
    }
  }
  out = std::move(t);
  return Status::success();
}

} // namespace

Status parseNpy(const std::string &what, const uint8_t *data, size_t size, Tensor &out) {
  try {
    return parseImpl(what, data, size, out);
  } catch (const std::bad_alloc &) {
    return err(what, "out of memory");
  }
}

std::string serializeNpy(const Tensor &t) {
  std::string dict = std::string("{'descr': '") + (t.dtype() == DType::F32 ? "<f4" : "<i4") +
                     "', 'fortran_order': False, 'shape': " + shapeStr(t.shape()) + ", }";
  // numpy pads the header with spaces and a final newline so the data starts on a
  // 64-byte boundary; a header too long for version 1.0's 16-bit length needs 2.0.
  bool v2 = dict.size() + 1 + 10 > 65535;
  size_t preamble = v2 ? 12 : 10;
  size_t total = (preamble + dict.size() + 1 + 63) / 64 * 64;
  size_t headerLen = total - preamble;
  dict.append(headerLen - dict.size() - 1, ' ');
  dict += '\n';

  std::string out(kMagic, kMagicLen);
  out += (char)(v2 ? 2 : 1);
  out += (char)0;
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i)
    out += (char)((headerLen >> (8 * i)) & 0xff);
  out += dict;
  if (t.bytes() && t.data())
    out.append(static_cast<const char *>(t.data()), t.bytes());
  return out;
}

Status readNpy(const std::string &path, Tensor &out) {
  try {
    std::string bytes;
    if (Status s = readWholeFile(path, bytes))
      return s;
    return parseImpl(path, reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), out);
  } catch (const std::bad_alloc &) {
    return err(path, "out of memory");
  }
}

Status writeNpy(const std::string &path, const Tensor &t) {
  if (!t.valid())
    return err(path, "cannot write a tensor without storage (" + t.describe() + ")");
  try {
    std::string bytes = serializeNpy(t);
    return writeFileAtomic(path, bytes.data(), bytes.size());
  } catch (const std::bad_alloc &) {
    return err(path, "out of memory");
  }
}

} // namespace loom::rt
