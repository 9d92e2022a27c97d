// The .npy half of Npy.h. The format: "\x93NUMPY", a version, a header length, a Python
// dict literal describing the array, then the raw data. Everything read here may be
// hostile or truncated, so every length is checked before it is used.
#include "runtime/Npy.h"
#include "runtime/FileIO.h"
#include "runtime/Limits.h"

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

/// An element type from a 'descr' string: '<f4', '>i8', '|b1', '|u1', '=f2'...
struct Element {
  char kind;      // 'f', 'i', 'u' or 'b'
  size_t size;    // bytes
  bool bigEndian; // '>'; '=' is native, which is little on every machine loom runs on
};

bool parseDescr(const std::string &d, Element &el) {
  if (d.size() != 3 || !std::strchr("<>|=", d[0]) || !std::strchr("fiub", d[1]))
    return false;
  el.kind = d[1];
  el.size = (size_t)(d[2] - '0');
  el.bigEndian = d[0] == '>';
  switch (el.kind) {
  case 'f':
    return el.size == 2 || el.size == 4 || el.size == 8;
  case 'b':
    return el.size == 1;
  default:
    return el.size == 1 || el.size == 2 || el.size == 4 || el.size == 8;
  }
}

uint64_t load(const uint8_t *p, size_t n, bool bigEndian) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v = bigEndian ? (v << 8) | p[i] : v | (uint64_t)p[i] << (8 * i);
  return v;
}

/// IEEE binary16 to binary32; every half value is exactly a float.
float halfToFloat(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13); // inf, or NaN with its payload
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign; // +-0
  } else {
    // Subnormal: mant * 2^-24, normalised for binary32.
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while (!(mant & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// bool is 0 or 1 (any non-zero byte is true, as numpy converts it); f8 rounds to f32,
/// values beyond f32's range becoming inf as in numpy.
float toFloat(const Element &el, uint64_t bits) {
  if (el.kind == 'b')
    return bits ? 1.0f : 0.0f;
  if (el.size == 2)
    return halfToFloat((uint16_t)bits);
  if (el.size == 4) {
    uint32_t b = (uint32_t)bits;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
  double d;
  std::memcpy(&d, &bits, 8);
  return (float)d;
}

/// The integer's value in `v`; false if it does not fit in i32.
bool toI32(const Element &el, uint64_t bits, int64_t &v) {
  if (el.kind == 'u') {
    v = bits > (uint64_t)INT32_MAX ? -1 : (int64_t)bits;
    return bits <= (uint64_t)INT32_MAX;
  }
  unsigned shift = 64 - 8 * (unsigned)el.size;
  v = (int64_t)(bits << shift) >> shift; // sign-extend
  return v >= INT32_MIN && v <= INT32_MAX;
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
  static const char *const kAccepted =
      "(loom reads f2, f4, f8, i1 to i8, u1 to u8 and bool, either byte order)";
  if (h.structured)
    return err(what, std::string("unsupported structured dtype ") + kAccepted);
  Element el;
  if (!parseDescr(h.descr, el))
    return err(what, "unsupported dtype '" + printable(h.descr.data(), h.descr.size()) + "' " +
                         kAccepted);

  // The data must be exactly what the shape needs: a shorter file is truncated, a longer
  // one is not what numpy wrote. Checked with overflow in mind before anything is allocated.
  size_t dataSize = size - preamble - headerLen;
  uint64_t need = el.size;
  bool overflow = false;
  for (int64_t d : h.shape)
    overflow |= __builtin_mul_overflow(need, (uint64_t)d, &need);
  if (overflow || need != dataSize)
    return err(what, "data is " + std::to_string(dataSize) + " bytes, shape " + shapeStr(h.shape) +
                         " needs " +
                         (overflow ? std::string("more than 2^64") : std::to_string(need)));

  DType dt = el.kind == 'i' || el.kind == 'u' ? DType::I32 : DType::F32;
  // f2, bool and small integers grow to 4 bytes an element.
  if (Status s = checkMemory(what + ": an array of shape " + shapeStr(h.shape), need / el.size * 4))
    return s;
  Tensor t(dt, h.shape);
  if (!t.valid())
    return err(what, "out of memory for an array of shape " + shapeStr(h.shape));
  const uint8_t *src = data + preamble + headerLen;
  int64_t n = t.numel();
  if (n == 0) {
    out = std::move(t);
    return Status::success();
  }
  // The common case, loom's own files and most of numpy's: the bytes as they are.
  if (el.size == 4 && !el.bigEndian && el.kind != 'u' && (!h.fortranOrder || t.rank() < 2)) {
    std::memcpy(t.data(), src, (size_t)n * 4);
    out = std::move(t);
    return Status::success();
  }

  // Element i of the file goes to `dst` in loom's row-major order. A Fortran-ordered file
  // lists its elements with the first index varying fastest, so `dst` follows an odometer
  // over the indices in that order.
  std::vector<int64_t> stride(h.shape.size()), idx(h.shape.size(), 0);
  for (size_t k = h.shape.size(), s = 1; k-- > 0;) {
    stride[k] = (int64_t)s;
    s *= (size_t)h.shape[k];
  }
  bool fortran = h.fortranOrder && h.shape.size() > 1;
  int64_t dst = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t bits = load(src + (size_t)i * el.size, el.size, el.bigEndian);
    if (dt == DType::F32) {
      t.f32()[dst] = toFloat(el, bits);
    } else {
      int64_t v;
      if (!toI32(el, bits, v)) {
        // Name the element as numpy indexes it, whatever order the file stores it in.
        std::string value = el.kind == 'u' ? std::to_string(bits) : std::to_string(v);
        return err(what, std::string(1, el.kind) + std::to_string(el.size) + " value " + value +
                             " at flat index " + std::to_string(dst) + " does not fit in i32");
      }
      t.i32()[dst] = (int32_t)v;
    }
    if (!fortran) {
      ++dst;
      continue;
    }
    for (size_t k = 0; k < idx.size(); ++k) {
      dst += stride[k];
      if (++idx[k] < h.shape[k])
        break;
      dst -= stride[k] * h.shape[k];
      idx[k] = 0;
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
