// mp::Barrier: an internal robust lock, a generation word waiters sleep on, and robust
// watch slots that show a waiting party died.
// See concur/multiprocessing/barrier.hpp for the contract.
#include "concur/multiprocessing/barrier.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <utility>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "synchronize_impl.hpp"

namespace concur::multiprocessing {

namespace {
using detail::Acquired;
using detail::MutexState;
using detail::new_block;
using detail::wait_word;
using detail::wake_word;
}  // namespace

namespace {
constexpr std::uint8_t kPassed = 1;
constexpr std::uint8_t kBroken = 2;
constexpr std::size_t kMaxAction = 1 << 20;
}  // namespace

Barrier::Barrier(int parties, Timeout timeout) : Barrier(parties, Buffer{}, timeout) {}

Barrier::Barrier(int parties, const Buffer& action, Timeout timeout) {
  if (parties < 1) throw ValueError("parties must be >= 1");
  if (action.size() > kMaxAction)
    throw ValueError("Barrier action: the encoded callable is larger than 1 MiB");
  ref_ = new_block(sizeof(detail::BarrierState) + action.size(), "Barrier");
  auto* s = new (ref_.region->at<detail::BarrierState>(0)) detail::BarrierState{};
  s->parties = static_cast<std::uint32_t>(parties);
  detail::mutex_init(s->lock, detail::kLockMagic);
  for (auto& slot : s->slots) detail::mutex_init(slot, detail::kLockMagic);
  s->count = 0;
  s->broken = 0;
  s->gen.store(0, std::memory_order_relaxed);
  s->sleepers.store(0, std::memory_order_relaxed);
  s->timeout_ns = timeout.is_forever() ? -1 : timeout.duration().count();
  s->action_size = static_cast<std::uint32_t>(action.size());
  if (!action.empty())
    std::memcpy(ref_.region->at<std::byte>(sizeof(detail::BarrierState)), action.data(),
                action.size());
  detail::store(s->magic, detail::kBarrierMagic);
}

// With the internal lock held: ends the current round for every waiter.
void Barrier::end_round(std::uint8_t outcome) noexcept {
  detail::BarrierState& s = state();
  const std::uint32_t g = s.gen.load(std::memory_order_relaxed);
  s.outcome[g % 256] = outcome;
  detail::store(s.count, 0U);
  s.gen.store(g + 1, std::memory_order_seq_cst);
  if (s.sleepers.load(std::memory_order_seq_cst) != 0) wake_word(s.gen, INT_MAX);
}

void Barrier::lock_internal() {
  detail::BarrierState& s = state();
  detail::mutex_acquire(s.lock, true, Deadline{});
  after_lock();
}

// Between a waiter's sleeps: did a party die holding the internal lock, or while waiting in
// this round (its watch slot answers EOWNERDEAD)? Either breaks the barrier. Skipped when
// the internal lock is busy (the next slice looks again).
void Barrier::probe(int my_slot) {
  detail::BarrierState& s = state();
  if (detail::mutex_acquire(s.lock, false, Deadline{}) != Acquired::kYes) return;
  after_lock();
  for (int i = 0; i < detail::BarrierState::kWatchSlots; ++i) {
    if (i == my_slot || s.slot_used[i] == 0) continue;
    pthread_mutex_t& slot = s.slots[i].mutex;
    const int r = pthread_mutex_trylock(&slot);
    if (r == EOWNERDEAD) {
      pthread_mutex_consistent(&slot);
      pthread_mutex_unlock(&slot);
      s.slot_used[i] = 0;
      if (s.slot_gen[i] == s.gen.load(std::memory_order_relaxed)) {
        detail::store(s.broken, 1U);  // a party of this round died waiting: it can never complete
        end_round(kBroken);
      }
    } else if (r == 0) {
      pthread_mutex_unlock(&slot);  // its holder is leaving (it clears the slot next)
    }
  }
  detail::mutex_release(s.lock);
}

// With the internal lock held: takes a free watch slot for a party waiting in round `gen`.
int Barrier::take_slot(std::uint32_t gen) noexcept {
  detail::BarrierState& s = state();
  for (int i = 0; i < detail::BarrierState::kWatchSlots; ++i) {
    if (s.slot_used[i] != 0) continue;
    const int r = pthread_mutex_trylock(&s.slots[i].mutex);
    if (r == EOWNERDEAD) pthread_mutex_consistent(&s.slots[i].mutex);
    if (r == 0 || r == EOWNERDEAD) {
      s.slot_used[i] = 1;
      s.slot_gen[i] = gen;
      return i;
    }
  }
  return -1;
}

void Barrier::after_lock() noexcept {
  detail::BarrierState& s = state();
  detail::store(s.lock.count, 1U);
  if (detail::load(s.lock.owner_died) != 0) {
    // A party died inside the barrier's critical section: the round cannot complete.
    detail::store(s.lock.owner_died, 0U);
    detail::store(s.broken, 1U);
    end_round(kBroken);
  }
}

int Barrier::wait() {
  const std::int64_t ns = state().timeout_ns;
  return wait_until(ns < 0 ? Deadline{} : Deadline(Timeout(std::chrono::nanoseconds(ns))));
}
int Barrier::wait(Timeout timeout) { return wait_until(Deadline(timeout)); }

int Barrier::wait_until(const Deadline& deadline) {
  detail::BarrierState& s = state();
  lock_internal();
  struct Unlock {
    MutexState& m;
    ~Unlock() { detail::mutex_release(m); }
  } unlock{s.lock};
  if (s.broken) throw BrokenBarrierError("the barrier is broken");
  const int index = static_cast<int>(s.count);
  detail::store(s.count, s.count + 1);
  if (s.count == s.parties) {
    if (s.action_size != 0) {
      const auto* bytes = ref_.region->at<const std::byte>(sizeof(detail::BarrierState));
      try {
        decode_result<void>(invoke(std::span<const std::byte>(bytes, s.action_size)));
      } catch (...) {
        detail::store(s.broken, 1U);
        end_round(kBroken);
        throw;
      }
    }
    end_round(kPassed);
    return index;
  }
  const std::uint32_t mine = s.gen.load(std::memory_order_relaxed);
  const int slot = take_slot(mine);
  detail::mutex_release(s.lock);
  bool in_time = true;
  // Spin briefly on the generation word before sleeping, unless more parties than CPUs
  // wait (then a spinner only keeps the party it waits for from running).
  const bool spun = s.parties <= concur::os::cpu_count() && !deadline.expired() &&
                    detail::spin_while_equal(s.gen, mine);
  if (!spun) s.sleepers.fetch_add(1, std::memory_order_seq_cst);
  while (!spun && s.gen.load(std::memory_order_seq_cst) == mine) {
    // Sleep in slices: between them, see whether a party died holding the internal lock
    // (running the action, say), which breaks the barrier instead of leaving us waiting.
    const Deadline slice(
        std::min(deadline.time_point(), Deadline::Clock::now() + std::chrono::milliseconds(100)));
    if (!wait_word(s.gen, mine, slice)) {
      if (deadline.expired()) {
        in_time = false;
        break;
      }
      probe(slot);
    }
  }
  if (!spun) s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  if (slot >= 0) pthread_mutex_unlock(&s.slots[slot].mutex);
  lock_internal();
  if (slot >= 0) s.slot_used[slot] = 0;
  if (!in_time && s.gen.load(std::memory_order_relaxed) == mine) {
    detail::store(s.broken, 1U);  // this wait timed out: the barrier breaks for everyone
    end_round(kBroken);
    throw BrokenBarrierError("the barrier wait timed out (the barrier is now broken)");
  }
  if (s.outcome[mine % 256] == kPassed) return index;
  throw BrokenBarrierError("the barrier was broken, aborted or reset while waiting");
}

void Barrier::reset() {
  detail::BarrierState& s = state();
  lock_internal();
  if (s.count > 0) end_round(kBroken);
  detail::store(s.broken, 0U);
  detail::mutex_release(s.lock);
}

void Barrier::abort() {
  detail::BarrierState& s = state();
  lock_internal();
  detail::store(s.broken, 1U);
  end_round(kBroken);
  detail::mutex_release(s.lock);
}

int Barrier::parties() const noexcept { return static_cast<int>(state().parties); }
int Barrier::n_waiting() const noexcept { return static_cast<int>(detail::load(state().count)); }
bool Barrier::broken() const noexcept { return detail::load(state().broken) != 0; }

std::string Barrier::repr() const {
  if (broken()) return "<Barrier: broken>";
  return "<Barrier: waiters=" + std::to_string(n_waiting()) + "/" + std::to_string(parties()) + ">";
}

void Barrier::concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "Barrier"); }
Barrier Barrier::concur_decode_handle(Reader& in) {
  auto ref = detail::decode_ref(in, sizeof(detail::BarrierState), detail::kBarrierMagic, "Barrier");
  const auto& s = ref.state<detail::BarrierState>();
  if (ref.region->size() - ref.offset - sizeof(detail::BarrierState) < s.action_size)
    throw ValueError("malformed Barrier handle: the action does not fit the shared block");
  return Barrier(std::move(ref));
}

}  // namespace concur::multiprocessing
