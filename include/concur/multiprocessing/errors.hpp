// concur/multiprocessing/errors.hpp: the exceptions of Python's `multiprocessing`.
//
//   Python                          C++                                  rooted in
//   multiprocessing.ProcessError    concur::multiprocessing::ProcessError  concur::RuntimeError
//   multiprocessing.BufferTooShort  ...::BufferTooShort                   ProcessError
//   multiprocessing.AuthenticationError ...::AuthenticationError          ProcessError
//   multiprocessing.TimeoutError    concur::TimeoutError (one type for every module)
//   RemoteError (of pickled tracebacks) ...::RemoteError (codec.hpp)
//   queue.Empty / queue.Full        concur::queue::Empty / Full (concur/queue.hpp)
//
// Python parity: ProcessError derives from Exception in Python; here from
// concur::RuntimeError so that one catch clause takes every concur runtime failure.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "concur/bytes.hpp"
#include "concur/exceptions.hpp"

namespace concur::multiprocessing {

struct ProcessError : concur::RuntimeError {
  using concur::RuntimeError::RuntimeError;
};

/// Connection::recv_bytes_into was given a buffer too small for the message. The whole
/// message is kept: message() returns it as Bytes (Python: e.args[0]), nothing is lost.
class BufferTooShort : public ProcessError {
 public:
  explicit BufferTooShort(Bytes message)
      : ProcessError("BufferTooShort: the buffer is smaller than the message of " +
                     std::to_string(message.size()) + " bytes"),
        message_(std::move(message)) {}
  [[nodiscard]] const Bytes& message() const noexcept { return message_; }

 private:
  Bytes message_;
};

/// A peer failed the authentication handshake (managers, listeners).
struct AuthenticationError : ProcessError {
  using ProcessError::ProcessError;
};

}  // namespace concur::multiprocessing
