// concur/futures/executor.hpp: the Executor interface (concurrent.futures.Executor).
//
//   submit(fn, args...)     -> Future<R>  schedules fn(args...), R = its result type
//   map(fn, ranges...)      -> MapResult<R> results in input order
//   map({.timeout, .chunksize}, fn, ranges...)
//   shutdown(wait = true, cancel_futures = false)
//
// Arguments are decayed and copied (or moved) into the task, as std::thread
// does; pass std::ref to share. fn may take a std::stop_token as its first
// parameter: it is then asked to stop when its future is cancelled while
// RUNNING, or when the executor shuts down with cancel_futures; throwing
// CancelledError in answer ends the future CANCELLED_AND_NOTIFIED.
//
// Python parity:
//  - submit after shutdown throws RuntimeError("cannot schedule new futures
//    after shutdown"); after the program began to exit (atexit), RuntimeError
//    ("cannot schedule new futures after interpreter shutdown").
//  - The executor keeps no reference to a task's callable, arguments or result
//    once the task has run (CPython's
//    test_concurrent_futures.executor.ExecutorTest.test_no_stale_references).
//  - map() submits every call at once (as CPython 3.13 does), and yields
//    results in order. The timeout counts from the map() call. When a result
//    throws (or the timeout passes), the iteration ends and the calls not yet
//    started are cancelled (CPython 3.13's choice; later CPython continues).
//  - chunksize groups that many inputs into one task (CPython honours it only
//    in ProcessPoolExecutor; here every executor does, which makes map over
//    many small items cheap). chunksize < 1 throws ValueError.
//  - The destructor of an executor calls shutdown(wait = true).
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <iterator>
#include <optional>
#include <ranges>
#include <span>
#include <stop_token>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "concur/detail/bound_call.hpp"
#include "concur/futures/future.hpp"

namespace concur::futures {

class Executor;

namespace detail {

struct NoStop {};

/// The state of a submitted call: the future's state and the bound call (the callable and
/// its arguments, concur/detail/bound_call.hpp) in one allocation. A thread pool run()s it;
/// a process pool sends encode_call() to a worker and completes it with complete_from_reply.
template <class R, class Fn, class... Args>
class Task final : public concur::futures::detail::State<R> {
 public:
  static constexpr bool kStoppable = std::is_invocable_v<Fn&&, std::stop_token, Args&&...>;
  using Call = concur::detail::BoundCall<Fn, Args...>;
  /// Whether the call can run in another process (a stoppable task cannot: its token lives
  /// here).
  static constexpr bool kCrosses = Call::kCrosses && !kStoppable;

  template <class F, class... A>
  Task(const std::stop_token& pool_token, F&& f, A&&... a) {
    call_.emplace(std::forward<F>(f), std::forward<A>(a)...);
    if constexpr (kStoppable) {
      pool_token_ = pool_token;
      this->stop_ = &source_;
    }
  }

  void run() noexcept override {
    bool runnable = false;
    try {
      runnable = this->set_running_or_notify_cancel();
    } catch (...) {  // completed by someone else (set_result by hand): nothing to run
    }
    if (runnable) execute();
    call_.reset();  // release the callable and the arguments now
  }

  [[nodiscard]] std::vector<std::byte> encode_call() const override {
    if (!call_) throw RuntimeError("concur::futures: this task's call was already run or sent");
    if constexpr (kStoppable) {
      concur::detail::throw_cannot_cross("this task (its callable takes a std::stop_token)",
                                         typeid(std::tuple<Fn, Args...>).name());
    } else {
      return call_->encode("this task");
    }
  }

  void complete_from_reply(std::span<const std::byte> reply) noexcept override {
    std::exception_ptr error;
    if constexpr (kCrosses) {
      try {
        if constexpr (std::is_void_v<R>) {
          multiprocessing::decode_result<void>(reply);
          set_quietly([&] { this->set_value(); });
        } else {
          R value = multiprocessing::decode_result<R>(reply);
          set_quietly([&] { this->set_value(std::move(value)); });
        }
        return;
      } catch (...) {
        error = std::current_exception();
      }
    } else {
      error = std::make_exception_ptr(
          TypeError("concur::futures: a reply for a task that cannot cross"));
    }
    try {
      this->set_exception(error);
    } catch (...) {  // already done
    }
  }

