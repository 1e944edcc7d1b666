// Implementation tests: every concur lock (threading's and multiprocessing's Lock, RLock,
// Semaphore, BoundedSemaphore, Condition, whose acquire overloads and Lockable members come
// from concur/detail/lockable.hpp) works with std::scoped_lock, std::unique_lock (its
// timed constructors too) and std::condition_variable_any.
#include <gtest/gtest.h>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

#include "concur/multiprocessing/synchronize.hpp"
#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
namespace th = concur::threading;
namespace mp = concur::multiprocessing;

template <class L>
concept TimedLockable = requires(L l) {
  l.lock();
  l.unlock();
  { l.try_lock() } -> std::same_as<bool>;
  { l.try_lock_for(std::chrono::milliseconds(1)) } -> std::same_as<bool>;
  { l.try_lock_until(std::chrono::steady_clock::now()) } -> std::same_as<bool>;
  { l.try_lock_until(std::chrono::system_clock::now()) } -> std::same_as<bool>;
  { l.acquire() } -> std::same_as<bool>;
  { l.acquire(false) } -> std::same_as<bool>;
  { l.acquire(std::chrono::milliseconds(1)) } -> std::same_as<bool>;
  { l.acquire(true, std::chrono::milliseconds(1)) } -> std::same_as<bool>;
  l.release();
};

static_assert(TimedLockable<th::Lock>);
static_assert(TimedLockable<th::RLock>);
static_assert(TimedLockable<th::Semaphore>);
static_assert(TimedLockable<th::BoundedSemaphore>);
static_assert(TimedLockable<th::Condition>);
static_assert(TimedLockable<mp::Lock>);
static_assert(TimedLockable<mp::RLock>);
static_assert(TimedLockable<mp::Semaphore>);
static_assert(TimedLockable<mp::BoundedSemaphore>);
static_assert(TimedLockable<mp::Condition>);
// The fast paths that cannot throw stay noexcept.
static_assert(noexcept(std::declval<th::Lock&>().try_lock()));
static_assert(noexcept(std::declval<th::Semaphore&>().try_lock()));
// The adapter adds no state.
static_assert(sizeof(th::Lock) == sizeof(std::uint32_t));

// Whether another thread can take `l` now (without blocking).
template <class L>
bool free_for_another_thread(L& l) {
  bool got = false;
  std::thread t([&] {
    got = l.try_lock();
    if (got) l.unlock();
  });
  t.join();
  return got;
}

template <class L>
constexpr bool kIsThreading =
    std::is_same_v<L, th::Lock> || std::is_same_v<L, th::RLock> ||
    std::is_same_v<L, th::Semaphore> || std::is_same_v<L, th::BoundedSemaphore> ||
    std::is_same_v<L, th::Condition>;

template <class L>
class EveryLock : public ::testing::Test {
 protected:
  L lock_;
};
using Locks =
    ::testing::Types<th::Lock, th::RLock, th::Semaphore, th::BoundedSemaphore, th::Condition,
                     mp::Lock, mp::RLock, mp::Semaphore, mp::BoundedSemaphore, mp::Condition>;
TYPED_TEST_SUITE(EveryLock, Locks);

TYPED_TEST(EveryLock, ScopedLockHoldsItForTheScope) {
  auto& l = this->lock_;
  {
    std::scoped_lock g(l);
    EXPECT_FALSE(free_for_another_thread(l));
  }
  EXPECT_TRUE(free_for_another_thread(l));
  // Two at once: std::lock's deadlock avoidance goes through try_lock.
  TypeParam other;
  {
    std::scoped_lock both(l, other);
    EXPECT_FALSE(free_for_another_thread(l));
    EXPECT_FALSE(free_for_another_thread(other));
  }
  EXPECT_TRUE(free_for_another_thread(l));
  EXPECT_TRUE(free_for_another_thread(other));
}

TYPED_TEST(EveryLock, UniqueLockTimedConstructorsTimeOutWhileHeld) {
  auto& l = this->lock_;
  std::unique_lock<TypeParam> mine(l, std::chrono::milliseconds(5));
  ASSERT_TRUE(mine.owns_lock());
  bool for_owned = true;
  bool until_owned = true;
  double took = 0;
  std::thread t([&] {
    const auto start = Clock::now();
    std::unique_lock<TypeParam> a(l, std::chrono::milliseconds(50));
    for_owned = a.owns_lock();
    took = seconds_since(start);
    std::unique_lock<TypeParam> b(l, Clock::now() + std::chrono::milliseconds(1));
    until_owned = b.owns_lock();
  });
  t.join();
  EXPECT_FALSE(for_owned);
  EXPECT_FALSE(until_owned);
  expect_took(took, 0.050);
  mine.unlock();
  // Free again: a bounded wait takes it at once; a negative one is a try.
  EXPECT_TRUE(l.try_lock_for(kBound));
  l.unlock();
  EXPECT_TRUE(l.try_lock_for(std::chrono::milliseconds(-1)));
  l.unlock();
}

TYPED_TEST(EveryLock, ConditionVariableAnyWaitsWithIt) {
  auto& l = this->lock_;
  std::condition_variable_any cv;
  bool ready = false;
  std::thread t([&] {
    std::scoped_lock g(l);
    ready = true;
    cv.notify_one();
  });
  {
    std::unique_lock g(l);
    EXPECT_TRUE(cv.wait_for(g, kBound, [&] { return ready; }));
  }
  t.join();
  EXPECT_TRUE(free_for_another_thread(l));
}

// acquire(false, timeout): threading's rule (ValueError) and multiprocessing's (the timeout
// is ignored), each kept by its locks.
TYPED_TEST(EveryLock, NonBlockingAcquireWithATimeoutFollowsItsModule) {
  auto& l = this->lock_;
  if constexpr (kIsThreading<TypeParam>) {
    EXPECT_THROW(l.acquire(false, std::chrono::milliseconds(1)), concur::ValueError);
  } else {
    ASSERT_TRUE(l.acquire(false, std::chrono::milliseconds(1)));
    l.release();
  }
  // Without a bound it is acquire(false) in both.
  ASSERT_TRUE(l.acquire(false, concur::Timeout{}));
  l.release();
}

}  // namespace
