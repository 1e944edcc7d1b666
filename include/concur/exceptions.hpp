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
//   OSError              std::system_error (its what() names the failed call)
//   FileExistsError      concur::FileExistsError     std::system_error (errc::file_exists)
//   FileNotFoundError    concur::FileNotFoundError   std::system_error
//   (errc::no_such_file_or_directory)
//
// Python parity: TypeError is mostly a compile error in C++; it is thrown only
// where a check can happen at run time alone.
#pragma once

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
/// OSError with errno EEXIST. what() is "<what>: File exists".
struct FileExistsError : std::system_error {
  explicit FileExistsError(const std::string& what)
      : std::system_error(std::make_error_code(std::errc::file_exists), what) {}
};
/// OSError with errno ENOENT. what() is "<what>: No such file or directory".
struct FileNotFoundError : std::system_error {
  explicit FileNotFoundError(const std::string& what)
      : std::system_error(std::make_error_code(std::errc::no_such_file_or_directory), what) {}
};

}  // namespace concur
