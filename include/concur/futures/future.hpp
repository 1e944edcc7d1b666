// concur/futures/future.hpp: Future<T>, the result of an asynchronous call.
//
// A Future<T> is a shared handle (copies refer to the same future, like a
// Python reference) with Python's state machine:
//
//   PENDING ──set_running_or_notify_cancel()──▶ RUNNING ──set_result/exception──▶ FINISHED
//      │ cancel()                                  (cancel() returns false here)
//      ▼
//   CANCELLED ──set_running_or_notify_cancel()──▶ CANCELLED_AND_NOTIFIED
//
//   query        PENDING  RUNNING  CANCELLED  CANCELLED_AND_NOTIFIED  FINISHED
//   done()       false    false    true       true                    true
//   cancelled()  false    false    true       true                    false
//   running()    false    true     false      false                   false
//   wait()/as_completed() count a future as completed only when FINISHED or
//   CANCELLED_AND_NOTIFIED (as in CPython).
//
// Example:
//
//   concur::futures::ThreadPoolExecutor pool({.max_workers = 4});
//   concur::futures::Future<int> f = pool.submit([](int x) { return x * x; }, 7);
//   f.add_done_callback([](const auto& done) { std::cout << done.result() << "\n"; });
//   int v = f.result(std::chrono::seconds(1));   // 49, or TimeoutError
//
// Thread safety: every method may be called from any thread at the same time.
// Memory ordering: everything the completing thread did before set_result /
// set_exception happens-before the return of result(), exception(), done() ==
// true, and the start of every done callback.
//
// Python parity:
//  - `Future<T> f;` makes a new PENDING future, like Python's `Future()`.
//  - result() returns a const reference to the stored value (valid while any
//    handle to the future lives); exception() returns a std::exception_ptr.
//  - A done callback receives the future itself (a `const Future<T>&` lvalue,
//    so a generic `[](auto& f)` works; the callable may be move-only); an exception
//    it throws goes to the exception hook (set_exception_hook), never to the
//    code that completed the future. Callbacks run in the order added, in the
//    thread that completes the future, or at once in the adding thread when the
//    future is already done.
//  - A FINISHED future holding an exception that nobody ever read (result(),
//    exception()) is reported to the exception hook when its last handle goes
//    away: an error is never lost silently.
//  - Beyond Python: then() continuations, `co_await future` in a C++20
//    coroutine, functions returning Future<T> may be coroutines, and a task
//    that takes a std::stop_token is asked to stop when cancel() finds it
//    RUNNING (cancel() still returns false then, as in Python; if the task
//    answers by throwing CancelledError, the future ends CANCELLED_AND_NOTIFIED).
#pragma once

#include <concepts>
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "concur/futures/detail/future_state.hpp"
#include "concur/futures/errors.hpp"
#include "concur/timeout.hpp"

namespace concur::futures {

template <class T>
class Future;

/// What the exception hook is told.
struct ExceptionReport {
  std::string_view what_happened;  // e.g. "exception calling callback for"
  std::string_view context;        // e.g. the future's repr
  std::exception_ptr exception;
};
using ExceptionHook = std::function<void(const ExceptionReport&)>;

/// Replaces the hook that receives exceptions nobody else can see: a done
/// callback that threw, a failed future destroyed with its exception unread, a
/// pool initializer that failed. Returns the previous hook. The default writes
/// one line to stderr: "concur.futures: <what_happened> <context>: <type>: <what()>".
/// Passing an empty function restores the default. Thread-safe.
ExceptionHook set_exception_hook(ExceptionHook hook);

namespace detail {
template <class T>
using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// A done callback as the state's std::function needs it (copyable): F itself
/// when it can be copied, else F in a shared box (a move-only callable is
/// called once, from the one copy that runs).
template <class F>
class CopyableCallback {
 public:
  using Call = void (*)(F&, concur::futures::detail::StateBase&);
  CopyableCallback(F f, Call call) : f_(make(std::move(f))), call_(call) {}
  void operator()(concur::futures::detail::StateBase& s) { call_(get(), s); }

 private:
  static constexpr bool kCopy = std::copy_constructible<F>;
  using Held = std::conditional_t<kCopy, F, std::shared_ptr<F>>;
  static Held make(F f) {
    if constexpr (kCopy)
      return f;
    else
      return std::make_shared<F>(std::move(f));
  }
  F& get() {
    if constexpr (kCopy)
      return f_;
    else
      return *f_;
  }
  Held f_;
  Call call_;
};
}  // namespace detail

}  // namespace concur::futures

