// concur/multiprocessing/synchronize.hpp: Python's multiprocessing.{Lock, RLock,
// Semaphore, BoundedSemaphore, Event, Condition, Barrier}: the threading primitives, shared
// between processes.
//
// What they are
//   Each object lives in a block of shared memory (a memfd, detail/mp_region.hpp) and a
//   C++ object is a *handle* to it: copying a handle gives another handle to the same lock
//   (as Python objects are references). The same semantics as concur::threading's
//   primitives, for threads of any process that holds a handle:
//
//     Python                               C++
//     multiprocessing.Lock()               mp::Lock
//     multiprocessing.RLock()              mp::RLock
//     multiprocessing.Semaphore(v)         mp::Semaphore(v)
//     multiprocessing.BoundedSemaphore(v)  mp::BoundedSemaphore(v)
//     multiprocessing.Event()              mp::Event
//     multiprocessing.Condition(lock)      mp::Condition() / (mp::Lock) / (mp::RLock)
//     multiprocessing.Barrier(n, a, t)     mp::Barrier(n) / (n, action) / (n, action, t)
//     acquire(blocking, timeout)           acquire() / (false) / (timeout) / (blocking, timeout)
//     with lock:                           std::scoped_lock g(lock);  (lock/unlock/try_lock)
//     sem.get_value()                      sem.get_value()
//     lock._semlock._is_mine()             lock.is_owned()
//     rlock._semlock._count()              rlock.recursion_count()
//
// How they cross to a child process
//   As arguments of a Process (or inherited under `fork`): the child gets a handle to the
//   same object (under spawn/forkserver the memfd travels with the start request). Put on
//   a Queue or a Pipe, encoding one throws RuntimeError("Lock objects should only be shared
//   between processes through inheritance"), as Python.
//
// Robustness (what happens when a process dies)
//   - Lock, RLock, and the lock inside Condition, Barrier and Value/Array are robust
//     pthread mutexes (PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST). When the thread or
//     process holding one dies, the next acquire() *succeeds* and owner_died() is true
//     until that holder releases it: the data the lock protects may be half-updated and
//     need repair. (Python's mp Lock is a semaphore: a holder's death deadlocks every
//     other process forever.) If the mutex became unrecoverable (a holder that got it
//     from a dead owner died too, before marking it consistent - concur always marks it at
//     once, so only a foreign writer can cause this), acquire throws RuntimeError.
//   - Semaphore and BoundedSemaphore have no owner: a process that dies holding a permit
//     takes it with it (the value stays lower), as in Python.
//   - Event has no holder: a death does not affect it.
//   - Condition: a waiter killed inside wait() stops counting at the next notify() (each
//     waiter holds a robust "watch" mutex; the first 64 waiters are watched), so no
//     notification is spent on it. A notifier or waiter that dies holding the lock is seen
//     as owner_died() by the next holder.
//   - Barrier: a party that dies while holding the barrier's internal lock (arriving,
//     running the action, in abort/reset), or while waiting in the current round (each
//     waiter holds a robust "watch" mutex; the first 64 waiters are watched), breaks the
//     barrier for the others (BrokenBarrierError): waiters look every 100 ms, arrivals
//     see a dead lock holder at once. NOT detected: a party that dies before it arrives
//     (indistinguishable from a slow one): the others wait until their timeout, which then
//     breaks the barrier. Give cross-process barriers a timeout.
//
// Deviations from Python (deliberate)
//   - Owner-only release: a Lock must be released by the thread that acquired it
//     (robustness needs an owner). Python's mp Lock may be released by another process.
//     Releasing a Lock held by another thread or process is RuntimeError; releasing an
//     unlocked Lock is ValueError (Python's mp message: "semaphore or lock released too
//     many times"). RLock release by a non-owner (or when free): RuntimeError (threading's
//     type; Python's mp raises AssertionError, its tests accept RuntimeError).
//   - A thread that acquires a Lock it already holds: acquire(false) returns false,
//     acquire(timeout) sleeps the timeout and returns false (as Python would, since no one
//     else may release it here), and acquire() with no timeout throws RuntimeError
//     ("deadlock...") instead of hanging forever.
//   - wait()/notify() without holding the condition's lock: RuntimeError (Python's mp:
//     AssertionError; threading: RuntimeError).
//   - Barrier's action must cross to every process: a function registered for
//     mp::encode_call (CONCUR_REGISTER, or a captureless / trivially copyable lambda);
//     it runs in whichever process arrives last. Its exception reaches that process as the
//     same type for concur's and the std exception types (others as mp::RemoteError).
//   - acquire(false, timeout) ignores the timeout (Python's multiprocessing rule,
//     _test_multiprocessing._TestSemaphore.test_timeout), where concur::threading (like
//     Python's threading) raises ValueError.
//   - Negative timeouts are ValueError (concur::Timeout); Python treats some as 0.
//   - Semaphore values are limited to 2^32 - 1 (ValueError beyond).
//
// What blocks: acquire()/wait() (each has a Timeout form; omitted = forever). release(),
// set(), clear(), notify*(), abort(), reset() do not block beyond a short lock.
//
// Memory ordering: as concur::threading's (a release happens-before the acquire that
// takes the lock next; a set() before the wait() it ends; everything a party did before
// Barrier::wait happens-before any party leaves that round), across processes.
//
// Lifetime: the shared block lives while any handle in any process does (memfd: freed
// with its last fd and mapping; nothing in /dev/shm, nothing to clean up after a crash).
//
// Thread safety: a handle may be used from any number of threads of its process.
//
// Example
//   mp::Lock lock;
//   mp::Value<int> counter(0);
//   // in each of several processes (the objects passed as Process arguments):
//   {
//     std::scoped_lock g(lock);
//     if (lock.owner_died()) repair();
//     counter.set(counter.value() + 1);
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "concur/detail/mp_sync.hpp"
#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

