// Conformance: concurrent.futures Future state machine and done callbacks. Follows CPython's
// test_concurrent_futures.test_future.FutureTests; each test names the CPython test it follows.
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <concur/futures.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/future_states.hpp"

using namespace std::chrono_literals;
namespace cf = concur::futures;
using cf::Future;
using cf::FutureState;

namespace {

// The futures of CPython's test_future.py, each in its state.
Future<int> pending() { return concur::testing::pending_future(); }
Future<int> running() { return concur::testing::running_future(); }
Future<int> cancelled() { return concur::testing::cancelled_future(); }
Future<int> cancelled_and_notified() { return concur::testing::cancelled_and_notified_future(); }
Future<int> exception_future() { return concur::testing::exception_future(); }
Future<int> successful() { return concur::testing::successful_future(); }

// Runs fn on a thread after `delay`; joined at scope exit.
struct After {
  template <class F>
  After(std::chrono::milliseconds delay, F fn)
      : t([=] {
          std::this_thread::sleep_for(delay);
          fn();
        }) {}
  ~After() { t.join(); }
  std::thread t;
};

}  // namespace

// CPython test_concurrent_futures.test_future.FutureTests.test_cancel
TEST(Future, CancelInEachState) {
  auto f1 = pending();
  EXPECT_TRUE(f1.cancel());
  EXPECT_EQ(f1.state_now(), FutureState::CANCELLED);
  auto f2 = running();
  EXPECT_FALSE(f2.cancel());
  EXPECT_EQ(f2.state_now(), FutureState::RUNNING);
  auto f3 = cancelled();
  EXPECT_TRUE(f3.cancel());
  EXPECT_EQ(f3.state_now(), FutureState::CANCELLED);
  auto f4 = cancelled_and_notified();
  EXPECT_TRUE(f4.cancel());
  EXPECT_EQ(f4.state_now(), FutureState::CANCELLED_AND_NOTIFIED);
  auto f5 = exception_future();
  EXPECT_FALSE(f5.cancel());
  EXPECT_EQ(f5.state_now(), FutureState::FINISHED);
  auto f6 = successful();
  EXPECT_FALSE(f6.cancel());
  EXPECT_EQ(f6.state_now(), FutureState::FINISHED);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_cancelled;
// test_concurrent_futures.test_future.FutureTests.test_done;
// test_concurrent_futures.test_future.FutureTests.test_running
TEST(Future, CancelledDoneRunningInEachState) {
  struct Row {
    Future<int> f;
    bool cancelled, done, running;
  };
  std::vector<Row> rows{
      {pending(), false, false, false},         {running(), false, false, true},
      {cancelled(), true, true, false},         {cancelled_and_notified(), true, true, false},
      {exception_future(), false, true, false}, {successful(), false, true, false}};
  for (auto& r : rows) {
    EXPECT_EQ(r.f.cancelled(), r.cancelled) << r.f;
    EXPECT_EQ(r.f.done(), r.done) << r.f;
    EXPECT_EQ(r.f.running(), r.running) << r.f;
  }
}

// CPython test_concurrent_futures.test_future.FutureTests.test_result_with_timeout
TEST(Future, ResultWithTimeout) {
  EXPECT_THROW(pending().result(0s), cf::TimeoutError);
  EXPECT_THROW(running().result(0s), cf::TimeoutError);
  EXPECT_THROW(cancelled().result(0s), cf::CancelledError);
  EXPECT_THROW(cancelled_and_notified().result(0s), cf::CancelledError);
  EXPECT_THROW(exception_future().result(0s), std::runtime_error);
  EXPECT_EQ(successful().result(0s), 42);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_exception_with_timeout
TEST(Future, ExceptionWithTimeout) {
  EXPECT_THROW((void)pending().exception(0s), cf::TimeoutError);
  EXPECT_THROW((void)running().exception(0s), cf::TimeoutError);
  EXPECT_THROW((void)cancelled().exception(0s), cf::CancelledError);
  EXPECT_THROW((void)cancelled_and_notified().exception(0s), cf::CancelledError);
  auto e = exception_future().exception(0s);
  ASSERT_TRUE(e);
  try {
    std::rethrow_exception(e);
  } catch (const std::runtime_error& err) {
    EXPECT_STREQ(err.what(), "oops");
  }
  EXPECT_FALSE(successful().exception(0s));
}

// CPython test_concurrent_futures.test_future.FutureTests.test_result_with_success
TEST(Future, ResultWithSuccess) {
  auto f = pending();
  After later(100ms, [f] { f.set_result(42); });
  EXPECT_EQ(f.result(5s), 42);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_result_with_cancel
TEST(Future, ResultWithCancel) {
  auto f = pending();
  After later(100ms, [f] { f.cancel(); });
  EXPECT_THROW(f.result(5s), cf::CancelledError);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_exception_with_success
TEST(Future, ExceptionWithSuccess) {
  auto f = pending();
  After later(100ms, [f] {
    f.set_running_or_notify_cancel();
    f.set_exception(std::invalid_argument("late"));
  });
  auto e = f.exception(5s);
  ASSERT_TRUE(e);
  EXPECT_THROW(std::rethrow_exception(e), std::invalid_argument);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_multiple_set_result
TEST(Future, MultipleSetResult) {
  auto f = pending();
  f.set_result(1);
  try {
    f.set_result(2);
    FAIL() << "no InvalidStateError";
  } catch (const cf::InvalidStateError& e) {
    EXPECT_NE(std::string(e.what()).find("FINISHED"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 1);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_multiple_set_exception; CPython's
// Future.set_result/set_exception (InvalidStateError on a finished or cancelled future)
TEST(Future, MultipleSetException) {
  auto f = pending();
  auto first = std::make_exception_ptr(std::runtime_error("first"));
  f.set_exception(first);
  EXPECT_THROW(f.set_exception(std::runtime_error("second")), cf::InvalidStateError);
  EXPECT_EQ(f.exception(), first);
  auto c = cancelled();
  EXPECT_THROW(c.set_result(1), cf::InvalidStateError);
  EXPECT_THROW(c.set_exception(std::runtime_error("x")), cf::InvalidStateError);
}

// CPython docs, Future.set_running_or_notify_cancel()
TEST(Future, SetRunningOrNotifyCancel) {
  auto p = pending();
  EXPECT_TRUE(p.set_running_or_notify_cancel());
  EXPECT_EQ(p.state_now(), FutureState::RUNNING);

  auto c = cancelled();
  auto blocked = pending();
  std::vector<cf::AnyFuture> both{c, blocked};
  std::thread notifier([c] {
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(c.set_running_or_notify_cancel());
  });
  auto [done, not_done] = cf::wait(both, 5s, cf::FIRST_COMPLETED);
  notifier.join();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], cf::AnyFuture(c));
  EXPECT_EQ(c.state_now(), FutureState::CANCELLED_AND_NOTIFIED);

  EXPECT_THROW(running().set_running_or_notify_cancel(), concur::RuntimeError);
  EXPECT_THROW(successful().set_running_or_notify_cancel(), concur::RuntimeError);
  EXPECT_THROW(cancelled_and_notified().set_running_or_notify_cancel(), concur::RuntimeError);
}

// CPython main test_concurrent_futures.test_future.FutureTests.test_get_snapshot
TEST(Future, ConsistentSnapshot) {
  auto f = successful();
  std::vector<std::thread> ts;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (!f.done() || f.cancelled() || f.result() != 42 || f.exception()) ++mismatches;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_repr
namespace {
// "<Future at 0x<hex> state=<tail>"
bool repr_is(const std::string& r, const std::string& tail) {
  const std::string head = "<Future at 0x";
  if (r.rfind(head, 0) != 0) return false;
  std::size_t i = head.size();
  while (i < r.size() && std::isxdigit(static_cast<unsigned char>(r[i]))) ++i;
  return i > head.size() && r.substr(i) == " state=" + tail;
}
}  // namespace

TEST(Future, Repr) {
  EXPECT_TRUE(repr_is(pending().repr(), "pending>")) << pending().repr();
  EXPECT_TRUE(repr_is(running().repr(), "running>"));
  EXPECT_TRUE(repr_is(cancelled().repr(), "cancelled>"));
  EXPECT_TRUE(repr_is(cancelled_and_notified().repr(), "cancelled>"));
  EXPECT_TRUE(repr_is(exception_future().repr(), "finished raised std::runtime_error>"))
      << exception_future().repr();
  EXPECT_TRUE(repr_is(successful().repr(), "finished returned int>"));
}

// CPython test_concurrent_futures.test_future.FutureTests.test_done_callback_with_result
TEST(Future, DoneCallbackWithResult) {
  std::optional<int> seen;
  int calls = 0;
  auto f = pending();
  f.add_done_callback([&](const Future<int>& done) {
    ++calls;
    seen = done.result();
  });
  f.set_result(5);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, 5);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_done_callback_with_exception
TEST(Future, DoneCallbackWithException) {
  std::exception_ptr seen;
  auto f = pending();
  f.add_done_callback([&](const Future<int>& done) { seen = done.exception(); });
  auto e = std::make_exception_ptr(std::runtime_error("test"));
  f.set_exception(e);
  EXPECT_EQ(seen, e);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_done_callback_with_cancel
TEST(Future, DoneCallbackWithCancel) {
  bool was_cancelled = false;
  auto f = pending();
  f.add_done_callback([&](const Future<int>& done) { was_cancelled = done.cancelled(); });
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(was_cancelled);
}

// CPython test_concurrent_futures.test_future.FutureTests.test_done_callback_already_successful,
// test_done_callback_already_failed, test_done_callback_already_cancelled
TEST(Future, DoneCallbackAlreadyDoneRunsAtOnceInThisThread) {
  for (const auto& f : {successful(), exception_future(), cancelled()}) {
    std::thread::id where;
    f.add_done_callback([&](const Future<int>&) { where = std::this_thread::get_id(); });
    EXPECT_EQ(where, std::this_thread::get_id()) << f;
  }
}

namespace {
struct HookCapture {
  HookCapture() {
    previous = cf::set_exception_hook([this](const cf::ExceptionReport& r) {
      std::lock_guard lock(mu);
      std::string line = std::string(r.what_happened) + " " + std::string(r.context);
      try {
        std::rethrow_exception(r.exception);
      } catch (const std::exception& e) {
        line += std::string(" Exception: ") + e.what();
      }
      lines.push_back(line);
    });
  }
  ~HookCapture() { cf::set_exception_hook(previous); }
  std::mutex mu;
  std::vector<std::string> lines;
  cf::ExceptionHook previous;
};
}  // namespace

// CPython test_concurrent_futures.test_future.FutureTests.test_done_callback_raises
TEST(Future, DoneCallbackRaisesOthersStillRun) {
  HookCapture hook;
  bool raising_was_called = false, fn_was_called = false;
  auto f = pending();
  f.add_done_callback([&](const Future<int>&) {
    raising_was_called = true;
    throw std::runtime_error("doh!");
  });
  f.add_done_callback([&](const Future<int>&) { fn_was_called = true; });
  EXPECT_NO_THROW(f.set_result(5));
  EXPECT_TRUE(raising_was_called);
  EXPECT_TRUE(fn_was_called);
  ASSERT_EQ(hook.lines.size(), 1u);
  EXPECT_NE(hook.lines[0].find("Exception: doh!"), std::string::npos) << hook.lines[0];
}

// CPython test_concurrent_futures.test_future.FutureTests.test_done_callback_raises: the default
// hook writes to stderr.
TEST(Future, DoneCallbackRaisesDefaultHookPrints) {
  ::testing::internal::CaptureStderr();
  auto f = pending();
  f.add_done_callback([](const Future<int>&) { throw std::runtime_error("doh!"); });
  f.set_result(5);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("doh!"), std::string::npos) << err;
  EXPECT_NE(err.find("exception calling callback for <Future at"), std::string::npos) << err;
}

// CPython
// test_concurrent_futures.test_future.FutureTests.test_done_callback_raises_already_succeeded
TEST(Future, DoneCallbackRaisesAlreadySucceeded) {
  HookCapture hook;
  auto f = successful();
  EXPECT_NO_THROW(
      f.add_done_callback([](const Future<int>&) { throw std::runtime_error("doh!"); }));
  ASSERT_EQ(hook.lines.size(), 1u);
  EXPECT_NE(hook.lines[0].find("exception calling callback for <Future at"), std::string::npos);
}

// CPython docs, Future.add_done_callback(): callables are called in the order they were added
TEST(Future, CallbacksRunInOrderAdded) {
  std::vector<int> order;
  auto f = pending();
  for (int i = 0; i < 5; ++i)
    f.add_done_callback([&order, i](const Future<int>&) { order.push_back(i); });
  f.set_result(1);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}