  void drop_call() noexcept override { call_.reset(); }

 private:
  void execute() noexcept {
    try {
      if constexpr (kStoppable) {
        std::stop_callback on_pool_stop(pool_token_, [this] { source_.request_stop(); });
        invoke_and_store(source_.get_token());
      } else {
        invoke_and_store();
      }
    } catch (const CancelledError&) {
      if constexpr (kStoppable) {
        if (source_.stop_requested()) {
          this->finish_cancelled();
          return;
        }
      }
      store_current_exception();
    } catch (...) {
      store_current_exception();
    }
  }

  template <class... Extra>
  void invoke_and_store(Extra&&... extra) {
    if constexpr (std::is_void_v<R>) {
      call_->template invoke<true>(std::forward<Extra>(extra)...);
      set_quietly([&] { this->set_value(); });
    } else {
      // The value is built in place from what fn returns.
      R value = call_->template invoke<true>(std::forward<Extra>(extra)...);
      set_quietly([&] { this->set_value(std::move(value)); });
    }
  }
  template <class Set>
  void set_quietly(Set&& set) {
    try {
      set();
    } catch (const InvalidStateError&) {  // already completed by hand
    }
  }
  void store_current_exception() noexcept {
    try {
      this->set_exception(std::current_exception());
    } catch (...) {
    }
  }

  std::optional<Call> call_;
  [[no_unique_address]] std::conditional_t<kStoppable, std::stop_source, NoStop> source_;
  [[no_unique_address]] std::conditional_t<kStoppable, std::stop_token, NoStop> pool_token_;
};

}  // namespace detail

/// The result type of fn(args...), or of fn(stop_token, args...) when fn takes one.
template <class F, class... A>
using submit_result_t = typename std::conditional_t<
    std::is_invocable_v<std::decay_t<F>&&, std::stop_token, std::decay_t<A>&&...>,
    std::invoke_result<std::decay_t<F>&&, std::stop_token, std::decay_t<A>&&...>,
    std::invoke_result<std::decay_t<F>&&, std::decay_t<A>&&...>>::type;

namespace detail {
/// What submit(fn, args...) needs: decayed copies of fn and args can be made
/// from what was passed, and the fn copy is invocable (as an rvalue) with the
/// argument copies as rvalues, optionally after a std::stop_token.
template <class F, class... A>
concept submittable =
    (std::invocable<std::decay_t<F>&&, std::decay_t<A>&&...> ||
     std::invocable<std::decay_t<F>&&, std::stop_token,
                    std::decay_t<A>&&...>)&&std::constructible_from<std::decay_t<F>, F> &&
    (std::constructible_from<std::decay_t<A>, A> && ...);

/// An element of a range given to map(), as the call receives it: a decayed
/// copy (taken at map() time), passed as an rvalue.
template <class R>
using map_arg_t = std::decay_t<std::ranges::range_reference_t<R>>;

/// What map(fn, ranges...) needs: each element can be copied out of its range,
/// copies of fn can be made, and a copy called as an lvalue with the element
/// copies as rvalues returns a (non-void) value.
template <class F, class... Rs>
concept mappable =
    sizeof...(Rs) > 0 && (std::ranges::input_range<Rs> && ...) &&
    std::constructible_from<std::decay_t<F>, F>&& std::copy_constructible<std::decay_t<F>> &&
    (std::constructible_from<map_arg_t<Rs>, std::ranges::range_reference_t<Rs>> && ...) &&
    (std::move_constructible<map_arg_t<Rs>> && ...) &&
    std::invocable<std::decay_t<F>&, map_arg_t<Rs>&&...>;
}  // namespace detail

struct MapOptions {
  /// Bound on the whole iteration, counted from the map() call.
  Timeout timeout{};
  /// Inputs per task; must be >= 1.
  long chunksize = 1;
};

/// The results of Executor::map, in input order: an input range, also usable
/// with next(). Each step blocks until that result is ready (bounded by the
/// map's timeout) and rethrows its exception; after an exception or a timeout
/// the range is over and the calls not yet started are cancelled. Destroying
/// (or close()-ing) a range that was started cancels the calls not yet
/// started; one never started lets every call run (CPython parity:
/// test_concurrent_futures.test_thread_pool.ThreadPoolExecutorTest
/// .test_map_submits_without_iteration).
template <class R>
class MapResult {
 public:
  MapResult(std::vector<Future<R>> single, std::vector<Future<std::vector<R>>> chunks,
            const Deadline& deadline)
      : single_(std::move(single)), chunks_(std::move(chunks)), deadline_(deadline) {}
  MapResult(MapResult&&) noexcept = default;
  MapResult& operator=(MapResult&&) noexcept = default;
  ~MapResult() {
    if (started_) close();
  }

