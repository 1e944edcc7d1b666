// concur/threading/event.hpp: threading.Event, a flag threads can wait for.
//
// What it does
//   An Event holds a flag, initially false. set() makes it true and wakes every
//   waiter; clear() makes it false; wait() returns at once when it is true and
//   otherwise blocks until some set() or the timeout.
//
// What blocks
//   wait(), while the flag is false, for at most `timeout` (omitted = forever).
//
// What throws
//   Only wait() with a negative timeout (concur::ValueError). set(), clear(),
//   is_set() are noexcept.
//
// Memory ordering
//   A set() happens-before every wait() that returns true because of it, and
//   before every is_set() that reads true.
//
// Semantics worth knowing
//   A wait() that was blocked when set() happened returns true even if clear()
//   follows at once (it does not re-check the flag), as in Python. wait()
//   returns the flag otherwise: false only on timeout.
//
// Lifetime
//   Must outlive every call on it. Not copyable, not movable.
//
// Implementation
//   One futex word counts the flag's transitions (odd = set), so a waiter
//   detects that a set() happened even when it was cleared again; waiters are
//   counted so that set() makes a system call only when someone sleeps. A waiter
//   spins a few microseconds before it sleeps (not on one CPU or an overloaded
//   machine: see docs/design/0003-threading.md).
//
// Python parity
//   Same names and behaviour; `isSet` (deprecated) is not provided. repr():
//   "<concur.threading.Event at 0x...: unset>".
//
// Example
//   concur::threading::Event ready;
//   concur::threading::Thread t([&] { prepare(); ready.set(); });
//   t.start();
//   if (!ready.wait(std::chrono::seconds(1))) throw concur::TimeoutError("not ready");
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "concur/timeout.hpp"

namespace concur::threading {

class Event {
 public:
  Event() noexcept = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// True while the flag is set.
  [[nodiscard]] bool is_set() const noexcept {
    return (word_.load(std::memory_order_acquire) & 1U) != 0;
  }
  /// Sets the flag and wakes every waiter.
  void set() noexcept;
  /// Resets the flag.
  void clear() noexcept;
  /// Blocks until the flag is set or the timeout passes; returns the flag
  /// (true also when a set() happened during the wait).
  bool wait(Timeout timeout = {}) {
    const std::uint32_t seen = word_.load(std::memory_order_acquire);
    if (seen & 1U) return true;
    return wait_slow(seen, Deadline(timeout));
  }

  [[nodiscard]] std::string repr() const;

 private:
  bool wait_slow(std::uint32_t seen, const Deadline& deadline) noexcept;

  std::atomic<std::uint32_t> word_{0};  // number of flag transitions; odd = set
  std::atomic<std::uint32_t> sleepers_{0};
};

}  // namespace concur::threading
