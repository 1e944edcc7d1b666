// src/os/error.hpp: errno as an exception, and the EINTR rule. Internal.
//
// Every system call concur makes reports failure through raise(): the exception is the
// member of Python's OSError family that CPython picks for that errno (FileNotFoundError
// for ENOENT, PermissionError for EACCES, ...; see concur/exceptions.hpp), a
// std::system_error whose what() names the call ("pidfd_open: No such process").
#pragma once

#include <cerrno>
#include <string>

namespace concur::os {

/// Throws the OSError-family exception for `err`, naming `call`.
[[noreturn]] void raise(int err, const std::string& call);
/// raise(errno, call).
[[noreturn]] void raise_errno(const std::string& call);

/// Calls `f` (a system call that returns -1 and sets errno on failure) again while it
/// fails with EINTR; returns its last result. Not for close(2), which is never retried,
/// nor for timed calls, which must recompute the time left (poll_until does).
template <class F>
auto retry_eintr(F&& f) noexcept(noexcept(f())) {
  for (;;) {
    auto r = f();
    if (!(r < 0 && errno == EINTR)) return r;
  }
}

/// retry_eintr(f), then raise_errno(call) if it still failed. Returns the result.
template <class F>
auto checked(const char* call, F&& f) {
  auto r = retry_eintr(f);
  if (r < 0) raise_errno(call);
  return r;
}

}  // namespace concur::os
