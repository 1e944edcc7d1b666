// threading: at most five at a time with a BoundedSemaphore.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: 12 downloads done, at most [1-5] at once \(limit 5\)
// expect: releasing once more: ValueError: Semaphore released too many times

namespace th = concur::threading;

CONCUR_TOUR_PART(threading_semaphore, "five at a time with BoundedSemaphore") {
  th::BoundedSemaphore slots(5);
  std::atomic<int> inside{0}, most{0}, done{0};
  std::vector<std::unique_ptr<th::Thread>> downloads;
  for (int i = 0; i < 12; ++i) {
    downloads.push_back(std::make_unique<th::Thread>([&] {
      std::scoped_lock slot(slots);  // with slots:
      const int now = ++inside;
      int m = most.load();
      while (now > m && !most.compare_exchange_weak(m, now)) {
      }
      th::Event().wait(std::chrono::milliseconds(20));  // "download"
      --inside;
      ++done;
    }));
    downloads.back()->start();
  }
  for (auto& d : downloads) d->join();
  std::cout << done << " downloads done, at most " << most << " at once (limit 5)\n";
  try {
    slots.release();
  } catch (const concur::ValueError& e) {
    std::cout << "releasing once more: ValueError: " << e.what() << "\n";
  }
}
