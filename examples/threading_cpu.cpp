// threading: CPU-bound threads run in parallel (there is no GIL): os.cpu_count()
// (std::thread::hardware_concurrency() in C++)
// threads spinning on arithmetic use about cpu_count() x 100% CPU, measured as
// process CPU time / wall time.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: [0-9]+ CPU-bound threads for [0-9.]+ s: CPU time / wall time = [0-9]+% \(ideal [0-9]+%,
// CPython with the GIL: ~100%\)

namespace th = concur::threading;

CONCUR_TOUR_PART(threading_cpu, "CPU-bound threads use every core") {
  const unsigned n = std::max(1U, std::thread::hardware_concurrency());
  const auto wall0 = std::chrono::steady_clock::now();
  const std::clock_t cpu0 = std::clock();
  std::vector<std::unique_ptr<th::Thread>> workers;
  std::vector<std::uint64_t> sinks(n);
  for (unsigned i = 0; i < n; ++i) {
    workers.push_back(std::make_unique<th::Thread>([&sinks, i] {
      // ~0.6 s of pure arithmetic (a xorshift), checked against the clock.
      std::uint64_t x = 88172645463325252ULL + i;
      const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
      while (std::chrono::steady_clock::now() < end) {
        for (int k = 0; k < 100000; ++k) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
        }
      }
      sinks[i] = x;
    }));
    workers.back()->start();
  }
  for (auto& w : workers) w->join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  std::cout << n << " CPU-bound threads for " << static_cast<int>(wall * 100) / 100.0
            << " s: CPU time / wall time = " << static_cast<int>(cpu / wall * 100) << "% (ideal "
            << n * 100 << "%, CPython with the GIL: ~100%)\n";
}
