#pragma once
// The runtime's error value. The runtime links into AOT programs without LLVM, so it
// cannot use llvm::Error; api/ and tools/ convert a failed Status into one.
#include <string>
#include <utility>

namespace loom::rt {

class [[nodiscard]] Status {
public:
  static Status success() { return Status(); }
  static Status error(std::string msg) {
    Status s;
    s.failed_ = true;
    s.msg_ = std::move(msg);
    return s;
  }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return failed_; } // true on error, like llvm::Error
  const std::string &message() const { return msg_; }

private:
  bool failed_ = false;
  std::string msg_;
};

} // namespace loom::rt
