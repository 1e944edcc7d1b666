// The two deadlocks CPython documents for ThreadPoolExecutor, shown safely:
// every wait that would hang forever has a timeout here.
#include <concur/futures.hpp>
#include <iostream>
#include <thread>

#include "tour.hpp"

// expect: a waits on b, b waits on a: deadlock \(TimeoutError\)
// expect: a 1-worker pool waiting on itself: deadlock \(TimeoutError\)
using namespace std::chrono_literals;
namespace cf = concur::futures;

CONCUR_TOUR_PART(futures_deadlock, "the documented deadlocks, with timeouts") {
  {
    // a waits on b while b waits on a (max_workers=2).
    cf::ThreadPoolExecutor executor({.max_workers = 2});
    cf::Future<cf::Future<int>> a_cell, b_cell;  // how each task finds the other
    auto wait_on_b = [b_cell] { return b_cell.result(5s).result(300ms) + 5; };
    auto wait_on_a = [a_cell] { return a_cell.result(5s).result(600ms) + 6; };
    auto a = executor.submit(wait_on_b);
    auto b = executor.submit(wait_on_a);
    a_cell.set_result(a);
    b_cell.set_result(b);
    try {
      a.result();
    } catch (const concur::TimeoutError&) {
      std::cout << "a waits on b, b waits on a: deadlock (TimeoutError)\n";
    }
    b.exception();  // b saw a fail with that TimeoutError
  }
  {
    // A task in a 1-worker pool submits to the same pool and waits for it.
    cf::ThreadPoolExecutor executor({.max_workers = 1});
    auto wait_on_future = [&executor] {
      auto f = executor.submit([] { return 5 * 5; });
      return f.result(300ms);  // never runs: the only worker is busy here
    };
    try {
      executor.submit(wait_on_future).result();
    } catch (const concur::TimeoutError&) {
      std::cout << "a 1-worker pool waiting on itself: deadlock (TimeoutError)\n";
    }
  }
}
