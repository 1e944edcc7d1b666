// Bad input: each a Python-named exception with a message saying what was wrong.
#include <gtest/gtest.h>

#include <string>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
namespace th = concur::threading;

template <class E, class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

TEST(BadInput, NegativeSemaphoreValue) {
  EXPECT_EQ(message_of<concur::ValueError>([] { th::Semaphore s(-1); }),
            "semaphore initial value must be >= 0");
  EXPECT_EQ(message_of<concur::ValueError>([] { th::BoundedSemaphore s(-3); }),
            "semaphore initial value must be >= 0");
  th::Semaphore s(1);
  EXPECT_EQ(message_of<concur::ValueError>([&] { s.release(0); }), "n must be one or more");
}

TEST(BadInput, BarrierOfZeroParties) {
  EXPECT_EQ(message_of<concur::ValueError>([] { th::Barrier b(0); }), "parties must be >= 1");
}

TEST(BadInput, NegativeTimeouts) {
  th::Lock l;
  th::RLock rl;
  th::Condition c;
  th::Semaphore s;
  th::Event e;
  th::Barrier b(2);
  const auto neg = std::chrono::milliseconds(-5);
  const std::string msg = "timeout must be non-negative";
  EXPECT_EQ(message_of<concur::ValueError>([&] { l.acquire(neg); }), msg);
  EXPECT_EQ(message_of<concur::ValueError>([&] { rl.acquire(neg); }), msg);
  EXPECT_EQ(message_of<concur::ValueError>([&] { s.acquire(neg); }), msg);
  EXPECT_EQ(message_of<concur::ValueError>([&] { e.wait(neg); }), msg);
  EXPECT_EQ(message_of<concur::ValueError>([&] { b.wait(neg); }), msg);
  EXPECT_EQ(message_of<concur::ValueError>([&] { th::Barrier(2, nullptr, neg); }), msg);
  {
    std::scoped_lock g(c);
    EXPECT_EQ(message_of<concur::ValueError>([&] { c.wait(neg); }), msg);
  }
  th::Thread t([] {});
  EXPECT_EQ(message_of<concur::ValueError>([&] { t.join(neg); }), msg);
  EXPECT_EQ(message_of<concur::ValueError>([&] { th::Timer(neg, [] {}); }), msg);
  EXPECT_EQ(message_of<concur::ValueError>([&] { l.acquire(false, std::chrono::seconds(1)); }),
            "can't specify a timeout for a non-blocking call");
}

TEST(BadInput, ConditionWithoutItsLock) {
  th::Condition c;
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { c.wait(); }), "cannot wait on un-acquired lock");
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { c.notify(); }),
            "cannot notify on un-acquired lock");
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { c.notify_all(); }),
            "cannot notify on un-acquired lock");
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { (void)c.wait_for([] { return false; }); }),
            "cannot wait on un-acquired lock");
  std::scoped_lock g(c);
  EXPECT_EQ(message_of<concur::ValueError>([&] { c.notify(-1); }), "notify(n): n must be >= 0");
}

TEST(BadInput, LockMisuse) {
  th::Lock l;
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { l.release(); }), "release unlocked lock");
  th::RLock rl;
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { rl.release(); }),
            "cannot release un-acquired lock");
  th::BoundedSemaphore bs(1);
  EXPECT_EQ(message_of<concur::ValueError>([&] { bs.release(); }),
            "Semaphore released too many times");
}

TEST(BadInput, ThreadMisuse) {
  th::Thread t([] {});
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { t.join(); }),
            "cannot join thread before it is started");
  t.start();
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { t.start(); }),
            "threads can only be started once");
  EXPECT_EQ(message_of<concur::RuntimeError>([&] { t.set_daemon(true); }),
            "cannot set daemon status of active thread");
  ASSERT_TRUE(t.join(kBound));
  EXPECT_EQ(message_of<concur::RuntimeError>([] { th::current_thread().join(); }),
            "cannot join current thread");
}

}  // namespace
