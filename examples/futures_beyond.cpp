// Beyond CPython: then() continuations, co_await, and stopping a running task.
#include <concur/futures.hpp>
#include <iostream>
#include <string>
#include <thread>

#include "tour.hpp"

// expect: then: 6 \* 7 = 42
// expect: co_await: 43
// expect: stopped after [0-9]+ steps; cancelled\(\) = true
using namespace std::chrono_literals;
namespace cf = concur::futures;

namespace {
cf::Future<int> plus_one(cf::Future<int> f) { co_return co_await f + 1; }
}  // namespace

CONCUR_TOUR_PART(futures_beyond, "then, co_await and std::stop_token") {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  auto product = pool.submit([](int a, int b) { return a * b; }, 6, 7);
  auto text = product.then([](int v) { return "6 * 7 = " + std::to_string(v); });
  std::cout << "then: " << text.result() << "\n";
  std::cout << "co_await: " << plus_one(product).result() << "\n";

  cf::Future<void> started;
  auto steps = std::make_shared<std::atomic<int>>(0);
  auto job = pool.submit([started, steps](std::stop_token st) {
    started.set_result();
    while (!st.stop_requested()) {
      ++*steps;
      std::this_thread::sleep_for(1ms);
    }
    throw cf::CancelledError();
  });
  started.result();
  std::this_thread::sleep_for(20ms);
  job.cancel();  // RUNNING: returns false, as in Python, but asks the task to stop
  job.wait();
  std::cout << "stopped after " << steps->load() << " steps; cancelled() = " << std::boolalpha
            << job.cancelled() << "\n";
}