class Condition;
template <class T, class L>
class Value;
template <class T, class L>
class Array;

namespace detail {
/// Constructs a lock inside an existing region (Value/Array keep theirs beside the data).
struct InRegion {};
}  // namespace detail

/// multiprocessing.Lock: a robust, non-recursive lock shared between processes.
/// Owner-only release (see above). Lockable and TimedLockable.
class Lock {
 public:
  using concur_handle_tag = void;

  /// A new, unlocked lock in its own shared block. Throws std::system_error if the
  /// block cannot be created (memfd_create, posix_fallocate, mmap).
  Lock();

  /// Takes the lock, waiting as long as needed when `blocking`. Returns true when taken.
  bool acquire(bool blocking = true);
  /// Takes the lock, waiting at most `timeout`. Returns true when taken.
  bool acquire(Timeout timeout);
  /// Python's acquire(blocking, timeout): with blocking = false the timeout is ignored
  /// (multiprocessing's rule; threading's Lock raises ValueError there).
  bool acquire(bool blocking, Timeout timeout);
  /// Releases the lock held by the calling thread. Unlocked: ValueError; held by another
  /// thread or process: RuntimeError.
  void release();

  /// True while some thread of some process holds it (a snapshot).
  [[nodiscard]] bool locked() const noexcept;
  /// True when the calling thread holds it (Python's _semlock._is_mine()).
  [[nodiscard]] bool is_owned() const noexcept;
  /// True when the calling thread holds it and took it from a holder that died: the
  /// protected data may need repair. False again after release().
  [[nodiscard]] bool owner_died() const noexcept;

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return acquire(d < d.zero() ? Timeout(d.zero()) : Timeout(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return try_lock_for(tp - Clock::now());
  }

  /// "<Lock(owner=None)>" or "<Lock(owner=<tid of the holding thread>)>".
  [[nodiscard]] std::string repr() const;

  /// Two handles to the same lock compare equal.
  friend bool operator==(const Lock& a, const Lock& b) noexcept {
    return a.ref_.address() == b.ref_.address();
  }

  void concur_encode_handle(Buffer& out) const;
  static Lock concur_decode_handle(Reader& in);

  /// Internal: a new lock in `region` at `offset` (sizeof(MutexState) bytes).
  Lock(detail::InRegion, std::shared_ptr<detail::Region> region, std::size_t offset);

 private:
  friend class Condition;
  explicit Lock(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  bool acquire_until(bool blocking, const Deadline& deadline);
  [[nodiscard]] detail::MutexState& state() const noexcept {
    return ref_.state<detail::MutexState>();
  }
  detail::SharedRef ref_;
};

/// multiprocessing.RLock: a robust re-entrant lock shared between processes. The owner
/// (a thread of some process) may acquire it again and must release it as many times.
class RLock {
 public:
  using concur_handle_tag = void;

  RLock();

  bool acquire(bool blocking = true);
  bool acquire(Timeout timeout);
  bool acquire(bool blocking, Timeout timeout);
  /// Gives back one level. Not owned by the calling thread: RuntimeError
  /// ("cannot release un-acquired lock").
  void release();

  [[nodiscard]] bool locked() const noexcept;
  [[nodiscard]] bool is_owned() const noexcept;
  /// The caller's recursion level (0 when it does not own it).
  [[nodiscard]] std::uint64_t recursion_count() const noexcept;
  [[nodiscard]] bool owner_died() const noexcept;

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return acquire(d < d.zero() ? Timeout(d.zero()) : Timeout(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return try_lock_for(tp - Clock::now());
  }

  /// "<RLock(None, 0)>" or "<RLock(<tid>, <count>)>".
  [[nodiscard]] std::string repr() const;

  friend bool operator==(const RLock& a, const RLock& b) noexcept {
    return a.ref_.address() == b.ref_.address();
  }

  void concur_encode_handle(Buffer& out) const;
  static RLock concur_decode_handle(Reader& in);

  RLock(detail::InRegion, std::shared_ptr<detail::Region> region, std::size_t offset);

 private:
  friend class Condition;
  explicit RLock(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  bool acquire_until(bool blocking, const Deadline& deadline);
  [[nodiscard]] detail::MutexState& state() const noexcept {
    return ref_.state<detail::MutexState>();
  }
  detail::SharedRef ref_;
};

/// multiprocessing.Semaphore: a counter of permits shared between processes. Not robust:
/// a process that dies holding a permit does not give it back.
class Semaphore {
 public:
  using concur_handle_tag = void;

  /// Negative or above 2^32 - 1: ValueError.
  explicit Semaphore(std::int64_t value = 1);

  bool acquire(bool blocking = true);
  bool acquire(Timeout timeout);
  bool acquire(bool blocking, Timeout timeout);
  /// Gives `n` (>= 1, else ValueError) permits back, waking up to n waiters. A
  /// BoundedSemaphore going above its initial value: ValueError, nothing changed.
  void release(std::int64_t n = 1);
  /// The permits available now (a snapshot).
  [[nodiscard]] std::int64_t get_value() const noexcept;

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return acquire(false); }

  /// "<Semaphore(value=2)>" / "<BoundedSemaphore(value=2, maxvalue=3)>".
  [[nodiscard]] std::string repr() const;

  void concur_encode_handle(Buffer& out) const;
  static Semaphore concur_decode_handle(Reader& in);

 protected:
  Semaphore(std::int64_t value, bool bounded);
  explicit Semaphore(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  [[nodiscard]] detail::SemaphoreState& state() const noexcept {
    return ref_.state<detail::SemaphoreState>();
  }
  bool acquire_slow(const Deadline& deadline);
  detail::SharedRef ref_;
};

/// multiprocessing.BoundedSemaphore: a Semaphore whose release() may not go above the
/// initial value (ValueError "semaphore or lock released too many times").
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, true) {}
  static BoundedSemaphore concur_decode_handle(Reader& in);

 private:
  explicit BoundedSemaphore(detail::SharedRef ref) noexcept : Semaphore(std::move(ref)) {}
};

/// multiprocessing.Event: a flag processes can wait for.
class Event {
 public:
  using concur_handle_tag = void;

  Event();
  [[nodiscard]] bool is_set() const noexcept;
  /// Sets the flag and wakes every waiter (of every process).
  void set() noexcept;
  void clear() noexcept;
  /// Blocks until the flag is set or the timeout passes; returns the flag (true also when
  /// a set() happened during the wait, even if clear() followed).
  bool wait(Timeout timeout = {});

  /// "<Event: set>" / "<Event: unset>".
  [[nodiscard]] std::string repr() const;

  void concur_encode_handle(Buffer& out) const;
  static Event concur_decode_handle(Reader& in);

 private:
  explicit Event(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  [[nodiscard]] detail::EventState& state() const noexcept {
    return ref_.state<detail::EventState>();
  }
  detail::SharedRef ref_;
};

/// multiprocessing.Condition: a condition variable on an mp Lock or RLock (its own RLock
/// by default), whose waiters may be threads of any process.
///
/// notify(n) wakes exactly min(n, waiters) waiters (which ones is unspecified, as in
/// Python's mp Condition); each woken wait() returns true once it holds the lock again.
/// wait() returns false only when its timeout passed with no notification for it; a
/// waiter that timed out leaves no count behind. No spurious wake-ups.
class Condition {
 public:
  using concur_handle_tag = void;

  /// A Condition with its own RLock (one shared block holds both).
  Condition();
  /// A Condition on `lock` (a handle: the Condition keeps the lock alive).
  explicit Condition(Lock lock);
  explicit Condition(RLock lock);

  bool acquire(bool blocking = true);
  bool acquire(Timeout timeout);
  bool acquire(bool blocking, Timeout timeout);
  void release();
  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return acquire(false); }
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
    const Deadline deadline(timeout);
    auto result = predicate();
    while (!result) {
      if (deadline.expired()) break;
      if (deadline.is_forever())
        wait();
      else
        wait(Timeout(deadline.remaining()));
      result = predicate();
    }
    return result;
  }

  /// Wakes up to `n` (>= 0, else ValueError) waiters. Needs the lock (RuntimeError).
  void notify(int n = 1);
  void notify_all();

  /// "<Condition(<RLock(None, 0)>, 0)>" (the lock, then the waiters not yet notified).
  [[nodiscard]] std::string repr() const;

  void concur_encode_handle(Buffer& out) const;
  static Condition concur_decode_handle(Reader& in);

 private:
  explicit Condition(std::shared_ptr<detail::Region> region);
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

/// multiprocessing.Barrier: a rendezvous for `parties` threads of any processes.
///
///   event                        waiters get              the barrier becomes
///   last party arrives           their index (after the   ready for the next round
///                                action ran)
///   action throws                BrokenBarrierError       broken (the last arrival
///                                                         gets the action's exception)
///   a wait() times out           BrokenBarrierError       broken
///   abort()                      BrokenBarrierError       broken
///   reset()                      BrokenBarrierError       ready, not broken
///   a party dies waiting, or     BrokenBarrierError       broken
///   holding the internal lock    (within ~100 ms)
///   (see above)
///
/// wait() returns the arrival index 0 .. parties-1; throws BrokenBarrierError while
/// broken. Barrier(parties < 1): ValueError.
class Barrier {
 public:
  using concur_handle_tag = void;

  explicit Barrier(int parties, Timeout timeout = {});
  /// `action` runs once per round, in the process of the last arrival, before anyone is
  /// released: a function registered for mp::encode_call, or a captureless / trivially
  /// copyable lambda (it crosses to spawned children by name, see registry.hpp).
  template <class F>
  requires(!std::is_convertible_v<F, Timeout>)
      Barrier(int parties, const F& action, Timeout timeout = {})
      : Barrier(parties, encode_call(action), timeout) {}

  /// Waits with the barrier's default timeout. Returns the arrival index.
  int wait();
  int wait(Timeout timeout);
  /// Back to the initial state; parties waiting now get BrokenBarrierError.
  void reset();
  /// Breaks the barrier: waiting and future wait() calls throw until reset().
  void abort();

  [[nodiscard]] int parties() const noexcept;
  [[nodiscard]] int n_waiting() const noexcept;
  [[nodiscard]] bool broken() const noexcept;
  /// "<Barrier: waiters=2/3>" or "<Barrier: broken>".
  [[nodiscard]] std::string repr() const;

  void concur_encode_handle(Buffer& out) const;
  static Barrier concur_decode_handle(Reader& in);

 private:
  Barrier(int parties, const Buffer& action, Timeout timeout);
  explicit Barrier(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  [[nodiscard]] detail::BarrierState& state() const noexcept {
    return ref_.state<detail::BarrierState>();
  }
  int wait_until(const Deadline& deadline);
  void lock_internal();
  void probe(int my_slot);
  int take_slot(std::uint32_t gen) noexcept;
  void after_lock() noexcept;
  void end_round(std::uint8_t outcome) noexcept;
  detail::SharedRef ref_;
};

}  // namespace concur::multiprocessing
