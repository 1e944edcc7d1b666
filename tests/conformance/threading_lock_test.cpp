// Conformance: threading.Lock and threading.RLock (CPython's test_threading.LockTests and
// PyRLockTests, from Lib/test/lock_tests.py).
//
// Tests that do not apply as written, and why:
// - test_threading.LockTests.test_timeout (part): a timeout above TIMEOUT_MAX is not an
//   OverflowError: a concur::Timeout clamps far-future bounds to TIMEOUT_MAX (tested below), and
//   "-1 means forever" is spelled by leaving the timeout out (a negative duration is a ValueError,
//   tested).
// - test_threading.LockTests.test_repr, PyRLockTests.test_repr_count (3.14+) (textual form):
//   Python's repr is repr(); the form checked is concur's "<locked concur.threading.Lock ...>",
//   which keeps Python's shape.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
using concur::threading::Event;
using concur::threading::Lock;
using concur::threading::RLock;
using concur::threading::Thread;

// CPython test_threading.LockTests.test_try_acquire, test_try_acquire_contended
TEST(Lock, TryAcquireFreeAndContended) {
  Lock lock;
  EXPECT_TRUE(lock.acquire(false));
  std::atomic<int> result{-1};
  Thread t([&] { result = lock.acquire(false) ? 1 : 0; });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_EQ(result.load(), 0);
  lock.release();
}

// CPython test_threading.LockTests.test_acquire_contended
TEST(Lock, AcquireContendedAllFinishAfterRelease) {
  Lock lock;
  lock.acquire();
  std::atomic<int> started{0}, finished{0};
  Bunch b(5, [&](int) {
    ++started;
    if (lock.acquire(kBound)) {
      ++finished;
      lock.release();
    }
  });
  ASSERT_TRUE(eventually([&] { return started == 5; }));
  Event().wait(50ms);  // give them time to (wrongly) get through
  EXPECT_EQ(finished.load(), 0);
  lock.release();
  b.join_all();
  EXPECT_EQ(finished.load(), 5);
}

// CPython test_threading.LockTests.test_reacquire
TEST(Lock, NotReentrant) {
  Lock lock;
  Event second_done;
  std::atomic<bool> got{false};
  Thread t([&] {
    lock.acquire();
    got = lock.acquire(kBound);  // blocks until main releases it
    second_done.set();
  });
  t.start();
  ASSERT_TRUE(eventually([&] { return lock.locked(); }));
  EXPECT_FALSE(second_done.wait(50ms));
  lock.release();  // another thread releases: the second acquire goes through
  ASSERT_TRUE(second_done.wait(kBound));
  EXPECT_TRUE(got.load());
  ASSERT_TRUE(t.join(kBound));
  lock.release();
}

