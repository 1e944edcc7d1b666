// concur/detail/lockable.hpp: the acquire / Lockable / TimedLockable overloads that every
// concur lock (threading's and multiprocessing's Lock, RLock, Semaphore, Condition) offers,
// written once over one primitive; and Condition::wait_for's loop, written once for both
// Conditions.
//
// Internal: users call the members these supply on the public classes, never these names.
//
// How a lock uses it
//   class Lock : public concur::detail::Lockable<Lock, concur::detail::NonBlockingTimeout::kRaise>
//   {
//    public:
//     void release();                                  // what unlock() calls
//    private:
//     friend concur::detail::Lockable<Lock, ...>;
//     bool acquire_for(bool blocking, Timeout timeout);  // the one primitive
//   };
//
//   The primitive takes the lock: at once when !blocking (the timeout is then forever and
//   unused), else waiting at most `timeout` (forever when is_forever()). It receives the
//   Timeout rather than a Deadline so that an acquire that succeeds at once reads no clock:
//   build Deadline(timeout) only on the slow path.
//
// What it supplies (public, all inline)
//   acquire(bool blocking = true)      acquire_for(blocking, forever)
//   acquire(Timeout timeout)           acquire_for(true, timeout)
//   acquire(bool blocking, Timeout t)  !blocking with a bounded t: ValueError (kRaise, as
//                                      threading's) or t ignored (kIgnore, as
//                                      multiprocessing's); else acquire(blocking) / (t)
//   lock()                             acquire()
//   unlock()                           Derived::release()
//   try_lock()                         acquire(false)
//   try_lock_for(duration d)           acquire(d), a negative d as 0
//   try_lock_until(time_point tp)      try_lock_for(tp - Clock::now())
//
// so that std::scoped_lock, std::unique_lock (with its timed constructors) and
// std::condition_variable_any take every concur lock. A class may declare its own
// try_lock() (hiding this one) where it has a noexcept fast path.
#pragma once

#include <chrono>
#include <type_traits>

#include "concur/exceptions.hpp"
#include "concur/timeout.hpp"

namespace concur::detail {

/// What acquire(false, timeout) with a bounded timeout does.
enum class NonBlockingTimeout {
  kRaise,   // ValueError("can't specify a timeout for a non-blocking call"): threading's rule
  kIgnore,  // the timeout is ignored: multiprocessing's rule
};

/// The CRTP base of every concur lock: see the top of this file.
template <class Derived, NonBlockingTimeout kPolicy>
class Lockable {
 public:
  /// Takes the lock, waiting as long as needed when `blocking`, not at all otherwise.
  /// Returns true when taken.
  bool acquire(bool blocking = true) { return self().acquire_for(blocking, Timeout{}); }
  /// Takes the lock, waiting at most `timeout`. Returns true when taken.
  bool acquire(Timeout timeout) { return self().acquire_for(true, timeout); }
  /// Python's acquire(blocking, timeout).
  bool acquire(bool blocking, Timeout timeout) {
    if constexpr (kPolicy == NonBlockingTimeout::kRaise) {
      if (!blocking && !timeout.is_forever())
        throw ValueError("can't specify a timeout for a non-blocking call");
    }
    return blocking ? acquire(timeout) : acquire(false);
  }

  /// Lockable and TimedLockable (std::scoped_lock, std::unique_lock,
  /// std::condition_variable_any).
  void lock() { acquire(); }
  void unlock() { self().release(); }
  bool try_lock() { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return acquire(d < d.zero() ? Timeout(d.zero()) : Timeout(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return try_lock_for(tp - Clock::now());
  }

 protected:
  Lockable() noexcept = default;
  ~Lockable() = default;
  Lockable(const Lockable&) noexcept = default;
  Lockable& operator=(const Lockable&) noexcept = default;

 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

/// Condition::wait_for(predicate, timeout) for a condition with wait() and wait(Timeout):
/// waits until `predicate()` is true or the timeout passes (one deadline for the whole
/// call) and returns the predicate's last value. The lock must be held.
template <class Condition, class Predicate>
auto wait_for_predicate(Condition& cond, Predicate& predicate, Timeout timeout)
    -> std::decay_t<decltype(predicate())> {
  const Deadline deadline(timeout);
  auto result = predicate();
  while (!result) {
    if (deadline.expired()) break;
    if (deadline.is_forever())
      cond.wait();
    else
      cond.wait(Timeout(deadline.remaining()));
    result = predicate();
  }
  return result;
}

}  // namespace concur::detail
