// Conformance: threading.Barrier (CPython's test_threading.BarrierTests, from
// Lib/test/lock_tests.py). Every test applies; test_repr's textual form is concur's repr()
// (Python's shape: "waiters=2/3", "broken").
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
using concur::BrokenBarrierError;
using concur::threading::Barrier;
using concur::threading::Event;

constexpr int N = 5;

// CPython test_threading.BarrierTests.test_constructor
TEST(Barrier, BadParties) {
  EXPECT_THROW(Barrier(0), concur::ValueError);
  EXPECT_THROW(Barrier(-1), concur::ValueError);
}

// CPython test_threading.BarrierTests.test_barrier, test_barrier_10
TEST(Barrier, AllPassTogetherForTenRounds) {
  Barrier b(N);
  std::atomic<int> arrived{0}, errors{0};
  Bunch threads(N, [&](int) {
    for (int round = 0; round < 10; ++round) {
      ++arrived;
      b.wait(kBound);
      // Everyone of this round has arrived before anyone passes.
      if (arrived.load() < (round + 1) * N) ++errors;
      b.wait(kBound);  // keep rounds apart
    }
  });
  threads.join_all();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(b.n_waiting(), 0);
  EXPECT_FALSE(b.broken());
  EXPECT_EQ(b.parties(), N);
}

// CPython test_threading.BarrierTests.test_wait_return,
// _test_multiprocessing._TestBarrier.test_wait_return
TEST(Barrier, ReturnValuesArePermutation) {
  Barrier b(N);
  std::mutex m;
  std::vector<int> got;
  Bunch threads(N, [&](int) {
    const int r = b.wait(kBound);
    std::scoped_lock g(m);
    got.push_back(r);
  });
  threads.join_all();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
}

// CPython test_threading.BarrierTests.test_action
TEST(Barrier, ActionRunsOncePerTripBeforeRelease) {
  std::atomic<int> actions{0}, errors{0};
  Barrier b(N, [&] { ++actions; });
  Bunch threads(N, [&](int) {
    for (int round = 1; round <= 3; ++round) {
      b.wait(kBound);
      if (actions.load() < round) ++errors;  // the action ran before the release
      b.wait(kBound);
    }
  });
  threads.join_all();
  EXPECT_EQ(actions.load(), 6);
  EXPECT_EQ(errors.load(), 0);
}

// CPython test_threading.BarrierTests.test_abort
TEST(Barrier, AbortBreaksWaiters) {
  Barrier b(N);
  std::atomic<int> broken{0}, passed_second{0};
  Bunch threads(N, [&](int i) {
    try {
      b.wait(kBound);
      if (i == N - 1) {
        // Wait until the others sit in their second wait, then abort.
        ASSERT_TRUE(eventually([&] { return b.n_waiting() == N - 1; }));
        b.abort();
        return;
      }
      b.wait(kBound);
      ++passed_second;
    } catch (const BrokenBarrierError&) {
      ++broken;
    }
  });
  threads.join_all();
  EXPECT_EQ(broken.load(), N - 1);
  EXPECT_EQ(passed_second.load(), 0);
  EXPECT_TRUE(b.broken());
}

// CPython test_threading.BarrierTests.test_reset
TEST(Barrier, ResetBreaksWaitersThenUsable) {
  Barrier b(N);
  std::atomic<int> broken{0}, passed_after{0};
  Barrier after(N);  // to line everyone up after the reset
  Bunch threads(N, [&](int i) {
    if (i == N - 1) {
      ASSERT_TRUE(eventually([&] { return b.n_waiting() == N - 1; }));
      b.reset();
    } else {
      try {
        b.wait(kBound);
      } catch (const BrokenBarrierError&) {
        ++broken;
      }
    }
    after.wait(kBound);
    b.wait(kBound);  // usable again by all N
    ++passed_after;
  });
  threads.join_all();
  EXPECT_EQ(broken.load(), N - 1);
  EXPECT_EQ(passed_after.load(), N);
}

// CPython test_threading.BarrierTests.test_abort_and_reset
TEST(Barrier, AbortThenResetWhenAllLeft) {
  Barrier b(N);
  Barrier line_up(N);
  std::atomic<int> broken{0}, passed{0};
  Bunch threads(N, [&](int i) {
    try {
      if (i == N - 1) {
        ASSERT_TRUE(eventually([&] { return b.n_waiting() == N - 1; }));
        b.abort();
      } else {
        b.wait(kBound);
      }
    } catch (const BrokenBarrierError&) {
      ++broken;
    }
    if (line_up.wait(kBound) == 0) b.reset();  // one thread resets once all left
    line_up.wait(kBound);
    b.wait(kBound);
    ++passed;
  });
  threads.join_all();
  EXPECT_EQ(broken.load(), N - 1);
  EXPECT_EQ(passed.load(), N);
  EXPECT_FALSE(b.broken());
}

// CPython test_threading.BarrierTests.test_timeout
TEST(Barrier, TimeoutBreaksForEveryone) {
  Barrier b(N);
  std::atomic<int> broken{0};
  Bunch threads(N, [&](int i) {
    try {
      if (i == N - 1) {
        // Late: arrive after the others' timeout broke the barrier.
        ASSERT_TRUE(eventually([&] { return b.broken(); }));
        b.wait(kBound);
      } else {
        b.wait(200ms);
      }
    } catch (const BrokenBarrierError&) {
      ++broken;
    }
  });
  threads.join_all();
  EXPECT_EQ(broken.load(), N);
}

// CPython test_threading.BarrierTests.test_default_timeout
TEST(Barrier, DefaultTimeout) {
  Barrier b(2, nullptr, 100ms);
  const auto t0 = Clock::now();
  EXPECT_THROW(b.wait(), BrokenBarrierError);
  expect_took(seconds_since(t0), 0.1);
}

// CPython test_threading.BarrierTests.test_single_thread
TEST(Barrier, SingleParty) {
  Barrier b(1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.wait(), 0);
}

// CPython test_threading.BarrierTests.test_repr
TEST(Barrier, NWaitingAndRepr) {
  Barrier b(3);
  std::atomic<int> broken{0};
  Bunch threads(2, [&](int) {
    try {
      b.wait(kBound);
    } catch (const BrokenBarrierError&) {
      ++broken;
    }
  });
  ASSERT_TRUE(eventually([&] { return b.n_waiting() == 2; }));
  EXPECT_NE(b.repr().find("waiters=2/3"), std::string::npos) << b.repr();
  b.abort();
  threads.join_all();
  EXPECT_NE(b.repr().find("broken"), std::string::npos) << b.repr();
  EXPECT_EQ(broken.load(), 2);
}

// CPython docs, Barrier.wait(): if the action raises, the barrier is put into the broken state
TEST(Barrier, ThrowingActionBreaksBarrier) {
  Barrier b(3, [] { throw std::runtime_error("action failed"); });
  std::atomic<int> broken{0}, action_error{0};
  Bunch threads(3, [&](int) {
    try {
      b.wait(kBound);
    } catch (const BrokenBarrierError&) {
      ++broken;
    } catch (const std::runtime_error&) {
      ++action_error;  // the thread that ran the action gets its exception
    }
  });
  threads.join_all();
  EXPECT_EQ(action_error.load(), 1);
  EXPECT_EQ(broken.load(), 2);
  EXPECT_TRUE(b.broken());
}

}  // namespace
