// src/distributed/client.hpp: the engine behind distributed::Executor. Internal.
//
// Two connections, each owned by one thread: the sender writes queued tasks (XADD to
// {ns}:tasks, every task queued meanwhile in one pipelined round trip) and the reader pops
// this client's results list (BLMPOP of up to 256, bounded by kPoll; LPOP then BLPOP where
// Redis is older than 7.0 or the ACL refuses BLMPOP) and completes
// the futures. `pending_` maps task numbers to their states (one reference each); whoever
// erases a task from it (the reader with a result, the sender with a write error, a broken
// connection) completes it, so a task completes once even when a result arrives twice.
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

class ClientEngine {
 public:
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
  /// Waits for both threads (after close()).
  void join() noexcept;
  [[nodiscard]] const std::string& client_id() const noexcept { return client_id_; }

 private:
  struct Outgoing {
    std::uint64_t task;
    multiprocessing::Buffer request;
  };
  void send_loop() noexcept;
  void write_batch(std::vector<Outgoing>& batch) noexcept;
  void read_loop() noexcept;
  /// The next results: BLMPOP (Redis 7), else LPOP of up to 256, else BLPOP; empty after
  /// kPoll without any. Throws as Redis::command.
  std::vector<Reply> pop_results();
  void deliver(const Reply& value) noexcept;
  /// Erases `task` from pending_ and fails it with `error`; false if it was not there.
  bool fail(std::uint64_t task, const std::exception_ptr& error) noexcept;
  void fail_all(const std::exception_ptr& error) noexcept;

  RedisAddress address_;
  RedisOptions redis_options_;
  Keys keys_;
  std::string client_id_;
  std::string results_key_;
  std::string ttl_ms_;
  std::string max_attempts_;
  std::unique_ptr<Redis> send_;  // the sender thread's
  std::unique_ptr<Redis> recv_;  // the reader thread's
  bool blmpop_ = true;           // the reader thread's: false once BLMPOP was refused

  std::mutex mu_;
  std::condition_variable cv_;  // the sender waits for outbox_ or closed_
  std::vector<Outgoing> outbox_;
  std::unordered_map<std::uint64_t, futures::detail::StateBase*> pending_;
  std::uint64_t next_task_ = 1;
  bool closed_ = false;
  std::string broken_;  // non-empty once the reader lost Redis: why

  std::mutex join_mu_;
  bool cleaned_ = false;  // under join_mu_
  std::thread sender_;
  std::thread reader_;
};

}  // namespace concur::distributed::detail
