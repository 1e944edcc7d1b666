// threading: active_count() and enumerate() before, during and after threads.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: before: active_count\(\) = 1
// expect: during: active_count\(\) = 4 \(3 more\)
// expect: names: MainThread, worker-1, worker-2, worker-3
// expect: after : active_count\(\) = 1 \(back to before\)

namespace th = concur::threading;

CONCUR_TOUR_PART(threading_active_count, "active_count before and after") {
  const std::size_t before = th::active_count();
  std::cout << "before: active_count() = " << before << "\n";
  th::Event release;
  std::vector<std::unique_ptr<th::Thread>> workers;
  for (int i = 1; i <= 3; ++i) {
    workers.push_back(
        std::make_unique<th::Thread>(th::ThreadOptions{.name = "worker-" + std::to_string(i)},
                                     [&] { release.wait(std::chrono::seconds(10)); }));
    workers.back()->start();
  }
  const std::size_t during = th::active_count();
  std::cout << "during: active_count() = " << during << " (" << during - before << " more)\n";
  std::vector<std::string> names;
  for (const auto& t : th::enumerate()) names.push_back(t->name());
  std::sort(names.begin(), names.end());
  std::cout << "names:";
  for (std::size_t i = 0; i < names.size(); ++i) std::cout << (i ? ", " : " ") << names[i];
  std::cout << "\n";
  release.set();
  for (auto& w : workers) w->join();
  const std::size_t after = th::active_count();
  std::cout << "after : active_count() = " << after
            << (after == before ? " (back to before)" : " (not back yet)") << "\n";
}
