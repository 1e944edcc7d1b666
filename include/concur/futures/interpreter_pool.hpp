// concur/futures/interpreter_pool.hpp: InterpreterPoolExecutor (Python 3.14), workers that
// share no mutable state.
//
//   struct Db { sqlite3* conn; ... };                     // not thread-safe: one per worker
//   cf::InterpreterPoolExecutor<Db> pool({.max_workers = 4,
//                                         .initializer = [] { return Db(open("app.db")); }});
//   auto f = pool.submit([](Db& db, std::string q) { return db.count(q); }, query);
//   for (long n : pool.map([](Db& db, int id) { return db.size_of(id); }, ids)) ...
//
//   cf::InterpreterPoolExecutor<> plain;                  // no worker state
//   auto table = cf::shared(std::vector<double>(1'000'000, 1.0));   // immutable, not copied
//   plain.submit([](cf::Shared<std::vector<double>> t, int i) { return (*t)[i]; }, table, 7);
//
// What it is: a ThreadPoolExecutor (same engine: workers started on demand up to
// max_workers, idle ones reused, named "<prefix>_<k>") whose workers are isolated the way
// Python's interpreters are:
//   - Private state: each worker builds its own Ctx with the initializer, in that worker,
//     before its first task; a task whose callable takes Ctx& as its first parameter gets
//     the Ctx of the worker that runs it, and nothing else can reach it (no task gets a
//     reference to another worker's Ctx, the caller never gets one). The Ctx is destroyed in
//     its worker when the worker ends (at shutdown). Without an initializer Ctx is
//     value-initialised in place (it need not be movable: a mutex, a C handle); one the
//     initializer returns is moved into place. A library that is not thread-safe (a parser, a
//     database connection, a random generator, an embedded interpreter) gets one instance per
//     worker, each used by one thread only.
//   - Arguments and results cross by copy through the codec (multiprocessing/codec.hpp):
//     the callable and the arguments are encoded at submit and decoded by the worker, the
//     result is encoded by the worker and decoded before the future completes. A task
//     therefore holds no reference into the caller or another worker. What the codec
//     cannot carry (raw pointers, references, std::reference_wrapper, std::string_view,
//     std::span, std::function, a closure capturing a std::string) is a compile error: the
//     submit and map overloads are constrained on it. Trivially copyable values are copied
//     as their bytes (which is what the codec does with them) without a buffer.
//     Function pointers cross as themselves (code is immutable; no registration needed).
//   - Shared<T> (made by shared(value)) is the one exception: an immutable value every worker
//     reads without a copy (Python's `shared=`); it crosses as a reference-counted handle to
//     a const T. T's const member functions must be safe to call from several threads at
//     once (true of the standard library's types).
//   - An exception a task throws reaches the future as ExecutionFailed (its type name, its
//     message, and the exception itself, copied through the codec, as original()).
//
// Not detected (the codec's limit): a trivially copyable type that holds a pointer (a
// struct with an int*, a lambda capturing by reference) is copied as bytes, pointer
// included; such a task could reach what the pointer points to. Capture by value.
//
// Blocking: submit and map never block on tasks (submit may start a thread; it encodes the
// arguments). shutdown(wait = true) and the destructor block until every queued task has
// run and the workers (and their Ctx) are gone.
//
// Errors: max_workers <= 0 → ValueError("max_workers must be greater than 0"); submit after
// shutdown → RuntimeError("cannot schedule new futures after shutdown"). If the initializer
// throws in a worker, the pool is broken: the error goes to the exception hook as an
// ExecutionFailed ("Exception in initializer:"), every queued future fails with
// BrokenInterpreterPool, and submit throws BrokenInterpreterPool from then on (never a
// hang). An argument that fails to decode in the worker (a cereal load that throws) fails
// the future with that ValueError (not ExecutionFailed: the task never ran).
//
// Used through an Executor& (Executor::submit, Executor::map), a task's call crosses as a
// registry request (concur/detail/bound_call.hpp: CONCUR_REGISTERed function pointers,
// trivially copyable closures), refused with TypeError at submit when it cannot, and runs
// in a worker through multiprocessing::invoke; such a task cannot take the Ctx.
//
// Python parity (3.14's concurrent.futures.InterpreterPoolExecutor, test_interpreter_pool.py):
//  - options max_workers, thread_name_prefix, initializer as Python's; initargs: capture
//    them in the initializer (each worker calls its own copy of it, so captures are not
//    shared between workers either); shared= → Shared<T> arguments (or captured by the
//    initializer); scripts (a str as initializer or task) are not provided.
//  - Python 3.14 raises the task's own exception with ExecutionFailed as its __cause__;
//    here the future's exception is the ExecutionFailed and original() is the cause's other
//    end (C++ cannot chain a cause onto an arbitrary exception).
//  - Python refuses an unshareable callable or argument (a closure, a local class) with
//    NotShareableError when the task runs; here it does not compile.
//  - A task may not take a std::stop_token (it could not cross).
//  - map, buffersize, chunksize, progress and shutdown behave as in executor.hpp.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "concur/detail/bound_call.hpp"
#include "concur/futures/errors.hpp"
#include "concur/futures/executor.hpp"
#include "concur/futures/thread_pool.hpp"
#include "concur/multiprocessing/codec.hpp"

