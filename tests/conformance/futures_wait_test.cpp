// Conformance: concurrent.futures wait() and as_completed(). Follows CPython's
// test_concurrent_futures.test_wait and test_as_completed; each test names the CPython test it
// follows.
#include <gtest/gtest.h>

#include <algorithm>
#include <concur/futures.hpp>
#include <list>
#include <thread>
#include <vector>

#include "support/future_states.hpp"
#include "support/timing.hpp"

using namespace std::chrono_literals;
namespace cf = concur::futures;
using cf::AnyFuture;
using cf::Future;

namespace {

Future<int> cancelled() { return concur::testing::cancelled_future(); }
Future<int> cancelled_and_notified() { return concur::testing::cancelled_and_notified_future(); }
Future<int> successful() { return concur::testing::successful_future(); }
Future<int> failed() { return concur::testing::exception_future(); }

template <class F>
bool contains(const std::vector<F>& v, const F& f) {
  return std::find(v.begin(), v.end(), f) != v.end();
}

using concur::testing::Gate;

}  // namespace

// CPython test_concurrent_futures.test_wait.WaitTests.test_20369
TEST(Wait, DuplicatesCollapse) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  auto f = pool.submit([] { return 1; });
  std::vector<Future<int>> twice{f, f};
  auto r = cf::wait(twice, 5s, cf::ALL_COMPLETED);
  EXPECT_EQ(r.done, std::vector<Future<int>>{f});
  EXPECT_TRUE(r.not_done.empty());
}

// CPython test_concurrent_futures.test_wait.WaitTests.test_first_completed
TEST(Wait, FirstCompleted) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  Gate gate;  // opened before the pool joins
  auto fast = pool.submit([] { return 1; });
  auto blocked = pool.submit([&, open = gate.open] {
    open.result(10s);
    return 2;
  });
  auto c = cancelled();
  std::vector<Future<int>> fs{c, fast, blocked};
  auto r = cf::wait(fs, 5s, cf::FIRST_COMPLETED);
  EXPECT_EQ(r.done, std::vector<Future<int>>{fast});
  EXPECT_EQ(r.not_done.size(), 2u);
  EXPECT_TRUE(contains(r.not_done, c));
  EXPECT_TRUE(contains(r.not_done, blocked));
}

// CPython test_concurrent_futures.test_wait.WaitTests.test_first_completed_some_already_completed
TEST(Wait, FirstCompletedSomeAlreadyCompleted) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  Gate gate;  // opened before the pool joins
  auto blocked = pool.submit([&, open = gate.open] {
    open.result(10s);
    return 2;
  });
  auto cn = cancelled_and_notified();
  auto ok = successful();
  std::vector<Future<int>> fs{cn, ok, blocked};
  const auto t0 = std::chrono::steady_clock::now();
  auto r = cf::wait(fs, 5s, cf::FIRST_COMPLETED);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(r.done.size(), 2u);
  EXPECT_TRUE(contains(r.done, cn));
  EXPECT_TRUE(contains(r.done, ok));
  EXPECT_EQ(r.not_done, std::vector<Future<int>>{blocked});
}

// CPython test_concurrent_futures.test_wait.WaitTests.test_first_exception
TEST(Wait, FirstException) {
  cf::ThreadPoolExecutor pool({.max_workers = 3});
  Gate gate;  // opened before the pool joins
  auto f1 = pool.submit([] { return 1; });
  auto f2 = pool.submit([] {
    std::this_thread::sleep_for(100ms);
    throw std::runtime_error("f2");
    return 0;
  });
  auto f3 = pool.submit([&, open = gate.open] {
    open.result(10s);
    return 3;
  });
  std::vector<Future<int>> fs{f1, f2, f3};
  auto r = cf::wait(fs, 5s, cf::FIRST_EXCEPTION);
  EXPECT_EQ(r.done.size(), 2u);
  EXPECT_TRUE(contains(r.done, f1));
  EXPECT_TRUE(contains(r.done, f2));
  EXPECT_EQ(r.not_done, std::vector<Future<int>>{f3});
  EXPECT_TRUE(f2.exception());
}

