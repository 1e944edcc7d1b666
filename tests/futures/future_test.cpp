// concur::futures beyond CPython: then(), co_await, coroutines returning Future, std::stop_token
// cancellation, pool stats, AnyFuture, and bad input.
#include <gtest/gtest.h>

#include <concur/futures.hpp>
#include <memory>
#include <string>
#include <thread>

#include "support/future_states.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
namespace cf = concur::futures;
using cf::Future;

namespace {
using concur::testing::Gate;
}  // namespace

// --- then --------------------------------------------------------------------
TEST(Then, ValueContinuationRunsOnSuccess) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  auto f = pool.submit([] { return 20; });
  auto g = f.then([](int v) { return std::to_string(v + 1); }).then([](const std::string& s) {
    return s + "!";
  });
  EXPECT_EQ(g.result(5s), "21!");
}

TEST(Then, ExceptionAndCancellationPropagateWithoutCallingFn) {
  Future<int> bad;
  bool called = false;
  auto g = bad.then([&](int v) {
    called = true;
    return v;
  });
  bad.set_exception(std::runtime_error("source failed"));
  EXPECT_THROW(g.result(1s), std::runtime_error);
  EXPECT_FALSE(called);
  bad.exception();

  Future<int> cancelled;
  auto h = cancelled.then([&](int v) { return v; });
  cancelled.cancel();
  EXPECT_THROW(h.result(1s), cf::CancelledError);
  EXPECT_TRUE(h.cancelled());
}

TEST(Then, FutureContinuationAlwaysRuns) {
  Future<int> bad;
  auto g = bad.then([](const Future<int>& f) { return f.exception() ? -1 : f.result(); });
  bad.set_exception(std::runtime_error("x"));
  EXPECT_EQ(g.result(1s), -1);
}

TEST(Then, VoidToVoidAndThrowingFn) {
  Future<void> v;
  int n = 0;
  auto g = v.then([&] { ++n; });
  auto h = g.then([]() -> int { throw std::logic_error("in continuation"); });
  v.set_result();
  g.result(1s);
  EXPECT_EQ(n, 1);
  EXPECT_THROW(h.result(1s), std::logic_error);
}

TEST(Then, CancellingTheContinuationStopsFn) {
  Future<int> src;
  bool called = false;
  auto g = src.then([&](int) {
    called = true;
    return 0;
  });
  EXPECT_TRUE(g.cancel());
  src.set_result(1);
  EXPECT_FALSE(called);
}

// --- coroutines ----------------------------------------------------------------------
namespace {
Future<int> add_one(Future<int> in) {
  int v = co_await in;
  co_return v + 1;
}
Future<void> consume(Future<int> in, int& out) {
  out = co_await in;
  co_return;
}
Future<int> rethrows(Future<int> in) {
  int v = co_await in;  // throws what `in` holds
  co_return v;
}
}  // namespace

TEST(Coroutine, AwaitAPoolFuture) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  auto f = add_one(pool.submit([] {
    std::this_thread::sleep_for(10ms);
    return 41;
  }));
  EXPECT_EQ(f.result(5s), 42);
}

TEST(Coroutine, AwaitAlreadyDoneDoesNotSuspend) {
  Future<int> done;
  done.set_result(1);
  auto f = add_one(done);
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(0s), 2);
  int out = 0;
  consume(done, out).result(0s);
  EXPECT_EQ(out, 1);
}

TEST(Coroutine, ExceptionsAndCancellationFlowThrough) {
  Future<int> bad;
  auto f = rethrows(bad);
  EXPECT_TRUE(f.running());
  bad.set_exception(std::out_of_range("deep"));
  EXPECT_THROW(f.result(1s), std::out_of_range);
  Future<int> c;
  auto g = rethrows(c);
  c.cancel();
  EXPECT_THROW(g.result(1s), cf::CancelledError);
}

// --- cooperative cancellation ----------------------------------------------------------
TEST(StopToken, CancelOfRunningTaskRequestsStop) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  Future<void> started;
  auto f = pool.submit(
      [&](std::stop_token st, int limit) {
        started.set_result();
        for (int i = 0; i < limit; ++i) {
          if (st.stop_requested()) throw cf::CancelledError();
          std::this_thread::sleep_for(1ms);
        }
        return 1;
      },
      5000);
  started.result(5s);
  EXPECT_FALSE(f.cancel());  // RUNNING: Python says false...
  EXPECT_THROW(f.result(5s), cf::CancelledError);
  EXPECT_TRUE(f.cancelled());  // ...but the task stopped and the future is cancelled
  EXPECT_EQ(f.state_now(), cf::FutureState::CANCELLED_AND_NOTIFIED);
}

TEST(StopToken, TaskMayFinishNormallyAfterStop) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  Future<void> started;
  auto f = pool.submit([&](std::stop_token st) {
    started.set_result();
    while (!st.stop_requested()) std::this_thread::sleep_for(1ms);
    return 7;  // partial result
  });
  started.result(5s);
  f.cancel();
  EXPECT_EQ(f.result(5s), 7);
}

