// Condition. See concur/threading/condition.hpp.
//
// Condition: each waiter puts a Waiter (on its own stack) at the tail of an
// intrusive FIFO list, under the condition's lock, then releases the lock and
// spins, then sleeps on the Waiter's own futex word. notify(n) (lock held)
// unlinks the first n waiters and marks each notified, waking those asleep. A
// Waiter stays valid while the notifier holds the lock, because its owner must
// take the lock back before wait() returns.
#include "concur/threading/condition.hpp"

#include <climits>
#include <cstdio>
#include <string>

#include "os/futex.hpp"
#include "os/spin.hpp"

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
  bool slept = false;
  if (!deadline.expired() && !concur::os::spin_until(notified, kWaiterSpin)) {
    std::uint32_t expected = 0;
    if (w.state.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) {
      slept = true;
      while (w.state.load(std::memory_order_acquire) == 2) {
        if (!concur::os::futex_wait(w.state, 2, deadline)) break;
      }
    }
  }

  // Take the lock back (always, as Python does), then decide under it. A
  // waiter that slept may have been moved to the lock's futex by notify():
  // it takes the lock marked contended, so the others moved there wake too.
  if (lock_) {
    if (slept)
      lock_->acquire_contended();
    else
      lock_->acquire();
  } else {
    rlock_->acquire_restore(saved, slept);
  }
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
    if (w->state.exchange(1, std::memory_order_acq_rel) == 2) {
      // Asleep: rather than wake it only to block on the lock we hold, move
      // it to the lock's futex (wait morphing); our release will wake it.
      Lock& inner = lock_ ? *lock_ : rlock_->inner_;
      if (inner.mark_contended())
        concur::os::futex_requeue(w->state, 1, 0, 1, inner.word());
      else
        concur::os::futex_wake(w->state, 1);
    }
  }
}

void Condition::notify_all() { notify(INT_MAX); }

std::string Condition::repr() const {
  return "<Condition(" + (lock_ ? lock_->repr() : rlock_->repr()) + ", " +
         std::to_string(n_waiters_.load(std::memory_order_relaxed)) + ")>";
}

}  // namespace concur::threading
