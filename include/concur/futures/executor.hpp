// concur/futures/executor.hpp: the Executor interface (concurrent.futures.Executor).
//
//   submit(fn, args...)     -> Future<R>  schedules fn(args...), R = its result type
//   map(fn, ranges...)      -> MapResult<R> results in input order
//   map({.timeout, .chunksize, .buffersize, .progress}, fn, ranges...)
//   map(...).list()         -> std::vector<R> every result, in order
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
//  - map() without a buffersize submits every call at once (as CPython 3.13
//    does), and yields
//    results in order. The timeout counts from the map() call. When a result
//    throws (or the timeout passes), the iteration ends and the calls not yet
//    started are cancelled (CPython 3.13's choice; later CPython continues).
//  - buffersize (Python 3.14) submits that many tasks at map() and one more at
//    each step, so a map over an endless range (std::views::iota(0)) runs in
//    bounded memory; the range then holds the input ranges (an lvalue range by
//    reference, an rvalue moved in) and refers to its executor. buffersize < 1
//    throws ValueError("buffersize must be None or > 0"); a non-integer is a
//    compile error (Python's TypeError).
//  - progress (beyond Python): a callback told {done, total} as calls finish;
//    progress_bar() draws on stderr when it is a terminal (futures/progress.hpp).
//  - chunksize groups that many inputs into one task (CPython honours it only
//    in ProcessPoolExecutor; here every executor does, which makes map over
//    many small items cheap). chunksize < 1 throws ValueError. A thread pool's
//    chunked map (no buffersize) over one sized random-access range whose
//    elements have fn's result type (int -> int, std::string -> std::string)
//    is a slab map: the inputs are copied once, at map(), into one vector, and
//    each chunk's call writes its results over its items there; no allocation
//    per chunk for the values. Other chunked maps give each chunk a vector.
//  - MapResult::list() is Python's list(executor.map(...)): every result in one
//    std::vector, in order (a slab map hands over its slab, no copy), throwing
//    as the iteration would. Taking results one at a time costs a step per item
//    that a loop over the vector does not have.
//  - The destructor of an executor calls shutdown(wait = true).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
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
#include "concur/futures/progress.hpp"

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
  /// Python 3.14: at most this many tasks (calls, or chunks when chunksize > 1) are
  /// submitted ahead of the consumer: that many at map(), then one more at each step
  /// (before it waits), so a map over a huge or endless range runs in bounded memory.
  /// Unset: every call is submitted at map(). Must be >= 1.
  std::optional<long> buffersize{};
  /// Beyond Python: called with {done, total} as the calls finish (futures/progress.hpp);
  /// progress_bar() draws a bar on stderr when it is a terminal.
  MapProgressFn progress{};
};

namespace detail {

/// The progress of one map: shared by the done callbacks of its futures.
class MapProgressState {
 public:
  MapProgressState(MapProgressFn fn, std::optional<std::size_t> total)
      : fn_(std::move(fn)), total_(total) {}
  /// `n` more calls finished (a done callback).
  void add_done(std::size_t n) noexcept {
    std::lock_guard lock(mu_);
    done_ += n;
    report();
  }
  /// The input is exhausted: `total` calls in all.
  void set_total(std::size_t total) noexcept {
    std::lock_guard lock(mu_);
    if (total_ == total) return;
    total_ = total;
    report();
  }

 private:
  void report() noexcept {  // under mu_
    try {
      fn_(MapProgress{done_, total_});
    } catch (...) {
      report_exception("Exception in a map progress callback:", "map", std::current_exception());
    }
  }
  std::mutex mu_;
  MapProgressFn fn_;
  std::size_t done_ = 0;
  std::optional<std::size_t> total_;
};

/// The futures of a map not yet consumed: one per call (chunksize 1) or one per chunk.
template <class R>
struct MapFutures {
  std::deque<Future<R>> single;
  std::deque<Future<std::vector<R>>> chunks;
};

/// Where a map with a buffersize takes its next task from (MapSource below).
template <class R>
class MapFeed {
 public:
  MapFeed() = default;
  MapFeed(const MapFeed&) = delete;
  MapFeed& operator=(const MapFeed&) = delete;
  virtual ~MapFeed() = default;
  /// Submits the next call (or chunk) and appends its future to `out`; false, submitting
  /// nothing, once the input is exhausted or the executor is gone.
  virtual bool submit_next(MapFutures<R>& out) = 0;
};

}  // namespace detail

