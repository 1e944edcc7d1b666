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

#include <string>

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
/// An exception raised in an isolated worker, summarised (type name and message).
struct ExecutionFailed : RuntimeError {
  ExecutionFailed(std::string type_name, const std::string& message)
      : RuntimeError(type_name + ": " + message), type_name_(std::move(type_name)) {}
  [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }

 private:
  std::string type_name_;
};

}  // namespace concur::futures
