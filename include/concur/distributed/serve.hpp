// concur/distributed/serve.hpp: worker mode, the other end of distributed::Executor.
//
//   int square(int n) { return n * n; }
//   CONCUR_REGISTER(square);
//
//   int main(int argc, char** argv) {
//     concur::mp::main_guard(argc, argv);
//     if (argc > 1 && std::string_view(argv[1]) == "--worker") {
//       concur::distributed::serve({.url = "redis://:secret@10.0.0.5/0", .concurrency = 4});
//       return 0;                                    // after SIGTERM / SIGINT
//     }
//     ...                                            // the client side
//   }
//
// Or with no code at all: a program that uses distributed::Executor (or serve) and calls
// mp::main_guard first becomes a worker when run with the switch
//
//   ./app --concur-worker=redis://10.0.0.5:6379/0 [--concur-worker-concurrency=N]
//         [--concur-worker-processes] [--concur-worker-namespace=NS]
//
// main_guard then calls serve with those options (the password from the URL, or from the
// environment variable CONCUR_REDIS_PASSWORD, which keeps it out of `ps`), never runs the
// rest of main, and exits: 0 after SIGTERM / SIGINT, 1 when serve throws (Redis
// unreachable: the error on stderr), 2 for a malformed option.
//
// serve() joins the namespace's consumer group and runs its tasks until asked to stop:
// it holds at most concurrency * prefetch tasks (XREADGROUP of what is missing, blocking at
// most poll_interval, so a stop is seen within it), shares what it read among the
// `concurrency` threads of its pool, each running its share in turn with registry.hpp's
// invoke, then pushing the replies to the submitting clients' results lists and
// acknowledging the entries (XACK, XDEL) in one pipelined round trip. A task whose function is not
// registered here is answered with ValueError naming it; an entry whose call bytes are malformed is
// answered with ValueError; an entry that names no client or task cannot be answered: it is
// acknowledged, dropped and reported to the futures exception hook. Nothing a task sends
// can crash the worker (decoding trusts no byte: concur/multiprocessing/codec.hpp); a task
// that crashes the process itself (a segfault) leaves its entry pending in the group, for
// the other workers to claim (below).
//
// Heartbeat and dead workers: serve() keeps a key {ns}:worker:<its consumer name> alive
// (expiring after heartbeat_ttl, refreshed every third of it, deleted when serve returns).
// Every third of heartbeat_ttl it looks for tasks pending at consumers of the group whose
// heartbeat expired, claims them (XCLAIM) as it has room for, and runs them again, or, when
// they already ran max_attempts times (the client's ExecutorOptions), answers them with a
// RuntimeError saying so; it then removes the dead consumer from the group.
//
// Stops: when `stop` is requested, or, with handle_signals, on SIGTERM or SIGINT (handlers
// installed for the call's duration, the previous ones restored). It then reads no more,
// waits for the tasks it holds to finish and be answered, and returns how many it ran.
//
// Processes: with `processes`, each task runs in a worker process of a process pool of
// serve's own (futures::ProcessPoolExecutor with on_worker_death = replace) rather than in
// the thread that took it. A task that kills its process (SIGKILL, a segfault, std::exit)
// then costs that process only: a fresh one replaces it and the task runs again, at most
// the client's max_attempts runs in all (counting runs by workers that died before it was
// claimed), then it is answered with RuntimeError("...the task was run N time(s), each time
// by a worker that died (max_attempts = N); last on <host:pid>: worker process <pid> died
// (SIGKILL)..."). The program must call mp::main_guard first (the worker processes are
// copies of it, started by its start method).
//
// Throws what Executor's constructor throws when Redis cannot be reached at start. A
// connection lost later (Redis restarted, a network cut) is made again, at most
// reconnect_attempts tries, reconnect_backoff apart (doubled up to 2 s); after the last,
// serve() ends with ConnectionError once the tasks it holds are finished. Across the cut:
// answers not acknowledged are sent again (a result may reach its client twice: the future
// completes once); entries a read delivered whose reply was lost (they are pending at this
// worker, which never saw them) are read again, once the tasks it holds are answered; and
// no dead worker's task is claimed for a whole heartbeat_ttl, so that the other workers
// have time to reconnect and beat again.
//
// Python/Celery parity: `celery worker --concurrency N` with the threads pool, or with
// `processes` the prefork pool; tasks run at least once in general, and exactly once while
// the worker lives.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stop_token>
#include <string>

namespace concur::distributed {

struct ServeOptions {
  /// redis://[[user]:password@]host[:port][/db].
  std::string url = "redis://127.0.0.1:6379/0";
  /// Overrides the URL's password.
  std::optional<std::string> password{};
  /// Must be the clients' namespace_.
  std::string namespace_ = "concur";
  /// Tasks run at once (threads, or worker processes with `processes`); 0: cpu_count().
  int concurrency = 0;
  /// Run each task in a worker process (a futures::ProcessPoolExecutor of `concurrency`
  /// processes, started through the program's start method: the program must call
  /// mp::main_guard first) rather than in a thread of this one. A task that crashes or kills
  /// its process then costs that process only: a fresh one replaces it and the task runs
  /// again, at most the client's max_attempts runs in all, then fails with the RuntimeError
  /// of a task whose workers died (see above).
  bool processes = false;
  /// Tasks held at most: concurrency * prefetch (Celery's worker_prefetch_multiplier,
  /// whose default is also 4). Held tasks wait for a thread; other workers cannot take them.
  int prefetch = 4;
  /// Asks serve() to return (after the tasks it holds).
  std::stop_token stop{};
  /// Return on SIGTERM / SIGINT too.
  bool handle_signals = true;
  /// Longest wait for tasks in one XREADGROUP: bounds how late a stop is noticed.
  std::chrono::milliseconds poll_interval{250};
  /// This worker's heartbeat ({ns}:worker:<name>) expires after this long without a
  /// refresh (refreshed every third of it while serve() runs); a worker whose heartbeat
  /// expired is presumed dead and its tasks are claimed by the others. Longer than any
  /// stall of the worker's reading loop (it keeps beating while tasks run).
  std::chrono::milliseconds heartbeat_ttl{10000};
  /// Bound on connecting and on each command.
  std::chrono::milliseconds connect_timeout{5000};
  /// Expiry of a client's results list, refreshed on each result.
  std::chrono::seconds result_ttl{3600};
  /// A lost connection is made again (as ExecutorOptions' fields of the same names): at most
  /// this many tries, reconnect_backoff apart, doubled up to 2 s; then serve() ends with the
  /// ConnectionError once the tasks it holds are finished. 0: the first loss ends it.
  int reconnect_attempts = 10;
  std::chrono::milliseconds reconnect_backoff{100};
};

/// Runs tasks until stopped (see above); returns the number of tasks run.
std::size_t serve(const ServeOptions& options);

}  // namespace concur::distributed
