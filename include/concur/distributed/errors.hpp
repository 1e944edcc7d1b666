// concur/distributed/errors.hpp: what the cluster backend throws, beyond Python's built-ins.
//
//   Redis unreachable (refused, reset, closed)   concur::ConnectionError family, naming host:port
//   a connect or a command that took too long     concur::TimeoutError, naming host:port
//   AUTH refused (wrong password, unknown user)   concur::PermissionError, naming host:port
//   any other error reply of Redis                distributed::RedisError
//   a malformed redis:// URL                      concur::ValueError
//
// Python parity: redis-py raises redis.exceptions.ConnectionError, TimeoutError,
// AuthenticationError and ResponseError; here the first three are Python's built-ins (as
// concur's OS layer throws them) and ResponseError is RedisError.
#pragma once

#include "concur/exceptions.hpp"

namespace concur::distributed {

/// Redis answered a command with an error reply. what(): "redis <host>:<port>: <COMMAND>:
/// <Redis's message>" (redis-py: ResponseError).
struct RedisError : concur::RuntimeError {
  using concur::RuntimeError::RuntimeError;
};

}  // namespace concur::distributed
