// concur/multiprocessing/pool.hpp: multiprocessing.Pool and AsyncResult.
//
//   void long_time_task(int name);
//   CONCUR_REGISTER(long_time_task);
//
//   int main(int argc, char** argv) {
//     mp::main_guard(argc, argv);                    // workers are copies of the program
//     mp::Pool p(4);                                 // Pool(4): four workers, started now
//     for (int i = 0; i < 5; ++i) p.apply_async(&long_time_task, i);
//     p.close();                                     // no more tasks
//     p.join();                                      // waits for the workers to finish them
//     std::vector<int> sq = mp::Pool(2).map(mp::fn<&square>, std::vector{1, 2, 3});
//   }
//
// A Pool is the second face of ProcessPoolExecutor's worker engine
// (concur/futures/process_pool.hpp, docs/design/0005-process-pools.md): the same workers,
// started all at once by the context's method (default forkserver), the same rules for what
// crosses (a CONCUR_REGISTERed function pointer, mp::fn<&f>, a captureless lambda or a
// trivially copyable closure, with Picklable arguments and result: anything else is a
// compile error), the same shared-memory channels. Every AsyncResult wraps a futures::Future
// (future()), so pool results mix with any other futures in futures::wait and as_completed.
//
// A dead worker never hangs a caller (unlike CPython, whose Pool loses the task and makes
// get() wait forever): the call the worker was running fails with
// futures::BrokenProcessPool naming the worker's pid and its signal or exit code, and a
// fresh worker takes its place (on_worker_death = replace, the default here; break_pool
// fails everything pending instead). A failing initializer breaks the pool: every pending
// result fails with BrokenProcessPool, and further calls throw it (CPython restarts the
// workers forever).
//
// States (Python's):            apply*/map*/imap*   close()   terminate()   join()
//   running (after construction)  accepted           -> closed  -> terminated ValueError("Pool is
//   still running") closed                        ValueError(*)      no-op     -> terminated  waits
//   for the workers terminated                    ValueError(*)      no-op     no-op         waits
//   for the workers
//   (*) "Pool not running"
// close(): no new tasks; the workers exit once every task submitted so far has run.
// terminate(): the workers are stopped now (SIGTERM); results not yet ready fail (a task not
// yet started: CancelledError; one running: BrokenProcessPool).
// join(timeout) is the timed join (beyond Python). The destructor is Python's __exit__:
// terminate(), then it waits for the workers to exit.
// So `mp::Pool(2).map(...)` is fine (map returns once every result is in), but results of
// *_async calls must be collected before the pool goes away.
//
// Blocking: apply, map and starmap wait for their results (their timed forms:
// apply_async(...).get(timeout), map_async(...).get(timeout)); apply_async, map_async,
// starmap_async, imap and imap_unordered never wait for a worker. AsyncResult::get(timeout),
// wait(timeout) and IMapIterator::next(timeout) are bounded by their timeout (omitted:
// forever); get and next throw concur::TimeoutError (Python's multiprocessing.TimeoutError)
// when it passes.
//
// Callbacks (apply_async / map_async / starmap_async with callback, error_callback): called
// once with the value (`const R&`; nothing for void) or with the std::exception_ptr, on the
// pool's result thread, before the result is ready (get() returns after the callback ran),
// as in CPython; an exception they throw goes to futures::set_exception_hook.
//
// imap / imap_unordered: a chunk whose call failed raises its exception once, at its place,
// and the iteration goes on after it (CPython's imap); a TimeoutError leaves the position
// where it was.
//
// Errors: processes < 1: ValueError("Number of processes must be at least 1");
// maxtasksperchild < 1: ValueError("maxtasksperchild must be a positive int or None");
// chunksize < 1 for any map: ValueError("Chunksize must be 1+, not N") (CPython checks it for
// imap only; its map quietly returns Nones). A task's exception comes back as its own type
// when the codec knows it, else as RemoteError.
//
// Python parity: Pool(processes, initializer, initargs, maxtasksperchild, context) is
// Pool({.processes, .initializer = {f, args...}, .maxtasksperchild, .context}) or Pool(n);
// apply(f, args) is apply(f, args...); apply_async(f, args, callback=, error_callback=) is
// apply_async(f, args...) or apply_async(f, std::tuple{args...}, callback, error_callback);
// map's default chunksize is CPython's (len / (4 × processes), rounded up); imap and
// imap_unordered default to 1. starmap takes a range of tuples (or pairs, arrays). Results
// are typed: map returns std::vector<R>. kwds: bind them in a closure.
//
// Thread safety: a Pool may be used from several threads at once.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "concur/futures/process_pool.hpp"