// CPython test_concurrent_futures.test_wait.WaitTests.test_first_exception_some_already_complete
TEST(Wait, FirstExceptionSomeAlreadyComplete) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  Gate gate;  // opened before the pool joins
  auto f1 = pool.submit([] {
    throw std::runtime_error("f1");
    return 0;
  });
  auto f2 = pool.submit([&, open = gate.open] {
    open.result(10s);
    return 2;
  });
  auto ok = successful(), c = cancelled(), cn = cancelled_and_notified();
  std::vector<Future<int>> fs{ok, c, cn, f1, f2};
  auto r = cf::wait(fs, 5s, cf::FIRST_EXCEPTION);
  EXPECT_EQ(r.done.size(), 3u);
  EXPECT_TRUE(contains(r.done, ok));
  EXPECT_TRUE(contains(r.done, cn));
  EXPECT_TRUE(contains(r.done, f1));
  EXPECT_EQ(r.not_done.size(), 2u);
  EXPECT_TRUE(contains(r.not_done, c));
  EXPECT_TRUE(contains(r.not_done, f2));
  f1.exception();
}

// CPython test_concurrent_futures.test_wait.WaitTests.test_first_exception_one_already_failed
TEST(Wait, FirstExceptionOneAlreadyFailed) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  Gate gate;  // opened before the pool joins
  auto blocked = pool.submit([&, open = gate.open] {
    open.result(10s);
    return 2;
  });
  auto bad = failed();
  std::vector<Future<int>> fs{bad, blocked};
  const auto t0 = std::chrono::steady_clock::now();
  auto r = cf::wait(fs, 5s, cf::FIRST_EXCEPTION);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(r.done, std::vector<Future<int>>{bad});
}

// CPython docs, concurrent.futures.wait(): FIRST_EXCEPTION is ALL_COMPLETED when no future raises
TEST(Wait, FirstExceptionWithoutExceptionIsAllCompleted) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<Future<int>> fs;
  for (int i = 0; i < 10; ++i)
    fs.push_back(pool.submit([i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(i));
      return i;
    }));
  auto r = cf::wait(fs, 5s, cf::FIRST_EXCEPTION);
  EXPECT_EQ(r.done.size(), 10u);
  EXPECT_TRUE(r.not_done.empty());
}

// CPython test_concurrent_futures.test_wait.WaitTests.test_all_completed
TEST(Wait, AllCompleted) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  auto good = pool.submit([] { return 2; });
  auto bad = pool.submit([] {
    throw std::invalid_argument("x");
    return 0;
  });
  std::vector<Future<int>> fs{successful(), cancelled_and_notified(), failed(), good, bad};
  auto r = cf::wait(fs, 5s, cf::ALL_COMPLETED);
  EXPECT_EQ(r.done.size(), 5u);
  EXPECT_TRUE(r.not_done.empty());
  bad.exception();
}

// CPython test_concurrent_futures.test_wait.WaitTests.test_timeout
TEST(Wait, TimeoutReturnsWithoutThrowing) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  Gate gate;  // opened before the pool joins
  auto blocked = pool.submit([&, open = gate.open] {
    open.result(10s);
    return 2;
  });
  auto ok = successful();
  std::vector<Future<int>> fs{ok, blocked};
  const auto t0 = std::chrono::steady_clock::now();
  auto r = cf::wait(fs, 50ms, cf::ALL_COMPLETED);
  concur::testing::expect_took(std::chrono::steady_clock::now() - t0, 50ms);
  EXPECT_EQ(r.done, std::vector<Future<int>>{ok});
  EXPECT_EQ(r.not_done, std::vector<Future<int>>{blocked});
}

// CPython test_concurrent_futures.test_wait.ThreadPoolWaitTests.test_pending_calls_race
class WaitPendingCallsRace : public ::testing::TestWithParam<int> {};
TEST_P(WaitPendingCallsRace, HundredReleasedAtOnce) {
  cf::ThreadPoolExecutor pool({.max_workers = GetParam()});
  Gate gate;  // opened before the pool joins
  std::vector<Future<int>> fs;
  for (int i = 0; i < 100; ++i)
    fs.push_back(pool.submit([open = gate.open, i] {
      open.result(10s);
      return i;
    }));
  std::thread opener([&] {
    std::this_thread::sleep_for(20ms);
    gate.open.set_result();
  });
  auto r = cf::wait(fs, 10s, cf::ALL_COMPLETED);
  opener.join();
  EXPECT_EQ(r.done.size(), 100u);
}
INSTANTIATE_TEST_SUITE_P(Workers, WaitPendingCallsRace, ::testing::Values(1, 2, 4, 8));

// CPython's concurrent.futures.wait() (an unknown return_when is a ValueError)
TEST(Wait, InvalidReturnWhenIsValueError) {
  std::vector<Future<int>> fs{successful()};
  EXPECT_THROW(cf::wait(fs, 1s, static_cast<cf::ReturnWhen>(42)), concur::ValueError);
}

