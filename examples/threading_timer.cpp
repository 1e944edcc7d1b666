// threading: Timer, and cancelling one before it fires.
#include <chrono>
#include <iostream>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: hello, world \(after [0-9]+ ms\)
// expect: the cancelled timer never ran: True

namespace th = concur::threading;

CONCUR_TOUR_PART(threading_timer, "Timer and cancel") {
  const auto t0 = std::chrono::steady_clock::now();
  th::Timer hello(
      std::chrono::milliseconds(50),
      [t0](const char* who) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - t0);
        std::cout << "hello, " << who << " (after " << ms.count() << " ms)\n";
      },
      "world");
  hello.start();
  hello.join();

  bool ran = false;
  th::Timer never(std::chrono::seconds(1), [&ran] { ran = true; });
  never.start();
  never.cancel();
  never.join();
  std::cout << "the cancelled timer never ran: " << (ran ? "False" : "True") << "\n";
}
