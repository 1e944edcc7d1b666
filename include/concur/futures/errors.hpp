// concur/futures/errors.hpp: the exceptions of concurrent.futures.
//
//   Python                                 C++ (concur::futures::)      base
//   concurrent.futures.CancelledError      CancelledError               Error
//   concurrent.futures.InvalidStateError   InvalidStateError            Error
//   concurrent.futures.TimeoutError        TimeoutError (= concur::TimeoutError, as in 3.11+)
//   concurrent.futures.BrokenExecutor      BrokenExecutor               concur::RuntimeError
//   ...thread.BrokenThreadPool             BrokenThreadPool             BrokenExecutor
//   ...process.BrokenProcessPool           BrokenProcessPool            BrokenExecutor
//   ...interpreter.BrokenInterpreterPool   BrokenInterpreterPool        BrokenThreadPool
//   ...interpreter.ExecutionFailed         ExecutionFailed              concur::RuntimeError
//
// `Error` is Python's concurrent.futures.Error (the base of CancelledError and
// InvalidStateError), rooted in std::runtime_error.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "concur/exceptions.hpp"

namespace concur::futures {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct CancelledError : Error {
  CancelledError() : Error("the future was cancelled") {}
  using Error::Error;
};
struct InvalidStateError : Error {
  using Error::Error;
};
using TimeoutError = concur::TimeoutError;
struct BrokenExecutor : RuntimeError {
  using RuntimeError::RuntimeError;
};
struct BrokenThreadPool : BrokenExecutor {
  using BrokenExecutor::BrokenExecutor;
};
struct BrokenProcessPool : BrokenExecutor {
  using BrokenExecutor::BrokenExecutor;
};
struct BrokenInterpreterPool : BrokenThreadPool {
  using BrokenThreadPool::BrokenThreadPool;
};
/// An exception raised in an isolated worker (InterpreterPoolExecutor), summarised: the
/// demangled name of its type, its message (what()), and the exception itself as it came
/// back through the codec (the same class for the exceptions the codec rebuilds, a
/// multiprocessing::RemoteError with the same name and message for others). what() is
/// "<type_name>: <message>", as Python's str(ExecutionFailed) without a traceback.
struct ExecutionFailed : RuntimeError {
  ExecutionFailed(std::string type_name, const std::string& message,
                  std::exception_ptr original = nullptr)
      : RuntimeError(type_name + ": " + message),
        type_name_(std::move(type_name)),
        message_(message),
        original_(std::move(original)) {}
  /// Python: excinfo.type.__name__.
  [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }
  /// Python: excinfo.msg.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  /// The original exception (null when this one crossed a process boundary itself).
  /// Python 3.14 raises the original with ExecutionFailed as its __cause__.
  [[nodiscard]] const std::exception_ptr& original() const noexcept { return original_; }

 private:
  std::string type_name_;
  std::string message_;
  std::exception_ptr original_;
};

}  // namespace concur::futures