namespace concur::futures {

/// An immutable value that every worker of an InterpreterPoolExecutor reads without a copy
/// (Python's `shared=`): a reference-counted handle to a const T. Copying it copies the
/// handle.
template <class T>
class Shared {
 public:
  explicit Shared(std::shared_ptr<const T> value) : value_(std::move(value)) {
    if (!value_) throw ValueError("Shared: a null value");
  }
  const T& operator*() const noexcept { return *value_; }
  const T* operator->() const noexcept { return value_.get(); }
  [[nodiscard]] const T& get() const noexcept { return *value_; }

 private:
  std::shared_ptr<const T> value_;
};

/// `value`, moved (or copied) once into an immutable Shared.
template <class T>
Shared<std::decay_t<T>> shared(T&& value) {
  return Shared<std::decay_t<T>>(std::make_shared<const std::decay_t<T>>(std::forward<T>(value)));
}

template <class Ctx = void>
struct InterpreterPoolOptions {
  /// Number of workers at most; default min(32, cpu_count + 4).
  std::optional<int> max_workers{};
  /// OS name prefix of the workers; default "ThreadPoolExecutor-<n>" (as CPython's).
  std::string thread_name_prefix{};
  /// Run by each worker (its own copy) before its first task; for a typed pool it returns
  /// that worker's Ctx. Python's initializer + initargs: capture the arguments.
  std::function<Ctx()> initializer{};
};

namespace detail {

template <class T>
struct is_shared : std::false_type {};
template <class T>
struct is_shared<Shared<T>> : std::true_type {};

/// A value that can cross into or out of an isolated worker.
template <class T>
concept Isolatable = is_shared<T>::value || multiprocessing::Picklable<T>;
/// A callable that can: a function pointer (code), or a value that can.
template <class F>
concept IsolatableCallable = concur::detail::is_function_pointer<F>::value || Isolatable<F>;

template <class Ctx, class Fn, class... Args>
constexpr bool takes_context() {
  if constexpr (std::is_void_v<Ctx>) {
    return false;
  } else {
    return std::is_invocable_v<Fn&&, Ctx&, Args&&...>;
  }
}

template <class Ctx, class Fn, class... Args>
struct isolated_result {
  using type = std::invoke_result_t<Fn&&, Args&&...>;
};
template <class Ctx, class Fn, class... Args>
requires(takes_context<Ctx, Fn, Args...>()) struct isolated_result<Ctx, Fn, Args...> {
  using type = std::invoke_result_t<Fn&&, Ctx&, Args&&...>;
};

template <class R>
constexpr bool isolatable_result() {
  return std::is_void_v<R> || (!std::is_reference_v<R> && Isolatable<std::remove_cv_t<R>>);
}

template <class Ctx, class Fn, class... Args>
constexpr bool isolated_invocation_ok() {
  if constexpr (takes_context<Ctx, Fn, Args...>()) {
    return isolatable_result<std::invoke_result_t<Fn&&, Ctx&, Args&&...>>();
  } else if constexpr (std::is_invocable_v<Fn&&, Args&&...>) {
    return isolatable_result<std::invoke_result_t<Fn&&, Args&&...>>();
  } else {
    return false;
  }
}

template <class Ctx, class F, class... A>
constexpr bool isolated_call_ok() {
  using Fn = std::decay_t<F>;
  if constexpr (!std::is_constructible_v<Fn, F> ||
                !(std::is_constructible_v<std::decay_t<A>, A> && ...) || !IsolatableCallable<Fn> ||
                !(Isolatable<std::decay_t<A>> && ...)) {
    return false;
  } else {
    return isolated_invocation_ok<Ctx, Fn, std::decay_t<A>...>();
  }
}

/// What InterpreterPoolExecutor<Ctx>::submit(fn, args...) accepts: fn callable (as an
/// rvalue, with the argument copies as rvalues) with or without the worker's Ctx& first,
/// and fn, every argument and the result able to cross (Isolatable).
template <class Ctx, class F, class... A>
concept isolated_submittable = isolated_call_ok<Ctx, F, A...>();

/// How one value crosses into a worker: kept as itself (a Shared handle, a function pointer,
/// a trivially copyable value: its bytes, what the codec would copy) or encoded by the codec
/// now and decoded by take(), in the worker.
template <class T>
class Carry {
 public:
  static constexpr bool kAsIs = is_shared<T>::value ||
                                concur::detail::is_function_pointer<T>::value ||
                                std::is_trivially_copyable_v<T>;