/// The results of Executor::map, in input order: an input range, also usable
/// with next(). Each step blocks until that result is ready (bounded by the
/// map's timeout) and rethrows its exception; after an exception or a timeout
/// the range is over and the calls not yet started are cancelled. Destroying
/// (or close()-ing) a range that was started cancels the calls not yet
/// started; one never started lets every call run (CPython parity:
/// test_concurrent_futures.test_thread_pool.ThreadPoolExecutorTest
/// .test_map_submits_without_iteration). With a buffersize, each step first
/// submits the next call (CPython 3.14's order), and the range holds the input
/// ranges (a reference to an lvalue range, a moved-in rvalue one) and a
/// reference to its executor: iterate it while the executor lives (once the
/// executor is destroyed, it yields what was submitted and ends).
template <class R>
class MapResult {
 public:
  MapResult(std::vector<Future<R>> single, std::vector<Future<std::vector<R>>> chunks,
            const Deadline& deadline)
      : deadline_(deadline), chunked_(!chunks.empty()) {
    futures_.single.assign(std::make_move_iterator(single.begin()),
                           std::make_move_iterator(single.end()));
    futures_.chunks.assign(std::make_move_iterator(chunks.begin()),
                           std::make_move_iterator(chunks.end()));
  }
  MapResult(detail::MapFutures<R> futures, bool chunked, const Deadline& deadline,
            std::unique_ptr<detail::MapFeed<R>> feed, std::size_t expected = 0)
      : futures_(std::move(futures)),
        feed_(std::move(feed)),
        deadline_(deadline),
        expected_(expected),
        chunked_(chunked) {}
  /// A chunked map whose chunks write their results over their inputs in `slab` (one
  /// vector for the whole map, `chunksize` items per chunk, in the order of `futures`).
  MapResult(detail::MapFutures<R> futures, const Deadline& deadline,
            std::shared_ptr<std::vector<R>> slab, std::size_t chunksize)
      : futures_(std::move(futures)),
        deadline_(deadline),
        slab_(std::move(slab)),
        slab_chunk_(chunksize),
        expected_(slab_->size()),
        chunked_(true) {}
  MapResult(MapResult&&) noexcept = default;
  MapResult& operator=(MapResult&&) noexcept = default;
  ~MapResult() {
    if (started_) close();
  }

  /// The next result; nullopt at the end. Throws the call's exception,
  /// TimeoutError when the map's deadline passes (the awaited call is
  /// cancelled too), CancelledError if that call was cancelled; with a
  /// buffersize, whatever submitting the next call throws (RuntimeError after
  /// the executor's shutdown).
  std::optional<R> next() {
    // The common step of a chunked map, kept apart so that it compiles to a few
    // instructions (inlined into the slow path, it built the optional in memory and
    // reloaded it: a store-forwarding stall per item, map_chunked_noop a third as fast).
    // Only reached after next_slow() (it fills chunk_values_), and close() empties it.
    if (chunk_pos_ < chunk_size_) return std::move(at(chunk_pos_++));
    return next_slow();
  }