  /// The next result; nullopt at the end. Throws the call's exception,
  /// TimeoutError when the map's deadline passes (the awaited call is
  /// cancelled too), CancelledError if that call was cancelled.
  std::optional<R> next() {
    started_ = true;
    if (closed_) return std::nullopt;
    try {
      if (!chunks_.empty()) {
        while (chunk_pos_ == chunk_values_.size()) {
          if (pos_ == chunks_.size()) return finish();
          const auto& f = chunks_[pos_];
          chunk_values_ = result_or_cancel(f);
          chunks_[pos_++] = Future<std::vector<R>>(nullptr);
          chunk_pos_ = 0;
        }
        return std::move(chunk_values_[chunk_pos_++]);
      }
      if (pos_ == single_.size()) return finish();
      std::optional<R> v(result_or_cancel(single_[pos_]));
      single_[pos_++] = Future<R>(nullptr);  // keep no reference to what was yielded
      return v;
    } catch (...) {
      close();
      throw;
    }
  }

  /// Ends the iteration: cancels every call not yet started.
  void close() noexcept {
    closed_ = true;
    for (std::size_t i = pos_; i < single_.size(); ++i)
      if (single_[i].valid()) single_[i].cancel();
    for (std::size_t i = pos_; i < chunks_.size(); ++i)
      if (chunks_[i].valid()) chunks_[i].cancel();
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(MapResult* m) : m_(m) { advance(); }
    R& operator*() { return *current_; }
    R* operator->() { return &*current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return it.m_ == nullptr;
    }

   private:
    void advance() {
      try {
        current_ = m_->next();
      } catch (...) {
        m_ = nullptr;
        throw;
      }
      if (!current_) m_ = nullptr;
    }
    MapResult* m_ = nullptr;
    std::optional<R> current_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::optional<R> finish() {
    closed_ = true;
    return std::nullopt;
  }
  template <class V>
  V result_or_cancel(const Future<V>& f) {
    try {
      const auto left = deadline_.remaining();
      return deadline_.is_forever() ? f.result() : f.result(left);
    } catch (...) {
      f.cancel();
      throw;
    }
  }

  std::vector<Future<R>> single_;
  std::vector<Future<std::vector<R>>> chunks_;
  Deadline deadline_;
  std::size_t pos_ = 0;
  std::vector<R> chunk_values_;
  std::size_t chunk_pos_ = 0;
  bool started_ = false;
  bool closed_ = false;
};

namespace detail {

/// The callable of a map, in the form that crosses a process boundary: a function pointer
/// crosses by its registry name (it must be CONCUR_REGISTERed: ValueError at submit
/// otherwise), since its address means nothing in a spawned process; any other callable
/// crosses as itself (trivially copyable, or with a cereal function).
template <class Fn>
struct MapFn {
  [[no_unique_address]] Fn fn;  // an empty callable leaves MapFn empty (no undefined byte)
};
template <class P>
struct MapFnPointer {
  P fn;
  template <class Archive>
  void save(Archive& ar) const {
    ar(std::string(multiprocessing::function_name(reinterpret_cast<const void*>(fn))));
  }
  template <class Archive>
  void load(Archive& ar) {
    std::string name;
    ar(name);
    using Args = typename multiprocessing::detail::function_traits<P>::args;
    fn = reinterpret_cast<P>(const_cast<void*>(multiprocessing::detail::function_address(
        name, multiprocessing::detail::fingerprint_of<Args>())));
  }
};
template <class R, class... P>
struct MapFn<R (*)(P...)> : MapFnPointer<R (*)(P...)> {};
template <class R, class... P>
struct MapFn<R (*)(P...) noexcept> : MapFnPointer<R (*)(P...) noexcept> {};

/// One call of map with chunksize 1: fn called as an lvalue with the element copies as
/// rvalues (never with a std::stop_token).
template <class Fn, class R, class... Args>
struct MapOne : MapFn<Fn> {
  R operator()(Args&&... xs) { return std::invoke(this->fn, std::move(xs)...); }
};

/// One chunk of map: fn over each item, the results in order. Item is the element type for
/// one range, a tuple of element types for several.
template <class Fn, class R, class Item, bool Tuple>
struct MapChunk : MapFn<Fn> {
  std::vector<R> operator()(std::vector<Item> items) {
    std::vector<R> out;
    out.reserve(items.size());
    for (auto& item : items) {
      if constexpr (Tuple) {
        out.push_back(std::apply(
            [this](auto&... xs) { return std::invoke(this->fn, std::move(xs)...); }, item));
      } else {
        out.push_back(std::invoke(this->fn, std::move(item)));
      }
    }
    return out;
  }
};

/// The result type of map(fn, ranges...).
template <class F, class... Rs>
using map_result_t = std::invoke_result_t<std::decay_t<F>&, map_arg_t<Rs>&&...>;

/// An item of a chunk of map(fn, ranges...): the element for one range, a tuple of the
/// elements for several.
template <class... Rs>
struct map_item {
  using type = std::tuple<map_arg_t<Rs>...>;
};
template <class R>
struct map_item<R> {
  using type = map_arg_t<R>;
};
template <class... Rs>
using map_item_t = typename map_item<Rs...>::type;

/// The bound call a chunk of map(fn, ranges...) submits, and what it takes.
template <class F, class... Rs>
using map_chunk_t =
    MapChunk<std::decay_t<F>, map_result_t<F, Rs...>, map_item_t<Rs...>, (sizeof...(Rs) > 1)>;
template <class... Rs>
using map_chunk_arg_t = std::vector<map_item_t<Rs...>>;
template <class F, class... Rs>
using map_one_t = MapOne<std::decay_t<F>, map_result_t<F, Rs...>, map_arg_t<Rs>...>;

/// The futures of a map: one per call (chunksize 1) or one per chunk.
template <class R>
struct MapFutures {
  std::vector<Future<R>> single;
  std::vector<Future<std::vector<R>>> chunks;
};

/// Submits every call of map(fn, ranges...) to `ex` (see Executor::map) and returns their
/// futures. Shared by Executor::map and multiprocessing's Pool.
template <class Ex, class F, class... Rs>
auto submit_map(Ex& ex, const MapOptions& options, F&& fn, Rs&&... ranges) {
  using Fn = std::decay_t<F>;
  using R = map_result_t<F, Rs...>;
  static_assert(!std::is_void_v<R>,
                "Executor::map needs a function that returns a value; use submit for void");
  if (options.chunksize < 1) throw ValueError("chunksize must be >= 1.");
  MapFutures<R> out;
  auto its = std::make_tuple(std::ranges::begin(ranges)...);
  auto ends = std::make_tuple(std::ranges::end(ranges)...);
  auto at_end = [&] {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return ((std::get<I>(its) == std::get<I>(ends)) || ...);
    }
    (std::index_sequence_for<Rs...>{});
  };
  auto take = [&] {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto t = std::tuple<map_arg_t<Rs>...>(*std::get<I>(its)...);
      (++std::get<I>(its), ...);
      return t;
    }
    (std::index_sequence_for<Rs...>{});
  };
  if (options.chunksize == 1) {
    const map_one_t<F, Rs...> one{{Fn(fn)}};
    while (!at_end())
      out.single.push_back(
          std::apply([&](auto&&... xs) { return ex.submit(one, std::move(xs)...); }, take()));
  } else {
    const map_chunk_t<F, Rs...> chunk_fn{{Fn(fn)}};
    while (!at_end()) {
      map_chunk_arg_t<Rs...> chunk;
      chunk.reserve(static_cast<std::size_t>(options.chunksize));
      while (chunk.size() < static_cast<std::size_t>(options.chunksize) && !at_end()) {
        if constexpr (sizeof...(Rs) == 1) {
          chunk.push_back(std::get<0>(take()));
        } else {
          chunk.push_back(take());
        }
      }
      out.chunks.push_back(ex.submit(chunk_fn, std::move(chunk)));
    }
  }
  return out;
}

}  // namespace detail