namespace concur::futures::detail {

/// The typed state: StateBase plus the value.
template <class T>
class State : public StateBase {
 public:
  using Stored = futures::detail::Stored<T>;

  template <class... A>
  void set_value(A&&... a) {
    begin_set();
    try {
      ::new (static_cast<void*>(&storage_)) Stored(std::forward<A>(a)...);
    } catch (...) {
      // The value's constructor threw: the future fails with that exception.
      set_exception_claimed(std::current_exception());
      return;
    }
    has_value_ = true;
    publish();
  }
  const Stored& value() const noexcept {
    return *std::launder(reinterpret_cast<const Stored*>(&storage_));
  }
  /// The value, to move out of a finished state by the one owner that reads it (a map's
  /// chunk futures, which users never see): no other reader may remain.
  Stored& owned_value() noexcept { return *std::launder(reinterpret_cast<Stored*>(&storage_)); }

 protected:
  ~State() override {
    if (has_value_) std::launder(reinterpret_cast<Stored*>(&storage_))->~Stored();
  }
  const std::type_info& value_type() const noexcept override { return typeid(T); }

 private:
  alignas(Stored) unsigned char storage_[sizeof(Stored)];
  bool has_value_ = false;
};

}  // namespace concur::futures::detail

namespace concur::futures {

/// A type-erased handle to a future of any value type: what wait() and
/// as_completed() take when futures of different types are mixed. Equality
/// and hashing are by identity of the future.
class AnyFuture {
 public:
  AnyFuture() noexcept = default;
  explicit AnyFuture(std::nullptr_t) noexcept {}
  template <class T>
  AnyFuture(const Future<T>& f) noexcept  // NOLINT(google-explicit-constructor)
      : state_(detail::Ref<detail::StateBase>::share(f.state_.get())) {}

  bool cancel() const noexcept { return state().cancel(); }
  [[nodiscard]] bool cancelled() const noexcept {
    const auto s = state().state();
    return s == FutureState::CANCELLED || s == FutureState::CANCELLED_AND_NOTIFIED;
  }
  [[nodiscard]] bool running() const noexcept { return state().state() == FutureState::RUNNING; }
  [[nodiscard]] bool done() const noexcept { return state().done(); }
  [[nodiscard]] FutureState state_now() const noexcept { return state().state(); }
  /// As Future<T>::exception().
  std::exception_ptr exception(const Timeout& timeout = {}) const {
    state().wait_finished(timeout);
    return state().exception_ptr();
  }
  /// Blocks until done; false on timeout. Never throws for the outcome.
  bool wait(const Timeout& timeout = {}) const { return state().wait_done(Deadline(timeout)); }
  [[nodiscard]] std::string repr() const { return state_ ? state_->repr() : "<Future (empty)>"; }
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(state_); }

  friend bool operator==(const AnyFuture& a, const AnyFuture& b) noexcept {
    return a.state_.get() == b.state_.get();
  }
  [[nodiscard]] detail::StateBase* state_ptr() const noexcept { return state_.get(); }

 private:
  detail::StateBase& state() const {
    if (!state_) throw InvalidStateError("the future handle is empty (moved from)");
    return *state_;
  }
  detail::Ref<detail::StateBase> state_;
};

namespace detail {
/// What Future<T>::then accepts (one named constraint, so that the out-of-line definition
/// matches the declaration for every compiler).
template <class F, class T>
concept then_callable = std::move_constructible<F> &&
    (std::invocable<F&, const Future<T>&> ||
     (std::is_void_v<T> ? std::invocable<F&> : std::invocable<F&, const Stored<T>&>));
}  // namespace detail

template <class T>
class Future {
 public:
  using value_type = T;
  /// What result() returns: `const T&`, or void.
  using result_type = std::conditional_t<std::is_void_v<T>, void, const detail::Stored<T>&>;

  /// A new PENDING future (Python: Future()). For executor writers and tests.
  Future() : state_(detail::Ref<detail::State<T>>::adopt(new Plain)) {}
  /// An empty handle (no future), like a moved-from one.
  explicit Future(std::nullptr_t) noexcept {}

