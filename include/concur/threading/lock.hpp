// concur/threading/lock.hpp: threading.Lock, a plain (non-recursive) mutex.
//
// What it does
//   A Lock is locked or unlocked. `acquire()` takes it, blocking while another
//   acquisition holds it; `release()` gives it back. It has no owner: any thread
//   may release a Lock that another thread acquired (as in Python), and a
//   thread that acquires a Lock it already holds blocks (it is not re-entrant;
//   use RLock for that).
//
// What blocks
//   acquire() with blocking = true, for at most `timeout` (omitted = forever).
//   acquire(false) and try_lock() never block. release() never blocks.
//
// What throws
//   release() of an unlocked Lock: concur::RuntimeError("release unlocked lock").
//   acquire(false, timeout) with a bound: concur::ValueError (as in Python,
//   "can't specify a timeout for a non-blocking call"). A negative timeout:
//   concur::ValueError (from concur::Timeout). Nothing else throws.
//
// Memory ordering
//   A release() happens-before the acquire() that next takes the Lock: what a
//   thread wrote while holding it is visible to the next holder.
//
// Lifetime
//   The Lock must outlive every call on it; destroying a Lock that a thread is
//   blocked on is undefined. Not copyable, not movable.
//
// Implementation
//   One 32-bit futex word (0 unlocked, 1 locked, 2 locked with sleepers). The
//   uncontended acquire/release is a single atomic instruction inlined at the
//   call site; a contended acquire spins for up to a few microseconds
//   (not on one CPU or an overloaded machine), then sleeps on the futex. Waiters are not served in
//   FIFO order (neither are Python's).
//
// Python parity
//   - `acquire(blocking=True, timeout=-1)` is spelled `acquire()`,
//     `acquire(false)`, `acquire(timeout)` and `acquire(blocking, timeout)`;
//     a timeout is any std::chrono duration. A negative timeout is a
//     ValueError (Python accepts -1 as "forever": leave the timeout out).
//     Timeouts beyond TIMEOUT_MAX are clamped, never an OverflowError.
//   - `with lock:` is a C++ scope: std::scoped_lock / std::unique_lock work,
//     since a Lock is Lockable and TimedLockable (lock, unlock, try_lock,
//     try_lock_for, try_lock_until); so does std::condition_variable_any.
//   - `repr(lock)` is `lock.repr()`: "<unlocked concur.threading.Lock object at 0x...>".
//   - `locked()` as in Python.
//
// Public API
//   acquire(bool blocking = true), acquire(Timeout), acquire(bool blocking, Timeout),
//   release(), locked(), repr(); lock(), unlock(), try_lock() (noexcept), try_lock_for(d),
//   try_lock_until(tp). The acquire overloads, lock/unlock and try_lock_for/until come from
//   concur::detail::Lockable (concur/detail/lockable.hpp), over one private primitive.
//
// Example
//   concur::threading::Lock lock;
//   int counter = 0;
//   {
//     std::scoped_lock guard(lock);   // with lock:
//     ++counter;
//   }
//   if (lock.acquire(std::chrono::milliseconds(10))) { ++counter; lock.release(); }
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "concur/detail/lockable.hpp"
#include "concur/exceptions.hpp"
#include "concur/timeout.hpp"

namespace concur::threading {

/// The largest timeout a blocking call accepts (larger ones are clamped to it).
inline constexpr std::chrono::nanoseconds TIMEOUT_MAX{INT64_MAX / 2};

class Condition;
class RLock;

class Lock : public concur::detail::Lockable<Lock, concur::detail::NonBlockingTimeout::kRaise> {
 public:
  Lock() noexcept = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // acquire(), acquire(bool), acquire(Timeout), acquire(bool, Timeout), lock(), unlock(),
  // try_lock_for(), try_lock_until(): from concur::detail::Lockable (see the list above).

  /// Unlocks. Any thread may release. Throws RuntimeError when not locked.
  void release() {
    const std::uint32_t prev = word_.exchange(0, std::memory_order_release);
    if (prev != 1) release_slow(prev);
  }

  /// True while some thread holds the lock (a snapshot).
  [[nodiscard]] bool locked() const noexcept { return word_.load(std::memory_order_relaxed) != 0; }

  /// Lockable's try_lock(), never blocking, never throwing.
  bool try_lock() noexcept { return try_acquire_fast(); }

  /// Python's repr(): "<locked concur.threading.Lock object at 0x...>".
  [[nodiscard]] std::string repr() const;

 private:
  friend concur::detail::Lockable<Lock, concur::detail::NonBlockingTimeout::kRaise>;
  friend class Condition;
  friend class RLock;
  // The one primitive the acquire overloads share (concur/detail/lockable.hpp).
  bool acquire_for(bool blocking, Timeout timeout) {
    if (try_acquire_fast()) return true;
    return blocking && acquire_slow(Deadline(timeout));
  }
  // For a thread that may have been moved to this lock's futex queue by
  // Condition::notify (wait morphing): takes the lock marking it contended, so
  // that other threads moved there are woken by later releases.
  void acquire_contended() noexcept;
  // The lock's futex word (Condition::notify requeues sleepers onto it).
  std::atomic<std::uint32_t>& word() noexcept { return word_; }
  // Marks a held lock "may have sleepers" before sleepers are moved onto it;
  // false (nothing changed) when it is not held.
  bool mark_contended() noexcept {
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    while (w == 1 && !word_.compare_exchange_weak(w, 2, std::memory_order_relaxed)) {
    }
    return w != 0;
  }

  bool try_acquire_fast() noexcept {
    std::uint32_t expected = 0;
    return word_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                         std::memory_order_relaxed);
  }
  bool acquire_slow(const Deadline& deadline);
  void release_slow(std::uint32_t prev);

  std::atomic<std::uint32_t> word_{0};
};

}  // namespace concur::threading
