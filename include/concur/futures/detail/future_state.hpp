// concur/futures/detail/future_state.hpp: the shared state behind every Future.
// Internal: users see it only through Future<T> and AnyFuture.
//
// One allocation per future, reference counted (intrusive). For an executor's
// task the callable and its arguments live in the same allocation (see
// executor.hpp), so a submit costs one allocation.
//
// The state word packs the Python state (low 3 bits) with three flags:
//
//   bit 0-2  PENDING | RUNNING | CANCELLED | CANCELLED_AND_NOTIFIED | FINISHED | SETTING
//   bit 3    SLEEPERS   a thread blocks in result()/exception() (futex on the word)
//   bit 4    CALLBACKS  the callback list is not empty
//   bit 5    WAITERS    the waiter list (wait/as_completed) is not empty
//
// Every transition is a CAS on the word, so exactly one of two racing
// transitions wins. SETTING is the private step between "claimed by
// set_result/set_exception" and FINISHED, while the value is written; it
// counts as not done. The lists are guarded by `mu_`; a completer reads the
// flags it swapped out and takes the lock only when a list is not empty, so a
// future nobody listens to completes with no lock at all.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <stop_token>
#include <string>
#include <typeinfo>
#include <vector>

#include "concur/futures/errors.hpp"
#include "concur/futures/state.hpp"
#include "concur/timeout.hpp"

namespace concur::futures {
class AnyFuture;
}  // namespace concur::futures

namespace concur::futures::detail {

class MultiWaiter;
class StateBase;

/// A queue outside this process holding an executor's tasks while they are PENDING
/// (distributed::Executor: a Redis stream that workers read). A task on one has its
/// StateBase::remote_ set: cancel() of it while PENDING first asks the queue to take it off.
class RemoteQueue {
 public:
  /// Takes `task` (the backend's number `id` for it) off the queue if no worker has taken
  /// it yet: true, and cancel() then cancels it (nothing will run it); false when a worker
  /// took it, it is done or being completed, or the queue cannot say (cancel() returns
  /// false). Called only while the future is PENDING; may block (a round trip); never throws.
  virtual bool dequeue(StateBase& task, std::uint64_t id) noexcept = 0;

 protected:
  RemoteQueue() = default;
  ~RemoteQueue() = default;
  RemoteQueue(const RemoteQueue&) = default;
  RemoteQueue& operator=(const RemoteQueue&) = default;
};

/// A node of a future's waiter list: one per (wait()/as_completed() call, future).
struct WaiterNode {
  WaiterNode* next = nullptr;
  MultiWaiter* waiter = nullptr;
  std::uint32_t index = 0;  // the future's position in the waiter's input
};

class StateBase {
 public:
  static constexpr std::uint32_t kStateMask = 7;
  static constexpr std::uint32_t kSetting = 5;
  static constexpr std::uint32_t kSleepers = 1U << 3;
  static constexpr std::uint32_t kCallbacks = 1U << 4;
  static constexpr std::uint32_t kWaiters = 1U << 5;

  StateBase() noexcept = default;
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;

