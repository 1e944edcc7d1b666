// Implementation tests: Lock and RLock as C++ lock types, and under stress.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <type_traits>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
namespace th = concur::threading;

template <class L>
concept Lockable = requires(L l) {
  l.lock();
  l.unlock();
  { l.try_lock() } -> std::convertible_to<bool>;
};
template <class L>
concept TimedLockable = Lockable<L> && requires(L l) {
  { l.try_lock_for(std::chrono::milliseconds(1)) } -> std::convertible_to<bool>;
  { l.try_lock_until(std::chrono::steady_clock::now()) } -> std::convertible_to<bool>;
};

static_assert(TimedLockable<th::Lock>);
static_assert(TimedLockable<th::RLock>);
static_assert(Lockable<th::Condition>);
static_assert(Lockable<th::Semaphore>);
static_assert(Lockable<th::BoundedSemaphore>);
static_assert(!std::is_copy_constructible_v<th::Lock>);
static_assert(!std::is_move_constructible_v<th::RLock>);

TEST(Lock, WorksWithStdLockTools) {
  th::Lock a;
  th::RLock b;
  {
    std::scoped_lock both(a, b);  // std::lock's deadlock avoidance uses try_lock
    EXPECT_TRUE(a.locked());
    EXPECT_TRUE(b.is_owned());
  }
  EXPECT_FALSE(a.locked());
  EXPECT_FALSE(b.locked());
  std::unique_lock<th::Lock> ul(a, std::chrono::milliseconds(5));
  EXPECT_TRUE(ul.owns_lock());
  ul.unlock();
  EXPECT_TRUE(a.try_lock_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(5)));
  a.unlock();
}

TEST(Lock, ConditionVariableAny) {
  th::Lock lock;
  std::condition_variable_any cv;
  bool ready = false;
  th::Thread t([&] {
    std::scoped_lock g(lock);
    ready = true;
    cv.notify_one();
  });
  t.start();
  {
    std::unique_lock g(lock);
    EXPECT_TRUE(cv.wait_for(g, kBound, [&] { return ready; }));
  }
  ASSERT_TRUE(t.join(kBound));
}

TEST(Lock, MutualExclusionUnderStress) {
  for (int threads : {1, 2, 4, 8}) {
    th::Lock lock;
    long counter = 0;  // plain: the lock must protect it (TSan checks)
    constexpr int kIters = 20000;
    Bunch b(threads, [&](int) {
      for (int i = 0; i < kIters; ++i) {
        lock.acquire();
        ++counter;
        lock.release();
      }
    });
    b.join_all();
    EXPECT_EQ(counter, static_cast<long>(threads) * kIters) << threads << " threads";
  }
}

TEST(RLock, MutualExclusionWithRecursionUnderStress) {
  for (int threads : {2, 4, 8}) {
    th::RLock lock;
    long counter = 0;
    constexpr int kIters = 10000;
    Bunch b(threads, [&](int) {
      for (int i = 0; i < kIters; ++i) {
        std::scoped_lock outer(lock);
        std::scoped_lock inner(lock);
        ++counter;
      }
    });
    b.join_all();
    EXPECT_EQ(counter, static_cast<long>(threads) * kIters);
  }
}

TEST(Lock, TimedAcquireUnderContentionEventuallySucceeds) {
  th::Lock lock;
  std::atomic<int> got{0};
  Bunch b(4, [&](int) {
    for (int i = 0; i < 200; ++i) {
      while (!lock.acquire(std::chrono::microseconds(50))) {
      }
      ++got;
      lock.release();
    }
  });
  b.join_all();
  EXPECT_EQ(got.load(), 800);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, ZeroTimeoutPolls) {
  th::Lock lock;
  EXPECT_TRUE(lock.acquire(std::chrono::seconds(0)));
  const auto t0 = Clock::now();
  EXPECT_FALSE(lock.acquire(std::chrono::seconds(0)));
  EXPECT_LT(seconds_since(t0), 0.05);
  lock.release();
}

}  // namespace
