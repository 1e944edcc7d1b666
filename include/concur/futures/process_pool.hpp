// concur/futures/process_pool.hpp: ProcessPoolExecutor (concurrent.futures.ProcessPoolExecutor).
//
//   bool is_prime(long n);
//   CONCUR_REGISTER(is_prime);          // or pass mp::fn<&is_prime>, which needs no macro
//
//   int main(int argc, char** argv) {
//     concur::mp::main_guard(argc, argv);                 // workers are copies of the program
//     concur::futures::ProcessPoolExecutor ex;            // max_workers = cpu_count()
//     auto f = ex.submit(&is_prime, 112272535095293L);    // Future<bool>
//     for (bool p : ex.map(&is_prime, primes)) ...        // in order
//   }                                                     // ~ = shutdown(wait = true)
//
// Each call runs in a worker process (started by the context's method, default forkserver;
// the program must call mp::main_guard first, as for mp::Process). Callables and arguments
// cross through the codec and the registry (concur/multiprocessing/registry.hpp): a
// CONCUR_REGISTERed function pointer, mp::fn<&f>, a captureless lambda or a trivially copyable
// closure, with Picklable arguments and result. Through ProcessPoolExecutor's own submit and
// map, a call that cannot cross is a compile error; through a plain Executor&, it is TypeError
// at submit (an unregistered function pointer: ValueError at submit). A task's exception comes
// back as its own type when the codec knows it (std and concur exceptions), else as
// mp::RemoteError carrying the type name, the message and the worker's pid.
//
// Workers: started on demand, one per submit while none is idle, up to max_workers (as
// CPython 3.9+); each is watched through its pidfd, dies with this process (mp::Process's
// lifeline), and is handed one call at a time (more while its calls are quick): the pool
// always knows which worker holds which call. With max_tasks_per_child, a worker exits after that
// many calls and a fresh one replaces it (memory a task leaked is given back).
//
// A worker that dies (killed, crashed, std::exit in a task, a failing initializer):
//   on_worker_death = break_pool (default, CPython's behaviour): the pool is broken. Every
//     pending and running future fails with BrokenProcessPool("A process in the process pool
//     was terminated abruptly while the future was running or pending."), the other workers
//     are stopped, and submit throws BrokenProcessPool("A child process terminated abruptly,
//     the process pool is not usable anymore") from then on.
//   on_worker_death = replace (beyond Python): only the call the dead worker was running
//     fails, with BrokenProcessPool naming the worker's pid and its signal or exit code
//     ("worker process 1234 died (SIGKILL) while running this call; the pool goes on");
//     calls queued behind it go to other workers, and a fresh worker takes its place.
//     A failing initializer still breaks the pool (a fresh worker would fail the same way).
//
// Blocking: submit never waits for a worker (it may start one: a fork of the forkserver,
// ~0.3 ms). shutdown(wait = true) and the destructor wait until every queued call ran and
// the workers exited. terminate_workers() / kill_workers() never wait for calls.
//
// Errors: max_workers <= 0: ValueError("max_workers must be greater than 0");
// max_tasks_per_child <= 0: ValueError("max_tasks_per_child must be >= 1"); with a fork
// context: ValueError("max_tasks_per_child is incompatible with the 'fork' multiprocessing
// start method; supply a different mp_context."); submit after shutdown: RuntimeError("cannot
// schedule new futures after shutdown"); chunksize < 1: ValueError.
//
// Python parity:
//  - ProcessPoolExecutor(max_workers, mp_context, initializer, initargs, max_tasks_per_child)
//    is ProcessPoolExecutor({.max_workers, .mp_context, .initializer = {f, args...},
//    .max_tasks_per_child}); max_workers defaults to cpu_count() (CPUs this process may run
//    on), without Windows' 61 limit. max_tasks_per_child without mp_context keeps the default
//    method (forkserver: safe), where CPython switches to spawn.
//  - map(fn, ranges..., {.timeout, .chunksize}): chunks cross as one call each (chunksize 1:
//    one call per item), results in order, as CPython; every call is submitted at once.
//  - shutdown(wait, cancel_futures), terminate_workers(), kill_workers() (3.14): the latter two
//    cancel every pending future, signal each live worker (SIGTERM / SIGKILL), and fail the
//    running futures with BrokenProcessPool; submit then raises RuntimeError.
//  - Futures are the futures of concur/futures/future.hpp: they mix with thread-pool futures
//    in wait() and as_completed().
//  - Callbacks added to a future run on the pool's result thread when a reply arrives (as in
//    CPython, where they run on the executor manager thread).
//  - cancel() succeeds for calls not yet handed to a worker. A worker normally holds only
//    the call it runs; while its calls answer within 200 µs it is handed up to 32 at once
//    (those run, as the calls in CPython's call queue do).
//  - No pickling: values cross through the codec (docs/design/0004-multiprocessing.md).
#pragma once

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "concur/futures/executor.hpp"
#include "concur/multiprocessing/call.hpp"
#include "concur/multiprocessing/context.hpp"