  template <class U>
  explicit Carry(std::in_place_t /*tag*/, U&& v) {
    if constexpr (kAsIs) {
      storage_.emplace(std::forward<U>(v));
    } else {
      multiprocessing::encode(storage_, static_cast<const T&>(v));
    }
  }
  /// The value, as a new object (decoded). Call once.
  T take() {
    if constexpr (kAsIs) {
      return std::move(*storage_);
    } else {
      multiprocessing::Reader in(storage_);
      T v = multiprocessing::decode<T>(in);
      in.expect_end();
      return v;
    }
  }

 private:
  std::conditional_t<kAsIs, std::optional<T>, multiprocessing::Buffer> storage_{};
};

/// The Ctx of the calling worker thread (one slot per thread and Ctx type: a worker belongs
/// to one pool).
template <class Ctx>
inline thread_local std::optional<Ctx> t_worker_context;

template <class Ctx>
Ctx& worker_context() {
  auto& slot = t_worker_context<Ctx>;
  if (!slot) throw RuntimeError("InterpreterPoolExecutor: this thread has no worker state");
  return *slot;
}

/// A copy of exception `e` made through the codec (the same class for the exceptions it
/// rebuilds, multiprocessing::RemoteError otherwise): what may leave a worker.
std::exception_ptr isolate_exception(const std::exception_ptr& e) noexcept;
/// ExecutionFailed(type name of `original`, its message, original).
std::exception_ptr execution_failed(const std::exception_ptr& original) noexcept;

/// A task of InterpreterPoolExecutor::submit: the callable and the arguments as Carry
/// values; the worker decodes them, calls, and sends the result back through the codec.
template <class Ctx, class R, class Fn, class... Args>
class IsolatedTask final : public State<R> {
 public:
  static constexpr bool kTakesContext = takes_context<Ctx, Fn, Args...>();

  template <class F, class... A>
  explicit IsolatedTask(F&& f, A&&... a)
      : call_(std::in_place, Carry<Fn>(std::in_place, std::forward<F>(f)),
              std::tuple<Carry<Args>...>(Carry<Args>(std::in_place, std::forward<A>(a))...)) {}

  void run() noexcept override {
    bool runnable = false;
    try {
      runnable = this->set_running_or_notify_cancel();
    } catch (...) {  // completed by someone else (set_result by hand): nothing to run
    }
    if (runnable) execute();
    call_.reset();  // release the encoded call now
  }

  void drop_call() noexcept override { call_.reset(); }

 private:
  void execute() noexcept {
    // 1. Decode: a failure here is not the task's (it never ran): delivered as itself.
    // (call_decoded is noexcept: what this handler catches comes from the decoding.)
    try {
      Fn fn = call_->first.take();
      std::tuple<Args...> args =
          std::apply([](auto&... c) { return std::tuple<Args...>{c.take()...}; }, call_->second);
      call_decoded(std::move(fn), std::move(args));
    } catch (...) {
      fail(std::current_exception());
    }
  }
  // 2. Call: an exception is the task's: ExecutionFailed. The callable and the arguments
  // go before the result is decoded.
  void call_decoded(Fn fn_in, std::tuple<Args...> args_in) noexcept {
    try {
      if constexpr (std::is_void_v<R>) {
        invoke(fn_in, args_in);
        succeed();
      } else {
        Carry<R> out = [&] {
          Fn fn = std::move(fn_in);
          std::tuple<Args...> args = std::move(args_in);
          return Carry<R>(std::in_place, invoke(fn, args));
        }();
        // 3. The result, decoded (a decoding failure is delivered as itself).
        R value = [&]() -> R {
          try {
            return out.take();
          } catch (...) {
            throw Undecodable{std::current_exception()};
          }
        }();
        succeed(std::move(value));
      }
    } catch (const Undecodable& u) {
      fail(u.error);
    } catch (...) {
      fail(execution_failed(isolate_exception(std::current_exception())));
    }
  }
  struct Undecodable {
    std::exception_ptr error;
  };
  static decltype(auto) invoke(Fn& fn, std::tuple<Args...>& args) {
    return std::apply(
        [&fn](Args&... a) -> decltype(auto) {
          if constexpr (kTakesContext) {
            return std::invoke(std::move(fn), worker_context<Ctx>(), std::move(a)...);
          } else {
            return std::invoke(std::move(fn), std::move(a)...);
          }
        },
        args);
  }
  template <class... V>
  void succeed(V&&... v) noexcept {
    try {
      this->set_value(std::forward<V>(v)...);
    } catch (...) {  // already completed by hand
    }
  }
  void fail(const std::exception_ptr& e) noexcept {
    try {
      this->set_exception(e);
    } catch (...) {
    }
  }

