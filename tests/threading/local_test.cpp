// Implementation tests: local<T> (per-thread values, made on first use, destroyed with the thread
// or with the local, whichever first).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
namespace th = concur::threading;

struct Tracked {
  static inline std::atomic<int> alive{0};
  static inline std::atomic<int> made{0};
  int value = 0;
  Tracked() {
    ++alive;
    ++made;
  }
  explicit Tracked(int v) : Tracked() { value = v; }
  Tracked(const Tracked& o) : Tracked() { value = o.value; }
  Tracked& operator=(const Tracked&) = default;
  ~Tracked() { --alive; }
};

class Local : public ::testing::Test {
 protected:
  void SetUp() override {
    Tracked::alive = 0;
    Tracked::made = 0;
  }
};

TEST_F(Local, EachThreadSeesItsOwn) {
  th::local<Tracked> data;
  data->value = 1;
  std::atomic<int> seen_other{-1};
  th::Thread t([&] {
    seen_other = data->value;  // fresh: 0
    data->value = 2;
  });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_EQ(seen_other.load(), 0);
  EXPECT_EQ(data->value, 1);
  EXPECT_EQ(Tracked::made.load(), 2);
}

TEST_F(Local, DestroyedWhenThreadEndsBeforeJoinReturns) {
  th::local<Tracked> data;
  th::Thread t([&] { data->value = 5; });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_EQ(Tracked::alive.load(), 0);  // the thread's value died with it
}

TEST_F(Local, DestroyedWhenLocalDiesFirst) {
  th::Event made, release;
  auto data = std::make_unique<th::local<Tracked>>();
  th::Thread t([&] {
    (*data)->value = 7;
    made.set();
    release.wait(kBound);  // keeps running past the local's death; no more use of it
  });
  t.start();
  ASSERT_TRUE(made.wait(kBound));
  (*data)->value = 3;
  EXPECT_EQ(Tracked::alive.load(), 2);
  data.reset();
  EXPECT_EQ(Tracked::alive.load(), 0);  // both values died with the local
  release.set();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_EQ(Tracked::alive.load(), 0);
}

TEST_F(Local, FactoryAndForeignThreads) {
  th::local<Tracked> data([] { return Tracked(42); });
  int seen = 0;
  std::thread foreign([&] { seen = data->value; });
  foreign.join();
  EXPECT_EQ(seen, 42);
  EXPECT_EQ(Tracked::alive.load(), 0);  // std::thread: destroyed at its thread_local teardown
  EXPECT_EQ((*data).value, 42);
}

TEST_F(Local, ManyLocalsManyThreadsRacingDestruction) {
  for (int round = 0; round < 20; ++round) {
    auto a = std::make_unique<th::local<Tracked>>();
    auto b = std::make_unique<th::local<std::string>>();
    th::Barrier ready(5);
    Bunch bunch(4, [&](int i) {
      (*a)->value = i;
      **b = std::to_string(i);
      ready.wait(kBound);
    });
    ready.wait(kBound);
    // Threads end while (or after) the locals die: each value dies exactly once.
    a.reset();
    b.reset();
    bunch.join_all();
    EXPECT_EQ(Tracked::alive.load(), 0);
  }
}

TEST_F(Local, FactoryThrowsThenRetries) {
  int attempts = 0;
  th::local<Tracked> data([&] {
    if (++attempts == 1) throw concur::ValueError("first time");
    return Tracked(9);
  });
  EXPECT_THROW(data.get(), concur::ValueError);
  EXPECT_EQ(data->value, 9);
}

}  // namespace