  /// Every result not yet yielded, in order, in one vector: Python's
  /// list(executor.map(...)). Blocks until the last result is in (bounded by the map's
  /// timeout); throws as the iteration would, at the first failed call in input order
  /// (the range is then over, the calls not yet started cancelled, the results before it
  /// dropped). A chunked map moves each chunk's results in as one block: no step per item,
  /// so the caller's loop over the vector is as fast as over any vector.
  std::vector<R> list() {
    std::vector<R> out;
    if constexpr (!std::is_same_v<R, bool>) {
      if (slab_ && !started_) return whole_slab();
      if (chunked_) {
        if (!started_ && expected_ != 0) out.reserve(expected_);
        for (bool first = true;; first = false) {
          if (!first) {
            if (!step_in_chunk()) break;  // loads the next chunk, past its first result
            --chunk_pos_;
          }
          if (!slab_ && out.empty() && chunk_pos_ == 0 && out.capacity() < chunk_size_) {
            out = std::move(chunk_values_);  // the first chunk's storage, grown below
            chunk_values_.clear();
          } else {
            out.insert(out.end(), std::make_move_iterator(chunk_data_ + chunk_pos_),
                       std::make_move_iterator(chunk_data_ + chunk_size_));
          }
          chunk_pos_ = chunk_size_;
        }
        return out;
      }
    }
    while (auto v = next()) out.push_back(std::move(*v));
    return out;
  }

  /// Ends the iteration: cancels every call not yet started, submits no more.
  void close() noexcept {
    closed_ = true;
    chunk_pos_ = chunk_size_;
    feed_.reset();
    for (auto& f : futures_.single)
      if (f.valid()) f.cancel();
    for (auto& f : futures_.chunks)
      if (f.valid()) f.cancel();
  }

 private:
  std::optional<R> next_slow() {
    if (chunked_) {
      if (!step_in_chunk()) return std::nullopt;
      return std::move(at(chunk_pos_ - 1));
    }
    started_ = true;
    if (closed_) return std::nullopt;
    try {
      refill();
      if (futures_.single.empty()) return finish();
      failed_ = std::move(futures_.single.front());  // as failed_chunk_ above
      futures_.single.pop_front();
      std::optional<R> v(result_or_cancel(failed_));
      failed_ = Future<R>(nullptr);  // keep no reference to what was yielded
      return v;
    } catch (...) {
      close();
      throw;
    }
  }

  /// The current chunk's result `i`.
  decltype(auto) at(std::size_t i) {
    if constexpr (std::is_same_v<R, bool>) {
      return chunk_values_[i];  // a std::vector<bool> reference
    } else {
      return (chunk_data_[i]);
    }
  }

  /// Every result of a slab map none of whose results was taken yet: each chunk awaited in
  /// input order (throwing as step_in_chunk does), then the slab itself, moved out (its
  /// chunks are done: nothing writes to it any more).
  std::vector<R> whole_slab() {
    started_ = true;
    if (closed_) return {};
    try {
      while (!futures_.chunks.empty()) {
        failed_chunk_ = std::move(futures_.chunks.front());
        futures_.chunks.pop_front();
        (void)result_or_cancel(failed_chunk_);
        failed_chunk_ = Future<std::vector<R>>(nullptr);
      }
    } catch (...) {
      close();
      throw;
    }
    finish();
    return std::move(*slab_);
  }