namespace concur::multiprocessing {

struct PoolOptions {
  /// Worker processes; default cpu_count(). Must be >= 1.
  std::optional<int> processes{};
  /// Run once in each worker before its first task (Python's initializer + initargs).
  Call initializer{};
  /// A worker exits after this many tasks and is replaced; default: never. Must be >= 1.
  std::optional<long> maxtasksperchild{};
  /// How workers start; default: the program's default start method.
  std::optional<Context> context{};
  /// What a worker's death does (beyond Python: see the file comment).
  WorkerDeath on_worker_death = WorkerDeath::replace;
};

/// No callback (the default of apply_async's callback and error_callback).
struct NoCallback {};

/// Python's multiprocessing.pool.AsyncResult (ApplyResult, MapResult): a result that will be
/// ready later. A handle: copies refer to the same result.
template <class R>
class AsyncResult {
 public:
  explicit AsyncResult(futures::Future<R> f) : f_(std::move(f)) {}

  /// The result (a reference valid while a handle lives; void for a void task) once ready,
  /// waiting at most `timeout` (omitted: forever). Throws the task's exception, TimeoutError
  /// when the timeout passes, CancelledError when terminate() stopped the task first.
  decltype(auto) get(Timeout timeout = {}) const { return f_.result(timeout); }
  /// Waits until the result is ready or the timeout passes.
  void wait(Timeout timeout = {}) const { (void)f_.wait(timeout); }
  /// Whether the call has completed.
  [[nodiscard]] bool ready() const noexcept { return f_.done(); }
  /// Whether the call completed without raising; ValueError("<AsyncResult object> not
  /// ready") before it is ready.
  [[nodiscard]] bool successful() const {
    if (!f_.done()) throw ValueError("<AsyncResult object> not ready");
    return !f_.cancelled() && f_.exception() == nullptr;
  }
  /// The future behind it (beyond Python): for futures::wait, as_completed, then.
  [[nodiscard]] const futures::Future<R>& future() const noexcept { return f_; }

 private:
  futures::Future<R> f_;
};

namespace detail {

/// The chunks of an imap / imap_unordered, and the order in which they are read.
template <class R>
class IMapState {
 public:
  IMapState(std::vector<futures::Future<std::vector<R>>> chunks, bool ordered)
      : chunks_(std::move(chunks)), ordered_(ordered) {
    if (!ordered_) {
      for (std::size_t i = 0; i < chunks_.size(); ++i) {
        chunks_[i].add_done_callback([done = done_, i](const auto&) {
          {
            std::lock_guard lock(done->mu);
            done->order.push_back(i);
          }
          done->cv.notify_all();
        });
      }
    }
  }

  std::optional<R> next(Timeout timeout) {
    const Deadline deadline(timeout);
    while (pos_ == values_.size()) {
      if (taken_ == chunks_.size()) return std::nullopt;
      std::size_t i = taken_;
      if (!ordered_) {
        std::unique_lock lock(done_->mu);
        auto have = [&] { return !done_->order.empty(); };
        if (deadline.is_forever()) {
          done_->cv.wait(lock, have);
        } else if (!done_->cv.wait_for(lock, deadline.remaining(), have)) {
          throw TimeoutError("imap_unordered: the next result was not ready in time");
        }
        i = done_->order.front();
        done_->order.pop_front();
      }
      const auto& f = chunks_[i];
      if (!f.wait(deadline.is_forever() ? Timeout{} : Timeout(deadline.remaining()))) {
        if (!ordered_) {  // put it back: the next call reads it
          std::lock_guard lock(done_->mu);
          done_->order.push_front(i);
        }
        throw TimeoutError("imap: the next result was not ready in time");
      }
      ++taken_;  // a chunk that failed is passed, as CPython's imap goes on after it
      auto chunk = std::move(chunks_[i]);
      chunks_[i] = futures::Future<std::vector<R>>(nullptr);  // keep no reference to it
      values_ = chunk.result();
      pos_ = 0;
    }
    return std::move(values_[pos_++]);
  }

