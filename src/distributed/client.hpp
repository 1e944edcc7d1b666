// src/distributed/client.hpp: the engine behind distributed::Executor. Internal.
//
// Two connections, each owned by one thread: the sender writes queued tasks (XADD to
// {ns}:tasks, every task queued meanwhile in one pipelined round trip, then records each
// entry's id) and the reader reads this client's results list (LRANGE of up to 256, trimmed
// by the next round trip's LTRIM, else BLMOVE bounded by kPoll) and completes the futures;
// each makes its connection again when it is lost (retry_). `pending_` maps task numbers to
// their states (one reference each) and entry ids; whoever erases a task from it (the reader
// with a result, the sender with a write error, a broken connection, a cancel) completes
// it, so a task completes once even when a result arrives twice. A third connection, made
// on the first cancel, runs the cancel script (design 0007 §7).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "concur/distributed/executor.hpp"
#include "distributed/protocol.hpp"
#include "distributed/redis.hpp"

namespace concur::distributed::detail {

/// Defined beside serve (serve.cpp) and called by the Executor's constructor, so that a
/// program using the Executor links serve.cpp, whose static initialiser registers the
/// `--concur-worker=` switch with mp::main_guard.
void link_worker_switch() noexcept;

class ClientEngine {
 public:
  /// What tasks' StateBase::remote_ points to (client.cpp).
  class Port;
  /// Connects both connections and creates the group (throws as Executor's constructor).
  explicit ClientEngine(const ExecutorOptions& options);
  /// close(), then join().
  ~ClientEngine();
  ClientEngine(const ClientEngine&) = delete;
  ClientEngine& operator=(const ClientEngine&) = delete;

  /// Queues the task (encode_call first: TypeError / ValueError leave nothing queued).
  /// RuntimeError after close(); BrokenExecutor after the reader lost Redis.
  void submit(futures::detail::StateBase* task);
  /// No more submits; the threads end once every pending task has its result.
  void close() noexcept;
  /// shutdown(cancel_futures): cancels every task no worker has taken (still queued here,
  /// or in the stream and not yet delivered by the group).
  void cancel_all() noexcept;
  /// RemoteQueue::dequeue for task `id` (see client.cpp).
  bool dequeue(futures::detail::StateBase& task, std::uint64_t id) noexcept;
  /// Waits for both threads (after close()).
  void join() noexcept;
  [[nodiscard]] const std::string& client_id() const noexcept { return client_id_; }

 private:
  struct Outgoing {
    std::uint64_t task;
    multiprocessing::Buffer request;
  };
  /// A task waiting for its result, and its stream entry once XADD answered.
  struct Pending {
    futures::detail::StateBase* state = nullptr;
    std::uint64_t entry_ms = 0;  ///< the entry id "<ms>-<seq>"; both 0 until known
    std::uint64_t entry_seq = 0;
    [[nodiscard]] bool added() const noexcept { return entry_ms != 0 || entry_seq != 0; }
  };

  void send_loop() noexcept;
  void write_batch(std::vector<Outgoing>& batch) noexcept;
  /// Stores the entry ids XADD answered (ids[i] for batch[i]) and wakes dequeue calls.
  void record_entries(const std::vector<Outgoing>& batch, const std::vector<Pending>& ids) noexcept;
  void read_loop() noexcept;
  void deliver(const Reply& value) noexcept;
  /// Erases `task` from pending_ and fails it with `error`; false if it was not there.
  bool fail(std::uint64_t task, const std::exception_ptr& error) noexcept;
  void fail_all(const std::exception_ptr& error) noexcept;
  /// XDELs the entries no worker has taken, atomically (a script); per entry: deleted?
  std::vector<bool> delete_untaken(const std::vector<std::string>& entries);
  /// Erases `task` from pending_ if it is still `state` and cancels it; false otherwise.
  bool cancel_pending(std::uint64_t task, futures::detail::StateBase* state) noexcept;

  RedisAddress address_;
  RedisOptions redis_options_;
  Keys keys_;
  std::string client_id_;
  std::string results_key_;
  std::string ttl_ms_;
  std::string max_attempts_;
  RetryPolicy retry_;
  std::unique_ptr<Redis> send_;  // the sender thread's
  std::unique_ptr<Redis> recv_;  // the reader thread's

  std::mutex mu_;
  std::condition_variable cv_;  // the sender waits for outbox_ or closed_
  std::vector<Outgoing> outbox_;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::uint64_t next_task_ = 1;
  std::uint64_t sent_upto_ = 1;       // tasks below it left outbox_ for the sender
  int entry_waiters_ = 0;             // dequeue calls waiting for an XADD answer
  std::condition_variable added_cv_;  // they wait on it
  Port* port_ = nullptr;              // what the tasks' remote_ points to (client.cpp)
  std::mutex cancel_mu_;
  std::unique_ptr<Redis> cancel_conn_;  // under cancel_mu_: cancels' own connection
  bool closed_ = false;
  std::string broken_;  // non-empty once the reader lost Redis: why

  std::mutex join_mu_;
  bool cleaned_ = false;  // under join_mu_
  std::thread sender_;
  std::thread reader_;
};

}  // namespace concur::distributed::detail