  /// Steps a chunked map to its next result, at(chunk_pos_ - 1) (loading the next chunk
  /// when this one is used up); false at the end. The chunk before stays alive until the
  /// next one is loaded (in previous_values_, or in the slab), so an iterator's current
  /// result survives a next() that loads a chunk.
  bool step_in_chunk() {
    started_ = true;
    if (closed_) return false;
    try {
      while (chunk_pos_ == chunk_size_) {
        refill();
        if (futures_.chunks.empty()) {
          finish();
          return false;
        }
        // Held by this range until its value is out: a failed future (and its exception)
        // stays until the range goes, in the consumer's thread, never in a worker's.
        failed_chunk_ = std::move(futures_.chunks.front());
        futures_.chunks.pop_front();
        (void)result_or_cancel(failed_chunk_);  // waits; throws the chunk's exception
        if (slab_) {
          // Its results lie in the slab, over its inputs.
          if constexpr (!std::is_same_v<R, bool>) chunk_data_ = slab_->data() + slab_next_;
          chunk_size_ = std::min(slab_chunk_, slab_->size() - slab_next_);
          slab_next_ += chunk_size_;
        } else {
          // The chunk's results are moved out, not copied: this range holds the only
          // handle on the chunk's future that reads its value.
          std::vector<R> values = std::move(failed_chunk_.state_ptr()->owned_value());
          previous_values_ = std::exchange(chunk_values_, std::move(values));
          if constexpr (!std::is_same_v<R, bool>) chunk_data_ = chunk_values_.data();
          chunk_size_ = chunk_values_.size();
        }
        failed_chunk_ = Future<std::vector<R>>(nullptr);  // keep no reference to what was yielded
        chunk_pos_ = 0;
        ++chunk_loads_;
      }
      ++chunk_pos_;
      return true;
    } catch (...) {
      close();
      throw;
    }
  }

 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(MapResult* m) : m_(m) { advance(); }
    R& operator*() { return p_ != nullptr ? *p_ : *current_; }
    R* operator->() { return &**this; }
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
      // A chunked map's results are yielded where they lie in the range's chunk: no move
      // into an optional per item. The step within a chunk keeps its position in this
      // iterator (registers, in a range-for: no call here takes the iterator's address)
      // and stores it to the range's, so next() and the iterator share one position; it
      // only compares the range's position and chunk with its own (a next() in between
      // sends it to the slow path). Loading the position from memory at each step instead
      // chains the steps through memory (map_chunked_noop at a third of the speed).
      // (Not for bool: std::vector<bool> has no bool to point at.)
      if constexpr (kWalk) {
        if (p_ != nullptr && pos_ != size_ && m_->chunk_pos_ == pos_ &&
            m_->chunk_loads_ == loads_) {
          ++p_;
          __builtin_prefetch(reinterpret_cast<const char*>(p_) + 1024);
          m_->chunk_pos_ = ++pos_;
          return;
        }
        if (m_->chunked_) {
          p_ = nullptr;
          try {
            if (!m_->step_in_chunk()) {
              m_ = nullptr;
              return;
            }
          } catch (...) {
            m_ = nullptr;
            throw;
          }
          pos_ = m_->chunk_pos_;
          size_ = m_->chunk_size_;
          loads_ = m_->chunk_loads_;
          p_ = m_->chunk_data_ + (pos_ - 1);
          return;
        }
      }
      try {
        current_ = m_->next();
      } catch (...) {
        m_ = nullptr;
        throw;
      }
      if (!current_) m_ = nullptr;
    }
    static constexpr bool kWalk = !std::is_same_v<R, bool>;
    MapResult* m_ = nullptr;
    R* p_ = nullptr;           // chunked: the current result, in the range's chunk
    std::size_t pos_ = 0;      // chunked: the range's position just past p_
    std::size_t size_ = 0;     // chunked: the size of p_'s chunk
    std::uint64_t loads_ = 0;  // chunked: which chunk p_ is in (the range's chunk_loads_)
    std::optional<R> current_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  void refill() {
    if (feed_ && !feed_->submit_next(futures_)) feed_.reset();
  }
  std::optional<R> finish() {
    closed_ = true;
    return std::nullopt;
  }
  template <class V>
  decltype(auto) result_or_cancel(const Future<V>& f) {
    try {
      const auto left = deadline_.remaining();
      return deadline_.is_forever() ? f.result() : f.result(left);
    } catch (...) {
      f.cancel();
      throw;
    }
  }

  detail::MapFutures<R> futures_;
  Future<R> failed_{nullptr};
  Future<std::vector<R>> failed_chunk_{nullptr};
  std::unique_ptr<detail::MapFeed<R>> feed_;
  Deadline deadline_;
  std::vector<R> chunk_values_;
  std::vector<R> previous_values_;  // the chunk before, while an iterator may point into it
  // A slab map (see the constructor): the slab, its chunks' size, where the next one begins.
  std::shared_ptr<std::vector<R>> slab_;
  std::size_t slab_chunk_ = 0;
  std::size_t slab_next_ = 0;
  // The current chunk's results (in chunk_values_, or in the slab) and the position in it.
  R* chunk_data_ = nullptr;  // unused for bool (std::vector<bool>: see at())
  std::size_t chunk_size_ = 0;
  std::size_t chunk_pos_ = 0;
  std::uint64_t chunk_loads_ = 0;  // chunks loaded so far: which one chunk_values_ holds
  std::size_t expected_ = 0;       // the number of calls, when known at map() (else 0)
  bool chunked_ = false;
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
    if constexpr (!Tuple && std::is_same_v<R, Item> && !std::is_same_v<R, bool>) {
      // Each result over its item: no second vector, and the results stay where the items
      // were in cache.
      for (Item& item : items) item = std::invoke(this->fn, std::move(item));
      return items;
    }
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

