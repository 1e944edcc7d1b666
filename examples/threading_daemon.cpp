// threading: daemon threads are not waited for at exit; non-daemon ones are.
//
// The daemon thread below is still running when this part (and the whole tour)
// ends: the program exits without waiting for it, and the kernel stops it. It
// touches only objects it owns, never objects with static storage duration
// that exit() destroys: that is the rule for daemon threads in C++.
#include <iostream>
#include <memory>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: daemon thread: started, daemon=True
// expect: non-daemon thread: started, daemon=False
// expect: non-daemon thread: finishing
// expect: Main: joined the non-daemon thread; the daemon is still alive: True
// expect: Main: done, not waiting for the daemon

namespace th = concur::threading;

CONCUR_TOUR_PART(threading_daemon, "daemon threads") {
  th::Event daemon_started;
  th::Thread daemon({.name = "daemon", .daemon = true}, [&daemon_started] {
    std::cout << "daemon thread: started, daemon=True\n" << std::flush;
    daemon_started.set();
    // From here on it uses nothing from main's stack: it owns its Event.
    auto forever = std::make_unique<th::Event>();
    while (!forever->wait(std::chrono::milliseconds(100))) {
    }
  });
  daemon.start();
  daemon_started.wait(std::chrono::seconds(10));

  th::Thread worker({.name = "worker", .daemon = false}, [] {
    std::cout << "non-daemon thread: started, daemon=False\n" << std::flush;
    th::Event().wait(std::chrono::milliseconds(50));
    std::cout << "non-daemon thread: finishing\n" << std::flush;
  });
  worker.start();
  worker.join();
  std::cout << "Main: joined the non-daemon thread; the daemon is still alive: "
            << (daemon.is_alive() ? "True" : "False") << "\n";
  std::cout << "Main: done, not waiting for the daemon\n";
}
