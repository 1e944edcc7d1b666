// concur/threading/barrier.hpp: threading.Barrier, a rendezvous for a fixed
// number of threads.
//
// What it does
//   Barrier(parties, action, timeout): each wait() blocks until `parties`
//   threads are waiting, then the last one to arrive runs `action` (if any) and
//   all are released together; the barrier is then ready for the next round.
//   wait() returns the caller's arrival index, 0 .. parties-1 (exactly one
//   thread gets each). The barrier breaks when a wait() times out, when abort()
//   is called, when reset() is called while threads wait, or when `action`
//   throws; then every waiting and later wait() throws BrokenBarrierError until
//   reset().
//
//     state      wait() does                          becomes
//     filling    block (the last arrival trips it)    draining on trip, broken on timeout/abort
//     draining   (new arrivals wait for it to end)    filling when all left
//     resetting  (new arrivals wait for it to end)    filling when all left
//     broken     throw BrokenBarrierError             resetting/filling on reset()
//
// What blocks
//   wait() for at most its timeout (the wait()'s own, else the barrier's
//   default; omitted both = forever). reset() and abort() do not block (beyond
//   the internal lock).
//
// What throws
//   Barrier(parties < 1): ValueError("parties must be >= 1"). wait():
//   BrokenBarrierError when the barrier is or becomes broken (the timed-out
//   waiter breaks it and throws too); the thread that runs `action` gets the
//   action's own exception, the others BrokenBarrierError. Negative timeout:
//   ValueError.
//
// Memory ordering
//   Everything each party did before wait() happens-before `action` runs, and
//   both happen-before any party returns from that round's wait().
//
// Lifetime
//   Must outlive every call on it; destroying it while threads wait is undefined.
//
// Python parity
//   Same names: wait(timeout), reset(), abort(), parties(), n_waiting(),
//   broken() (properties are methods). Python's algorithm is kept, so the
//   corner cases behave the same. repr(): "<concur.threading.Barrier at
//   0x...: waiters=2/3>" or "<... broken>".
//
// Example
//   concur::threading::Barrier b(4, [] { std::cout << "all here\n"; });
//   // in each of 4 threads:
//   int index = b.wait(std::chrono::seconds(5));
#pragma once

#include <functional>
#include <string>

#include "concur/exceptions.hpp"
#include "concur/threading/condition.hpp"
#include "concur/threading/lock.hpp"
#include "concur/timeout.hpp"

namespace concur::threading {

class Barrier {
 public:
  explicit Barrier(int parties, std::function<void()> action = {}, Timeout timeout = {});
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// Waits with the barrier's default timeout. Returns the arrival index.
  int wait() { return wait_impl(timeout_); }
  /// Waits at most `timeout`. Returns the arrival index.
  int wait(Timeout timeout) { return wait_impl(timeout); }

  /// Back to the initial state; threads waiting now get BrokenBarrierError.
  void reset();
  /// Breaks the barrier: waiting and future wait() calls throw until reset().
  void abort();

  [[nodiscard]] int parties() const noexcept { return parties_; }
  /// Threads waiting in the current round.
  [[nodiscard]] int n_waiting() const;
  [[nodiscard]] bool broken() const;
  [[nodiscard]] std::string repr() const;

 private:
  enum class State { kFilling, kDraining, kResetting, kBroken };
  int wait_impl(Timeout timeout);
  void enter();
  void release_round();
  void wait_round(Timeout timeout);
  void exit_round();
  void break_barrier();

  mutable Lock lock_;
  Condition cond_{lock_};
  int parties_;
  std::function<void()> action_;
  Timeout timeout_;
  State state_ = State::kFilling;
  int count_ = 0;
};

}  // namespace concur::threading
