// The seed's master/worker on the cluster: a master submits ten `n * n` tasks (random n)
// through Redis, worker processes (other programs, other machines) compute them, the master
// prints the results. The same story as examples/seed_queue.hpp, where the master serves the
// queues itself through a BaseManager; here Redis holds the queue and the workers run
// distributed::serve.
//
// Shared by the tour part examples/distributed_master_worker.cpp (a private redis-server and
// two worker processes in one run) and the standalone program examples/concur-seed-cluster.cpp
// (`concur-seed-cluster master|worker URL`: separate programs, as in the seed).
//
//   # task_master.py (seed)                    // master: distributed::Executor
//   task.put(n)                                auto f = ex.submit(&seed_cluster::square, n);
//   r = result.get(timeout=10)                 f.result(std::chrono::seconds(30))
//   # task_worker.py                           // worker: distributed::serve
//   n = task.get(timeout=1)                    dist::serve({.url, .concurrency = 1, .prefetch = 1})
//   result.put('%d * %d = %d' % (n, n, n*n))   (square returns the same text)
//
// Differences from the seed: the workers run until SIGTERM / SIGINT (a worker of a cluster
// serves whatever comes) rather than until the queue stays empty; each takes one task at a
// time (concurrency 1, prefetch 1), and a task sleeps 50 ms (the seed's a second), so that
// the ten tasks are shared among the workers.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "concur/distributed.hpp"
#include "concur/exceptions.hpp"
#include "concur/futures.hpp"
#include "concur/multiprocessing.hpp"

namespace seed_cluster {

namespace dist = concur::distributed;

/// Writes one whole line at once, so that lines of different processes do not interleave.
inline void say(const std::string& line) { std::cout << line << std::flush; }

/// "n * n = <n*n>", the worker's answer.
inline std::string answer(std::int64_t n) {
  return std::to_string(n) + " * " + std::to_string(n) + " = " + std::to_string(n * n);
}

/// The task, run by a worker.
inline std::string square(std::int64_t n) {
  say("run task " + std::to_string(n) + " * " + std::to_string(n) + "...\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return answer(n);
}

/// The password from CONCUR_REDIS_PASSWORD (it then stays out of URLs and `ps`), if set.
inline std::optional<std::string> password_from_env() {
  const char* p = std::getenv("CONCUR_REDIS_PASSWORD");  // NOLINT(concurrency-mt-unsafe)
  if (p == nullptr || *p == '\0') return std::nullopt;
  return std::string(p);
}

/// `url` without its password, for messages.
inline std::string shown(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + url.substr(at + 1);
}

/// The master: submits ten random numbers to `square` and prints each result (each within
/// `result_timeout`). Returns 0 when every number came back squared, 1 otherwise.
inline int master(const std::string& url, const std::string& ns = "concur",
                  std::chrono::milliseconds result_timeout = std::chrono::seconds(30)) {
  say("Connect to " + shown(url) + "...\n");
  dist::Executor ex(
      dist::ExecutorOptions{.url = url, .password = password_from_env(), .namespace_ = ns});
  std::mt19937 gen(std::random_device{}());
  std::uniform_int_distribution<std::int64_t> randint(0, 10000);
  std::vector<std::int64_t> numbers;
  std::vector<concur::futures::Future<std::string>> results;
  for (int i = 0; i < 10; ++i) {
    const std::int64_t n = randint(gen);
    say("Put task " + std::to_string(n) + "...\n");
    numbers.push_back(n);
    results.push_back(ex.submit(&square, n));
  }
  say("Try get results...\n");
  for (std::size_t i = 0; i < results.size(); ++i) {
    std::string r;
    try {
      r = results[i].result(result_timeout);
    } catch (const concur::TimeoutError&) {
      say("No result within " + std::to_string(result_timeout.count()) +
          " ms: is a worker serving namespace '" + ns + "'?\n");
      // The tasks no worker took are taken back (cancelled), so the destructor waits only
      // for any a worker is running.
      ex.shutdown(false, true);
      return 1;
    }
    say("Result: " + r + "\n");
    if (r != answer(numbers[i])) {
      say("Unexpected result: " + r + "\n");
      return 1;
    }
  }
  ex.shutdown();
  say("master exit.\n");
  return 0;
}

/// A worker: runs the tasks of namespace `ns`, one at a time, until SIGTERM or SIGINT (or
/// `stop`). Returns 0.
inline int worker(const std::string& url, const std::string& ns = "concur",
                  std::stop_token stop = {}) {
  say("Worker " + std::to_string(::getpid()) + ": connect to " + shown(url) + "...\n");
  const std::size_t ran = dist::serve({.url = url,
                                       .password = password_from_env(),
                                       .namespace_ = ns,
                                       .concurrency = 1,
                                       .prefetch = 1,
                                       .stop = std::move(stop)});
  say("worker exit (" + std::to_string(ran) + " tasks).\n");
  return 0;
}

}  // namespace seed_cluster

CONCUR_REGISTER(seed_cluster::square);
