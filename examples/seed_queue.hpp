// The seed's distributed master/worker ("distributed processes"): a master serves two queues
// through a BaseManager at host:port with an authkey, puts ten random numbers on one and reads
// ten results from the other; workers connect from elsewhere (another program, another
// machine), take numbers and put back "n * n = <n*n>".
//
// Shared by the tour part examples/multiprocessing_managers_master_worker.cpp (master and
// worker on loopback in one run) and the standalone program examples/concur-seed-queue.cpp
// (`concur-seed-queue master|worker HOST PORT AUTHKEY`: two programs, as in the seed).
//
//   # task_master.py                                      # task_worker.py
//   task_queue = queue.Queue()                            QueueManager.register('get_task_queue')
//   QueueManager.register('get_task_queue',               QueueManager.register('get_result_queue')
//                         callable=lambda: task_queue)    m = QueueManager(address=(server, 5000),
//   manager = QueueManager(address=('', 5000),                             authkey=b'abc')
//                          authkey=b'abc')                m.connect()
//   manager.start()                                       task = m.get_task_queue()
//   task = manager.get_task_queue()                       n = task.get(timeout=1)
//   task.put(n)                                           result.put('%d * %d = %d' % (n, n, n*n))
//   r = result.get(timeout=10)
//
// Differences from the seed: the queues are registered once, in queue_setup, which both sides
// name (setup<&queue_setup>): it runs in the master's server process, where the queues live,
// and in the worker only for the method names; the master listens on the host it is given
// (the seed's '' is every interface); the worker waits up to 10 s for its first number, then
// works until the task queue stays empty for a second (rather than exactly ten times), and
// does not sleep a second per task.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "concur/bytes.hpp"
#include "concur/exceptions.hpp"
#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/managers.hpp"
#include "concur/queue.hpp"

namespace seed {

namespace mm = concur::mp::managers;

/// Writes one whole line at once, so that lines of different processes do not interleave.
inline void say(const std::string& line) { std::cout << line << std::flush; }

/// The seed's QueueManager.register calls: two queues made in the server, served by name.
inline void queue_setup(mm::Registry& r) {
  auto task_queue = std::make_shared<mm::SharedQueue<int>>();
  auto result_queue = std::make_shared<mm::SharedQueue<std::string>>();
  r.register_<mm::SharedQueue<int>>("get_task_queue", [task_queue] { return task_queue; },
                                    mm::queue_methods<int>(), {.concurrent = true});
  r.register_<mm::SharedQueue<std::string>>("get_result_queue",
                                            [result_queue] { return result_queue; },
                                            mm::queue_methods<std::string>(), {.concurrent = true});
}

/// "n * n = <n*n>", the worker's answer.
inline std::string answer(std::int64_t n) {
  return std::to_string(n) + " * " + std::to_string(n) + " = " + std::to_string(n * n);
}

/// The master: serves the queues at host:port (0: a free port), calls `serving(port)` once it
/// listens (the tour starts its worker there), puts ten random numbers, then reads ten results
/// (each within `result_timeout`). Returns 0 when every number came back squared, 1 otherwise.
inline int master(const std::string& host, int port, const concur::Bytes& authkey,
                  const std::function<void(int)>& serving = {},
                  std::chrono::milliseconds result_timeout = std::chrono::seconds(10)) {
  mm::BaseManager manager(mm::setup<&queue_setup>, {.address = {host, port}, .authkey = authkey});
  manager.start();
  const int bound = manager.address().port();
  say("Serving on " + host + ":" + std::to_string(bound) + "\n");
  if (serving) serving(bound);
  auto task = manager.create<mm::QueueProxy<int>>("get_task_queue");
  auto result = manager.create<mm::QueueProxy<std::string>>("get_result_queue");
  std::mt19937 gen(std::random_device{}());
  std::uniform_int_distribution<int> randint(0, 10000);
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) {
    const int n = randint(gen);
    say("Put task " + std::to_string(n) + "...\n");
    task.put(n);
    expected.push_back(answer(n));
  }
  say("Try get results...\n");
  for (int i = 0; i < 10; ++i) {
    std::string r;
    try {
      r = result.get(result_timeout);
    } catch (const concur::queue::Empty&) {
      say("No result within " + std::to_string(result_timeout.count()) + " ms.\n");
      return 1;
    }
    say("Result: " + r + "\n");
    auto it = expected.begin();
    while (it != expected.end() && *it != r) ++it;
    if (it == expected.end()) {
      say("Unexpected result: " + r + "\n");
      return 1;
    }
    expected.erase(it);
  }
  manager.shutdown();
  say("master exit.\n");
  return 0;
}

/// The worker: connects to the master at host:port (retrying for `patience` while nothing
/// listens there yet), waits up to `patience` for a first number, then answers n * n for every
/// number until the task queue stays empty for a second or the master goes away. Returns 0.
inline int worker(const std::string& host, int port, const concur::Bytes& authkey,
                  std::chrono::milliseconds patience = std::chrono::seconds(10)) {
  say("Connect to server " + host + ":" + std::to_string(port) + "...\n");
  mm::BaseManager m(mm::setup<&queue_setup>, {.address = {host, port}, .authkey = authkey});
  const auto give_up = std::chrono::steady_clock::now() + patience;
  for (;;) {
    try {
      m.connect();
      break;
    } catch (const concur::ConnectionRefusedError&) {
      if (std::chrono::steady_clock::now() >= give_up) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the master is starting
    }
  }
  auto task = m.create<mm::QueueProxy<int>>("get_task_queue");
  auto result = m.create<mm::QueueProxy<std::string>>("get_result_queue");
  std::chrono::milliseconds wait = patience;  // for the first number; then a second
  for (;;) {
    try {
      const int n = task.get(wait);
      wait = std::chrono::seconds(1);
      say("run task " + std::to_string(n) + " * " + std::to_string(n) + "...\n");
      result.put(answer(n));
    } catch (const concur::queue::Empty&) {
      say("task queue is empty.\n");
      break;
    } catch (const concur::EOFError&) {
      say("the master has shut down.\n");
      break;
    } catch (const concur::ConnectionError&) {
      say("the master has shut down.\n");
      break;
    }
  }
  say("worker exit.\n");
  return 0;
}

}  // namespace seed
