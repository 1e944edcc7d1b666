// multiprocessing: the classic Pool tutorial. Four workers run five slow tasks given with
// apply_async; each prints its worker's pid. close() takes no more tasks, join() waits for
// the workers to finish them.
//
//   def long_time_task(name):
//       print('Run task %s (%s)...' % (name, os.getpid()))
//       start = time.time()
//       time.sleep(random.random() * 3)
//       end = time.time()
//       print('Task %s runs %0.2f seconds.' % (name, (end - start)))
//
//   if __name__ == '__main__':
//       print('Parent process %s.' % os.getpid())
//       p = Pool(4)
//       for i in range(5):
//           p.apply_async(long_time_task, args=(i,))
//       print('Waiting for all subprocesses done...')
//       p.close()
//       p.join()
//       print('All subprocesses done.')
//
// The tour's main() calls mp::main_guard first (examples/tour.cpp): `if __name__ ==
// '__main__':`. The fifth task waits for a free worker, so it starts once one of the first
// four is done. Each task sleeps a random 0-0.3 s rather than Python's 0-3 s, so that the
// example stays quick as a test. Each line is written whole (one write), so that lines from
// different workers do not interleave.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/pool.hpp"
#include "tour.hpp"

// expect: ===.Parent process [0-9]+\.
// expect: Run task 0 \([0-9]+\)\.\.\.
// expect: Run task 1 \([0-9]+\)\.\.\.
// expect: Run task 2 \([0-9]+\)\.\.\.
// expect: Run task 3 \([0-9]+\)\.\.\.
// expect: Run task 4 \([0-9]+\)\.\.\.
// expect: Task 0 runs 0\.[0-9][0-9] seconds\.
// expect: Task 1 runs 0\.[0-9][0-9] seconds\.
// expect: Task 2 runs 0\.[0-9][0-9] seconds\.
// expect: Task 3 runs 0\.[0-9][0-9] seconds\.
// expect: Task 4 runs 0\.[0-9][0-9] seconds\.
// expect: Waiting for all subprocesses done\.\.\.
// expect: All subprocesses done\.[^T]*$

namespace mp = concur::mp;

namespace {

void say(const std::string& line) { std::cout << line << std::flush; }

void long_time_task(int name) {
  say("Run task " + std::to_string(name) + " (" + std::to_string(::getpid()) + ")...\n");
  const auto start = std::chrono::steady_clock::now();
  std::mt19937 gen(std::random_device{}());
  std::this_thread::sleep_for(std::chrono::duration<double>(
      std::uniform_real_distribution<double>(0.0, 0.3)(gen)));  // Python: random() * 3
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  char line[80];
  std::snprintf(line, sizeof line, "Task %d runs %0.2f seconds.\n", name, took.count());
  say(line);
}
CONCUR_REGISTER(long_time_task);

}  // namespace

CONCUR_TOUR_PART(multiprocessing_pool, "Pool: apply_async of five slow tasks over four workers") {
  say("Parent process " + std::to_string(::getpid()) + ".\n");
  mp::Pool p(4);
  for (int i = 0; i < 5; ++i) p.apply_async(&long_time_task, i);
  say("Waiting for all subprocesses done...\n");
  p.close();
  p.join();
  say("All subprocesses done.\n");
}
