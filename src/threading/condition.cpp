// Condition and Barrier. See concur/threading/condition.hpp and barrier.hpp.
//
// Condition: each waiter puts a Waiter (on its own stack) at the tail of an
// intrusive FIFO list, under the condition's lock, then releases the lock and
// spins, then sleeps on the Waiter's own futex word. notify(n) (lock held)
// unlinks the first n waiters and marks each notified, waking those asleep. A
// Waiter stays valid while the notifier holds the lock, because its owner must
// take the lock back before wait() returns.
#include <climits>
#include <cstdio>
#include <mutex>
#include <string>

#include "concur/detail/futex.hpp"
#include "concur/detail/threading_spin.hpp"
#include "concur/threading/barrier.hpp"
#include "concur/threading/condition.hpp"

namespace concur::threading {

namespace {
constexpr int kWaiterSpin = 600;  // ~5-8 us: a hand-off between running threads
}  // namespace

void Condition::unlink(Waiter* w) noexcept {
  if (w->prev)
    w->prev->next = w->next;
  else
    head_ = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    tail_ = w->prev;
  w->next = w->prev = nullptr;
  n_waiters_.store(n_waiters_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

bool Condition::wait(Timeout timeout) {
  if (!is_owned()) throw RuntimeError("cannot wait on un-acquired lock");
  const Deadline deadline(timeout);
  Waiter w;
  w.prev = tail_;
  if (tail_)
    tail_->next = &w;
  else
    head_ = &w;
  tail_ = &w;
  n_waiters_.store(n_waiters_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);

  std::uint64_t saved = 0;
  if (lock_)
    lock_->release();
  else
    saved = rlock_->release_save();

  auto notified = [&] { return w.state.load(std::memory_order_acquire) == 1; };
  if (!deadline.expired() &&
      !concur::detail::spin_until(notified, kWaiterSpin)) {
    std::uint32_t expected = 0;
    if (w.state.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) {
      while (w.state.load(std::memory_order_acquire) == 2) {
        if (!concur::detail::futex_wait(w.state, 2, deadline)) break;
      }
    }
  }

  // Take the lock back (always, as Python does), then decide under it.
  if (lock_)
    lock_->acquire();
  else
    rlock_->acquire_restore(saved);
  if (w.state.load(std::memory_order_acquire) == 1) return true;
  unlink(&w);  // timed out and not notified: still queued
  return false;
}

void Condition::notify(int n) {
  if (!is_owned()) throw RuntimeError("cannot notify on un-acquired lock");
  if (n < 0) throw ValueError("notify(n): n must be >= 0");
  while (n-- > 0 && head_ != nullptr) {
    Waiter* w = head_;
    unlink(w);
    if (w->state.exchange(1, std::memory_order_acq_rel) == 2) concur::detail::futex_wake(w->state, 1);
  }
}

void Condition::notify_all() { notify(INT_MAX); }

std::string Condition::repr() const {
  return "<Condition(" + (lock_ ? lock_->repr() : rlock_->repr()) + ", " +
         std::to_string(n_waiters_.load(std::memory_order_relaxed)) + ")>";
}

// ---- Barrier (CPython's algorithm, Lib/threading.py) --------------------------

Barrier::Barrier(int parties, std::function<void()> action, Timeout timeout)
    : parties_(parties), action_(std::move(action)), timeout_(timeout) {
  if (parties < 1) throw ValueError("parties must be >= 1");
}

int Barrier::wait_impl(Timeout timeout) {
  std::scoped_lock guard(lock_);
  enter();  // waits while the previous round drains or resets
  const int index = count_++;
  try {
    if (index + 1 == parties_)
      release_round();
    else
      wait_round(timeout);
  } catch (...) {
    --count_;
    exit_round();
    throw;
  }
  --count_;
  exit_round();
  return index;
}

void Barrier::enter() {
  while (state_ == State::kDraining || state_ == State::kResetting) cond_.wait();
  if (state_ == State::kBroken) throw BrokenBarrierError("the barrier is broken");
}

void Barrier::release_round() {
  try {
    if (action_) action_();
    state_ = State::kDraining;
    cond_.notify_all();
  } catch (...) {
    break_barrier();
    throw;
  }
}

void Barrier::wait_round(Timeout timeout) {
  if (!cond_.wait_for([&] { return state_ != State::kFilling; }, timeout)) {
    break_barrier();
    throw BrokenBarrierError("the barrier wait timed out; the barrier is now broken");
  }
  if (state_ == State::kBroken || state_ == State::kResetting)
    throw BrokenBarrierError("the barrier was aborted or reset while waiting");
}

void Barrier::exit_round() {
  if (count_ == 0 && (state_ == State::kResetting || state_ == State::kDraining)) {
    state_ = State::kFilling;
    cond_.notify_all();
  }
}

void Barrier::reset() {
  std::scoped_lock guard(lock_);
  if (count_ > 0) {
    if (state_ == State::kFilling || state_ == State::kBroken) state_ = State::kResetting;
  } else {
    state_ = State::kFilling;
  }
  cond_.notify_all();
}

void Barrier::abort() {
  std::scoped_lock guard(lock_);
  break_barrier();
}

void Barrier::break_barrier() {
  state_ = State::kBroken;
  cond_.notify_all();
}

int Barrier::n_waiting() const {
  std::scoped_lock guard(lock_);
  return state_ == State::kFilling ? count_ : 0;
}

bool Barrier::broken() const {
  std::scoped_lock guard(lock_);
  return state_ == State::kBroken;
}

std::string Barrier::repr() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", static_cast<const void*>(this));
  if (broken()) return std::string("<concur.threading.Barrier at ") + buf + ": broken>";
  return std::string("<concur.threading.Barrier at ") + buf +
         ": waiters=" + std::to_string(n_waiting()) + "/" + std::to_string(parties_) + ">";
}

}  // namespace concur::threading