/// One chunk of a slab map: fn over the slab's items [begin, end), each result written over
/// its item. Runs only in the map's own process (the slab is shared memory of this one).
template <class Fn, class R>
struct MapSlabChunk : MapFn<Fn> {
  std::vector<R> operator()(std::shared_ptr<std::vector<R>> slab, std::size_t begin,
                            std::size_t end) {
    R* items = slab->data();
    for (std::size_t i = begin; i < end; ++i) items[i] = std::invoke(this->fn, std::move(items[i]));
    return {};  // the results are in the slab
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

/// Takes the inputs of map(fn, ranges...) and submits its calls (or chunks) to `Ex`, one
/// task per submit_next. `Held` are the ranges as this object holds them: references (a map
/// that submits everything at once, while its ranges live) or, for a map with a buffersize,
/// which outlives the map() call, held_range_t (references to lvalues, rvalues moved in).
template <class Ex, class F, class Rs, class... Held>
class MapSource;
/// How a buffered map holds a range given as R: a reference to an lvalue, else the range
/// itself (moved in).
template <class R>
using held_range_t = std::conditional_t<std::is_lvalue_reference_v<R>, R, std::remove_cvref_t<R>>;
template <class Ex, class F, class... Rs, class... Held>
class MapSource<Ex, F, std::tuple<Rs...>, Held...> final : public MapFeed<map_result_t<F, Rs...>> {
 public:
  using R = map_result_t<F, Rs...>;

  template <class... Init>
  MapSource(Ex& ex, std::weak_ptr<void> alive, const MapOptions& options, const F& fn,
            std::shared_ptr<MapProgressState> progress, Init&&... ranges)
      : ex_(&ex),
        alive_(std::move(alive)),
        chunksize_(static_cast<std::size_t>(options.chunksize)),
        one_{{std::decay_t<F>(fn)}},
        chunk_{{std::decay_t<F>(fn)}},
        progress_(std::move(progress)),
        ranges_(std::forward<Init>(ranges)...),
        its_(std::apply([](auto&... r) { return std::make_tuple(std::ranges::begin(r)...); },
                        ranges_)),
        ends_(std::apply([](auto&... r) { return std::make_tuple(std::ranges::end(r)...); },
                         ranges_)) {}

  /// The calls submitted so far.
  [[nodiscard]] std::size_t calls() const noexcept { return calls_; }

  bool submit_next(MapFutures<R>& out) override {
    if (alive_.expired() || at_end()) {
      if (progress_ && !alive_.expired()) progress_->set_total(calls_);
      return false;
    }
    if (chunksize_ == 1) {
      auto f =
          std::apply([&](auto&&... xs) { return ex_->submit(one_, std::move(xs)...); }, take());
      ++calls_;
      watch(f, 1);
      out.single.push_back(std::move(f));
    } else {
      map_chunk_arg_t<Rs...> chunk;
      if constexpr (sizeof...(Rs) == 1 && (std::ranges::random_access_range<Held> && ...) &&
                    (std::sized_sentinel_for<std::ranges::sentinel_t<Held>,
                                             std::ranges::iterator_t<Held>> &&
                     ...)) {
        // One random-access range: the chunk's elements in one assign (a memcpy for a
        // trivially copyable element), not one push_back each.
        auto& it = std::get<0>(its_);
        const auto left = static_cast<std::size_t>(std::get<0>(ends_) - it);
        const auto n = static_cast<std::ptrdiff_t>(std::min(chunksize_, left));
        chunk.assign(it, it + n);
        it += n;
      } else {
        chunk.reserve(chunksize_);
        while (chunk.size() < chunksize_ && !at_end()) {
          if constexpr (sizeof...(Rs) == 1) {
            chunk.push_back(std::get<0>(take()));
          } else {
            chunk.push_back(take());
          }
        }
      }
      const std::size_t n = chunk.size();
      auto f = ex_->submit(chunk_, std::move(chunk));
      calls_ += n;
      watch(f, n);
      out.chunks.push_back(std::move(f));
    }
    return true;
  }

 private:
  bool at_end() {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return ((std::get<I>(its_) == std::get<I>(ends_)) || ...);
    }
    (std::index_sequence_for<Rs...>{});
  }
  auto take() {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto t = std::tuple<map_arg_t<Rs>...>(*std::get<I>(its_)...);
      (++std::get<I>(its_), ...);
      return t;
    }
    (std::index_sequence_for<Rs...>{});
  }
  template <class V>
  void watch(const Future<V>& f, std::size_t n) {
    if (progress_) f.add_done_callback([p = progress_, n](const Future<V>&) { p->add_done(n); });
  }

