// concur/multiprocessing/lock.hpp: multiprocessing.Lock, a robust, non-recursive lock
// shared between processes.
//
// What it does
//   A Lock lives in a block of shared memory; a mp::Lock object is a handle to it (copies
//   are handles to the same lock). acquire() takes it, blocking while a thread of any
//   process holds it; release() gives it back. Only the thread that took it may release it.
//
// What blocks: acquire() with blocking = true, for at most `timeout` (omitted = forever).
//
// What throws: release() of an unlocked Lock: ValueError; of a Lock another thread or
//   process holds: RuntimeError. acquire() without a timeout by the thread holding it:
//   RuntimeError ("deadlock..."). An unrecoverable mutex: RuntimeError. The shared block
//   cannot be created: concur::OSError.
//
// Robustness: when the holder dies, the next acquire() succeeds and owner_died() is true
//   until that holder releases it (the protected data may need repair).
//
// Public API
//   Lock(): acquire(bool blocking = true), acquire(Timeout), acquire(bool blocking, Timeout),
//   release(), locked(), is_owned(), owner_died(), repr(), operator==; lock(), unlock(),
//   try_lock(), try_lock_for(d), try_lock_until(tp). The acquire overloads and the Lockable
//   members come from concur::detail::Lockable (concur/detail/lockable.hpp).
//
// The rules every process-shared primitive follows (handles, how they cross to a child
// process, what happens when a process dies, the deliberate deviations from Python, memory
// ordering, lifetime): concur/multiprocessing/synchronize.hpp, which includes this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "concur/detail/lockable.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
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
class Lock : public concur::detail::Lockable<Lock, concur::detail::NonBlockingTimeout::kIgnore> {
 public:
  using concur_handle_tag = void;

  /// A new, unlocked lock in its own shared block. Throws concur::OSError if the
  /// block cannot be created (memfd_create, posix_fallocate, mmap).
  Lock();

  // acquire(), acquire(bool), acquire(Timeout), acquire(bool, Timeout) (with blocking =
  // false the timeout is ignored: multiprocessing's rule), lock(), unlock(), try_lock(),
  // try_lock_for(), try_lock_until(): from concur::detail::Lockable.

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
  friend concur::detail::Lockable<Lock, concur::detail::NonBlockingTimeout::kIgnore>;
  friend class Condition;
  explicit Lock(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  // The one primitive the acquire overloads share (concur/detail/lockable.hpp).
  bool acquire_for(bool blocking, Timeout timeout) {
    return acquire_until(blocking, Deadline(timeout));
  }
  bool acquire_until(bool blocking, const Deadline& deadline);
  [[nodiscard]] detail::MutexState& state() const noexcept {
    return ref_.state<detail::MutexState>();
  }
  detail::SharedRef ref_;
};

}  // namespace concur::multiprocessing
