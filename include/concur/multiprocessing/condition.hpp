// concur/multiprocessing/condition.hpp: multiprocessing.Condition, a condition variable
// whose waiters may be threads of any process.
//
// What it does
//   A Condition pairs an mp Lock or RLock (its own RLock by default) with waiters. With
//   the lock held, wait() releases it, sleeps until a notify() (or the timeout), and takes
//   the lock back. A mp::Condition object is a handle (copies share the same condition).
//
// What blocks: acquire() (as the lock's), wait() and wait_for() (for at most `timeout`,
//   omitted = forever, then the time to take the lock back).
//
// What throws: wait(), notify() without holding the lock: RuntimeError. notify(n) with
//   n < 0: ValueError. An exception of wait_for's predicate propagates (the lock held).
//
// Robustness: a waiter killed inside wait() stops counting at the next notify() (the first
//   64 waiters are watched); a holder that dies holding the lock is seen as owner_died().
//
// Cost: wait() spins briefly (a few microseconds, none on one CPU or under load) before it
//   sleeps, so a hand-off between two running processes makes no system call.
//
// Public API
//   Condition(), Condition(Lock), Condition(RLock): acquire(bool blocking = true),
//   acquire(Timeout), acquire(bool blocking, Timeout), release(), owner_died(),
//   wait(timeout), wait_for(predicate, timeout), notify(n = 1), notify_all(), repr();
//   lock(), unlock(), try_lock(), try_lock_for(d), try_lock_until(tp). The acquire overloads
//   and the Lockable members come from concur::detail::Lockable (concur/detail/lockable.hpp),
//   wait_for's loop from concur::detail::wait_for_predicate.
//
// The rules every process-shared primitive follows (handles, how they cross to a child
// process, what happens when a process dies, the deliberate deviations from Python, memory
// ordering, lifetime): concur/multiprocessing/synchronize.hpp, which includes this header.
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "concur/detail/lockable.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "concur/multiprocessing/lock.hpp"
#include "concur/multiprocessing/rlock.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

/// multiprocessing.Condition: a condition variable on an mp Lock or RLock (its own RLock
/// by default), whose waiters may be threads of any process.
///
/// notify(n) wakes exactly min(n, waiters) waiters (which ones is unspecified, as in
/// Python's mp Condition); each woken wait() returns true once it holds the lock again.
/// wait() returns false only when its timeout passed with no notification for it; a
/// waiter that timed out leaves no count behind. No spurious wake-ups.
class Condition
    : public concur::detail::Lockable<Condition, concur::detail::NonBlockingTimeout::kIgnore> {
 public:
  using concur_handle_tag = void;

  /// A Condition with its own RLock (one shared block holds both).
  Condition();
  /// A Condition on `lock` (a handle: the Condition keeps the lock alive).
  explicit Condition(Lock lock);
  explicit Condition(RLock lock);

  // acquire(), acquire(bool), acquire(Timeout), acquire(bool, Timeout), lock(), unlock(),
  // try_lock(), try_lock_for(), try_lock_until(): from concur::detail::Lockable, as the
  // lock's.

  /// The lock's release().
  void release();
  /// The lock's owner_died() (the previous holder died holding it).
  [[nodiscard]] bool owner_died() const noexcept;

  /// Releases the lock (all levels of an RLock), waits for a notify() or the timeout, then
  /// takes the lock back (without a bound: it may wait for the notifier to release it).
  /// Returns false only on timeout. Lock not held by the caller: RuntimeError.
  bool wait(Timeout timeout = {});

  /// Waits until `predicate()` is true or the timeout passes (one deadline for the whole
  /// call); returns the predicate's last value. Needs the lock.
  template <class Predicate>
  auto wait_for(Predicate predicate, Timeout timeout = {}) -> std::decay_t<decltype(predicate())> {
    return concur::detail::wait_for_predicate(*this, predicate, timeout);
  }

  /// Wakes up to `n` (>= 0, else ValueError) waiters. Needs the lock (RuntimeError).
  void notify(int n = 1);
  void notify_all();

  /// "<Condition(<RLock(None, 0)>, 0)>" (the lock, then the waiters not yet notified).
  [[nodiscard]] std::string repr() const;

  void concur_encode_handle(Buffer& out) const;
  static Condition concur_decode_handle(Reader& in);

 private:
  friend concur::detail::Lockable<Condition, concur::detail::NonBlockingTimeout::kIgnore>;
  explicit Condition(std::shared_ptr<detail::Region> region);
  // The one primitive the acquire overloads share (concur/detail/lockable.hpp).
  bool acquire_for(bool blocking, Timeout timeout);
  Condition(std::variant<Lock, RLock> lock, detail::SharedRef ref) noexcept
      : lock_(std::move(lock)), ref_(std::move(ref)) {}
  [[nodiscard]] detail::ConditionState& state() const noexcept {
    return ref_.state<detail::ConditionState>();
  }
  [[nodiscard]] detail::MutexState& mutex() const noexcept;
  void check_owned(const char* what) const;
  std::variant<Lock, RLock> lock_;
  detail::SharedRef ref_;
};

}  // namespace concur::multiprocessing