  Ex* ex_;
  std::weak_ptr<void> alive_;
  std::size_t chunksize_;
  map_one_t<F, Rs...> one_;
  map_chunk_t<F, Rs...> chunk_;
  std::shared_ptr<MapProgressState> progress_;
  std::size_t calls_ = 0;
  std::tuple<Held...> ranges_;
  std::tuple<std::ranges::iterator_t<Held>...> its_;
  std::tuple<std::ranges::sentinel_t<Held>...> ends_;
};

/// Whether map(fn, ranges...) can run as a slab map: one sized random-access range whose
/// element type is fn's result type (each result can take its item's place).
template <class F, class... Rs>
concept slab_mappable =
    sizeof...(Rs) == 1 && std::same_as<map_result_t<F, Rs...>, map_item_t<Rs...>> &&
    !std::same_as<map_result_t<F, Rs...>, bool> &&
    std::is_move_assignable_v<map_result_t<F, Rs...>> &&
    (std::ranges::random_access_range<Rs> && ...) &&
    (std::sized_sentinel_for<std::ranges::sentinel_t<Rs>, std::ranges::iterator_t<Rs>> && ...);

/// A chunked map on an executor that runs calls in this process, as a slab map: the inputs
/// copied once into one vector (the slab), each chunk's call writing its results over its
/// items there, so the whole map makes one allocation for its values, and MapResult::list()
/// hands the slab itself over.
template <class Ex, class F, class Rg>
auto run_slab_map(Ex& ex, const MapOptions& options, const F& fn, const Deadline& deadline,
                  const std::shared_ptr<MapProgressState>& progress, Rg& range) {
  using R = map_result_t<F, Rg&>;
  auto first = std::ranges::begin(range);
  const auto n = static_cast<std::size_t>(std::ranges::end(range) - first);
  auto slab = std::make_shared<std::vector<R>>(first, first + static_cast<std::ptrdiff_t>(n));
  const auto size = static_cast<std::size_t>(options.chunksize);
  MapSlabChunk<std::decay_t<F>, R> chunk{{std::decay_t<F>(fn)}};
  MapFutures<R> futures;
  for (std::size_t begin = 0; begin < n;) {
    const std::size_t end = n - begin > size ? begin + size : n;
    auto f = ex.submit(chunk, slab, begin, end);
    if (progress) {
      f.add_done_callback(
          [p = progress, k = end - begin](const Future<std::vector<R>>&) { p->add_done(k); });
    }
    futures.chunks.push_back(std::move(f));
    begin = end;
  }
  if (progress) progress->set_total(n);
  return MapResult<R>(std::move(futures), deadline, std::move(slab), size);
}

