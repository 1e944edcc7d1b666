// concur/threading/semaphore.hpp: threading.Semaphore and BoundedSemaphore.
//
// What it does
//   A Semaphore holds a counter of permits. acquire() takes one, waiting while
//   there are none; release(n) gives n back and wakes up to n waiters. A
//   BoundedSemaphore refuses to go above its initial value: a release() that
//   would is a ValueError (it catches releasing more than was acquired).
//
// What blocks
//   acquire() with blocking = true, while the counter is 0, for at most
//   `timeout` (omitted = forever). release() never blocks.
//
// What throws
//   Construction with a negative value: concur::ValueError("semaphore initial
//   value must be >= 0"). release(n) with n < 1: concur::ValueError("n must
//   be one or more"). BoundedSemaphore::release() above the initial value:
//   concur::ValueError("Semaphore released too many times"); the counter is
//   left unchanged. A counter above 2^32 - 1: concur::ValueError.
//   acquire(false, timeout) with a bound and negative timeouts: concur::ValueError.
//
// Memory ordering
//   A release() happens-before the acquire() that takes one of the permits it
//   gave back.
//
// Lifetime
//   Must outlive every call on it. Not copyable, not movable.
//
// Implementation
//   The counter is a futex word; waiters are counted so that release() makes a
//   system call only when someone sleeps. Wake-up order is unspecified (as
//   Python says: "the order in which threads are awoken should not be relied on").
//
// Python parity
//   - Semaphore(value=1), acquire(blocking, timeout), release(n=1) as in Python;
//     `_value` is public as value(), `_initial_value` as initial_value() (bounded).
//   - `with sem:` is std::scoped_lock guard(sem): Lockable and TimedLockable
//     (lock/unlock/try_lock/try_lock_for/try_lock_until), one permit each.
//   - repr(): "<concur.threading.Semaphore at 0x...: value=3>" and
//     "<concur.threading.BoundedSemaphore at 0x...: value=2/3>".
//
// Public API
//   Semaphore(value = 1): acquire(bool blocking = true), acquire(Timeout),
//   acquire(bool blocking, Timeout), release(n = 1), value(), repr(); lock(), unlock(),
//   try_lock() (noexcept), try_lock_for(d), try_lock_until(tp). BoundedSemaphore(value = 1)
//   adds initial_value(). The acquire overloads and the Lockable members come from
//   concur::detail::Lockable (concur/detail/lockable.hpp), over one private primitive.
//
// Example
//   concur::threading::BoundedSemaphore pool(5);   // five at a time
//   {
//     std::scoped_lock slot(pool);
//     download();
//   }
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "concur/detail/lockable.hpp"
#include "concur/exceptions.hpp"
#include "concur/timeout.hpp"

namespace concur::threading {

class Semaphore
    : public concur::detail::Lockable<Semaphore, concur::detail::NonBlockingTimeout::kRaise> {
 public:
  explicit Semaphore(std::int64_t value = 1);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  virtual ~Semaphore() = default;

  // acquire(), acquire(bool), acquire(Timeout), acquire(bool, Timeout) (each takes one
  // permit), lock(), unlock() (release(1)), try_lock_for(), try_lock_until(): from
  // concur::detail::Lockable.

  /// Gives `n` permits back, waking up to n waiters.
  void release(std::int64_t n = 1);

  /// The permits available now (a snapshot; Python's _value).
  [[nodiscard]] std::int64_t value() const noexcept {
    return static_cast<std::int64_t>(value_.load(std::memory_order_relaxed));
  }

  /// Lockable's try_lock(), never blocking, never throwing.
  bool try_lock() noexcept { return try_acquire_fast(); }

  [[nodiscard]] virtual std::string repr() const;

 protected:
  Semaphore(std::int64_t value, bool bounded);
  std::uint32_t bound_ = 0;  // 0: unbounded

 private:
  friend concur::detail::Lockable<Semaphore, concur::detail::NonBlockingTimeout::kRaise>;
  // The one primitive the acquire overloads share (concur/detail/lockable.hpp).
  bool acquire_for(bool blocking, Timeout timeout) {
    if (try_acquire_fast()) return true;
    return blocking && acquire_slow(Deadline(timeout));
  }
  bool try_acquire_fast() noexcept {
    std::uint32_t v = value_.load(std::memory_order_relaxed);
    while (v != 0) {
      if (value_.compare_exchange_weak(v, v - 1, std::memory_order_acquire,
                                       std::memory_order_relaxed))
        return true;
    }
    return false;
  }
  bool acquire_slow(const Deadline& deadline);

  std::atomic<std::uint32_t> value_;
  std::atomic<std::uint32_t> sleepers_{0};
};

class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, true) {}
  /// The initial value, which release() never exceeds.
  [[nodiscard]] std::int64_t initial_value() const noexcept { return bound_; }
  [[nodiscard]] std::string repr() const override;
};

}  // namespace concur::threading
