// mp::Condition: a sequence word waiters sleep on, counts of waiters and notifications
// under the lock, and robust watch slots that show a waiter died.
// See concur/multiprocessing/condition.hpp for the contract.
#include "concur/multiprocessing/condition.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <variant>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "synchronize_impl.hpp"

namespace concur::multiprocessing {

namespace {
using detail::MutexState;
using detail::Region;
using detail::SharedRef;
using detail::wait_word;
using detail::wake_word;
}  // namespace

namespace {
constexpr std::size_t kConditionAt = detail::align_up(sizeof(MutexState), 64);

SharedRef new_condition_state(std::shared_ptr<Region> region, std::size_t offset) {
  SharedRef ref{std::move(region), offset};
  auto* s = new (ref.region->at<detail::ConditionState>(offset)) detail::ConditionState{};
  s->seq.store(0, std::memory_order_relaxed);
  s->waiting = 0;
  s->tokens = 0;
  s->sleepers.store(0, std::memory_order_relaxed);
  for (auto& slot : s->slots) detail::mutex_init(slot, detail::kLockMagic);
  detail::store(s->magic, detail::kConditionMagic);
  return ref;
}
}  // namespace

Condition::Condition()
    : Condition(detail::create_region(kConditionAt + sizeof(detail::ConditionState), "Condition")) {
}

Condition::Condition(std::shared_ptr<Region> region)
    : lock_(RLock(detail::InRegion{}, region, 0)),
      ref_(new_condition_state(std::move(region), kConditionAt)) {}

Condition::Condition(Lock lock)
    : Condition(std::move(lock),
                new_condition_state(
                    detail::create_region(sizeof(detail::ConditionState), "Condition"), 0)) {}

Condition::Condition(RLock lock)
    : Condition(std::move(lock),
                new_condition_state(
                    detail::create_region(sizeof(detail::ConditionState), "Condition"), 0)) {}

MutexState& Condition::mutex() const noexcept {
  return std::visit([](const auto& l) -> MutexState& { return l.state(); }, lock_);
}

bool Condition::acquire_for(bool blocking, Timeout timeout) {
  return std::visit([&](auto& l) { return l.acquire_for(blocking, timeout); }, lock_);
}
void Condition::release() {
  std::visit([](auto& l) { l.release(); }, lock_);
}
bool Condition::owner_died() const noexcept {
  return std::visit([](const auto& l) { return l.owner_died(); }, lock_);
}

void Condition::check_owned(const char* what) const {
  if (!detail::mutex_is_mine(mutex()))
    throw concur::RuntimeError(std::string("cannot ") + what + " on un-acquired lock");
}

bool Condition::wait(Timeout timeout) {
  check_owned("wait");
  const Deadline deadline(timeout);
  detail::ConditionState& c = state();
  MutexState& m = mutex();
  detail::store(c.waiting, c.waiting + 1);
  // A watch slot held while inside wait(): if this process dies here, notify() sees it.
  int slot = -1;
  for (int i = 0; i < detail::ConditionState::kWatchSlots && slot < 0; ++i) {
    if (c.slot_used[i] != 0) continue;
    const int r = pthread_mutex_trylock(&c.slots[i].mutex);
    if (r == EOWNERDEAD) pthread_mutex_consistent(&c.slots[i].mutex);
    if (r == 0 || r == EOWNERDEAD) {
      c.slot_used[i] = 1;
      slot = i;
    }
  }
  struct LeaveSlot {  // with the lock held again, on every way out
    detail::ConditionState& c;
    int slot;
    ~LeaveSlot() {
      if (slot < 0) return;
      pthread_mutex_unlock(&c.slots[slot].mutex);
      c.slot_used[slot] = 0;
    }
  } leave{c, slot};
  bool in_time = true;
  for (;;) {
    const std::uint32_t seen = c.seq.load(std::memory_order_relaxed);
    // Give the lock up entirely (all RLock levels) and take it back at the same level.
    const std::uint64_t saved = detail::load(m.count);
    const bool died = detail::load(m.owner_died) != 0;
    detail::store(m.owner_died, 0U);
    detail::store(m.count, 0U);
    if (pthread_mutex_unlock(&m.mutex) != 0) {
      // Cannot happen: the caller owns it (checked above).
      throw concur::RuntimeError("Condition.wait: the lock could not be released");
    }
    // Spin briefly on the sequence word, then sleep on it. A sleeper is counted first, so
    // that notify() (which bumps seq, then reads sleepers) skips the wake when none sleeps.
    if (in_time && (deadline.expired() || !detail::spin_while_equal(c.seq, seen))) {
      c.sleepers.fetch_add(1, std::memory_order_seq_cst);
      in_time = c.seq.load(std::memory_order_seq_cst) != seen || wait_word(c.seq, seen, deadline);
      c.sleepers.fetch_sub(1, std::memory_order_relaxed);
    }
    // Take it back with no bound (as Python): the notifier holds it only briefly, so wait
    // (bounded) for it to look free before blocking on it.
    concur::os::spin_until([&] { return detail::owner_tid(m) == 0; }, detail::kSharedSpin);
    detail::mutex_acquire(m, true, Deadline{});
    detail::store(m.count, saved);
    if (died) detail::store(m.owner_died, 1U);
    if (c.tokens > 0) {
      detail::store(c.tokens, c.tokens - 1);
      return true;
    }
    if (!in_time) {
      detail::store(c.waiting, c.waiting - 1);
      return false;
    }
    // Woken with no notification left for us (another waiter took it): wait again.
  }
}

void Condition::notify(int n) {
  if (n < 0) throw ValueError("notify(n): n must be >= 0");
  check_owned("notify");
  detail::ConditionState& c = state();
  // Waiters that died inside wait() (their watch slot answers EOWNERDEAD) no longer count,
  // so no notification is spent on them; if one had been notified already, its token
  // goes to a live waiter instead.
  for (int i = 0; i < detail::ConditionState::kWatchSlots; ++i) {
    if (c.slot_used[i] == 0) continue;
    pthread_mutex_t& slot = c.slots[i].mutex;
    const int r = pthread_mutex_trylock(&slot);
    if (r == EBUSY) continue;
    if (r == EOWNERDEAD) pthread_mutex_consistent(&slot);
    if (r == 0 || r == EOWNERDEAD) pthread_mutex_unlock(&slot);
    if (r == EOWNERDEAD) {
      c.slot_used[i] = 0;
      if (c.waiting > 0)
        detail::store(c.waiting, c.waiting - 1);
      else if (c.tokens > 0)
        detail::store(c.tokens, c.tokens - 1);
    }
  }
  const auto t = std::min(static_cast<std::uint32_t>(n), c.waiting);
  if (t == 0) return;
  detail::store(c.waiting, c.waiting - t);
  detail::store(c.tokens, c.tokens + t);
  c.seq.fetch_add(1, std::memory_order_seq_cst);
  if (c.sleepers.load(std::memory_order_seq_cst) != 0)
    wake_word(c.seq, t > INT_MAX ? INT_MAX : static_cast<int>(t));
}

void Condition::notify_all() { notify(INT_MAX); }

std::string Condition::repr() const {
  const std::string lock = std::visit([](const auto& l) { return l.repr(); }, lock_);
  return "<Condition(" + lock + ", " + std::to_string(detail::load(state().waiting)) + ")>";
}

void Condition::concur_encode_handle(Buffer& out) const {
  out.push_back(std::byte{static_cast<unsigned char>(lock_.index())});
  std::visit([&](const auto& l) { l.concur_encode_handle(out); }, lock_);
  detail::encode_ref(out, ref_, "Condition");
}

Condition Condition::concur_decode_handle(Reader& in) {
  const auto kind = detail::get_trivial<std::uint8_t>(in);
  std::variant<Lock, RLock> lock;
  if (kind == 0)
    lock = Lock::concur_decode_handle(in);
  else if (kind == 1)
    lock = RLock::concur_decode_handle(in);
  else
    throw ValueError("malformed Condition handle: bad lock kind " + std::to_string(kind));
  auto ref =
      detail::decode_ref(in, sizeof(detail::ConditionState), detail::kConditionMagic, "Condition");
  return Condition(std::move(lock), std::move(ref));
}

}  // namespace concur::multiprocessing