// CPython test_threading.LockTests.test_different_thread
TEST(Lock, ReleasedByAnotherThread) {
  Lock lock;
  Thread a([&] { lock.acquire(); });
  a.start();
  ASSERT_TRUE(a.join(kBound));
  Thread b([&] { lock.release(); });
  b.start();
  ASSERT_TRUE(b.join(kBound));
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

// CPython test_threading.LockTests.test_timeout
TEST(Lock, TimeoutArgumentRules) {
  Lock lock;
  EXPECT_THROW(lock.acquire(false, 1s), concur::ValueError);
  EXPECT_THROW(lock.acquire(true, -1ms), concur::ValueError);
  EXPECT_THROW(lock.acquire(std::chrono::duration<double>(-0.5)), concur::ValueError);
  EXPECT_TRUE(lock.acquire(concur::threading::TIMEOUT_MAX));  // accepted
  lock.release();
  EXPECT_TRUE(lock.acquire(std::chrono::hours(24 * 365 * 1000)));  // clamped, not an error
  lock.release();
  EXPECT_TRUE(lock.acquire(false, concur::forever));
  lock.release();
}

// Shared by Lock and RLock (test_threading.LockTests.test_timeout, PyRLockTests.test_timeout):
// `lock` is held by this thread; another thread's acquire(500ms) times out within the tolerance,
// then after release an acquire succeeds at once.
template <class L>
void check_timed_acquire_of_held(L& lock) {
  std::atomic<bool> got{true};
  std::atomic<double> took{0};
  Thread t([&] {
    const auto t0 = Clock::now();
    got = lock.acquire(500ms);
    took = seconds_since(t0);
  });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_FALSE(got.load());
  expect_took(took.load(), 0.5);
  lock.release();
  const auto t0 = Clock::now();
  EXPECT_TRUE(lock.acquire(5s));
  EXPECT_LT(seconds_since(t0), 1.0);
  lock.release();
}

// CPython test_threading.LockTests.test_timeout
TEST(Lock, TimedAcquire) {
  Lock lock;
  lock.acquire();
  check_timed_acquire_of_held(lock);
}

// CPython test_threading.LockTests.test_state_after_timeout
TEST(Lock, StateAfterTimeout) {
  Lock lock;
  lock.acquire();
  Thread t([&] { EXPECT_FALSE(lock.acquire(10ms)); });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  lock.release();
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

// CPython test_threading.ThreadingExceptionTests.test_releasing_unacquired_lock
TEST(Lock, ReleaseUnlockedIsRuntimeError) {
  Lock lock;
  EXPECT_THROW(lock.release(), concur::RuntimeError);
  lock.acquire();
  lock.release();
  EXPECT_THROW(lock.release(), concur::RuntimeError);
  EXPECT_FALSE(lock.locked());
}

// CPython test_threading.LockTests.test_with
TEST(Lock, ScopedUseReleasesOnExitAndThrow) {
  Lock lock;
  {
    std::scoped_lock g(lock);
    EXPECT_TRUE(lock.locked());
  }
  EXPECT_FALSE(lock.locked());
  try {
    std::scoped_lock g(lock);
    throw std::runtime_error("body");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(lock.locked());
}

// CPython test_threading.LockTests.test_repr, test_locked_repr
TEST(Lock, Repr) {
  Lock lock;
  EXPECT_EQ(lock.repr().rfind("<unlocked", 0), 0u) << lock.repr();
  lock.acquire();
  EXPECT_EQ(lock.repr().rfind("<locked", 0), 0u) << lock.repr();
  lock.release();
}

// CPython test_threading.PyRLockTests.test_reacquire
TEST(RLock, Reacquire) {
  RLock lock;
  lock.acquire();
  lock.acquire();
  lock.acquire();
  lock.release();
  lock.release();
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
}

// CPython test_threading.PyRLockTests.test_release_unacquired
TEST(RLock, ReleaseUnacquired) {
  RLock lock;
  EXPECT_THROW(lock.release(), concur::RuntimeError);
  lock.acquire();
  lock.acquire();
  lock.release();
  lock.release();
  EXPECT_THROW(lock.release(), concur::RuntimeError);
}

// CPython test_threading.PyRLockTests.test_different_thread
TEST(RLock, ReleaseFromAnotherThread) {
  RLock lock;
  Event held, done;
  Thread b([&] {
    lock.acquire();
    held.set();
    done.wait(kBound);
    lock.release();
  });
  b.start();
  ASSERT_TRUE(held.wait(kBound));
  EXPECT_THROW(lock.release(), concur::RuntimeError);
  done.set();
  ASSERT_TRUE(b.join(kBound));
}

// CPython test_threading.PyRLockTests.test__is_owned
TEST(RLock, IsOwned) {
  RLock lock;
  EXPECT_FALSE(lock.is_owned());
  lock.acquire();
  EXPECT_TRUE(lock.is_owned());
  lock.acquire();
  EXPECT_TRUE(lock.is_owned());
  std::atomic<bool> other_sees{true};
  Thread t([&] { other_sees = lock.is_owned(); });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_FALSE(other_sees.load());
  lock.release();
  EXPECT_TRUE(lock.is_owned());
  lock.release();
  EXPECT_FALSE(lock.is_owned());
}

// CPython test_threading.PyRLockTests.test_recursion_count
TEST(RLock, RecursionCount) {
  RLock lock;
  EXPECT_EQ(lock.recursion_count(), 0u);
  lock.acquire();
  EXPECT_EQ(lock.recursion_count(), 1u);
  lock.acquire();
  lock.acquire();
  EXPECT_EQ(lock.recursion_count(), 3u);
  lock.release();
  EXPECT_EQ(lock.recursion_count(), 2u);
  lock.release();
  lock.release();
  EXPECT_EQ(lock.recursion_count(), 0u);

  Event held, done;
  Thread t([&] {
    lock.acquire();
    held.set();
    done.wait(kBound);
    lock.release();
  });
  t.start();
  ASSERT_TRUE(held.wait(kBound));
  EXPECT_EQ(lock.recursion_count(), 0u);
  done.set();
  ASSERT_TRUE(t.join(kBound));
}

// CPython 3.14+ test_threading.PyRLockTests.test_locked, test_locked_with_2threads, test_repr_count
TEST(RLock, LockedForEveryObserverAndReprCount) {
  RLock lock;
  EXPECT_FALSE(lock.locked());
  lock.acquire();
  lock.acquire();
  EXPECT_NE(lock.repr().find("count=2"), std::string::npos) << lock.repr();
  std::atomic<bool> seen{false};
  Thread t([&] { seen = lock.locked(); });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_TRUE(seen.load());
  lock.release();
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
  EXPECT_EQ(lock.repr().rfind("<unlocked", 0), 0u);
}

// CPython test_threading.PyRLockTests.test_timeout
TEST(RLock, TimeoutRules) {
  RLock lock;
  EXPECT_THROW(lock.acquire(false, 1s), concur::ValueError);
  EXPECT_THROW(lock.acquire(-1ms), concur::ValueError);
  EXPECT_TRUE(lock.acquire(concur::threading::TIMEOUT_MAX));
  check_timed_acquire_of_held(lock);
}

}  // namespace
