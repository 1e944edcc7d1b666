// Conformance: threading.Condition (CPython's test_threading.ConditionTests, from
// Lib/test/lock_tests.py). Every test applies.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
using concur::threading::Condition;
using concur::threading::Event;
using concur::threading::Lock;
using concur::threading::RLock;
using concur::threading::Thread;

// CPython test_threading.ConditionTests.test_acquire
TEST(Condition, DefaultLockIsRecursiveSuppliedLockIsUsed) {
  Condition c;
  c.acquire();
  c.acquire();  // recursive: does not block
  c.release();
  c.release();
  EXPECT_THROW(c.release(), concur::RuntimeError);

  Lock lock;
  Condition c2(lock);
  c2.acquire();
  EXPECT_TRUE(lock.locked());
  c2.release();
  EXPECT_FALSE(lock.locked());
  {
    std::scoped_lock g(c2);
    EXPECT_TRUE(lock.locked());
  }
  EXPECT_FALSE(lock.locked());
}

// CPython test_threading.ConditionTests.test_unacquired_wait, test_unacquired_notify
TEST(Condition, UnacquiredWaitAndNotifyRaise) {
  Condition c;
  EXPECT_THROW(c.wait(), concur::RuntimeError);
  EXPECT_THROW(c.wait(10ms), concur::RuntimeError);
  EXPECT_THROW(c.notify(), concur::RuntimeError);
  EXPECT_THROW(c.notify_all(), concur::RuntimeError);
  Lock lock;
  Condition c2(lock);
  EXPECT_THROW(c2.wait(), concur::RuntimeError);
  EXPECT_THROW(c2.notify(), concur::RuntimeError);
}

// CPython test_threading.ConditionTests.test_notify
TEST(Condition, NotifyNWakesExactlyN) {
  for (int pass = 0; pass < 2; ++pass) {  // a second full round works the same
    Condition c;
    int waiting = 0;  // under c: threads inside wait()
    int phase = 0;    // under c
    std::atomic<int> woken_phase1{0}, woken_phase2{0}, false_returns{0};
    Bunch b(5, [&](int) {
      std::scoped_lock g(c);
      ++waiting;
      if (!c.wait(kBound)) ++false_returns;
      if (phase == 0) ++false_returns;  // resumed before the notifier released
      ++woken_phase1;
      --waiting;
      ++waiting;
      if (!c.wait(kBound)) ++false_returns;
      ++woken_phase2;
      --waiting;
    });
    auto waiters_are = [&](int n) {
      return eventually([&] {
        std::scoped_lock g(c);
        return waiting == n;
      });
    };
    ASSERT_TRUE(waiters_are(5));
    {
      std::scoped_lock g(c);
      c.notify(3);
      phase = 1;
      EXPECT_EQ(woken_phase1.load(), 0);  // none resumes before we release
    }
    ASSERT_TRUE(eventually([&] { return woken_phase1 == 3; }));
    ASSERT_TRUE(waiters_are(5));  // the 3 re-waited; 2 never woke
    EXPECT_EQ(woken_phase1.load(), 3);
    {
      std::scoped_lock g(c);
      c.notify(5);  // the 2 remaining first-phase waiters and 3 second-phase ones
    }
    ASSERT_TRUE(eventually([&] { return woken_phase1 == 5 && woken_phase2 == 3; }));
    ASSERT_TRUE(waiters_are(2));
    {
      std::scoped_lock g(c);
      c.notify_all();
    }
    b.join_all();
    EXPECT_EQ(woken_phase2.load(), 5);
    EXPECT_EQ(false_returns.load(), 0);
  }
}

// CPython test_threading.ConditionTests.test_timeout
TEST(Condition, WaitTimesOut) {
  Condition c;
  std::scoped_lock g(c);
  const auto t0 = Clock::now();
  EXPECT_FALSE(c.wait(500ms));
  expect_took(seconds_since(t0), 0.5);
  EXPECT_TRUE(c.acquire(false));  // the lock is held again after the timeout
  c.release();
}

// CPython test_threading.ConditionTests.test_waitfor
TEST(Condition, WaitForPredicate) {
  Condition c;
  int state = 0;
  std::atomic<int> observed{-1};
  std::atomic<bool> result{false};
  Thread waiter([&] {
    std::scoped_lock g(c);
    result = c.wait_for([&] { return state == 4; }, kBound);
    observed = state;
  });
  waiter.start();
  for (int i = 0; i < 4; ++i) {
    std::scoped_lock g(c);
    ++state;
    c.notify();
  }
  ASSERT_TRUE(waiter.join(kBound));
  EXPECT_TRUE(result.load());
  EXPECT_EQ(observed.load(), 4);
}

// CPython test_threading.ConditionTests.test_waitfor_timeout
TEST(Condition, WaitForTimesOutWithPredicateValue) {
  Condition c;
  std::scoped_lock g(c);
  int calls = 0;
  const auto t0 = Clock::now();
  const bool r = c.wait_for(
      [&] {
        ++calls;
        return false;
      },
      100ms);
  EXPECT_FALSE(r);
  expect_took(seconds_since(t0), 0.1);
  EXPECT_GE(calls, 2);  // checked at the start and after the wait
}

// CPython _test_multiprocessing._TestCondition.test_notify_n (the same contract for threads)
TEST(Condition, NotifyMoreThanWaitersAndNoWaiters) {
  Condition c;
  {
    std::scoped_lock g(c);
    EXPECT_NO_THROW(c.notify(10));  // nobody waits
    EXPECT_NO_THROW(c.notify_all());
  }
  int waiting = 0;
  std::atomic<int> woken{0};
  Bunch b(2, [&](int) {
    std::scoped_lock g(c);
    ++waiting;
    if (c.wait(kBound)) ++woken;
  });
  ASSERT_TRUE(eventually([&] {
    std::scoped_lock g(c);
    return waiting == 2;
  }));
  {
    std::scoped_lock g(c);
    c.notify(10);
  }
  b.join_all();
  EXPECT_EQ(woken.load(), 2);
}

}  // namespace
