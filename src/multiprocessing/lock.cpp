// mp::Lock: the robust mutex as a non-recursive, owner-only lock.
// See concur/multiprocessing/lock.hpp for the contract.
#include "concur/multiprocessing/lock.hpp"

#include <pthread.h>

#include <cerrno>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "os/poll.hpp"
#include "synchronize_impl.hpp"

namespace concur::multiprocessing {

namespace {
using detail::Acquired;
using detail::MutexState;
using detail::Region;
using detail::tid_text;
}  // namespace

Lock::Lock() : Lock(detail::InRegion{}, detail::create_region(sizeof(MutexState), "Lock"), 0) {}

Lock::Lock(detail::InRegion, std::shared_ptr<Region> region, std::size_t offset) {
  ref_.region = std::move(region);
  ref_.offset = offset;
  detail::mutex_init(*new (ref_.region->at<MutexState>(offset)) MutexState{}, detail::kLockMagic);
}

bool Lock::acquire_until(bool blocking, const Deadline& deadline) {
  MutexState& m = state();
  switch (detail::mutex_acquire(m, blocking, deadline)) {
    case Acquired::kYes:
      return true;
    case Acquired::kNo:
      return false;
    case Acquired::kMine:
      break;
  }
  // The caller holds it and only the owner may release it: no one can give it back.
  if (!blocking) return false;
  if (deadline.is_forever())
    throw concur::RuntimeError(
        "deadlock: this thread already holds this multiprocessing Lock and waits for it "
        "without a timeout (use an RLock to re-enter)");
  os::sleep_until(deadline);
  return false;
}

void Lock::release() {
  MutexState& m = state();
#if !defined(__SANITIZE_THREAD__)
  // Fast path: nothing to clear, and a robust mutex refuses (EPERM, unchanged) an unlock by
  // a thread that does not own it. (TSan would report that refused unlock: check first.)
  if (detail::load(m.owner_died) == 0 && pthread_mutex_unlock(&m.mutex) == 0) return;
#endif
  if (detail::mutex_release(m) == 0) return;
  if (!detail::mutex_locked(m))
    throw concur::ValueError("semaphore or lock released too many times (Lock is not locked)");
  throw concur::RuntimeError(
      "cannot release a multiprocessing Lock held by another thread or process (only its "
      "owner may release it)");
}

bool Lock::locked() const noexcept { return detail::mutex_locked(state()); }
bool Lock::is_owned() const noexcept { return detail::mutex_is_mine(state()); }
bool Lock::owner_died() const noexcept {
  return is_owned() && detail::load(state().owner_died) != 0;
}

std::string Lock::repr() const {
  return "<Lock(owner=" + tid_text(detail::owner_tid(state())) + ")>";
}

void Lock::concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "Lock"); }
Lock Lock::concur_decode_handle(Reader& in) {
  return Lock(detail::decode_ref(in, sizeof(MutexState), detail::kLockMagic, "Lock"));
}

}  // namespace concur::multiprocessing
