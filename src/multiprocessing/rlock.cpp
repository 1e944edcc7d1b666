// mp::RLock: the robust mutex with a recursion level.
// See concur/multiprocessing/rlock.hpp for the contract.
#include "concur/multiprocessing/rlock.hpp"

#include <pthread.h>

#include <memory>
#include <new>
#include <string>
#include <utility>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "synchronize_impl.hpp"

namespace concur::multiprocessing {

namespace {
using detail::Acquired;
using detail::MutexState;
using detail::Region;
using detail::tid_text;
}  // namespace

RLock::RLock() : RLock(detail::InRegion{}, detail::create_region(sizeof(MutexState), "RLock"), 0) {}

RLock::RLock(detail::InRegion, std::shared_ptr<Region> region, std::size_t offset) {
  ref_.region = std::move(region);
  ref_.offset = offset;
  detail::mutex_init(*new (ref_.region->at<MutexState>(offset)) MutexState{}, detail::kRLockMagic);
}

bool RLock::acquire_until(bool blocking, const Deadline& deadline) {
  MutexState& m = state();
  switch (detail::mutex_acquire(m, blocking, deadline)) {
    case Acquired::kYes:
      detail::store(m.count, 1U);
      return true;
    case Acquired::kMine:
      detail::store(m.count, detail::load(m.count) + 1);
      return true;
    case Acquired::kNo:
      break;
  }
  return false;
}

void RLock::release() {
  MutexState& m = state();
  if (!detail::mutex_is_mine(m)) throw concur::RuntimeError("cannot release un-acquired lock");
  const std::uint64_t count = detail::load(m.count);
  if (count > 1) {
    detail::store(m.count, count - 1);
    return;
  }
  detail::store(m.owner_died, 0U);
  detail::store(m.count, 0U);
  pthread_mutex_unlock(&m.mutex);  // ours (checked above): cannot fail
}

bool RLock::locked() const noexcept { return detail::mutex_locked(state()); }
bool RLock::is_owned() const noexcept { return detail::mutex_is_mine(state()); }
std::uint64_t RLock::recursion_count() const noexcept {
  return is_owned() ? detail::load(state().count) : 0;
}
bool RLock::owner_died() const noexcept {
  return is_owned() && detail::load(state().owner_died) != 0;
}

std::string RLock::repr() const {
  const int tid = detail::owner_tid(state());
  return "<RLock(" + tid_text(tid) + ", " +
         std::to_string(tid == 0 ? 0 : detail::load(state().count)) + ")>";
}

void RLock::concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "RLock"); }
RLock RLock::concur_decode_handle(Reader& in) {
  return RLock(detail::decode_ref(in, sizeof(MutexState), detail::kRLockMagic, "RLock"));
}

}  // namespace concur::multiprocessing
