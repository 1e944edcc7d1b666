// concur/threading/rlock.hpp: threading.RLock, a re-entrant lock.
//
// What it does
//   An RLock has an owner and a recursion count. The owner may acquire it again
//   (the count goes up) and must release it as many times; the lock is free when
//   the count is back to 0. Only the owner may release it.
//
// What blocks
//   acquire() by a thread that does not own it, while another thread does, for
//   at most `timeout` (omitted = forever). A re-entrant acquire never blocks.
//
// What throws
//   release() by a thread that does not own it (including when it is free):
//   concur::RuntimeError("cannot release un-acquired lock").
//   acquire(false, timeout) with a bound: concur::ValueError. Negative timeout:
//   concur::ValueError.
//
// Memory ordering
//   The owner's last release() happens-before the next acquire() that makes
//   another thread the owner.
//
// Lifetime
//   Must outlive every call on it. A thread that ends while owning an RLock
//   leaves it owned forever (as in Python). Not copyable, not movable.
//
// Python parity
//   - Same method names; `_is_owned()` and `_recursion_count()` are public here
//     as is_owned() and recursion_count(); `locked()` (3.14) is provided.
//   - The owner is identified by get_ident(), as in Python.
//   - Lockable and TimedLockable (lock/unlock/try_lock/try_lock_for/try_lock_until).
//   - repr(): "<locked concur.threading.RLock object owner=140.. count=2 at 0x...>".
//
// Public API
//   acquire(bool blocking = true), acquire(Timeout), acquire(bool blocking, Timeout),
//   release(), is_owned(), recursion_count(), locked(), repr(); lock(), unlock(),
//   try_lock(), try_lock_for(d), try_lock_until(tp). The acquire overloads and the
//   Lockable members come from concur::detail::Lockable (concur/detail/lockable.hpp).
//
// Example
//   concur::threading::RLock rl;
//   std::scoped_lock outer(rl);
//   { std::scoped_lock inner(rl); }   // same thread: does not block
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "concur/detail/lockable.hpp"
#include "concur/threading/lock.hpp"
#include "concur/timeout.hpp"

namespace concur::threading {

/// Python's threading.get_ident(): a non-zero integer naming the calling thread
/// among the threads alive now (pthread_self()); may be reused after it ends.
std::uint64_t get_ident() noexcept;

class RLock : public concur::detail::Lockable<RLock, concur::detail::NonBlockingTimeout::kRaise> {
 public:
  RLock() noexcept = default;
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  // acquire(), acquire(bool), acquire(Timeout), acquire(bool, Timeout), lock(), unlock(),
  // try_lock(), try_lock_for(), try_lock_until(): from concur::detail::Lockable. Each
  // takes the lock again at once when the caller owns it.

  /// Gives back one level; frees the lock when the count reaches 0.
  /// Throws RuntimeError when the caller is not the owner.
  void release() {
    if (owner_.load(std::memory_order_relaxed) != get_ident()) throw_not_owner();
    const std::uint64_t left = count_.load(std::memory_order_relaxed) - 1;
    count_.store(left, std::memory_order_relaxed);
    if (left == 0) {
      owner_.store(0, std::memory_order_relaxed);
      inner_.release();
    }
  }

  /// True when the calling thread owns the lock (Python's _is_owned()).
  [[nodiscard]] bool is_owned() const noexcept {
    return owner_.load(std::memory_order_relaxed) == get_ident();
  }
  /// The caller's recursion level: 0 when it does not own the lock
  /// (Python's _recursion_count()).
  [[nodiscard]] std::uint64_t recursion_count() const noexcept {
    return is_owned() ? count_.load(std::memory_order_relaxed) : 0;
  }
  /// True while any thread owns the lock (Python 3.14's locked()).
  [[nodiscard]] bool locked() const noexcept { return inner_.locked(); }

  [[nodiscard]] std::string repr() const;

 private:
  friend concur::detail::Lockable<RLock, concur::detail::NonBlockingTimeout::kRaise>;
  friend class Condition;
  // The one primitive the acquire overloads share (concur/detail/lockable.hpp).
  bool acquire_for(bool blocking, Timeout timeout) {
    const std::uint64_t me = get_ident();
    if (owner_.load(std::memory_order_relaxed) == me) return bump(), true;
    if (!inner_.acquire_for(blocking, timeout)) return false;
    owner_.store(me, std::memory_order_relaxed);
    count_.store(1, std::memory_order_relaxed);
    return true;
  }
  [[noreturn]] static void throw_not_owner();
  void bump() noexcept {
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Condition::wait: gives the lock up entirely and takes it back at the same level.
  std::uint64_t release_save() noexcept {
    const std::uint64_t saved = count_.load(std::memory_order_relaxed);
    count_.store(0, std::memory_order_relaxed);
    owner_.store(0, std::memory_order_relaxed);
    inner_.release();
    return saved;
  }
  void acquire_restore(std::uint64_t saved, bool contended) {
    if (contended)
      inner_.acquire_contended();
    else
      inner_.acquire();
    owner_.store(get_ident(), std::memory_order_relaxed);
    count_.store(saved, std::memory_order_relaxed);
  }

  Lock inner_;
  std::atomic<std::uint64_t> owner_{0};
  std::atomic<std::uint64_t> count_{0};  // written by the owner only; read by repr()
};

}  // namespace concur::threading