TEST(StopToken, ShutdownWithCancelFuturesStopsRunningTasks) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  Future<void> started;
  auto running = pool.submit([&](std::stop_token st) {
    started.set_result();
    while (!st.stop_requested()) std::this_thread::sleep_for(1ms);
    throw cf::CancelledError();
  });
  auto queued = pool.submit([] { return 1; });
  started.result(5s);
  pool.shutdown(true, true);
  EXPECT_TRUE(running.cancelled());
  EXPECT_TRUE(queued.cancelled());
}

TEST(StopToken, CancelledErrorWithoutStopIsAnOrdinaryError) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  auto f =
      pool.submit([](std::stop_token) -> int { throw cf::CancelledError("not asked to stop"); });
  EXPECT_THROW(f.result(5s), cf::CancelledError);
  EXPECT_FALSE(f.cancelled());
}

// --- pool statistics, AnyFuture, move-only values ----------------------------------------
TEST(Stats, CountsSubmittedAndCompleted) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<Future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(pool.submit([i] { return i; }));
  cf::wait(fs, 5s);
  pool.shutdown();
  const auto s = pool.stats();
  EXPECT_EQ(s.submitted, 100u);
  EXPECT_EQ(s.completed, 100u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_LE(s.threads, 2);
  EXPECT_EQ(s.max_workers, 2);
}

TEST(AnyFuture, ErasesTheValueType) {
  Future<std::string> s;
  cf::AnyFuture a = s;
  EXPECT_FALSE(a.done());
  EXPECT_FALSE(a.wait(10ms));
  s.set_result("x");
  EXPECT_TRUE(a.wait(1s));
  EXPECT_FALSE(a.exception());
  EXPECT_EQ(a, cf::AnyFuture(s));
  EXPECT_NE(a.repr().find("finished returned std::"), std::string::npos) << a.repr();
}

TEST(MoveOnlyValues, MoveOnlyResultsAndArguments) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  auto f = pool.submit([](std::unique_ptr<int> p) { return std::make_unique<int>(*p * 2); },
                       std::make_unique<int>(21));
  EXPECT_EQ(*f.result(5s), 42);
}

TEST(MoveOnlyValues, SubmitFromInsideATask) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  auto outer = pool.submit([&pool] { return pool.submit([] { return 5; }).result(5s) + 1; });
  EXPECT_EQ(outer.result(5s), 6);
}

// --- exceptions nobody reads go to the hook ---------------------------------------------
TEST(ExceptionHook, UnreadExceptionIsReportedWhenTheFutureDies) {
  std::vector<std::string> seen;
  auto prev = cf::set_exception_hook(
      [&](const cf::ExceptionReport& r) { seen.emplace_back(r.what_happened); });
  {
    cf::ThreadPoolExecutor pool({.max_workers = 1});
    pool.submit([]() -> int { throw std::runtime_error("lost?"); });
  }
  cf::set_exception_hook(prev);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "exception never retrieved from");
}

// --- bad input ----------------------------------------------------------------------------
TEST(BadInput, NegativeTimeoutIsValueError) {
  Future<int> f;
  EXPECT_THROW(f.result(-1ms), concur::ValueError);
  EXPECT_THROW(f.exception(-1s), concur::ValueError);
  std::vector<Future<int>> fs{f};
  EXPECT_THROW(cf::wait(fs, -1ms), concur::ValueError);
  EXPECT_THROW(cf::as_completed(fs, -1ms), concur::ValueError);
  f.cancel();
}

TEST(BadInput, SetResultOnFinishedFutureIsInvalidStateError) {
  Future<void> f;
  f.set_result();
  EXPECT_THROW(f.set_result(), cf::InvalidStateError);
  EXPECT_THROW(f.set_exception(std::runtime_error("x")), cf::InvalidStateError);
  EXPECT_THROW(f.set_exception(std::exception_ptr()), concur::ValueError);
}

TEST(BadInput, ChunksizeBelowOneIsValueError) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  std::vector<int> xs{1, 2};
  for (long c : {0L, -1L}) {
    try {
      pool.map(
          {.chunksize = c}, [](int x) { return x; }, xs);
      FAIL();
    } catch (const concur::ValueError& e) {
      EXPECT_STREQ(e.what(), "chunksize must be >= 1.");
    }
  }
}

TEST(BadInput, EmptyHandleIsInvalidStateError) {
  Future<int> f;
  Future<int> g = std::move(f);
  EXPECT_FALSE(f.valid());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_THROW(f.result(0s), cf::InvalidStateError);
  std::vector<Future<int>> fs{f};
  EXPECT_THROW(cf::wait(fs), concur::ValueError);
  g.cancel();
}

TEST(BadInput, MapOverEmptyAndUnequalRanges) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> none, three{1, 2, 3}, two{10, 20};
  int n = 0;
  for (int v : pool.map([](int x) { return x; }, none)) n += v;
  EXPECT_EQ(n, 0);
  std::vector<int> got;
  for (int v : pool.map([](int a, int b) { return a + b; }, three, two)) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{11, 22}));  // stops at the shortest, like zip
}