 private:
  struct Done {  // shared with the chunks' callbacks, which may outlive this
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::size_t> order;  // chunks completed, in completion order
  };
  std::vector<futures::Future<std::vector<R>>> chunks_;
  bool ordered_;
  std::shared_ptr<Done> done_ = std::make_shared<Done>();
  std::size_t taken_ = 0;
  std::vector<R> values_;
  std::size_t pos_ = 0;
};

/// What fn returns for one item of a map (Star: the item is a tuple of arguments).
template <bool Star, class Fn, class Item>
struct chunk_result {
  using type = std::invoke_result_t<Fn&, Item&&>;
};
template <class Fn, class Item>
struct chunk_result<true, Fn, Item> {
  using type = decltype(std::apply(std::declval<Fn&>(), std::declval<Item&&>()));
};

/// The value of `f`, which is done, to move from: only for a future that the caller alone
/// reads (a map's chunks, a map's result in Pool::map).
template <class V>
V& take(const futures::Future<V>& f) {
  return const_cast<V&>(f.result());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
}

/// Completes `all` from the chunks of a map_async once every chunk is done: the values in
/// order, or the first chunk's exception (in input order), as CPython's MapResult becomes
/// ready only when every chunk has finished.
template <class R>
void gather_chunks(std::vector<futures::Future<std::vector<R>>> chunks,
                   futures::Future<std::vector<R>> all) {
  struct Gather {
    std::vector<futures::Future<std::vector<R>>> chunks;
    futures::Future<std::vector<R>> all;
    std::atomic<std::size_t> left;
    void finish() {
      std::vector<R> out;
      std::size_t total = 0;
      for (auto& c : chunks)
        if (c.done() && !c.cancelled() && c.exception() == nullptr) total += c.result().size();
      out.reserve(total);
      for (auto& c : chunks) {
        std::exception_ptr e;
        try {
          e = c.exception();
        } catch (...) {  // cancelled
          e = std::current_exception();
        }
        if (e) {
          for (auto& rest : chunks) {  // read, so that no unread error is reported
            try {
              (void)rest.exception();
            } catch (...) {
            }
          }
          all.set_exception(e);
          return;
        }
        auto& v = take(c);
        out.insert(out.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
      }
      all.set_result(std::move(out));
    }
  };
  if (chunks.empty()) {
    all.set_result(std::vector<R>{});
    return;
  }
  auto g = std::make_shared<Gather>();
  g->left = chunks.size();
  g->all = std::move(all);
  g->chunks = std::move(chunks);
  for (auto& c : g->chunks) {
    c.add_done_callback([g](const auto&) {
      if (g->left.fetch_sub(1) == 1) g->finish();
    });
  }
}

}  // namespace detail

/// Python's IMapIterator: the results of imap (in order) or imap_unordered (as they
/// complete), an input range also usable with next(timeout).
template <class R>
class IMapIterator {
 public:
  explicit IMapIterator(std::unique_ptr<detail::IMapState<R>> state) : state_(std::move(state)) {}

  /// The next result, waiting at most `timeout`; nullopt at the end (Python's
  /// StopIteration). Throws the task's exception, or TimeoutError.
  std::optional<R> next(Timeout timeout = {}) { return state_->next(timeout); }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(IMapIterator* m) : m_(m) { advance(); }
    R& operator*() { return *current_; }
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
      current_ = m_->next();
      if (!current_) m_ = nullptr;
    }
    IMapIterator* m_ = nullptr;
    std::optional<R> current_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::unique_ptr<detail::IMapState<R>> state_;
};

class Pool : private futures::ProcessPoolExecutor {
 public:
  /// Starts the workers. ValueError for processes < 1 or maxtasksperchild < 1.
  explicit Pool(PoolOptions options = {});
  /// Pool(processes).
  explicit Pool(int processes) : Pool(PoolOptions{.processes = processes}) {}
  /// Python's __exit__: terminate(), then waits for the workers to exit.
  ~Pool() override;

  /// Calls fn(args...) in a worker and waits for the result (Python's apply).
  template <class F, class... A>
  requires futures::detail::submittable<F, A...>
  decltype(auto) apply(F&& fn, A&&... args) {
    auto r = apply_async(std::forward<F>(fn), std::forward<A>(args)...);
    if constexpr (std::is_void_v<futures::submit_result_t<F, A...>>) {
      r.get();
    } else {
      return futures::submit_result_t<F, A...>(r.get());
    }
  }

