#pragma once
// numpy .npy and .npz files. .npz is read and written with libzip.
// Read as numpy reads them: either byte order, C or Fortran order (a Fortran-ordered file
// is reordered into loom's row-major layout). Floats (f2, f4, f8) and bool become f32 (f2
// exactly, f8 rounded, bool 0 or 1); integers (i1 to i8, u1 to u8) become i32, and a value
// outside i32's range is an error naming the array and the element. Other dtypes are
// errors. Format versions 1.0, 2.0 and 3.0; .npz members stored or deflated.
// Writes are atomic: a temporary file beside the target, renamed into place on success,
// so a failure never leaves a half-written file.
#include "runtime/Status.h"
#include "runtime/Tensor.h"

#include <string>
#include <utility>
#include <vector>

namespace loom::rt {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>; // ordered

Status readNpy(const std::string &path, Tensor &out);
Status writeNpy(const std::string &path, const Tensor &t);
/// Keys are the member names without the ".npy" suffix, in archive order.
Status readNpz(const std::string &path, NamedTensors &out);
Status writeNpz(const std::string &path, const NamedTensors &arrays);

/// Parse/serialise one .npy image in memory (used by the npz code, exposed for tests).
Status parseNpy(const std::string &what, const uint8_t *data, size_t size, Tensor &out);
std::string serializeNpy(const Tensor &t);

/// The same for one .npz archive; readNpz/writeNpz are these plus a whole-file read or an
/// atomic write. `what` names the archive in error messages.
Status parseNpz(const std::string &what, const uint8_t *data, size_t size, NamedTensors &out);
Status serializeNpz(const std::string &what, const NamedTensors &arrays, std::string &out);

} // namespace loom::rt
