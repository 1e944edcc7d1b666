// concur/multiprocessing/rlock.hpp: multiprocessing.RLock, a robust re-entrant lock
// shared between processes.
//
// What it does
//   An RLock has an owner (a thread of some process) and a recursion level: the owner may
//   acquire it again and must release it as many times. A mp::RLock object is a handle to
//   the lock in shared memory (copies are handles to the same lock).
//
// What blocks: acquire() by a thread that does not own it while another one does, for at
//   most `timeout` (omitted = forever). A re-entrant acquire never blocks.
//
// What throws: release() by a thread that does not own it (or when it is free):
//   RuntimeError("cannot release un-acquired lock"). An unrecoverable mutex: RuntimeError.
//
// Robustness: when the owner dies, the next acquire() succeeds (at level 1) and
//   owner_died() is true until that owner releases it.
//
// Public API
//   RLock(): acquire(bool blocking = true), acquire(Timeout), acquire(bool blocking, Timeout),
//   release(), locked(), is_owned(), recursion_count(), owner_died(), repr(), operator==;
//   lock(), unlock(), try_lock(), try_lock_for(d), try_lock_until(tp). The acquire overloads
//   and the Lockable members come from concur::detail::Lockable (concur/detail/lockable.hpp).
//
// The rules every process-shared primitive follows (handles, how they cross to a child
// process, what happens when a process dies, the deliberate deviations from Python, memory
// ordering, lifetime): concur/multiprocessing/synchronize.hpp, which includes this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "concur/detail/lockable.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "concur/multiprocessing/lock.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

/// multiprocessing.RLock: a robust re-entrant lock shared between processes. The owner
/// (a thread of some process) may acquire it again and must release it as many times.
class RLock : public concur::detail::Lockable<RLock, concur::detail::NonBlockingTimeout::kIgnore> {
 public:
  using concur_handle_tag = void;

  RLock();

  // acquire(), acquire(bool), acquire(Timeout), acquire(bool, Timeout) (with blocking =
  // false the timeout is ignored), lock(), unlock(), try_lock(), try_lock_for(),
  // try_lock_until(): from concur::detail::Lockable. The owner takes it again at once.

  /// Gives back one level. Not owned by the calling thread: RuntimeError
  /// ("cannot release un-acquired lock").
  void release();

  [[nodiscard]] bool locked() const noexcept;
  [[nodiscard]] bool is_owned() const noexcept;
  /// The caller's recursion level (0 when it does not own it).
  [[nodiscard]] std::uint64_t recursion_count() const noexcept;
  [[nodiscard]] bool owner_died() const noexcept;

  /// "<RLock(None, 0)>" or "<RLock(<tid>, <count>)>".
  [[nodiscard]] std::string repr() const;

  friend bool operator==(const RLock& a, const RLock& b) noexcept {
    return a.ref_.address() == b.ref_.address();
  }

  void concur_encode_handle(Buffer& out) const;
  static RLock concur_decode_handle(Reader& in);

  RLock(detail::InRegion, std::shared_ptr<detail::Region> region, std::size_t offset);

 private:
  friend concur::detail::Lockable<RLock, concur::detail::NonBlockingTimeout::kIgnore>;
  friend class Condition;
  explicit RLock(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
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