  /// Calls fn(args...) in a worker; returns at once.
  template <class F, class... A>
  requires futures::detail::submittable<F, A...>
  auto apply_async(F&& fn, A&&... args) {
    check_running();
    return AsyncResult(ProcessPoolExecutor::submit(std::forward<F>(fn), std::forward<A>(args)...));
  }
  /// Python's apply_async(func, args, callback=, error_callback=).
  template <class F, class... A, class Callback, class ErrorCallback = NoCallback>
  auto apply_async(F&& fn, std::tuple<A...> args, Callback callback,
                   ErrorCallback error_callback = {}) {
    check_running();
    auto f = std::apply(
        [&](auto&&... a) {
          return ProcessPoolExecutor::submit(std::forward<F>(fn), std::move(a)...);
        },
        std::move(args));
    return AsyncResult(
        with_callbacks(std::move(f), std::move(callback), std::move(error_callback)));
  }

  /// fn over every element of `items`, the results in order (Python's map); waits.
  template <class F, class Range>
  auto map(F&& fn, Range&& items, std::optional<long> chunksize = std::nullopt) {
    auto r = map_async(std::forward<F>(fn), std::forward<Range>(items), chunksize);
    r.wait();
    return std::move(detail::take(r.future()));  // r is this call's own
  }
  /// map, returning at once.
  template <class F, class Range, class Callback = NoCallback, class ErrorCallback = NoCallback>
  auto map_async(F&& fn, Range&& items, std::optional<long> chunksize = std::nullopt,
                 Callback callback = {}, ErrorCallback error_callback = {}) {
    return map_common<false>(std::forward<F>(fn), std::forward<Range>(items), chunksize,
                             std::move(callback), std::move(error_callback));
  }
  /// fn(a, b, ...) for every tuple (a, b, ...) of `items`, the results in order; waits.
  template <class F, class Range>
  auto starmap(F&& fn, Range&& items, std::optional<long> chunksize = std::nullopt) {
    auto r = starmap_async(std::forward<F>(fn), std::forward<Range>(items), chunksize);
    r.wait();
    return std::move(detail::take(r.future()));  // r is this call's own
  }
  /// starmap, returning at once.
  template <class F, class Range, class Callback = NoCallback, class ErrorCallback = NoCallback>
  auto starmap_async(F&& fn, Range&& items, std::optional<long> chunksize = std::nullopt,
                     Callback callback = {}, ErrorCallback error_callback = {}) {
    return map_common<true>(std::forward<F>(fn), std::forward<Range>(items), chunksize,
                            std::move(callback), std::move(error_callback));
  }

  /// The results of fn over `items` in order, as they come (Python's imap).
  template <class F, class Range>
  auto imap(F&& fn, Range&& items, long chunksize = 1) {
    return imap_common(true, std::forward<F>(fn), std::forward<Range>(items), chunksize);
  }
  /// The results of fn over `items` in the order they complete (Python's imap_unordered).
  template <class F, class Range>
  auto imap_unordered(F&& fn, Range&& items, long chunksize = 1) {
    return imap_common(false, std::forward<F>(fn), std::forward<Range>(items), chunksize);
  }

  /// No more tasks; the workers exit once the tasks submitted so far have run.
  void close();
  /// Stops the workers now (SIGTERM); results not yet ready fail.
  void terminate();
  /// Waits until every worker exited; ValueError("Pool is still running") before close() or
  /// terminate().
  void join();
  /// join() for at most `timeout` (beyond Python); true when every worker exited.
  bool join(Timeout timeout);

  /// The number of workers.
  [[nodiscard]] int processes() const noexcept { return max_workers(); }
  /// The pids of the workers not yet seen dead, a worker retiring after maxtasksperchild
  /// included (beyond Python).
  using ProcessPoolExecutor::pids;

 private:
  enum class State { run, close, terminate };

  void check_running() const;
  /// ValueError("Chunksize must be 1+, not N").
  [[noreturn]] static void bad_chunksize(long chunksize);
  /// CPython's default chunksize for map: len / (4 × processes), rounded up.
  [[nodiscard]] long default_chunksize(std::size_t n) const noexcept;