  std::optional<std::pair<Carry<Fn>, std::tuple<Carry<Args>...>>> call_;
};

/// A task made by Executor::submit and given to an InterpreterPoolExecutor through an
/// Executor&: its call encoded as a registry request at submit, run by
/// multiprocessing::invoke in a worker.
class EncodedTask final : public State<void> {
 public:
  EncodedTask(StateBase* task, std::vector<std::byte> request) noexcept
      : task_(task), request_(std::move(request)) {
    task_->retain();
  }
  ~EncodedTask() override { task_->release(); }
  EncodedTask(const EncodedTask&) = delete;
  EncodedTask& operator=(const EncodedTask&) = delete;
  void run() noexcept override;

 private:
  StateBase* task_;
  std::vector<std::byte> request_;
};

/// f(Ctx&, args...) as a callable of args...: how map gives the worker's Ctx to its calls.
template <class Ctx, class Fn>
struct WithContext {
  [[no_unique_address]] Fn fn;
  template <class... A>
  requires std::is_invocable_v<Fn&, Ctx&, A&&...>
  auto operator()(A&&... a) -> std::invoke_result_t<Fn&, Ctx&, A&&...> {
    return std::invoke(fn, worker_context<Ctx>(), std::forward<A>(a)...);
  }
};

/// Whether map(fn, ranges...) on an InterpreterPoolExecutor<Ctx> gives fn the worker's Ctx&.
template <class Ctx, class F, class... Rs>
concept map_takes_context = !std::is_void_v<Ctx> && (std::ranges::input_range<Rs> && ...) &&
                            std::is_invocable_v<std::decay_t<F>&, Ctx&, map_arg_t<Rs>&&...>;

template <class Ctx, class F, class... Rs>
concept isolated_mappable = mappable<F, Rs...> ||
    (map_takes_context<Ctx, F, Rs...>&& mappable<WithContext<Ctx, std::decay_t<F>>, Rs...>);

}  // namespace detail

/// Python 3.14's InterpreterPoolExecutor: see the file comment. Ctx is each worker's private
/// state (void: none).
template <class Ctx = void>
class InterpreterPoolExecutor final : public Executor {
 public:
  using Context = Ctx;

  explicit InterpreterPoolExecutor(InterpreterPoolOptions<Ctx> options = {})
      : pool_(engine_options(std::move(options)), detail::PoolKind::interpreter, finalizer()) {}
  ~InterpreterPoolExecutor() override { pool_.shutdown(true); }

  /// Schedules fn(args...), or fn(ctx, args...) with the running worker's Ctx, and returns
  /// its future. fn and the arguments are encoded here (see the file comment); never blocks
  /// on tasks. Throws RuntimeError after shutdown, BrokenInterpreterPool once broken,
  /// whatever encoding an argument throws (a cereal save function's exception).
  template <class F, class... A>
  requires detail::isolated_submittable<Ctx, F, A...>
  auto submit(F&& fn, A&&... args) {
    using Fn = std::decay_t<F>;
    using R = typename detail::isolated_result<Ctx, Fn, std::decay_t<A>...>::type;
    using T = detail::IsolatedTask<Ctx, R, Fn, std::decay_t<A>...>;
    auto* task = new T(std::forward<F>(fn), std::forward<A>(args)...);
    Future<R> fut(concur::futures::detail::Ref<concur::futures::detail::State<R>>::adopt(task));
    pool_.submit_task(task);
    return fut;
  }

