// wait(ALL_COMPLETED) and wait(FIRST_COMPLETED) over a pool's futures.
#include <concur/futures.hpp>
#include <iostream>
#include <thread>
#include <vector>

#include "tour.hpp"

// expect: first completed: 1 done, 2 not done
// expect: all completed: 3 done, 0 not done
// expect: results: 10 20 30
using namespace std::chrono_literals;
namespace cf = concur::futures;

CONCUR_TOUR_PART(futures_wait, "wait with FIRST_COMPLETED and ALL_COMPLETED") {
  cf::ThreadPoolExecutor pool({.max_workers = 3});
  cf::Future<void> go;  // holds back the two slow tasks until the first wait returned
  std::vector<cf::Future<int>> fs{pool.submit([] { return 10; }), pool.submit([go] {
                                    go.result(5s);
                                    return 20;
                                  }),
                                  pool.submit([go] {
                                    go.result(5s);
                                    return 30;
                                  })};
  auto first = cf::wait(fs, 5s, cf::FIRST_COMPLETED);
  std::cout << "first completed: " << first.done.size() << " done, " << first.not_done.size()
            << " not done\n";
  go.set_result();
  auto all = cf::wait(fs, 5s, cf::ALL_COMPLETED);
  std::cout << "all completed: " << all.done.size() << " done, " << all.not_done.size()
            << " not done\nresults:";
  for (auto& f : fs) std::cout << " " << f.result();
  std::cout << "\n";
}