  /// The future an AsyncResult with callbacks shows: completed like `f`, but only after the
  /// callback (or error_callback) ran, as CPython's ApplyResult calls it before it is ready.
  /// An exception a callback throws goes to futures::set_exception_hook.
  template <class R, class Callback, class ErrorCallback>
  static futures::Future<R> with_callbacks(futures::Future<R> f, Callback callback,
                                           ErrorCallback error_callback) {
    constexpr bool kValue = !std::is_same_v<Callback, NoCallback>;
    constexpr bool kError = !std::is_same_v<ErrorCallback, NoCallback>;
    if constexpr (!kValue && !kError) {
      return f;
    } else {
      futures::Future<R> shown;
      f.add_done_callback([shown, callback = std::move(callback),
                           error_callback = std::move(error_callback)](const auto& done) mutable {
        std::exception_ptr e;
        try {
          e = done.exception();
        } catch (...) {  // cancelled
          e = std::current_exception();
        }
        try {
          if (e) {
            if constexpr (kError) error_callback(e);
          } else if constexpr (kValue) {
            if constexpr (std::is_void_v<R>) {
              callback();
            } else {
              callback(done.result());
            }
          }
        } catch (...) {
          futures::detail::report_exception("Exception in a Pool callback:", "",
                                            std::current_exception());
        }
        if (e) {
          shown.set_exception(e);
        } else if constexpr (std::is_void_v<R>) {
          shown.set_result();
        } else {
          shown.set_result(done.result());
        }
      });
      return shown;
    }
  }

  /// Submits `items` in chunks of MapChunk calls (Star: each item is a tuple of arguments).
  template <bool Star, class F, class Range>
  auto submit_chunks(F&& fn, Range&& items, std::optional<long> chunksize) {
    using Item = std::decay_t<std::ranges::range_reference_t<Range>>;
    using Fn = std::decay_t<F>;
    using R = typename detail::chunk_result<Star, Fn, Item>::type;
    using Chunk = futures::detail::MapChunk<Fn, R, Item, Star>;
    static_assert(concur::detail::call_crosses<Chunk, std::vector<Item>>(),
                  "Pool: this function cannot cross to a worker process: use a "
                  "CONCUR_REGISTERed function pointer, mp::fn<&f>, a captureless lambda or a "
                  "trivially copyable closure, with Picklable elements and result");
    check_running();
    if (chunksize && *chunksize < 1) bad_chunksize(*chunksize);
    const Chunk call{{Fn(fn)}};
    std::vector<futures::Future<std::vector<R>>> chunks;
    auto submit_from = [&](auto first, auto last, std::size_t n) {
      const auto per = static_cast<std::size_t>(chunksize ? *chunksize : default_chunksize(n));
      while (first != last) {
        std::vector<Item> chunk;
        chunk.reserve(std::min(per, n));
        for (; first != last && chunk.size() < per; ++first) chunk.emplace_back(*first);
        n -= chunk.size();
        chunks.push_back(ProcessPoolExecutor::submit(call, std::move(chunk)));
      }
    };
    if constexpr (std::ranges::sized_range<Range> && std::ranges::forward_range<Range>) {
      // Chunks straight from the range: each element copied once, here.
      submit_from(std::ranges::begin(items), std::ranges::end(items),
                  static_cast<std::size_t>(std::ranges::size(items)));
    } else {  // CPython takes list(iterable) first, for its length
      std::vector<Item> all;
      for (auto&& x : items) all.emplace_back(std::forward<decltype(x)>(x));
      submit_from(std::make_move_iterator(all.begin()), std::make_move_iterator(all.end()),
                  all.size());
    }
    return chunks;
  }

  template <bool Star, class F, class Range, class Callback, class ErrorCallback>
  auto map_common(F&& fn, Range&& items, std::optional<long> chunksize, Callback callback,
                  ErrorCallback error_callback) {
    auto chunks = submit_chunks<Star>(std::forward<F>(fn), std::forward<Range>(items), chunksize);
    using R = typename std::decay_t<decltype(chunks)>::value_type::value_type::value_type;
    futures::Future<std::vector<R>> all;
    detail::gather_chunks<R>(std::move(chunks), all);
    return AsyncResult<std::vector<R>>(
        with_callbacks(std::move(all), std::move(callback), std::move(error_callback)));
  }

  template <class F, class Range>
  auto imap_common(bool ordered, F&& fn, Range&& items, long chunksize) {
    if (chunksize < 1) bad_chunksize(chunksize);
    auto chunks = submit_chunks<false>(std::forward<F>(fn), std::forward<Range>(items), chunksize);
    using R = typename std::decay_t<decltype(chunks)>::value_type::value_type::value_type;
    return IMapIterator<R>(std::make_unique<detail::IMapState<R>>(std::move(chunks), ordered));
  }

  mutable std::mutex state_mu_;
  State state_ = State::run;
};

}  // namespace concur::multiprocessing