// Beyond the checklist: futures of different value types in one wait.
TEST(Wait, MixedValueTypes) {
  cf::ThreadPoolExecutor a({.max_workers = 1}), b({.max_workers = 1});
  auto i = a.submit([] { return 1; });
  auto s = b.submit([] { return std::string("x"); });
  Future<void> v;
  v.set_result();
  auto r = cf::wait({i, s, v}, 5s);
  EXPECT_EQ(r.done.size(), 3u);
  int n = 0;
  for (const auto& f : cf::as_completed({i, s, v}, 5s)) n += f.done();
  EXPECT_EQ(n, 3);
}

// CPython test_concurrent_futures.test_as_completed.AsCompletedTests.test_no_timeout
TEST(AsCompleted, NoTimeoutYieldsEachOnce) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  auto f1 = pool.submit([] { return 1; });
  auto f2 = pool.submit([] {
    std::this_thread::sleep_for(20ms);
    return 2;
  });
  std::vector<Future<int>> fs{cancelled_and_notified(), successful(), failed(), f1, f2};
  std::vector<Future<int>> seen;
  for (const auto& f : cf::as_completed(fs)) seen.push_back(f);
  EXPECT_EQ(seen.size(), 5u);
  for (const auto& f : fs) EXPECT_TRUE(contains(seen, f));
}

// CPython test_concurrent_futures.test_as_completed.AsCompletedTests.test_future_times_out
TEST(AsCompleted, FutureTimesOut) {
  for (auto timeout : {0ms, 100ms}) {
    cf::ThreadPoolExecutor pool({.max_workers = 1});
    Gate gate;  // opened before the pool joins
    auto slow = pool.submit([&, open = gate.open] {
      open.result(10s);
      return 9;
    });
    std::vector<Future<int>> fs{cancelled_and_notified(), failed(), successful(), slow};
    std::vector<Future<int>> seen;
    EXPECT_THROW(
        {
          for (const auto& f : cf::as_completed(fs, timeout)) seen.push_back(f);
        },
        cf::TimeoutError);
    EXPECT_EQ(seen.size(), 3u);
    EXPECT_FALSE(contains(seen, slow));
  }
}

// CPython test_concurrent_futures.test_as_completed.AsCompletedTests.test_duplicate_futures
TEST(AsCompleted, DuplicateFuturesAnyIterable) {
  auto f = successful();
  std::list<Future<int>> three{f, f, f};  // not a vector: any input range
  int n = 0;
  for (const auto& x : cf::as_completed(three, 1s)) {
    EXPECT_EQ(x, f);
    ++n;
  }
  EXPECT_EQ(n, 1);
}

// CPython
// test_concurrent_futures.test_as_completed.AsCompletedTests.test_correct_timeout_exception_msg
TEST(AsCompleted, TimeoutMessage) {
  Future<int> p;
  Future<int> r;
  r.set_running_or_notify_cancel();
  std::vector<Future<int>> fs{cancelled_and_notified(), p, r, successful()};
  try {
    for (const auto& f : cf::as_completed(fs, 0s)) (void)f;
    FAIL() << "no TimeoutError";
  } catch (const cf::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "2 (of 4) futures unfinished");
  }
  p.cancel();
  r.set_result(0);
}

// CPython
// test_concurrent_futures.test_as_completed.AsCompletedTests.test_free_reference_yielded_future
TEST(AsCompleted, HoldsNoReferenceToYielded) {
  std::vector<std::weak_ptr<int>> values;
  auto make = [&] {
    std::vector<Future<std::shared_ptr<int>>> tmp;
    for (int i = 0; i < 3; ++i) {
      Future<std::shared_ptr<int>> f;
      auto v = std::make_shared<int>(i);
      values.push_back(v);
      f.set_result(std::move(v));
      tmp.push_back(std::move(f));
    }
    return tmp;
  };
  auto range = cf::as_completed(make(), 1s);  // the input vector dies with this statement
  int n = 0;
  for (auto it = range.begin(); it != range.end(); ++it) ++n;
  EXPECT_EQ(n, 3);
  // The range is still alive, but holds none of the futures it yielded.
  for (const auto& w : values) EXPECT_TRUE(w.expired());
}

// CPython docs, as_completed(): the timeout counts from the original call: the timeout is measured
// from the as_completed() call.
TEST(AsCompleted, TimeoutCountsFromTheCall) {
  Future<int> never;
  std::vector<Future<int>> fs{never};
  auto range = cf::as_completed(fs, 100ms);
  std::this_thread::sleep_for(150ms);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(range.begin(), cf::TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 50ms);
  never.cancel();
}
