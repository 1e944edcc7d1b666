#include "concur/futures/detail/future_state.hpp"

#include <cxxabi.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "concur/futures/detail/multi_waiter.hpp"
#include "concur/futures/future.hpp"
#include "os/futex.hpp"

namespace concur::futures::detail {

namespace {
constexpr std::uint32_t kPending = 0;
constexpr std::uint32_t kRunning = 1;
constexpr std::uint32_t kCancelled = 2;
constexpr std::uint32_t kCancelledNotified = 3;
constexpr std::uint32_t kFinished = 4;

std::uint32_t with_state(std::uint32_t w, std::uint32_t s) noexcept {
  return (w & ~StateBase::kStateMask) | s;
}

const char* state_name(std::uint32_t s) noexcept {
  switch (s) {
    case kPending:
      return "PENDING";
    case kRunning:
      return "RUNNING";
    case kCancelled:
      return "CANCELLED";
    case kCancelledNotified:
      return "CANCELLED_AND_NOTIFIED";
    case kFinished:
      return "FINISHED";
    default:
      return "RUNNING";  // SETTING is RUNNING to the outside
  }
}

std::string exception_type_name(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return type_name(typeid(ex));
  } catch (...) {
    return "unknown exception";
  }
}
}  // namespace

struct StateBase::CallbackNode {
  CallbackNode* next;
  Callback fn;
};

std::vector<std::byte> StateBase::encode_call() const {
  throw TypeError("concur::futures: this future is not an executor's task: it has no call to send");
}

void StateBase::complete_from_reply(std::span<const std::byte> /*reply*/) noexcept {}

StateBase::~StateBase() {
  // Lists are empty once the future is done; a future destroyed while pending
  // frees what is still queued.
  for (CallbackNode* n = callbacks_; n;) {
    CallbackNode* next = n->next;
    delete n;
    n = next;
  }
}

void StateBase::last_release() noexcept {
  if (has_exception_ && !retrieved_.load(std::memory_order_relaxed))
    report_exception("exception never retrieved from", repr(), exception_);
  destroy();
}

bool StateBase::cancel() noexcept {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  if (remote_ != nullptr && (w & kStateMask) == kPending) {
    // Queued outside this process: cancelled only if the queue gives it up.
    if (remote_->dequeue(*this, remote_id_)) return cancel_and_notify();
    const std::uint32_t s = word_.load(std::memory_order_acquire) & kStateMask;
    return s == kCancelled || s == kCancelledNotified;
  }
  for (;;) {
    const std::uint32_t s = w & kStateMask;
    if (s == kCancelled || s == kCancelledNotified) return true;
    if (s == kRunning || s == kSetting) {
      if (s == kRunning && stop_ != nullptr) stop_->request_stop();
      return false;
    }
    if (s == kFinished) return false;
    if (word_.compare_exchange_weak(w, with_state(w, kCancelled), std::memory_order_acq_rel)) break;
  }
  after_transition(w, kCancelled);
  return true;
}

bool StateBase::cancel_and_notify() noexcept {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint32_t s = w & kStateMask;
    if (s == kCancelledNotified) return true;
    if (s != kPending && s != kCancelled) return false;
    if (word_.compare_exchange_weak(w, with_state(w, kCancelledNotified),
                                    std::memory_order_acq_rel))
      break;
  }
  after_transition(w, kCancelledNotified);
  return true;
}

bool StateBase::set_running_or_notify_cancel() {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint32_t s = w & kStateMask;
    if (s == kPending) {
      if (word_.compare_exchange_weak(w, with_state(w, kRunning), std::memory_order_acq_rel))
        return true;
    } else if (s == kCancelled) {
      if (word_.compare_exchange_weak(w, with_state(w, kCancelledNotified),
                                      std::memory_order_acq_rel)) {
        after_transition(w, kCancelledNotified);
        return false;
      }
    } else {
      throw RuntimeError(std::string("Future in unexpected state: ") + state_name(s));
    }
  }
}

void StateBase::begin_set() {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint32_t s = w & kStateMask;
    if (s != kPending && s != kRunning)
      throw futures::InvalidStateError(std::string(s == kSetting ? "FINISHED" : state_name(s)) +
                                       ": " + repr());
    if (word_.compare_exchange_weak(w, with_state(w, kSetting), std::memory_order_acq_rel)) return;
  }
}

void StateBase::set_exception(std::exception_ptr e) {
  begin_set();
  set_exception_claimed(std::move(e));
}

void StateBase::set_exception_claimed(std::exception_ptr e) noexcept {
  exception_ = std::move(e);
  has_exception_ = true;
  publish();
}

void StateBase::publish() noexcept {
  // SETTING (5) -> FINISHED (4): the release orders the value before the state.
  const std::uint32_t old = word_.fetch_sub(kSetting - kFinished, std::memory_order_acq_rel);
  after_transition(old, kFinished);
}

void StateBase::finish_cancelled() noexcept {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if ((w & kStateMask) != kRunning) return;
    if (word_.compare_exchange_weak(w, with_state(w, kCancelledNotified),
                                    std::memory_order_acq_rel))
      break;
  }
  after_transition(w, kCancelledNotified);
}

