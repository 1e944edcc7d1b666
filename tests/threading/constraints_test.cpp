// What each constrained template of concur::threading accepts is exactly what it
// calls: Thread and Timer store decayed copies of the target and its arguments (made
// from what was passed) and call the target copy as an lvalue with the argument copies
// as rvalues; local<T>'s factory is called as an lvalue and may be move-only.
// Compile-time checks are static_asserts; the runtime tests would not compile before.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <type_traits>

#include "concur/threading.hpp"

namespace th = concur::threading;
using namespace std::chrono_literals;

namespace {

struct NotCallable {};
using TakesUnique = void (*)(std::unique_ptr<int>);
using TakesIntRef = void (*)(int&);

// An lvalue unique_ptr cannot be copied into the thread: rejected by the constraint
// (before, the constraint held and the copy failed inside bind_target).
static_assert(std::is_constructible_v<th::Thread, TakesUnique, std::unique_ptr<int>>);
static_assert(!std::is_constructible_v<th::Thread, TakesUnique, std::unique_ptr<int>&>);
static_assert(
    !std::is_constructible_v<th::Thread, th::ThreadOptions, TakesUnique, std::unique_ptr<int>&>);
static_assert(!std::is_constructible_v<th::Thread, TakesIntRef, int>);  // copies are rvalues
static_assert(!std::is_constructible_v<th::Thread, NotCallable>);

static_assert(
    std::is_constructible_v<th::Timer, concur::Timeout, TakesUnique, std::unique_ptr<int>>);
static_assert(
    !std::is_constructible_v<th::Timer, concur::Timeout, TakesUnique, std::unique_ptr<int>&>);
static_assert(!std::is_constructible_v<th::Timer, concur::Timeout, NotCallable>);

using MoveOnlyFactory = decltype([p = std::make_unique<int>(4)] { return *p; });
static_assert(std::is_constructible_v<th::local<int>, MoveOnlyFactory>);
static_assert(!std::is_constructible_v<th::local<int>, NotCallable>);

}  // namespace

TEST(Constraints, LocalAcceptsAMoveOnlyFactory) {
  th::local<int> value([p = std::make_unique<int>(4)] { return *p; });
  EXPECT_EQ(value.get(), 4);
  int other = 0;
  th::Thread t([&] { other = value.get() + 1; });
  t.start();
  ASSERT_TRUE(t.join(10s));
  EXPECT_EQ(other, 5);
}

TEST(Constraints, ThreadAndTimerMoveAMoveOnlyArgumentIn) {
  int seen = 0;
  th::Thread t([&](std::unique_ptr<int> p) { seen = *p; }, std::make_unique<int>(7));
  t.start();
  ASSERT_TRUE(t.join(10s));
  EXPECT_EQ(seen, 7);
  int fired = 0;
  th::Timer timer(
      1ms, [&](std::unique_ptr<int> p) { fired = *p; }, std::make_unique<int>(8));
  timer.start();
  ASSERT_TRUE(timer.join(10s));
  EXPECT_EQ(fired, 8);
}
