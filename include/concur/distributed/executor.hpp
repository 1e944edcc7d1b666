// concur/distributed/executor.hpp: distributed::Executor, the futures API on many machines.
//
//   int square(int n) { return n * n; }
//   CONCUR_REGISTER(square);                       // in the client and in the workers
//
//   concur::distributed::Executor ex({.url = "redis://:secret@10.0.0.5:6379/0"});
//   auto f = ex.submit(&square, 7);                // Future<int>, run by some worker
//   f.result(std::chrono::seconds(5));             // 49
//   for (int sq : ex.map(&square, numbers)) ...    // in order
//   // ~Executor() == shutdown(wait = true)
//
// Tasks go through Redis (Streams with a consumer group, docs/design/0007-distributed.md)
// to worker processes started with distributed::serve (concur/distributed/serve.hpp) on
// any machine that reaches that Redis: the user's own program in worker mode, so the
// functions it registered exist there. Link concur::distributed (CMake target).
//
// What crosses: a CONCUR_REGISTERed function pointer (registered under the same name in
// the workers' program), with Picklable arguments and result (concur/multiprocessing/
// codec.hpp), checked at compile time by this class's submit and map (through a plain
// futures::Executor&: TypeError / ValueError at submit). Closures cross by their type's
// mangled name, which only the same build of the same program knows: workers running
// another binary answer ValueError for them. The codec's wire format is native: clients
// and workers must run on the same architecture (x86-64 with x86-64, ...).
//
// A task's exception comes back as its own type when the codec knows it (std and concur
// exceptions, and the program's own types registered with CONCUR_REGISTER_EXCEPTION in
// client and workers: concur/multiprocessing/exception_registry.hpp), else as mp::RemoteError: its
// type name, message, and where it was raised (host() the worker's machine, pid() the process: the
// worker's, or with ServeOptions::processes the worker process's); what() ends with "(in process
// <pid> on <host>)". A function the workers have not registered fails with ValueError("... no
// function registered as '<name>' in this process"): never loaded, never run.
//
// Blocking: the constructor connects (at most connect_timeout per connection) and throws
// if Redis cannot be reached (ConnectionRefusedError, TimeoutError, ... naming host:port)
// or refuses the password (PermissionError). submit never waits for the network: a sender
// thread writes queued tasks to Redis, many in one round trip when they queue up (so map
// is batched by itself), and a reader thread completes the futures as results arrive
// (done callbacks run on it; never destroy the executor from one). A task that cannot be written
// (Redis gone) fails with the ConnectionError. shutdown(wait = true) and the destructor wait until
// every submitted task has its result: with no worker running, that is forever (as a local pool
// whose tasks never end); wait on futures with a timeout instead.
//
// Python parity (concurrent.futures.Executor):
//  - submit, map (timeout, chunksize: a chunk is one task), shutdown(wait, cancel_futures);
//    the futures mix with local ones in futures::wait and as_completed.
//  - cancel(), as Python's: true while no worker has taken the task, false once one has
//    (running, or done). A submitted task stays PENDING until its result arrives (the
//    client does not hear when a worker takes it: running() is false meanwhile), so cancel()
//    asks Redis: one round trip (bounded by connect_timeout), a script that deletes the
//    stream entry only if the group has not delivered it to any worker (atomic: no worker
//    can read it in between), so a cancelled task never runs. A cancelled future is
//    CANCELLED_AND_NOTIFIED at once (done for wait/as_completed). When Redis cannot answer (after
//    one reconnection: a script whose answer was lost is run again, and an entry it deleted counts
//    as cancelled), cancel() returns false and the task stays. shutdown(cancel_futures = true)
//    cancels every task no worker took in one such script; a map that ends early (its timeout, a
//    call that threw) cancels its remaining calls one cancel() (one round trip) each. Needs the
//    commands EVAL and XINFO GROUPS (an ACL user: docs/design/0007 §4).
//  - Celery/RQ/Dask: tasks are functions registered by name, never pickled code.
//
// Redis restarted (with its append-only file), or the network cut: both connections are
// made again, at most reconnect_attempts tries, reconnect_backoff apart (doubled each time,
// up to 2 s); after the last, every waiting future fails with ConnectionError("redis
// host:port: unreachable after N attempt(s): ...") and submit throws BrokenExecutor.
// Nothing is lost across a restart: results are read from the list without being removed
// and trimmed only once delivered, so a reply cut by the restart is read again; XADDs not
// answered are sent again (a task whose XADD Redis applied before the cut is then queued
// twice, and may run twice: its future completes once). What Redis itself keeps across a
// crash depends on its appendfsync setting ("always": every acknowledged write).
//
// Workers that die: a task held by a worker whose heartbeat expired (SIGKILL, a crash, a
// lost machine: serve.hpp's heartbeat_ttl) is claimed by a live worker and run again, at
// most max_attempts runs in all; after that its future fails with RuntimeError("...the task
// was run N time(s), each time by a worker that died (max_attempts = N)...") (Dask's
// KilledWorker). At least once: while its worker lives, a task runs once; the future
// completes once even when a task ran twice.
//
// Operations: the concur-cluster tool (info, purge; README, design 0007 §8).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "concur/distributed/errors.hpp"
#include "concur/futures/executor.hpp"

