// threading: two named threads interleaving (the classic tutorial's first
// example: a thread function, start, join; here two of them at once).
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: Main    : before creating threads
// expect: Thread alpha: starting
// expect: Thread beta: starting
// expect: Thread alpha: step 3
// expect: Thread beta: step 3
// expect: Thread alpha: finishing
// expect: Thread beta: finishing
// expect: Main    : all done

namespace th = concur::threading;

namespace {
std::mutex print_mutex;
void say(const std::string& line) {
  std::scoped_lock g(print_mutex);
  std::cout << line << "\n" << std::flush;
}

void thread_function() {
  const std::string name = th::current_thread().name();
  say("Thread " + name + ": starting");
  for (int step = 1; step <= 3; ++step) {
    th::Event().wait(std::chrono::milliseconds(20));  // time.sleep(0.02)
    say("Thread " + name + ": step " + std::to_string(step));
  }
  say("Thread " + name + ": finishing");
}
}  // namespace

CONCUR_TOUR_PART(threading_two_threads, "two named threads interleaving") {
  say("Main    : before creating threads");
  th::Thread a({.name = "alpha"}, thread_function);
  th::Thread b({.name = "beta"}, thread_function);
  say("Main    : before running threads");
  a.start();
  b.start();
  say("Main    : wait for the threads to finish");
  a.join();
  b.join();
  say("Main    : all done");
}