  // --- reference counting -------------------------------------------------
  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) last_release();
  }

  // --- state queries (acquire: a done state makes the value visible) -------
  [[nodiscard]] futures::FutureState state() const noexcept {
    const std::uint32_t s = word_.load(std::memory_order_acquire) & kStateMask;
    return s == kSetting ? futures::FutureState::RUNNING : static_cast<futures::FutureState>(s);
  }
  [[nodiscard]] static bool is_done(std::uint32_t w) noexcept {
    const std::uint32_t s = w & kStateMask;
    return s >= 2 && s <= 4;
  }
  /// FINISHED or CANCELLED_AND_NOTIFIED: what wait() and as_completed() count.
  [[nodiscard]] static bool is_completed(std::uint32_t w) noexcept {
    const std::uint32_t s = w & kStateMask;
    return s == 3 || s == 4;
  }
  [[nodiscard]] bool done() const noexcept {
    return is_done(word_.load(std::memory_order_acquire));
  }
  [[nodiscard]] bool has_exception() const noexcept { return has_exception_; }

  // --- transitions -----------------------------------------------------------
  /// Python's cancel(): true if PENDING (now CANCELLED) or already cancelled.
  /// A RUNNING task that accepts a std::stop_token is asked to stop. A PENDING task on a
  /// remote queue (remote_ set) is cancelled only if the queue gives it up (dequeue), and is
  /// then CANCELLED_AND_NOTIFIED at once (no worker will ever see it).
  bool cancel() noexcept;
  /// For executors: a task taken off their queue that nothing will run: PENDING or
  /// CANCELLED -> CANCELLED_AND_NOTIFIED (true); false if RUNNING or done otherwise.
  bool cancel_and_notify() noexcept;
  /// Python's set_running_or_notify_cancel().
  bool set_running_or_notify_cancel();
  /// Claims the right to complete (PENDING/RUNNING -> SETTING) or throws
  /// InvalidStateError; the caller then stores the outcome and calls publish().
  void begin_set();
  void set_exception(std::exception_ptr e);
  /// After begin_set(): stores the exception and publishes.
  void set_exception_claimed(std::exception_ptr e) noexcept;
  /// SETTING -> FINISHED, wakes and notifies everyone.
  void publish() noexcept;
  /// RUNNING -> CANCELLED_AND_NOTIFIED: a running task that stopped on request
  /// by throwing CancelledError. No-op in any other state.
  void finish_cancelled() noexcept;

  // --- waiting ----------------------------------------------------------------
  /// Blocks until done (any done state) or the deadline; false on timeout.
  bool wait_done(const Deadline& deadline) const noexcept;
  /// Throws CancelledError or TimeoutError unless the future finished in time.
  void wait_finished(const Timeout& timeout) const;

  // --- listeners ----------------------------------------------------------------
  using Callback = std::function<void(StateBase&)>;
  /// Runs `cb` when the future is done (at once, in this thread, if it is).
  /// Returns true if it was queued, false if it ran now.
  bool add_callback(Callback cb);
  /// Registers a wait()/as_completed() waiter unless the future is already
  /// completed (FINISHED or CANCELLED_AND_NOTIFIED); returns false then.
  bool add_waiter(WaiterNode* node) noexcept;
  /// Unregisters it if still there (after the wait ends).
  void remove_waiter(WaiterNode* node) noexcept;

  // --- for executors ----------------------------------------------------------------
  /// Runs the task this state belongs to (executor tasks override it).
  virtual void run() noexcept {}
  /// The bound call (concur/detail/bound_call.hpp) as a registry request, for a backend that
  /// runs it in another process (registry.hpp's invoke there, complete_from_reply here).
  /// Throws TypeError naming the types when the call cannot cross (a closure that is not
  /// trivially copyable, a task taking a std::stop_token, ...); ValueError for an
  /// unregistered function pointer. A state that is not an executor's task: TypeError.
  [[nodiscard]] virtual std::vector<std::byte> encode_call() const;
  /// Completes the future from the reply to encode_call()'s request: the value, or the
  /// exception it carries (its own type when the codec knows it, else RemoteError); a
  /// malformed reply completes it with ValueError. Does nothing if it is already done.
  virtual void complete_from_reply(std::span<const std::byte> reply) noexcept;
  /// Releases the callable and the arguments (after encode_call: the executor then holds no
  /// reference to them, as CPython's test_no_stale_references checks).
  virtual void drop_call() noexcept {}
  /// Intrusive link for executors' queues.
  std::atomic<StateBase*> next_task_{nullptr};
  /// Set by tasks that take a std::stop_token: cancel() of a RUNNING task
  /// requests a stop through it.
  std::stop_source* stop_ = nullptr;
  /// Set (with remote_id_) by a backend whose PENDING tasks wait on a RemoteQueue, before
  /// the future is handed out; it must outlive every call of dequeue made through it.
  RemoteQueue* remote_ = nullptr;
  std::uint64_t remote_id_ = 0;

  /// The repr Python prints: <Future at 0x... state=finished returned int>.
  [[nodiscard]] std::string repr() const;
  /// The stored exception (null unless finished with one). Marks it retrieved.
  [[nodiscard]] std::exception_ptr exception_ptr() const noexcept {
    retrieved_.store(true, std::memory_order_relaxed);
    return exception_;
  }
  void mark_retrieved() const noexcept { retrieved_.store(true, std::memory_order_relaxed); }

 protected:
  virtual ~StateBase();
  virtual void destroy() noexcept { delete this; }
  [[nodiscard]] virtual const std::type_info& value_type() const noexcept = 0;

 private:
  void last_release() noexcept;
  /// After a transition out of `old` (the word before it): wakes sleepers, runs
  /// the callbacks when the new state is done, notifies the waiters when it is
  /// completed.
  void after_transition(std::uint32_t old, std::uint32_t now) noexcept;

  mutable std::atomic<std::uint32_t> word_{0};
  std::atomic<std::uint32_t> refs_{1};
  bool has_exception_ = false;
  mutable std::atomic<bool> retrieved_{false};
  std::exception_ptr exception_;
  mutable std::mutex mu_;
  struct CallbackNode;
  CallbackNode* callbacks_ = nullptr;  // newest first
  WaiterNode* waiters_ = nullptr;
};

/// Intrusive owning pointer to a StateBase (or derived).
template <class S>
class Ref {
 public:
  Ref() noexcept = default;
  /// Adopts one reference.
  static Ref adopt(S* p) noexcept {
    Ref r;
    r.p_ = p;
    return r;
  }
  /// Takes a new reference.
  static Ref share(S* p) noexcept {
    if (p) p->retain();
    return adopt(p);
  }
  Ref(const Ref& o) noexcept : p_(o.p_) {
    if (p_) p_->retain();
  }
  Ref(Ref&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  Ref& operator=(Ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~Ref() {
    if (p_) p_->release();
  }
  S* get() const noexcept { return p_; }
  S* operator->() const noexcept { return p_; }
  S& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /// Gives up ownership without releasing.
  S* leak() noexcept {
    S* p = p_;
    p_ = nullptr;
    return p;
  }

 private:
  S* p_ = nullptr;
};

/// Reports an exception nobody else will see (a done callback that threw, a
/// failed future destroyed unread, a pool initializer that failed) to the hook
/// installed by futures::set_exception_hook.
void report_exception(const char* what_happened, const std::string& context,
                      std::exception_ptr e) noexcept;

/// Human-readable name of a C++ type (demangled).
std::string type_name(const std::type_info& t);

}  // namespace concur::futures::detail
