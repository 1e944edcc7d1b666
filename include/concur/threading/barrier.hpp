// concur/threading/barrier.hpp: threading.Barrier, a rendezvous for a fixed
// number of threads.
//
// What it does
//   Barrier(parties, action, timeout): each wait() blocks until `parties`
//   threads are waiting, then the last one to arrive runs `action` (if any) and
//   all are released together; the barrier is then ready for the next round.
//   wait() returns the caller's arrival index, 0 .. parties-1 (exactly one
//   thread gets each). The barrier breaks when a wait() times out, when abort()
//   is called, or when `action` throws; then every waiting and later wait()
//   throws BrokenBarrierError until reset(). reset() fails the threads waiting
//   now (BrokenBarrierError) and makes the barrier new again.
//
//     event                  waiting threads get      the barrier becomes
//     last party arrives     their index (after       empty, ready for the next round
//                            `action` ran)
//     action throws          BrokenBarrierError       broken (the last arrival gets
//                                                     the action's exception)
//     a wait() times out     BrokenBarrierError       broken
//     abort()                BrokenBarrierError       broken
//     reset()                BrokenBarrierError       empty, not broken
//
// What blocks
//   wait() for at most its timeout (the wait()'s own, else the barrier's
//   default; omitted both = forever). reset() and abort() do not block (beyond
//   a short internal lock).
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
// Implementation
//   The waiters of the current round are a list of nodes on their own stacks,
//   changed under an internal Lock. The round's last arrival (or abort, reset,
//   a timeout) writes each node's outcome, then bumps one futex word and wakes
//   all sleepers in one system call; a waiter spins a few microseconds (unless
//   there are more parties than CPUs), then sleeps on that word, and returns as soon as its node
//   has an outcome, without taking the lock again.
//
// Python parity
//   Same names: wait(timeout), reset(), abort(), parties(), n_waiting(),
//   broken() (properties are methods). Python's "draining" and "resetting"
//   states, during which new arrivals wait for the previous round's threads
//   to leave, are not needed: a round ends at once for all its waiters, so a
//   new arrival (after a trip or a reset) simply starts the next round.
//   repr(): "<concur.threading.Barrier at 0x...: waiters=2/3>" or "<... broken>".
//
// Example
//   concur::threading::Barrier b(4, [] { std::cout << "all here\n"; });
//   // in each of 4 threads:
//   int index = b.wait(std::chrono::seconds(5));
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "concur/exceptions.hpp"
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
  struct Waiter {
    std::atomic<std::uint32_t> outcome{0};  // 0 waiting, 1 passed, 2 failed
    Waiter* next = nullptr;
  };
  int wait_impl(Timeout timeout);
  // With lock_ held: give every waiter of the round `outcome` and wake them.
  void finish_round(std::uint32_t outcome) noexcept;

  mutable Lock lock_;
  int parties_;
  std::function<void()> action_;
  Timeout timeout_;
  bool spin_ = true;  // spin before sleeping (not when parties > CPUs)
  // Under lock_:
  bool broken_ = false;
  int count_ = 0;
  Waiter* waiters_ = nullptr;
  // Bumped at the end of every round; waiters sleep on it.
  std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::uint32_t> sleepers_{0};
};

}  // namespace concur::threading