namespace concur::distributed {

struct ExecutorOptions {
  /// redis://[[user]:password@]host[:port][/db].
  std::string url = "redis://127.0.0.1:6379/0";
  /// Overrides the URL's password (keeps it out of a URL that gets logged).
  std::optional<std::string> password{};
  /// Keys are "{<namespace_>}:...": clients and workers of one namespace see each other.
  std::string namespace_ = "concur";
  /// Runs of a task at most, counting those whose worker died (see above).
  int max_attempts = 3;
  /// Bound on connecting (each connection) and on each command.
  std::chrono::milliseconds connect_timeout{5000};
  /// How long this client's results wait in Redis for it (refreshed on each result).
  std::chrono::seconds result_ttl{3600};
  /// A connection lost while the executor runs (Redis restarted, a network cut) is made
  /// again: at most this many tries, reconnect_backoff apart, doubled each time up to 2 s
  /// (the defaults wait about 13 s in all); then the waiting futures fail with
  /// ConnectionError and the executor is broken. 0: the first loss breaks it.
  int reconnect_attempts = 10;
  std::chrono::milliseconds reconnect_backoff{100};
};

namespace detail {
class ClientEngine;
}

class Executor : public futures::Executor {
 public:
  /// Connects (see Blocking above). ValueError for a malformed url or max_attempts < 1.
  explicit Executor(const ExecutorOptions& options = {});
  ~Executor() override;

  /// futures::Executor::submit, with a compile-time check that the call crosses.
  template <class F, class... A>
  requires futures::detail::submittable<F, A...>
  auto submit(F&& fn, A&&... args) {
    static_assert(futures::detail::Task<futures::submit_result_t<F, A...>, std::decay_t<F>,
                                        std::decay_t<A>...>::kCrosses,
                  "distributed::Executor: this call cannot cross to a worker: use a "
                  "CONCUR_REGISTERed function pointer with Picklable arguments and result "
                  "(see concur/multiprocessing/codec.hpp)");
    return futures::Executor::submit(std::forward<F>(fn), std::forward<A>(args)...);
  }

  /// futures::Executor::map, with a compile-time check that its calls cross.
  template <class F, class... Rs>
  requires futures::detail::mappable<F, Rs...>
  auto map(F&& fn, Rs&&... ranges) {
    return map(futures::MapOptions{}, std::forward<F>(fn), std::forward<Rs>(ranges)...);
  }
  template <class F, class... Rs>
  requires futures::detail::mappable<F, Rs...>
  auto map(const futures::MapOptions& options, F&& fn, Rs&&... ranges) {
    static_assert(concur::detail::call_crosses<futures::detail::map_chunk_t<F, Rs...>,
                                               futures::detail::map_chunk_arg_t<Rs...>>() &&
                      concur::detail::call_crosses<futures::detail::map_one_t<F, Rs...>,
                                                   futures::detail::map_arg_t<Rs>...>(),
                  "distributed::Executor::map: this function cannot cross to a worker: use a "
                  "CONCUR_REGISTERed function pointer with Picklable elements and result");
    return futures::Executor::map(options, std::forward<F>(fn), std::forward<Rs>(ranges)...);
  }

  void shutdown(bool wait = true, bool cancel_futures = false) override;

  /// This client's id: its results arrive on "{ns}:results:<id>".
  [[nodiscard]] const std::string& client_id() const noexcept;

 protected:
  void submit_task(futures::detail::StateBase* task) override;

 private:
  std::unique_ptr<detail::ClientEngine> engine_;
};

}  // namespace concur::distributed