  /// Executor::map (timeout, chunksize, buffersize, progress), each call made as submit
  /// makes it: fn may take the worker's Ctx& first.
  template <class F, class... Rs>
  requires detail::isolated_mappable<Ctx, F, Rs...>
  auto map(F&& fn, Rs&&... ranges) {
    return map(MapOptions{}, std::forward<F>(fn), std::forward<Rs>(ranges)...);
  }
  template <class F, class... Rs>
  requires detail::isolated_mappable<Ctx, F, Rs...>
  auto map(const MapOptions& options, F&& fn, Rs&&... ranges) {
    if constexpr (detail::map_takes_context<Ctx, F, Rs...>) {
      using W = detail::WithContext<Ctx, std::decay_t<F>>;
      check_map<W, Rs...>();
      return detail::run_map(*this, lifetime(), options, false, W{std::forward<F>(fn)},
                             std::forward<Rs>(ranges)...);
    } else {
      check_map<F, Rs...>();
      return detail::run_map(*this, lifetime(), options, false, std::forward<F>(fn),
                             std::forward<Rs>(ranges)...);
    }
  }

  void shutdown(bool wait = true, bool cancel_futures = false) override {
    pool_.shutdown(wait, cancel_futures);
  }

  [[nodiscard]] int max_workers() const noexcept { return pool_.max_workers(); }
  /// Beyond Python: threads, idle workers, queued, submitted and completed tasks.
  [[nodiscard]] PoolStats stats() const { return pool_.stats(); }

 protected:
  /// A task from Executor::submit (see the file comment): encoded now, TypeError if its call
  /// cannot cross.
  void submit_task(concur::futures::detail::StateBase* task) override {
    auto* encoded = new detail::EncodedTask(task, task->encode_call());
    task->drop_call();
    try {
      pool_.submit_task(encoded);
    } catch (...) {
      encoded->release();
      throw;
    }
    encoded->release();
  }

 private:
  template <class F, class... Rs>
  static constexpr void check_map() {
    static_assert(
        detail::isolated_submittable<Ctx, detail::map_one_t<F, Rs...>, detail::map_arg_t<Rs>...> &&
            detail::isolated_submittable<Ctx, detail::map_chunk_t<F, Rs...>,
                                         detail::map_chunk_arg_t<Rs...>>,
        "InterpreterPoolExecutor::map: the function (a function pointer or a trivially "
        "copyable closure), the elements and the result must cross the codec");
  }

  // Destroys the worker's Ctx in the worker as it ends (not left to the thread_local's own
  // destructor, which GCC 12 did not run for this variable template: see design 0001).
  static std::function<void()> finalizer() {
    if constexpr (std::is_void_v<Ctx>) {
      return {};
    } else {
      return [] { detail::t_worker_context<Ctx>.reset(); };
    }
  }

  static ThreadPoolOptions engine_options(InterpreterPoolOptions<Ctx> o) {
    ThreadPoolOptions t;
    t.max_workers = o.max_workers;
    t.thread_name_prefix = std::move(o.thread_name_prefix);
    if constexpr (std::is_void_v<Ctx>) {
      if (o.initializer) {
        t.initializer = [init = std::move(o.initializer)] {
          try {
            auto own = init;  // each worker calls its own copy
            own();
          } catch (...) {
            std::rethrow_exception(
                detail::execution_failed(detail::isolate_exception(std::current_exception())));
          }
        };
      }
    } else {
      static_assert(std::is_object_v<Ctx> && !std::is_const_v<Ctx>,
                    "InterpreterPoolExecutor<Ctx>: Ctx is a non-const object type");
      if constexpr (!std::is_default_constructible_v<Ctx>) {
        if (!o.initializer)
          throw ValueError("InterpreterPoolExecutor: this Ctx needs an initializer");
      }
      t.initializer = [init = std::move(o.initializer)] {
        try {
          auto& slot = detail::t_worker_context<Ctx>;
          if constexpr (std::is_move_constructible_v<Ctx>) {  // else no initializer can exist
            if (init) {
              auto own = init;  // each worker calls its own copy
              slot.emplace(own());
              return;
            }
          }
          if constexpr (std::is_default_constructible_v<Ctx>) slot.emplace();
        } catch (...) {
          std::rethrow_exception(
              detail::execution_failed(detail::isolate_exception(std::current_exception())));
        }
      };
    }
    return t;
  }

  ThreadPoolExecutor pool_;
};

}  // namespace concur::futures
