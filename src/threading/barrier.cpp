// Barrier. See concur/threading/barrier.hpp (and docs/design/0003-threading.md).
#include "concur/threading/barrier.hpp"

#include <climits>
#include <cstdio>
#include <mutex>
#include <string>

#include "os/futex.hpp"
#include "os/spin.hpp"

namespace concur::threading {

namespace {
constexpr std::uint32_t kPassed = 1;
constexpr std::uint32_t kFailed = 2;
constexpr int kBarrierSpin = 600;
}  // namespace

Barrier::Barrier(int parties, std::function<void()> action, Timeout timeout)
    : parties_(parties), action_(std::move(action)), timeout_(timeout) {
  if (parties < 1) throw ValueError("parties must be >= 1");
  // With more parties than CPUs some party is descheduled while others wait:
  // spinning would only keep it from running.
  spin_ = parties <= static_cast<int>(concur::os::cpu_count());
}

void Barrier::finish_round(std::uint32_t outcome) noexcept {
  Waiter* w = waiters_;
  waiters_ = nullptr;
  count_ = 0;
  while (w != nullptr) {
    Waiter* next = w->next;  // read first: once told, the waiter may return
    w->outcome.store(outcome, std::memory_order_release);
    w = next;
  }
  seq_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0) concur::os::futex_wake(seq_, INT_MAX);
}

int Barrier::wait_impl(Timeout timeout) {
  const Deadline deadline(timeout);
  Waiter me;
  int index = 0;
  {
    std::scoped_lock g(lock_);
    if (broken_) throw BrokenBarrierError("the barrier is broken");
    index = count_++;
    if (index + 1 == parties_) {
      try {
        if (action_) action_();
      } catch (...) {
        broken_ = true;
        finish_round(kFailed);
        throw;
      }
      finish_round(kPassed);
      return index;
    }
    me.next = waiters_;
    waiters_ = &me;
  }
  auto decided = [&] { return me.outcome.load(std::memory_order_acquire) != 0; };
  bool timed_out = false;
  if (!(spin_ && concur::os::spin_until(decided, kBarrierSpin))) {
    for (;;) {
      const std::uint32_t seen = seq_.load(std::memory_order_seq_cst);
      if (decided()) break;
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      bool woke = true;
      if (!decided()) woke = concur::os::futex_wait(seq_, seen, deadline);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      if (decided()) break;
      if (!woke) {
        std::scoped_lock g(lock_);
        if (!decided()) {  // still waiting: this timeout breaks the barrier
          timed_out = true;
          broken_ = true;
          finish_round(kFailed);
        }
        break;
      }
    }
  }
  if (me.outcome.load(std::memory_order_acquire) == kPassed) return index;
  if (timed_out) throw BrokenBarrierError("the barrier wait timed out; the barrier is now broken");
  throw BrokenBarrierError("the barrier was broken (abort, reset, a timeout or a failed action)");
}

void Barrier::reset() {
  std::scoped_lock g(lock_);
  broken_ = false;
  finish_round(kFailed);  // the threads waiting now get BrokenBarrierError
}

void Barrier::abort() {
  std::scoped_lock g(lock_);
  broken_ = true;
  finish_round(kFailed);
}

int Barrier::n_waiting() const {
  std::scoped_lock g(lock_);
  return broken_ ? 0 : count_;
}

bool Barrier::broken() const {
  std::scoped_lock g(lock_);
  return broken_;
}

std::string Barrier::repr() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", static_cast<const void*>(this));
  if (broken()) return std::string("<concur.threading.Barrier at ") + buf + ": broken>";
  return std::string("<concur.threading.Barrier at ") + buf +
         ": waiters=" + std::to_string(n_waiting()) + "/" + std::to_string(parties_) + ">";
}

}  // namespace concur::threading
