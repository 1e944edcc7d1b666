// concur/multiprocessing/semaphore.hpp: multiprocessing.Semaphore and BoundedSemaphore,
// counters of permits shared between processes.
//
// What they do
//   acquire() takes a permit, waiting while there is none; release(n) gives n back and
//   wakes up to n waiters of any process. A BoundedSemaphore refuses to go above its
//   initial value. A mp::Semaphore object is a handle to the counter in shared memory.
//
// What blocks: acquire() with blocking = true while the value is 0, for at most `timeout`
//   (omitted = forever). release() never blocks.
//
// What throws: a negative initial value, or one above 2^32 - 2: ValueError. release(n)
//   with n < 1: ValueError; above the initial value of a BoundedSemaphore: ValueError
//   ("semaphore or lock released too many times"), nothing changed.
//
// Robustness: none (no owner): a process that dies holding a permit takes it with it, as
//   in Python.
//
// Public API
//   Semaphore(value = 1): acquire(bool blocking = true), acquire(Timeout),
//   acquire(bool blocking, Timeout), release(n = 1), get_value(), repr(); lock(), unlock(),
//   try_lock(), try_lock_for(d), try_lock_until(tp). BoundedSemaphore(value = 1): the same.
//   The acquire overloads and the Lockable members come from concur::detail::Lockable
//   (concur/detail/lockable.hpp).
//
// The rules every process-shared primitive follows (handles, how they cross to a child
// process, what happens when a process dies, the deliberate deviations from Python, memory
// ordering, lifetime): concur/multiprocessing/synchronize.hpp, which includes this header.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "concur/detail/lockable.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

/// multiprocessing.Semaphore: a counter of permits shared between processes. Not robust:
/// a process that dies holding a permit does not give it back.
class Semaphore
    : public concur::detail::Lockable<Semaphore, concur::detail::NonBlockingTimeout::kIgnore> {
 public:
  using concur_handle_tag = void;

  /// Negative or above 2^32 - 1: ValueError.
  explicit Semaphore(std::int64_t value = 1);

  // acquire(), acquire(bool), acquire(Timeout), acquire(bool, Timeout) (each takes one
  // permit; with blocking = false the timeout is ignored), lock(), unlock() (release(1)),
  // try_lock(), try_lock_for(), try_lock_until(): from concur::detail::Lockable.

  /// Gives `n` (>= 1, else ValueError) permits back, waking up to n waiters. A
  /// BoundedSemaphore going above its initial value: ValueError, nothing changed.
  void release(std::int64_t n = 1);
  /// The permits available now (a snapshot).
  [[nodiscard]] std::int64_t get_value() const noexcept;

  /// "<Semaphore(value=2)>" / "<BoundedSemaphore(value=2, maxvalue=3)>".
  [[nodiscard]] std::string repr() const;

  void concur_encode_handle(Buffer& out) const;
  static Semaphore concur_decode_handle(Reader& in);

 protected:
  friend concur::detail::Lockable<Semaphore, concur::detail::NonBlockingTimeout::kIgnore>;
  Semaphore(std::int64_t value, bool bounded);
  explicit Semaphore(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  [[nodiscard]] detail::SemaphoreState& state() const noexcept {
    return ref_.state<detail::SemaphoreState>();
  }
  bool acquire_slow(const Deadline& deadline);
  detail::SharedRef ref_;

 private:
  // The one primitive the acquire overloads share (concur/detail/lockable.hpp).
  bool acquire_for(bool blocking, Timeout timeout);
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

}  // namespace concur::multiprocessing
