// Test helpers for concur::futures: a future in each of Python's states (the
// fixtures of CPython's test_future.py), and a gate tasks can block on.
#pragma once

#include <chrono>
#include <concur/futures.hpp>
#include <stdexcept>

namespace concur::testing {

using concur::futures::Future;

inline Future<int> pending_future() { return Future<int>(); }
inline Future<int> running_future() {
  Future<int> f;
  f.set_running_or_notify_cancel();
  return f;
}
inline Future<int> cancelled_future() {
  Future<int> f;
  f.cancel();
  return f;
}
inline Future<int> cancelled_and_notified_future() {
  Future<int> f = cancelled_future();
  f.set_running_or_notify_cancel();
  return f;
}
/// FINISHED with std::runtime_error("oops"), already read (so the unread-exception
/// report stays out of the test output).
inline Future<int> exception_future() {
  Future<int> f;
  f.set_exception(std::runtime_error("oops"));
  f.exception();
  return f;
}
/// FINISHED with 42.
inline Future<int> successful_future() {
  Future<int> f;
  f.set_result(42);
  return f;
}

/// Tasks block on a copy of `open` (capture it by value: `[open = gate.open]`);
/// it is opened at scope exit at the latest, so no test leaves a worker stuck.
/// Declare it after the pool, so that it opens before the pool joins.
struct Gate {
  Future<void> open;
  Gate() = default;
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  ~Gate() {
    if (!open.done()) open.set_result();
  }
};

}  // namespace concur::testing