  // --- state --------------------------------------------------------------------
  /// PENDING: becomes CANCELLED, wakes result() waiters, runs the callbacks,
  /// returns true. CANCELLED / CANCELLED_AND_NOTIFIED: true. RUNNING or
  /// FINISHED: false (a running task that takes a std::stop_token is asked to
  /// stop). Never blocks.
  bool cancel() const noexcept { return st().cancel(); }
  [[nodiscard]] bool cancelled() const noexcept {
    const auto s = st().state();
    return s == FutureState::CANCELLED || s == FutureState::CANCELLED_AND_NOTIFIED;
  }
  [[nodiscard]] bool running() const noexcept { return st().state() == FutureState::RUNNING; }
  [[nodiscard]] bool done() const noexcept { return st().done(); }
  /// The state now (Python's private _state).
  [[nodiscard]] FutureState state_now() const noexcept { return st().state(); }

  // --- outcome -------------------------------------------------------------------
  /// Blocks until done or `timeout`. Returns the value; rethrows the stored
  /// exception; throws CancelledError if cancelled, TimeoutError on timeout
  /// (a zero timeout polls). ValueError for a negative timeout.
  result_type result(const Timeout& timeout = {}) const {
    st().wait_finished(timeout);
    st().mark_retrieved();
    if (st().has_exception()) std::rethrow_exception(st().exception_ptr());
    if constexpr (!std::is_void_v<T>) return st().value();
  }
  /// Blocks like result(); returns the stored exception, or null on success.
  /// Throws CancelledError if cancelled, TimeoutError on timeout.
  std::exception_ptr exception(const Timeout& timeout = {}) const {
    st().wait_finished(timeout);
    return st().exception_ptr();
  }
  /// Blocks until done (any done state) or timeout; returns done(). Never
  /// throws for the outcome (beyond Python: a wait that reads nothing).
  bool wait(const Timeout& timeout = {}) const { return st().wait_done(Deadline(timeout)); }

  // --- callbacks -----------------------------------------------------------------
  /// Calls fn(future) once the future is done (FINISHED or cancelled); at once
  /// in this thread if it already is. Callbacks run in the order added. An
  /// exception thrown by fn goes to the exception hook. fn is called as an
  /// lvalue with a `const Future<T>&` lvalue naming this future (as CPython
  /// calls fn(future)), so `[](const auto& f)`, `[](auto& f)` and
  /// `[](Future<T> f)` all work; fn may be move-only.
  template <class F>
  requires std::move_constructible<F> && std::invocable < F&, const Future<T>
  & > void add_done_callback(F fn) const {
    st().add_callback(detail::CopyableCallback<F>(std::move(fn), [](F& f, detail::StateBase& s) {
      const Future self(detail::Ref<detail::State<T>>::share(static_cast<detail::State<T>*>(&s)));
      std::invoke(f, self);
    }));
  }

  // --- for executor writers ------------------------------------------------------
  /// PENDING → RUNNING, true. CANCELLED → CANCELLED_AND_NOTIFIED (wakes
  /// wait()/as_completed()), false. Otherwise RuntimeError.
  bool set_running_or_notify_cancel() const { return st().set_running_or_notify_cancel(); }
  /// Stores the value, FINISHED. InvalidStateError if already done.
  template <class... A>
  requires(std::is_void_v<T> ? sizeof...(A) == 0
                             : std::constructible_from<T, A...>) void set_result(A&&... a) const {
    st().set_value(std::forward<A>(a)...);
  }
  /// Stores the exception, FINISHED. InvalidStateError if already done;
  /// ValueError for a null exception_ptr.
  void set_exception(std::exception_ptr e) const {
    if (!e) throw ValueError("set_exception needs an exception (got a null exception_ptr)");
    st().set_exception(std::move(e));
  }
  template <class E>
  requires std::derived_from<std::decay_t<E>, std::exception>
  void set_exception(E&& e) const { set_exception(std::make_exception_ptr(std::forward<E>(e))); }

  // --- beyond Python ---------------------------------------------------------------
  /// A continuation: a new future completed with fn's outcome once this one is
  /// done. fn takes the value (`const T&`, or nothing for void) and then runs
  /// only on success; the new future takes this one's exception or
  /// cancellation as is. Or fn takes `const Future<T>&` and always runs. fn runs
  /// where a done callback would (the completing thread, or here if done).
  /// Cancelling the returned future before this one is done stops fn from running.
  /// fn is called as an lvalue, with a `const Future<T>&` or a `const T&` lvalue;
  /// it may be move-only. When fn accepts both, it gets the future. A generic
  /// lambda with a deduced return type is tried with the future first, so its
  /// body must compile for one (write the parameter type to take the value).
  template <class F>
  requires detail::then_callable<F, T>
  auto then(F fn) const;

