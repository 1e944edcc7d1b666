// Conformance: threading.Semaphore and BoundedSemaphore (CPython's test_threading.SemaphoreTests
// and BoundedSemaphoreTests, from Lib/test/lock_tests.py). Every test applies;
// test_threading.SemaphoreTests.test_repr's textual form is concur's repr() (Python's shape).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
using concur::threading::BoundedSemaphore;
using concur::threading::Event;
using concur::threading::Semaphore;
using concur::threading::Thread;

// CPython test_threading.SemaphoreTests.test_constructor
TEST(Semaphore, NegativeInitialValue) {
  EXPECT_THROW(Semaphore(-1), concur::ValueError);
  EXPECT_THROW(BoundedSemaphore(-1), concur::ValueError);
  EXPECT_NO_THROW(Semaphore(0));
}

// CPython test_threading.SemaphoreTests.test_default_value
TEST(Semaphore, DefaultValueIsOne) {
  Semaphore s;
  EXPECT_EQ(s.value(), 1);
  s.acquire();
  std::atomic<bool> got{false};
  Event entered;
  Thread t([&] {
    entered.set();
    got = s.acquire(kBound);
  });
  t.start();
  ASSERT_TRUE(entered.wait(kBound));
  EXPECT_FALSE(t.join(50ms));  // blocked
  s.release();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_TRUE(got.load());
}

// CPython test_threading.SemaphoreTests.test_try_acquire
TEST(Semaphore, TryAcquire) {
  Semaphore s(2);
  EXPECT_TRUE(s.acquire(false));
  EXPECT_TRUE(s.acquire(false));
  EXPECT_FALSE(s.acquire(false));
  s.release();
  EXPECT_TRUE(s.acquire(false));
}

// CPython test_threading.SemaphoreTests.test_try_acquire_contended
TEST(Semaphore, TryAcquireContended) {
  Semaphore s(4);
  s.acquire();
  std::atomic<int> ok{0}, fail{0};
  Bunch b(5, [&](int) {
    for (int i = 0; i < 2; ++i) (s.acquire(false) ? ok : fail)++;
  });
  b.join_all();
  EXPECT_EQ(ok.load(), 3);
  EXPECT_EQ(fail.load(), 7);
}

// CPython test_threading.SemaphoreTests.test_acquire_contended, test_multirelease
TEST(Semaphore, AcquireContendedAndMultiRelease) {
  for (bool multi : {false, true}) {
    Semaphore s(7);
    s.acquire();
    std::atomic<int> passed{0}, false_results{0};
    Bunch b(10, [&](int) {
      for (int i = 0; i < 2; ++i) {
        if (s.acquire(kBound))
          ++passed;
        else
          ++false_results;
      }
    });
    ASSERT_TRUE(eventually([&] { return passed == 6; }));
    Event().wait(30ms);
    EXPECT_EQ(passed.load(), 6);
    if (multi) {
      s.release(7);
    } else {
      for (int i = 0; i < 7; ++i) s.release();
    }
    ASSERT_TRUE(eventually([&] { return passed == 13; }));
    Event().wait(30ms);
    EXPECT_EQ(passed.load(), 13);
    s.release(6);
    ASSERT_TRUE(eventually([&] { return passed == 19; }));
    EXPECT_EQ(s.value(), 0);  // exhausted: one acquire still waits
    s.release();
    b.join_all();
    EXPECT_EQ(passed.load(), 20);
    EXPECT_EQ(false_results.load(), 0);
  }
}

// CPython test_threading.SemaphoreTests.test_acquire_timeout
TEST(Semaphore, AcquireTimeout) {
  Semaphore s(2);
  EXPECT_THROW(s.acquire(false, 1s), concur::ValueError);
  EXPECT_TRUE(s.acquire(5ms));
  EXPECT_TRUE(s.acquire(5ms));
  EXPECT_FALSE(s.acquire(5ms));
  s.release();
  EXPECT_TRUE(s.acquire(5ms));
  const auto t0 = Clock::now();
  EXPECT_FALSE(s.acquire(500ms));
  expect_took(seconds_since(t0), 0.5);
}

// CPython test_threading.SemaphoreTests.test_with
TEST(Semaphore, NestedScopes) {
  Semaphore s(2);
  try {
    std::scoped_lock outer(s);
    EXPECT_EQ(s.value(), 1);
    {
      std::scoped_lock inner(s);
      EXPECT_FALSE(s.acquire(false));
      throw std::runtime_error("through both scopes");
    }
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(s.value(), 2);
}

// CPython test_threading.SemaphoreTests.test_release_unacquired
TEST(Semaphore, PlainReleaseWithoutAcquire) {
  Semaphore s(1);
  s.release();
  EXPECT_EQ(s.value(), 2);
}

// CPython test_threading.BoundedSemaphoreTests.test_release_unacquired
TEST(Semaphore, BoundedOverRelease) {
  BoundedSemaphore s(3);
  EXPECT_THROW(s.release(), concur::ValueError);
  s.acquire();
  s.release();
  EXPECT_THROW(s.release(), concur::ValueError);
  EXPECT_EQ(s.value(), 3);  // unchanged by the refused release
}

// CPython test_threading.ThreadTests.test_BoundedSemaphore_limit
TEST(Semaphore, BoundedLimitAcrossThreads) {
  for (int limit = 1; limit < 10; ++limit) {
    BoundedSemaphore s(limit);
    {
      Bunch takers(limit, [&](int) { EXPECT_TRUE(s.acquire(kBound)); });
    }
    {
      Bunch givers(limit, [&](int) { s.release(); });
    }
    EXPECT_THROW(s.release(), concur::ValueError) << "limit " << limit;
  }
}

// CPython test_threading.SemaphoreTests.test_repr, test_threading.BoundedSemaphoreTests.test_repr
TEST(Semaphore, Repr) {
  Semaphore s(3);
  EXPECT_NE(s.repr().find("value=3"), std::string::npos) << s.repr();
  s.acquire();
  EXPECT_NE(s.repr().find("value=2"), std::string::npos) << s.repr();
  BoundedSemaphore b(3);
  EXPECT_NE(b.repr().find("value=3/3"), std::string::npos) << b.repr();
  b.acquire();
  EXPECT_NE(b.repr().find("value=2/3"), std::string::npos) << b.repr();
}

}  // namespace
