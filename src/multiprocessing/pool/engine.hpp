// The worker engine behind ProcessPoolExecutor and multiprocessing.Pool
// (docs/design/0005-process-pools.md §2). Internal.
//
// Threads: the callers' (submit, shutdown...), one result thread (reads every worker's
// replies from one shared channel, completes the futures, hands out the next calls, starts
// and replaces workers) and one watcher thread (polls the workers' pidfds and posts a kDied
// frame on the result channel, behind every reply the dead worker sent: so the result thread
// sees a worker's death only after all it answered).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "concur/futures/process_pool.hpp"
#include "concur/multiprocessing/connection.hpp"
#include "concur/multiprocessing/process.hpp"
#include "concur/multiprocessing/shared_memory.hpp"
#include "multiprocessing/pool/arena.hpp"
#include "os/fd.hpp"

namespace concur::futures::detail {

struct EngineOptions {
  int processes = 1;
  std::optional<multiprocessing::Context> context;
  multiprocessing::Buffer initializer;    // a registry request; empty: none
  std::int64_t max_tasks_per_worker = 0;  // 0: unlimited
  WorkerDeath on_death = WorkerDeath::break_pool;
  WorkerStart start = WorkerStart::on_demand;
  std::string name;  // "ProcessPoolExecutor-1", "Pool-1"
};

class ProcessPoolEngine {
 public:
  explicit ProcessPoolEngine(EngineOptions options);
  /// Stops every worker (SIGKILL if still running) and the threads; never throws.
  ~ProcessPoolEngine();
  ProcessPoolEngine(const ProcessPoolEngine&) = delete;
  ProcessPoolEngine& operator=(const ProcessPoolEngine&) = delete;

  /// Encodes the task's call (TypeError/ValueError from it), queues it and hands it to a
  /// worker when one has room. RuntimeError after close; BrokenProcessPool when broken.
  void submit(StateBase* task);
  /// No new tasks: each worker is told to exit once nothing is left for it.
  void close();
  /// Cancels every task no worker holds yet.
  void cancel_pending() noexcept;
  /// close() + cancel_pending(), then sends `signal` to every live worker; the tasks they
  /// hold fail with BrokenProcessPool when their deaths are seen.
  void stop_workers(int signal) noexcept;
  /// Waits until every worker exited (after close or stop_workers), then ends the threads.
  /// False on timeout.
  bool join(const Deadline& deadline);

  [[nodiscard]] bool broken() const noexcept;
  [[nodiscard]] std::vector<int> pids() const;
  [[nodiscard]] int processes() const noexcept { return options_.processes; }

 private:
  ProcessPoolEngine(
      EngineOptions options,
      std::pair<multiprocessing::Connection<Bytes>, multiprocessing::Connection<Bytes>> results);

  struct Job {
    StateBase* task = nullptr;
    std::uint64_t id = 0;
    multiprocessing::Buffer frame;                    // kTask or kTaskShm, ready to send
    multiprocessing::detail::pool::Placed placed;     // a large request's segment (arena.hpp)
    bool running = false;                             // set_running_or_notify_cancel done
    std::chrono::steady_clock::time_point sent_at{};  // handed to a worker
  };
  struct Worker {
    std::uint32_t slot = 0;
    std::optional<multiprocessing::Process> process;
    std::optional<multiprocessing::Connection<Bytes>> tasks;  // this end sends
    int pid = 0;
    int pidfd = -1;
    std::deque<Job> held;  // sent, not answered: the first one is running
    std::int64_t sent = 0;
    std::size_t window = 2;      // calls it may hold: grows while its calls are quick
    std::size_t held_bytes = 0;  // of the frames it holds: never more than half its ring
    bool exiting = false;        // told to exit (kExit), or retiring after max tasks
    bool reported = false;       // the watcher posted its death
    bool ready = false;          // its initializer ran (kReady), or there is none
  };

  // All under mu_.
  void start_worker_locked();
  void submit_locked(StateBase* task, multiprocessing::Buffer request);
  /// Fails the jobs dispatch_locked could give to no worker (none could start); call it
  /// without the lock, after every locked section that dispatched.
  void flush_deferred() noexcept;
  void dispatch_locked();
  bool send_locked(Worker& w, Job& job);
  void tell_exit_locked(Worker& w);
  void break_locked(const std::string& why, std::vector<Job>& to_fail);
  Worker* find_locked(std::uint32_t slot) noexcept;
  void check_all_done_locked();
  /// Workers that are neither dead nor exiting.
  [[nodiscard]] int live_locked() const noexcept;
  /// Starts workers up to `processes`: at once for a Pool (as CPython's worker handler
  /// keeps it full), after a retirement for both faces; not once closed, broken or stopping.
  void refill_locked();

  void result_loop();
  void watch_loop();
  void on_result(std::uint32_t slot, std::uint64_t id, std::span<const std::byte> reply,
                 std::optional<multiprocessing::shared_memory::SharedMemory> segment);
  void on_death(std::uint32_t slot);
  void on_init_failed(std::uint32_t slot, std::span<const std::byte> reply);
  /// Completes and releases jobs outside the lock.
  void fail_jobs(std::vector<Job>& jobs, const std::exception_ptr& error) noexcept;
  void release_job(Job& job) noexcept;
  void wake_watcher() noexcept;
  void stop_threads() noexcept;

  EngineOptions options_;
  multiprocessing::detail::pool::RequestArenas request_arenas_;  // outlives every job
  /// Each worker's reply segments, mapped (the result thread's alone).
  std::map<std::uint32_t, multiprocessing::detail::pool::MappedArenas> reply_arenas_;
  mutable std::mutex mu_;
  std::condition_variable all_done_;
  std::deque<Job> pending_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint32_t next_slot_ = 0;
  std::uint64_t next_id_ = 0;
  bool closed_ = false;
  bool stopping_ = false;      // stop_workers: what workers hold fails
  std::string broken_;         // why, once broken
  std::vector<Job> deferred_;  // to fail with deferred_error_ (flush_deferred)
  std::exception_ptr deferred_error_;
  bool threads_stopped_ = false;
  bool wake_pending_ = false;  // a byte is in the wake pipe
  bool watch_stop_ = false;

  multiprocessing::Connection<Bytes> results_rx_;
  multiprocessing::Connection<Bytes> results_tx_;  // the workers' copy; the watcher's too
  os::Fd wake_rx_;
  os::Fd wake_tx_;
  std::thread result_thread_;
  std::thread watch_thread_;
};

}  // namespace concur::futures::detail