/// Executor::map(options, fn, ranges...) on `ex` (whose submit makes each call, and
/// `alive` expires when it is destroyed): every call submitted now, or, with a buffersize,
/// that many now and the rest as the results are consumed. `here`: ex runs calls in this
/// process (a chunked map may then be a slab map).
template <class Ex, class F, class... Rs>
auto run_map(Ex& ex, std::weak_ptr<void> alive, const MapOptions& options, bool here, F&& fn,
             Rs&&... ranges) {
  using R = map_result_t<F, Rs...>;
  static_assert(!std::is_void_v<R>,
                "Executor::map needs a function that returns a value; use submit for void");
  const Deadline deadline(options.timeout);  // counted from this call
  if (options.chunksize < 1) throw ValueError("chunksize must be >= 1.");
  if (options.buffersize && *options.buffersize < 1)
    throw ValueError("buffersize must be None or > 0");
  std::shared_ptr<MapProgressState> progress;
  if (options.progress) {
    std::optional<std::size_t> total;
    if constexpr ((std::ranges::sized_range<Rs> && ...))
      total = std::min({static_cast<std::size_t>(std::ranges::size(ranges))...});
    progress = std::make_shared<MapProgressState>(options.progress, total);
  }
  MapFutures<R> futures;
  const bool chunked = options.chunksize > 1;
  if (!options.buffersize) {
    // (Executor's own map only: another executor's submit may take other calls.)
    if constexpr (slab_mappable<F, Rs...> && std::is_same_v<Ex, futures::Executor>) {
      if (chunked && here) return run_slab_map(ex, options, fn, deadline, progress, ranges...);
    }
    MapSource<Ex, F, std::tuple<Rs...>, std::remove_reference_t<Rs>&...> source(
        ex, alive, options, fn, progress, ranges...);
    while (source.submit_next(futures)) {
    }
    return MapResult<R>(std::move(futures), chunked, deadline, nullptr, source.calls());
  } else {
    // The ranges as a buffered map holds them, as std::views::all would (a reference to an
    // lvalue, an rvalue moved in); spelled out because clang 14 (clang-tidy here) cannot
    // take libstdc++ 12's ref_view apart.
    if constexpr (((std::is_lvalue_reference_v<Rs> ||
                    std::is_move_constructible_v<std::remove_cvref_t<Rs>>)&&...)) {
      using Source = MapSource<Ex, F, std::tuple<Rs...>, held_range_t<Rs>...>;
      auto source = std::make_unique<Source>(ex, std::move(alive), options, fn, progress,
                                             std::forward<Rs>(ranges)...);
      for (long i = 0; i < *options.buffersize && source->submit_next(futures); ++i) {
      }
      return MapResult<R>(std::move(futures), chunked, deadline, std::move(source));
    } else {
      throw ValueError(
          "map with a buffersize needs ranges it can hold: lvalues, or movable rvalues");
    }
  }
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
    return detail::run_map(*this, lifetime(), options, runs_calls_here(), std::forward<F>(fn),
                           std::forward<Rs>(ranges)...);
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
  /// Whether every call runs in this process, on one of its threads (then a chunked map may
  /// share its inputs with its calls: run_slab_map). Default: no.
  [[nodiscard]] virtual bool runs_calls_here() const noexcept { return false; }
  /// Expires when this executor is destroyed: what a map with a buffersize checks before
  /// it submits.
  [[nodiscard]] std::weak_ptr<void> lifetime() const noexcept { return alive_; }

 private:
  std::shared_ptr<void> alive_ = std::make_shared<char>();
};

}  // namespace concur::futures
