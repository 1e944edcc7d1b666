// concur/threading/condition.hpp: threading.Condition, a condition variable
// bound to a lock.
//
// What it does
//   A Condition pairs a lock (its own RLock by default, or a Lock or RLock you
//   give it) with a queue of waiting threads. With the lock held, `wait()`
//   releases it, sleeps until another thread calls `notify()`/`notify_all()`
//   (or the timeout passes), and takes the lock back before returning.
//   `notify(n)` wakes the first n waiters in arrival order (FIFO, as in
//   Python); each woken wait() returns only once it holds the lock again, so
//   after the notifier releases it.
//
// What blocks
//   acquire() (as the lock's), wait() and wait_for() (for at most `timeout`,
//   omitted = forever, plus the time to take the lock back). notify() and
//   notify_all() never block.
//
// What throws
//   wait(), wait_for(), notify(), notify_all() without holding the lock:
//   concur::RuntimeError ("cannot wait on un-acquired lock" / "cannot notify on
//   un-acquired lock"). notify(n) with n < 0: concur::ValueError. release()
//   as the lock's release(). Negative timeout: concur::ValueError. An
//   exception thrown by wait_for's predicate propagates (the lock is held).
//
// Memory ordering
//   What the notifier wrote before notify() (under the lock) is visible to
//   every waiter that notify() woke, once its wait() returns. wait() releases
//   the lock with the lock's ordering.
//
// Lifetime
//   A Condition built on a lock refers to it: the lock must outlive the
//   Condition. Destroying a Condition while threads wait on it is undefined.
//
// Implementation
//   Each waiter queues a node on its own stack (FIFO, changed under the lock),
//   spins a few microseconds (unless the machine is overloaded), then sleeps on the node's futex
//   word. notify() marks the first n nodes notified; a node whose owner sleeps
//   is moved onto the lock's futex queue (FUTEX_CMP_REQUEUE, "wait morphing"),
//   so it wakes when the notifier releases the lock instead of waking at once
//   only to block on the lock the notifier still holds.
//
// Spurious wake-ups
//   None: wait() returns true only when a notify() chose this waiter, false
//   only when the timeout passed without one. A notification that races with
//   the timeout is never lost: if it arrives before wait() holds the lock
//   again, wait() returns true.
//
// Python parity
//   - Condition(lock=None) is Condition() / Condition(Lock&) / Condition(RLock&);
//     a C++ lock cannot be "any object with acquire/release".
//   - wait_for(predicate, timeout) returns the predicate's last value, as in
//     Python. notifyAll (deprecated) is not provided.
//   - With a plain Lock, "held" means "locked by someone" (Python does the same:
//     a Lock has no owner).
//   - A notification racing with a timeout is reported (Python may report it as
//     a timeout, consuming it).
//   - Lockable and TimedLockable: std::scoped_lock guard(cond) is Python's `with cond:`.
//
// Public API
//   Condition(), Condition(Lock&), Condition(RLock&): acquire(bool blocking = true),
//   acquire(Timeout), acquire(bool blocking, Timeout), release() (the lock's), wait(timeout),
//   wait_for(predicate, timeout), notify(n = 1), notify_all(), repr(); lock(), unlock(),
//   try_lock(), try_lock_for(d), try_lock_until(tp). The acquire overloads and the Lockable
//   members come from concur::detail::Lockable (concur/detail/lockable.hpp), wait_for's loop
//   from concur::detail::wait_for_predicate.
//
// Example
//   concur::threading::Condition cv;
//   std::deque<int> items;
//   // consumer                                   // producer
//   std::scoped_lock g(cv);                       std::scoped_lock g(cv);
//   cv.wait_for([&] { return !items.empty(); });  items.push_back(1);
//   int x = items.front(); items.pop_front();     cv.notify();
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "concur/detail/lockable.hpp"
#include "concur/threading/lock.hpp"
#include "concur/threading/rlock.hpp"
#include "concur/timeout.hpp"

namespace concur::threading {

class Condition
    : public concur::detail::Lockable<Condition, concur::detail::NonBlockingTimeout::kRaise> {
 public:
  /// A Condition with its own RLock.
  Condition() noexcept : rlock_(&own_) {}
  /// A Condition on `lock` (which must outlive it).
  explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
  explicit Condition(RLock& lock) noexcept : rlock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // acquire(), acquire(bool), acquire(Timeout), acquire(bool, Timeout), lock(), unlock(),
  // try_lock(), try_lock_for(), try_lock_until(): from concur::detail::Lockable, as the
  // underlying lock's.

  /// The underlying lock's release().
  void release() { lock_ ? lock_->release() : rlock_->release(); }

  /// Releases the lock, waits for a notify() or the timeout, takes the lock
  /// back. Returns false only when the timeout passed. Needs the lock held.
  bool wait(Timeout timeout = {});

  /// Waits until `predicate()` is true, or the timeout passes (one deadline
  /// for the whole call). Returns the predicate's last value. Needs the lock.
  template <class Predicate>
  auto wait_for(Predicate predicate, Timeout timeout = {}) -> std::decay_t<decltype(predicate())> {
    return concur::detail::wait_for_predicate(*this, predicate, timeout);
  }

  /// Wakes up to `n` waiters (first come, first woken). Needs the lock held.
  void notify(int n = 1);
  /// Wakes every waiter. Needs the lock held.
  void notify_all();

  /// "<Condition(<locked concur.threading.RLock ...>, 2)>" (2 waiters).
  [[nodiscard]] std::string repr() const;

 private:
  friend concur::detail::Lockable<Condition, concur::detail::NonBlockingTimeout::kRaise>;
  // The one primitive the acquire overloads share (concur/detail/lockable.hpp).
  bool acquire_for(bool blocking, Timeout timeout) {
    return lock_ ? lock_->acquire_for(blocking, timeout) : rlock_->acquire_for(blocking, timeout);
  }
  struct Waiter {
    std::atomic<std::uint32_t> state{0};  // 0 waiting, 1 notified, 2 asleep on the futex
    Waiter* next = nullptr;
    Waiter* prev = nullptr;
  };
  [[nodiscard]] bool is_owned() const noexcept {
    return lock_ ? lock_->locked() : rlock_->is_owned();
  }
  void unlink(Waiter* w) noexcept;

  RLock own_;
  Lock* lock_ = nullptr;
  RLock* rlock_ = nullptr;
  // The waiter queue; changed only with the lock held.
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::atomic<std::size_t> n_waiters_{0};  // written under the lock; read by repr()
};

}  // namespace concur::threading
