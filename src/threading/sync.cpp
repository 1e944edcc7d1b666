// Slow paths of the threading primitives: Lock, RLock, Semaphore, Event, and
// the spin budget. See the headers for the contracts.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "concur/threading/event.hpp"
#include "concur/threading/lock.hpp"
#include "concur/threading/rlock.hpp"
#include "concur/threading/semaphore.hpp"
#include "os/futex.hpp"
#include "os/spin.hpp"

namespace concur::threading {

namespace {
using concur::os::futex_wait;
using concur::os::futex_wake;

constexpr int kLockSpin = 200;  // ~2-5 us with PAUSE
constexpr int kEventSpin = 400;
constexpr int kSemSpin = 200;

std::string address(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}
}  // namespace

// ---- Lock -------------------------------------------------------------------

bool Lock::acquire_slow(const Deadline& deadline) {
  if (deadline.expired()) return try_acquire_fast();
  // Spin while the holder is likely to release soon. Taking the lock with 1
  // while others sleep on it is safe: the release that freed it woke one of
  // them, which marks the word 2 again when it retries.
  if (concur::os::spin_until(
          [&] {
            std::uint32_t w = word_.load(std::memory_order_relaxed);
            return w == 0 && word_.compare_exchange_weak(w, 1, std::memory_order_acquire,
                                                         std::memory_order_relaxed);
          },
          kLockSpin))
    return true;
  // Drepper's mutex: 2 marks "someone may sleep", so release() wakes one.
  std::uint32_t c = word_.exchange(2, std::memory_order_acquire);
  while (c != 0) {
    if (!futex_wait(word_, 2, deadline)) {
      // Timed out: one last try. Leaving 2 behind costs at most one spare wake-up.
      std::uint32_t expected = 0;
      return word_.compare_exchange_strong(expected, 2, std::memory_order_acquire,
                                           std::memory_order_relaxed);
    }
    c = word_.exchange(2, std::memory_order_acquire);
  }
  return true;
}

void Lock::acquire_contended() noexcept {
  std::uint32_t c = word_.exchange(2, std::memory_order_acquire);
  while (c != 0) {
    futex_wait(word_, 2, Deadline{});
    c = word_.exchange(2, std::memory_order_acquire);
  }
}

void Lock::release_slow(std::uint32_t prev) {
  if (prev == 0) throw RuntimeError("release unlocked lock");
  futex_wake(word_, 1);
}

std::string Lock::repr() const {
  return std::string(locked() ? "<locked" : "<unlocked") + " concur.threading.Lock object at " +
         address(this) + ">";
}

// ---- RLock ------------------------------------------------------------------

void RLock::throw_not_owner() { throw RuntimeError("cannot release un-acquired lock"); }

std::string RLock::repr() const {
  const std::uint64_t owner = owner_.load(std::memory_order_relaxed);
  return std::string(locked() ? "<locked" : "<unlocked") +
         " concur.threading.RLock object owner=" + std::to_string(owner) +
         " count=" + std::to_string(owner ? count_.load(std::memory_order_relaxed) : 0) + " at " +
         address(this) + ">";
}

// ---- Semaphore --------------------------------------------------------------

namespace {
std::uint32_t checked_initial(std::int64_t value) {
  if (value < 0) throw ValueError("semaphore initial value must be >= 0");
  if (value > static_cast<std::int64_t>(UINT32_MAX))
    throw ValueError("semaphore initial value must be < 2**32");
  return static_cast<std::uint32_t>(value);
}
}  // namespace

Semaphore::Semaphore(std::int64_t value) : value_(checked_initial(value)) {}

Semaphore::Semaphore(std::int64_t value, bool bounded) : value_(checked_initial(value)) {
  if (bounded) bound_ = value_.load(std::memory_order_relaxed);
}

bool Semaphore::acquire_slow(const Deadline& deadline) {
  if (deadline.expired()) return try_acquire_fast();
  if (concur::os::spin_until(
          [&] { return value_.load(std::memory_order_relaxed) != 0 && try_acquire_fast(); },
          kSemSpin))
    return true;
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  bool got = false;
  for (;;) {
    if (try_acquire_fast()) {
      got = true;
      break;
    }
    // Sleeps only while the value is still 0; release() wakes after raising it.
    if (!futex_wait(value_, 0, deadline)) {
      got = try_acquire_fast();
      break;
    }
  }
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return got;
}

void Semaphore::release(std::int64_t n) {
  if (n < 1) throw ValueError("n must be one or more");
  std::uint32_t v = value_.load(std::memory_order_relaxed);
  for (;;) {
    const std::int64_t next = static_cast<std::int64_t>(v) + n;
    if (bound_ != 0 && next > static_cast<std::int64_t>(bound_))
      throw ValueError("Semaphore released too many times");
    if (next > static_cast<std::int64_t>(UINT32_MAX))
      throw ValueError("semaphore value would exceed 2**32 - 1");
    if (value_.compare_exchange_weak(v, static_cast<std::uint32_t>(next), std::memory_order_seq_cst,
                                     std::memory_order_relaxed))
      break;
  }
  if (sleepers_.load(std::memory_order_seq_cst) != 0)
    futex_wake(value_, n > INT_MAX ? INT_MAX : static_cast<int>(n));
}

std::string Semaphore::repr() const {
  return "<concur.threading.Semaphore at " + address(this) + ": value=" + std::to_string(value()) +
         ">";
}

std::string BoundedSemaphore::repr() const {
  return "<concur.threading.BoundedSemaphore at " + address(this) +
         ": value=" + std::to_string(value()) + "/" + std::to_string(initial_value()) + ">";
}

// ---- Event ------------------------------------------------------------------

void Event::set() noexcept {
  std::uint32_t w = word_.load(std::memory_order_relaxed);
  while ((w & 1U) == 0) {
    if (word_.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst,
                                    std::memory_order_relaxed)) {
      if (sleepers_.load(std::memory_order_seq_cst) != 0) futex_wake(word_, INT_MAX);
      return;
    }
  }
}

void Event::clear() noexcept {
  std::uint32_t w = word_.load(std::memory_order_relaxed);
  while ((w & 1U) != 0) {
    if (word_.compare_exchange_weak(w, w + 1, std::memory_order_relaxed, std::memory_order_relaxed))
      return;
  }
}

bool Event::wait_slow(std::uint32_t seen, const Deadline& deadline) noexcept {
  // Any change of the word since `seen` (flag clear) means a set() happened.
  auto changed = [&] { return word_.load(std::memory_order_acquire) != seen; };
  if (deadline.expired()) return changed();
  if (concur::os::spin_until(changed, kEventSpin)) return true;
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  bool result = true;
  while (word_.load(std::memory_order_seq_cst) == seen) {
    if (!futex_wait(word_, seen, deadline)) {
      result = changed();
      break;
    }
  }
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return result;
}

std::string Event::repr() const {
  return "<concur.threading.Event at " + address(this) + (is_set() ? ": set>" : ": unset>");
}

}  // namespace concur::threading
