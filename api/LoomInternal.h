#pragma once
// Shared by the embedding API's implementation files: conversions between loom::Error and
// llvm::Error / rt::Status, between the public tensors and rt::Tensor, and the guard that
// keeps exceptions (std::bad_alloc, mostly) from crossing the API.
#include "loom/loom.h"

#include "ir/Type.h"
#include "runtime/Tensor.h"

#include "llvm/Support/Error.h"

#include <exception>
#include <new>
#include <string>

namespace loom {

/// `e`'s message (without trailing newlines) under `code`, after `prefix`.
Error fromLLVM(llvm::Error e, ErrorCode code, const std::string &prefix = "");

/// The public description of a tensor of IR type `t`.
TensorInfo infoOf(const std::string &name, const ir::Type &t);

/// "x: f32[B,T,5], h0: f32[B,64]"
std::string signatureList(const std::vector<TensorInfo> &infos);

struct TensorAccess {
  /// The same memory as a public Tensor (no copy).
  static Tensor wrap(rt::Tensor t);
};

/// A view checked (dtype, dims, null data, alignment) and wrapped without a copy.
/// `what` names the tensor in errors ("input 'x'").
Result<rt::Tensor> borrowToRt(const TensorView &v, const std::string &what);
/// The same, copied into memory the rt::Tensor owns.
Result<rt::Tensor> copyToRt(const TensorView &v, const std::string &what);

Error internalError(const char *what);

/// The Internal error for the exception being handled; call it only inside a catch block.
inline Error currentExceptionError() {
  try {
    throw;
  } catch (const std::bad_alloc &) {
    return internalError("out of memory");
  } catch (const std::exception &e) {
    return internalError(e.what());
  } catch (...) {
    return internalError("unknown exception");
  }
}

/// Runs `f`, turning an exception into an Internal error.
template <typename T, typename F> Result<T> guard(F &&f) {
  try {
    return f();
  } catch (...) {
    return currentExceptionError();
  }
}

template <typename F> Error guardError(F &&f) {
  try {
    return f();
  } catch (...) {
    return currentExceptionError();
  }
}

} // namespace loom