void StateBase::after_transition(std::uint32_t old, std::uint32_t now) noexcept {
  if (old & kSleepers) os::futex_wake(word_, INT_MAX);
  const bool run_callbacks = (old & kCallbacks) != 0;
  const bool run_waiters = (old & kWaiters) != 0 && is_completed(now);
  if (!run_callbacks && !run_waiters) return;
  CallbackNode* list = nullptr;
  {
    std::lock_guard lock(mu_);
    if (run_waiters) {
      // Notified under our lock: a waiter removes its nodes under it too, so
      // it cannot be gone while we call it.
      const bool failed = now == kFinished && has_exception_;
      // Read `next` before notifying: once notified, a waiter may free its node
      // (as_completed forgets what it yielded without taking our lock).
      for (WaiterNode* n = waiters_; n;) {
        WaiterNode* next = n->next;
        n->waiter->notify(n->index, failed);
        n = next;
      }
      waiters_ = nullptr;
    }
    list = callbacks_;
    callbacks_ = nullptr;
  }
  // Newest first in the list: reverse to run in the order added.
  CallbackNode* ordered = nullptr;
  while (list) {
    CallbackNode* next = list->next;
    list->next = ordered;
    ordered = list;
    list = next;
  }
  while (ordered) {
    CallbackNode* next = ordered->next;
    try {
      ordered->fn(*this);
    } catch (...) {
      report_exception("exception calling callback for", repr(), std::current_exception());
    }
    delete ordered;
    ordered = next;
  }
}

bool StateBase::wait_done(const Deadline& deadline) const noexcept {
  std::uint32_t w = word_.load(std::memory_order_acquire);
  while (!is_done(w)) {
    if (!(w & kSleepers)) {
      if (!word_.compare_exchange_weak(w, w | kSleepers, std::memory_order_acq_rel)) continue;
      w |= kSleepers;
    }
    if (!os::futex_wait(word_, w, deadline)) return is_done(word_.load(std::memory_order_acquire));
    w = word_.load(std::memory_order_acquire);
  }
  return true;
}

void StateBase::wait_finished(const Timeout& timeout) const {
  if (!wait_done(Deadline(timeout)))
    throw TimeoutError("the future did not finish within the timeout");
  const std::uint32_t s = word_.load(std::memory_order_acquire) & kStateMask;
  if (s == kCancelled || s == kCancelledNotified) throw futures::CancelledError();
}

bool StateBase::add_callback(Callback cb) {
  {
    std::unique_lock lock(mu_);
    std::uint32_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      if (is_done(w)) break;
      if ((w & kCallbacks) ||
          word_.compare_exchange_weak(w, w | kCallbacks, std::memory_order_acq_rel)) {
        callbacks_ = new CallbackNode{callbacks_, std::move(cb)};
        return true;
      }
    }
  }
  try {
    cb(*this);
  } catch (...) {
    report_exception("exception calling callback for", repr(), std::current_exception());
  }
  return false;
}

bool StateBase::add_waiter(WaiterNode* node) noexcept {
  if (is_completed(word_.load(std::memory_order_acquire))) return false;  // no lock needed
  std::lock_guard lock(mu_);
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (is_completed(w)) return false;
    if ((w & kWaiters) || word_.compare_exchange_weak(w, w | kWaiters, std::memory_order_acq_rel)) {
      node->next = waiters_;
      waiters_ = node;
      return true;
    }
  }
}

void StateBase::remove_waiter(WaiterNode* node) noexcept {
  std::lock_guard lock(mu_);
  for (WaiterNode** p = &waiters_; *p; p = &(*p)->next) {
    if (*p == node) {
      *p = node->next;
      return;
    }
  }
}

std::string StateBase::repr() const {
  std::ostringstream os;
  os << "<Future at " << static_cast<const void*>(this) << " state=";
  const std::uint32_t s = word_.load(std::memory_order_acquire) & kStateMask;
  switch (s) {
    case kPending:
      os << "pending";
      break;
    case kCancelled:
    case kCancelledNotified:
      os << "cancelled";
      break;
    case kFinished:
      if (has_exception_)
        os << "finished raised " << exception_type_name(exception_);
      else
        os << "finished returned " << type_name(value_type());
      break;
    default:
      os << "running";
      break;
  }
  os << ">";
  return os.str();
}

std::string type_name(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> p(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                           std::free);
  return status == 0 && p ? std::string(p.get()) : std::string(t.name());
}

// --- exception hook ----------------------------------------------------------------

namespace {
std::mutex& hook_mutex() {
  static std::mutex m;
  return m;
}
futures::ExceptionHook& hook() {
  static futures::ExceptionHook h;
  return h;
}
void default_hook(const futures::ExceptionReport& r) {
  std::string line = "concur.futures: ";
  line.append(r.what_happened).append(" ").append(r.context);
  if (r.exception) {
    line += ": " + exception_type_name(r.exception);
    try {
      std::rethrow_exception(r.exception);
    } catch (const std::exception& e) {
      line += ": ";
      line += e.what();
    } catch (...) {
    }
  }
  line += "\n";
  std::fputs(line.c_str(), stderr);
}
}  // namespace

void report_exception(const char* what_happened, const std::string& context,
                      std::exception_ptr e) noexcept {
  try {
    futures::ExceptionHook h;
    {
      std::lock_guard lock(hook_mutex());
      h = hook();
    }
    const futures::ExceptionReport r{what_happened, context, std::move(e)};
    if (h)
      h(r);
    else
      default_hook(r);
  } catch (...) {
    // A hook that throws has nowhere left to report to.
  }
}

}  // namespace concur::futures::detail

namespace concur::futures {
ExceptionHook set_exception_hook(ExceptionHook h) {
  std::lock_guard lock(detail::hook_mutex());
  return std::exchange(detail::hook(), std::move(h));
}
}  // namespace concur::futures