namespace concur::multiprocessing {
/// What a process pool does when one of its workers dies (see futures/process_pool.hpp).
enum class WorkerDeath {
  break_pool,  ///< CPython's ProcessPoolExecutor: the pool is broken, every pending call fails
  replace,     ///< only the dead worker's call fails; a fresh worker takes its place
};
}  // namespace concur::multiprocessing

namespace concur::futures {

using multiprocessing::WorkerDeath;

struct ProcessPoolOptions {
  /// Worker processes at most; default cpu_count().
  std::optional<int> max_workers{};
  /// How workers start (mp::get_context("spawn"), mp::ForkContext{}...); default: the
  /// program's default start method (forkserver unless set_start_method chose another).
  std::optional<multiprocessing::Context> mp_context{};
  /// Run once in each worker before its first call (Python's initializer + initargs).
  multiprocessing::Call initializer{};
  /// A worker exits after this many calls and is replaced; default: never.
  std::optional<int> max_tasks_per_child{};
  /// What a worker's death does (beyond Python; default CPython's behaviour).
  WorkerDeath on_worker_death = WorkerDeath::break_pool;
};

namespace detail {
class ProcessPoolEngine;
/// How the pool starts its workers: on demand (ProcessPoolExecutor) or all at once
/// (multiprocessing.Pool).
enum class WorkerStart { on_demand, all_at_once };
}  // namespace detail

class ProcessPoolExecutor : public Executor {
 public:
  explicit ProcessPoolExecutor(ProcessPoolOptions options = {});
  ~ProcessPoolExecutor() override;

  /// Executor::submit, with a compile-time check that the call crosses to a worker.
  template <class F, class... A>
  requires detail::submittable<F, A...>
  auto submit(F&& fn, A&&... args) {
    static_assert(
        detail::Task<submit_result_t<F, A...>, std::decay_t<F>, std::decay_t<A>...>::kCrosses,
        "ProcessPoolExecutor: this call cannot cross to a worker process: use a "
        "CONCUR_REGISTERed function pointer, mp::fn<&f>, a captureless lambda or a "
        "trivially copyable closure (no std::stop_token parameter), with Picklable "
        "arguments and result (see concur/multiprocessing/codec.hpp)");
    return Executor::submit(std::forward<F>(fn), std::forward<A>(args)...);
  }

  /// Executor::map, with a compile-time check that its calls cross to a worker.
  template <class F, class... Rs>
  requires detail::mappable<F, Rs...>
  auto map(F&& fn, Rs&&... ranges) {
    return map(MapOptions{}, std::forward<F>(fn), std::forward<Rs>(ranges)...);
  }
  template <class F, class... Rs>
  requires detail::mappable<F, Rs...>
  auto map(const MapOptions& options, F&& fn, Rs&&... ranges) {
    static_assert(
        concur::detail::call_crosses<detail::map_chunk_t<F, Rs...>,
                                     detail::map_chunk_arg_t<Rs...>>() &&
            concur::detail::call_crosses<detail::map_one_t<F, Rs...>, detail::map_arg_t<Rs>...>(),
        "ProcessPoolExecutor::map: this function cannot cross to a worker process: use a "
        "CONCUR_REGISTERed function pointer, mp::fn<&f>, a captureless lambda or a trivially "
        "copyable closure, with Picklable elements and result");
    return Executor::map(options, std::forward<F>(fn), std::forward<Rs>(ranges)...);
  }

  void shutdown(bool wait = true, bool cancel_futures = false) override;
  /// Python 3.14: cancels the pending futures, sends SIGTERM to every live worker, fails the
  /// running futures with BrokenProcessPool, and shuts down without waiting.
  void terminate_workers();
  /// The same with SIGKILL.
  void kill_workers();

  [[nodiscard]] int max_workers() const noexcept;
  /// The pids of the live workers (beyond Python; CPython's private _processes).
  [[nodiscard]] std::vector<int> pids() const;
  /// Whether a worker's death (or a failing initializer) broke the pool.
  [[nodiscard]] bool broken() const noexcept;

 protected:
  /// For multiprocessing.Pool: workers started all at once, its error messages.
  ProcessPoolExecutor(ProcessPoolOptions options, detail::WorkerStart start);
  void submit_task(concur::futures::detail::StateBase* task) override;
  /// Cancels what no worker holds yet, signals every live worker, fails what they hold
  /// (Pool.terminate, terminate_workers, kill_workers), and waits for nothing.
  void stop_workers(int signal);
  /// Waits until every worker exited and the result thread ended (after shutdown); false on
  /// timeout.
  bool join_workers(Timeout timeout);

 private:
  std::unique_ptr<detail::ProcessPoolEngine> engine_;
};

}  // namespace concur::futures
