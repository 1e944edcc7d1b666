// concur/futures/thread_pool.hpp: ThreadPoolExecutor.
//
//   concur::futures::ThreadPoolExecutor pool({.max_workers = 4,
//                                             .thread_name_prefix = "io",
//                                             .initializer = [] { open_connection(); }});
//   auto f = pool.submit(fetch, url);         // Future<std::string>
//   for (int len : pool.map(length, words)) ...
//   // ~ThreadPoolExecutor() == shutdown(wait = true)
//
// Workers are started lazily, one per submit while none is idle, up to
// max_workers (default min(32, cpu_count + 4), cpu_count being the CPUs this
// process may run on). An idle worker is reused before a new one starts.
// Workers are named "<prefix>_<k>" for the OS (/proc/self/task/*/comm; Linux
// keeps 15 bytes); the default prefix is "ThreadPoolExecutor-<n>".
//
// Blocking: submit never blocks on tasks (it may start a thread). shutdown(
// wait = true) and the destructor block until every queued task has run and
// the workers ended.
//
// Errors: max_workers <= 0 → ValueError("max_workers must be greater than 0").
// If the initializer throws in a worker, the pool is broken: the error goes to
// the exception hook ("Exception in initializer:"), queued futures fail with
// BrokenThreadPool, and submit throws BrokenThreadPool from then on.
//
// Deadlocks (as documented by CPython): a task that waits on the future of
// another task that waits on it deadlocks; a task that submits to its own
// 1-worker pool and waits on that future deadlocks (the only worker is busy
// waiting). Give such waits a timeout. Never destroy a pool from one of its
// own tasks; shutdown(wait = true) called from a task joins the other workers
// only.
//
// Python parity: chunksize is honoured by map (see executor.hpp); stats() is
// beyond Python; shutdown(cancel_futures = true) also moves the cancelled
// futures to CANCELLED_AND_NOTIFIED so that wait()/as_completed() on them
// return (CPython leaves them CANCELLED and such a wait hangs), and asks
// running tasks that take a std::stop_token to stop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "concur/futures/executor.hpp"

namespace concur::futures {

struct ThreadPoolOptions {
  /// Number of worker threads at most; default min(32, cpu_count + 4).
  std::optional<int> max_workers{};
  /// OS name prefix of the workers; default "ThreadPoolExecutor-<n>".
  std::string thread_name_prefix{};
  /// Run by each worker before its first task (Python's initializer+initargs:
  /// capture the arguments).
  std::function<void()> initializer{};
};

/// A snapshot of a pool (beyond Python).
struct PoolStats {
  int max_workers = 0;
  int threads = 0;         // started so far
  int idle = 0;            // waiting for work
  std::size_t queued = 0;  // submitted, not yet taken by a worker
  std::uint64_t submitted = 0;
  std::uint64_t completed = 0;  // tasks taken and run (or found cancelled)
};

namespace detail {
/// Which pool a ThreadPoolExecutor engine is: it picks the error a failed initializer
/// breaks the pool with (BrokenThreadPool, BrokenInterpreterPool) and the name in reports.
enum class PoolKind { thread, interpreter };
}  // namespace detail

template <class Ctx>
class InterpreterPoolExecutor;

class ThreadPoolExecutor final : public Executor {
 public:
  explicit ThreadPoolExecutor(ThreadPoolOptions options = {});
  /// The engine of another pool (InterpreterPoolExecutor runs on this one): `finalizer`
  /// runs in each worker as it ends (after its last task, or after its initializer failed).
  ThreadPoolExecutor(ThreadPoolOptions options, detail::PoolKind kind,
                     std::function<void()> finalizer = {});
  ~ThreadPoolExecutor() override;

  void shutdown(bool wait = true, bool cancel_futures = false) override;

  [[nodiscard]] int max_workers() const noexcept;
  [[nodiscard]] PoolStats stats() const;
  /// min(32, cpu_count + 4).
  [[nodiscard]] static int default_max_workers() noexcept;

 protected:
  void submit_task(concur::futures::detail::StateBase* task) override;
  [[nodiscard]] std::stop_token stop_token() const noexcept override;
  [[nodiscard]] bool runs_calls_here() const noexcept override { return true; }

 private:
  template <class Ctx>
  friend class InterpreterPoolExecutor;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace concur::futures