  /// `co_await future` in a coroutine: resumes (in the completing thread, or at
  /// once if done) with result(), or throws what result() throws.
  auto operator co_await() const noexcept {
    struct Awaiter {
      Future f;
      bool await_ready() const noexcept { return f.done(); }
      bool await_suspend(std::coroutine_handle<> h) const {
        return f.st().add_callback([h](detail::StateBase&) { h.resume(); });
      }
      result_type await_resume() const { return f.result(); }
    };
    return Awaiter{*this};
  }

  struct promise_type;

  /// "<Future at 0x... state=finished returned int>".
  [[nodiscard]] std::string repr() const { return state_ ? state_->repr() : "<Future (empty)>"; }
  friend std::ostream& operator<<(std::ostream& os, const Future& f) { return os << f.repr(); }
  /// False only for a moved-from handle; every other call on one throws InvalidStateError.
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(state_); }
  friend bool operator==(const Future& a, const Future& b) noexcept {
    return a.state_.get() == b.state_.get();
  }

  /// For executors: a handle on a state they made (adopts one reference).
  explicit Future(detail::Ref<detail::State<T>> s) noexcept : state_(std::move(s)) {}
  [[nodiscard]] detail::State<T>* state_ptr() const noexcept { return state_.get(); }

 private:
  friend class AnyFuture;
  struct Plain final : detail::State<T> {};
  detail::State<T>& st() const {
    if (!state_) throw InvalidStateError("the future handle is empty (moved from)");
    return *state_;
  }
  detail::Ref<detail::State<T>> state_;
};

// --- coroutine support ---------------------------------------------------------------
namespace detail {
template <bool TakesFuture, class T, class F>
struct ThenResult {
  using type = std::invoke_result_t<F&, const Future<T>&>;
};
template <class T, class F>
struct ThenResult<false, T, F> {
  using type = std::invoke_result_t<F&, const T&>;
};
template <class F>
struct ThenResult<false, void, F> {
  using type = std::invoke_result_t<F&>;
};
template <class T>
struct PromiseBase {
  Future<T> future;
  template <class V>
  void return_value(V&& v) {
    future.set_result(std::forward<V>(v));
  }
};
template <>
struct PromiseBase<void> {
  Future<void> future;
  void return_void() { future.set_result(); }
};
}  // namespace detail

/// A function returning Future<T> may be a coroutine: it starts at once (runs
/// in the caller's thread until its first co_await that suspends), the future
/// is RUNNING meanwhile, and co_return / an escaping exception completes it.
template <class T>
struct Future<T>::promise_type : detail::PromiseBase<T> {
  Future get_return_object() {
    this->future.set_running_or_notify_cancel();
    return this->future;
  }
  std::suspend_never initial_suspend() noexcept { return {}; }
  std::suspend_never final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept {
    try {
      this->future.set_exception(std::current_exception());
    } catch (...) {
    }
  }
};

template <class T>
template <class F>
requires detail::then_callable<F, T>
auto Future<T>::then(F fn) const {
  constexpr bool takes_future = std::is_invocable_v<F&, const Future<T>&>;
  using U = typename detail::ThenResult<takes_future, T, F>::type;
  Future<U> next;
  add_done_callback([next, fn = std::move(fn)](const Future<T>& self) mutable {
    if (!next.set_running_or_notify_cancel()) return;  // the continuation was cancelled
    try {
      if constexpr (!takes_future) {
        if (self.cancelled()) {
          next.state_ptr()->finish_cancelled();
          return;
        }
        if (auto e = self.exception()) {
          next.set_exception(e);
          return;
        }
      }
      auto call = [&]() -> decltype(auto) {
        if constexpr (takes_future)
          return std::invoke(fn, self);
        else if constexpr (std::is_void_v<T>)
          return std::invoke(fn);
        else
          return std::invoke(fn, self.result());
      };
      if constexpr (std::is_void_v<U>) {
        call();
        next.set_result();
      } else {
        next.set_result(call());
      }
    } catch (...) {
      next.set_exception(std::current_exception());
    }
  });
  return next;
}

}  // namespace concur::futures

template <class T>
struct std::hash<concur::futures::Future<T>> {
  std::size_t operator()(const concur::futures::Future<T>& f) const noexcept {
    return std::hash<const void*>()(f.state_ptr());
  }
};
template <>
struct std::hash<concur::futures::AnyFuture> {
  std::size_t operator()(const concur::futures::AnyFuture& f) const noexcept {
    return std::hash<const void*>()(f.state_ptr());
  }
};