class Executor {
 public:
  Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  virtual ~Executor() = default;

  /// Schedules fn(args...) (or fn(stop_token, args...)) and returns its future.
  /// Never blocks on the task. Throws RuntimeError after shutdown, the
  /// executor's Broken* error when it is broken. The task holds decayed copies
  /// of fn and args (made here) and calls the fn copy as an rvalue with the
  /// argument copies as rvalues: what the constraint checks.
  template <class F, class... A>
  requires detail::submittable<F, A...> Future<submit_result_t<F, A...>> submit(F&& fn,
                                                                                A&&... args) {
    using R = submit_result_t<F, A...>;
    using T = detail::Task<R, std::decay_t<F>, std::decay_t<A>...>;
    std::stop_token token;
    if constexpr (T::kStoppable) token = stop_token();
    auto* task = new T(token, std::forward<F>(fn), std::forward<A>(args)...);
    Future<R> fut(concur::futures::detail::Ref<concur::futures::detail::State<R>>::adopt(task));
    submit_task(task);
    return fut;
  }

  /// Python's Executor.map(fn, *iterables): fn(a[i], b[i], ...) for each i up
  /// to the shortest range, every call submitted now, results in input order.
  /// Each element is copied (decayed) at this call; a copy of fn is called as
  /// an lvalue with the element copies as rvalues, with or without chunksize.
  template <class F, class... Rs>
  requires detail::mappable<F, Rs...>
  auto map(F&& fn, Rs&&... ranges) {
    return map(MapOptions{}, std::forward<F>(fn), std::forward<Rs>(ranges)...);
  }

  template <class F, class... Rs>
  requires detail::mappable<F, Rs...>
  auto map(const MapOptions& options, F&& fn, Rs&&... ranges) {
    const Deadline deadline(options.timeout);  // counted from this call
    auto futures =
        detail::submit_map(*this, options, std::forward<F>(fn), std::forward<Rs>(ranges)...);
    return MapResult<detail::map_result_t<F, Rs...>>(std::move(futures.single),
                                                     std::move(futures.chunks), deadline);
  }

  /// Stops accepting work. wait: block until every queued task ran and the
  /// workers ended. cancel_futures: cancel the tasks not yet started (and ask
  /// running stoppable tasks to stop). Safe to call more than once.
  virtual void shutdown(bool wait = true, bool cancel_futures = false) = 0;

 protected:
  /// Queues a task. The executor takes its own reference (retain) on success;
  /// on failure it throws and takes none.
  virtual void submit_task(concur::futures::detail::StateBase* task) = 0;
  /// The token handed to stoppable tasks (stop requested at shutdown with
  /// cancel_futures). Default: a token that never stops.
  virtual std::stop_token stop_token() const noexcept { return {}; }
};

}  // namespace concur::futures
