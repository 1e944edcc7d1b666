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
// The errno-specific subclasses. Each takes the call's description and, optionally, the
// errno (by default the one named first in the table above), in either order.
struct BlockingIOError : OSError {
  explicit BlockingIOError(const std::string& what, int err = EAGAIN) : OSError(err, what) {}
  BlockingIOError(int err, const std::string& what) : OSError(err, what) {}
};
struct ChildProcessError : OSError {
  explicit ChildProcessError(const std::string& what, int err = ECHILD) : OSError(err, what) {}
  ChildProcessError(int err, const std::string& what) : OSError(err, what) {}
};
struct ConnectionError : OSError {
  explicit ConnectionError(const std::string& what, int err = ECONNRESET) : OSError(err, what) {}
  ConnectionError(int err, const std::string& what) : OSError(err, what) {}
};
struct BrokenPipeError : ConnectionError {
  explicit BrokenPipeError(const std::string& what, int err = EPIPE) : ConnectionError(err, what) {}
  BrokenPipeError(int err, const std::string& what) : ConnectionError(err, what) {}
};
struct ConnectionAbortedError : ConnectionError {
  explicit ConnectionAbortedError(const std::string& what, int err = ECONNABORTED)
      : ConnectionError(err, what) {}
  ConnectionAbortedError(int err, const std::string& what) : ConnectionError(err, what) {}
};
struct ConnectionRefusedError : ConnectionError {
  explicit ConnectionRefusedError(const std::string& what, int err = ECONNREFUSED)
      : ConnectionError(err, what) {}
  ConnectionRefusedError(int err, const std::string& what) : ConnectionError(err, what) {}
};
struct ConnectionResetError : ConnectionError {
  explicit ConnectionResetError(const std::string& what, int err = ECONNRESET)
      : ConnectionError(err, what) {}
  ConnectionResetError(int err, const std::string& what) : ConnectionError(err, what) {}
};
struct FileExistsError : OSError {
  explicit FileExistsError(const std::string& what, int err = EEXIST) : OSError(err, what) {}
  FileExistsError(int err, const std::string& what) : OSError(err, what) {}
};
struct FileNotFoundError : OSError {
  explicit FileNotFoundError(const std::string& what, int err = ENOENT) : OSError(err, what) {}
  FileNotFoundError(int err, const std::string& what) : OSError(err, what) {}
};
struct InterruptedError : OSError {
  explicit InterruptedError(const std::string& what, int err = EINTR) : OSError(err, what) {}
  InterruptedError(int err, const std::string& what) : OSError(err, what) {}
};
struct IsADirectoryError : OSError {
  explicit IsADirectoryError(const std::string& what, int err = EISDIR) : OSError(err, what) {}
  IsADirectoryError(int err, const std::string& what) : OSError(err, what) {}
};
struct NotADirectoryError : OSError {
  explicit NotADirectoryError(const std::string& what, int err = ENOTDIR) : OSError(err, what) {}
  NotADirectoryError(int err, const std::string& what) : OSError(err, what) {}
};
struct PermissionError : OSError {
  explicit PermissionError(const std::string& what, int err = EACCES) : OSError(err, what) {}
  PermissionError(int err, const std::string& what) : OSError(err, what) {}
};
struct ProcessLookupError : OSError {
  explicit ProcessLookupError(const std::string& what, int err = ESRCH) : OSError(err, what) {}
  ProcessLookupError(int err, const std::string& what) : OSError(err, what) {}
};

/// The OSError-family exception CPython would raise for `err`, naming `call`.
std::exception_ptr make_os_error(int err, const std::string& call);
/// Throws make_os_error(err, call).
[[noreturn]] void throw_os_error(int err, const std::string& call);

}  // namespace concur
