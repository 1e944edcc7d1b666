// concur/exceptions.hpp: Python's built-in exceptions, as C++ types.
//
// Every module throws these (or its own, derived from them) so that code that
// knows Python's exception names knows what to catch:
//
//   Python               C++                         rooted in
//   RuntimeError         concur::RuntimeError        std::runtime_error
//   ValueError           concur::ValueError          std::invalid_argument
//   TypeError            concur::TypeError           std::invalid_argument
//   TimeoutError         concur::TimeoutError        std::runtime_error
//   EOFError             concur::EOFError            std::runtime_error
//   NotImplementedError  concur::NotImplementedError concur::RuntimeError
//   BrokenBarrierError   concur::BrokenBarrierError  concur::RuntimeError
//   OSError              concur::OSError             std::system_error
//
// The OSError family, as CPython builds it: an OS call that fails throws the subclass
// that CPython's OSError constructor picks for its errno (PEP 3151), so that
//   catch (const concur::FileNotFoundError&)   catches a missing program in subprocess
//                                               and a missing shared-memory segment alike,
//   catch (const concur::OSError&)             catches every OS failure, and
//   catch (const std::system_error&)           still does, as before.
// code() is the errno (std::generic_category()); what() is "<call>: <strerror>", naming
// the call that failed.
//
//   Python                   errno                           base
//   BlockingIOError          EAGAIN EALREADY EINPROGRESS     OSError
//   ChildProcessError        ECHILD                          OSError
//   ConnectionError          (the four below)                OSError
//   BrokenPipeError          EPIPE ESHUTDOWN                 ConnectionError
//   ConnectionAbortedError   ECONNABORTED                    ConnectionError
//   ConnectionRefusedError   ECONNREFUSED                    ConnectionError
//   ConnectionResetError     ECONNRESET                      ConnectionError
//   FileExistsError          EEXIST                          OSError
//   FileNotFoundError        ENOENT                          OSError
//   InterruptedError         EINTR                           OSError
//   IsADirectoryError        EISDIR                          OSError
//   NotADirectoryError       ENOTDIR                         OSError
//   PermissionError          EACCES EPERM                    OSError
//   ProcessLookupError       ESRCH                           OSError
//
// throw_os_error(err, call) throws the right one; make_os_error returns it as an
// exception_ptr (the codec uses it to rebuild an OSError that crossed a process).
//
// Python parity: TypeError is mostly a compile error in C++; it is thrown only
// where a check can happen at run time alone. Python's TimeoutError is an OSError
// subclass (ETIMEDOUT); concur::TimeoutError is raised by concur's own timed waits and
// is rooted in std::runtime_error, so ETIMEDOUT from the OS is a plain OSError here.
// OSError has no `filename` attribute: the call's description in what() names it.
#pragma once

#include <cerrno>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>

namespace concur {

struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct TimeoutError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct EOFError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct NotImplementedError : RuntimeError {
  using RuntimeError::RuntimeError;
};
struct BrokenBarrierError : RuntimeError {
  using RuntimeError::RuntimeError;
};
/// OSError: an OS call failed; code().value() is the errno.
struct OSError : std::system_error {
  OSError(int err, const std::string& what)
      : std::system_error(err, std::generic_category(), what) {}
};
/// The errno-specific subclasses. Each takes the call's description and, optionally,
/// the errno (it defaults to the one named first in the table above).
#define CONCUR_OS_ERROR_SUBCLASS(Name, Base, default_errno)                              \
  struct Name : Base {                                                                   \
    explicit Name(const std::string& what, int err = default_errno) : Base(err, what) {} \
    Name(int err, const std::string& what) : Base(err, what) {}                          \
  }
CONCUR_OS_ERROR_SUBCLASS(BlockingIOError, OSError, EAGAIN);
CONCUR_OS_ERROR_SUBCLASS(ChildProcessError, OSError, ECHILD);
CONCUR_OS_ERROR_SUBCLASS(ConnectionError, OSError, ECONNRESET);
CONCUR_OS_ERROR_SUBCLASS(BrokenPipeError, ConnectionError, EPIPE);
CONCUR_OS_ERROR_SUBCLASS(ConnectionAbortedError, ConnectionError, ECONNABORTED);
CONCUR_OS_ERROR_SUBCLASS(ConnectionRefusedError, ConnectionError, ECONNREFUSED);
CONCUR_OS_ERROR_SUBCLASS(ConnectionResetError, ConnectionError, ECONNRESET);
CONCUR_OS_ERROR_SUBCLASS(FileExistsError, OSError, EEXIST);
CONCUR_OS_ERROR_SUBCLASS(FileNotFoundError, OSError, ENOENT);
CONCUR_OS_ERROR_SUBCLASS(InterruptedError, OSError, EINTR);
CONCUR_OS_ERROR_SUBCLASS(IsADirectoryError, OSError, EISDIR);
CONCUR_OS_ERROR_SUBCLASS(NotADirectoryError, OSError, ENOTDIR);
CONCUR_OS_ERROR_SUBCLASS(PermissionError, OSError, EACCES);
CONCUR_OS_ERROR_SUBCLASS(ProcessLookupError, OSError, ESRCH);
#undef CONCUR_OS_ERROR_SUBCLASS

/// The OSError-family exception CPython would raise for `err`, naming `call`.
std::exception_ptr make_os_error(int err, const std::string& call);
/// Throws make_os_error(err, call).
[[noreturn]] void throw_os_error(int err, const std::string& call);

}  // namespace concur
