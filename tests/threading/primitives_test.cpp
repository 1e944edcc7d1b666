// Implementation tests: Condition, Semaphore, Event, Barrier and Timer beyond the conformance
// items: stress at 1, 2, 4, 8 threads, races between notification and timeout, and hand-offs.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
namespace th = concur::threading;

TEST(Condition, ProducerConsumerStress) {
  for (int consumers : {1, 2, 4, 8}) {
    th::Condition c;
    std::deque<int> q;
    bool done = false;
    long sum = 0;
    constexpr int kItems = 5000;
    Bunch b(consumers, [&](int) {
      for (;;) {
        std::scoped_lock g(c);
        if (!c.wait_for([&] { return !q.empty() || done; }, kBound)) return;
        if (q.empty()) return;  // done
        sum += q.front();
        q.pop_front();
      }
    });
    for (int i = 1; i <= kItems; ++i) {
      std::scoped_lock g(c);
      q.push_back(i);
      c.notify();
    }
    {
      std::scoped_lock g(c);
      done = true;
      c.notify_all();
    }
    b.join_all();
    EXPECT_EQ(sum, static_cast<long>(kItems) * (kItems + 1) / 2) << consumers << " consumers";
  }
}

TEST(Condition, WithPlainLockAndRLockHeldTwice) {
  th::RLock rl;
  th::Condition c(rl);
  bool flag = false;
  th::Thread t([&] {
    std::scoped_lock g(c);
    flag = true;
    c.notify();
  });
  {
    std::scoped_lock outer(rl);
    std::scoped_lock inner(rl);  // wait() gives up both levels, and restores both
    t.start();
    EXPECT_TRUE(c.wait_for([&] { return flag; }, kBound));
    EXPECT_EQ(rl.recursion_count(), 2u);
  }
  ASSERT_TRUE(t.join(kBound));
}

TEST(Condition, NotificationRacingTimeoutIsNeverLost) {
  // Waiters with tiny timeouts and a notifier: every notify() either wakes a
  // waiter that reports true, or finds nobody queued. Count both sides.
  th::Condition c;
  std::atomic<int> true_returns{0};
  std::atomic<bool> stop{false};
  int notified_total = 0;
  Bunch b(3, [&](int) {
    while (!stop.load()) {
      std::scoped_lock g(c);
      if (c.wait(std::chrono::microseconds(50))) ++true_returns;
    }
  });
  for (int i = 0; i < 2000; ++i) {
    std::scoped_lock g(c);
    // notify(1) wakes at most one; count what it could wake via repr's waiter count.
    const std::string r = c.repr();
    const bool someone = r.substr(r.rfind(", ") + 2) != "0)>";
    c.notify();
    if (someone) ++notified_total;
  }
  stop = true;
  {
    std::scoped_lock g(c);
    c.notify_all();
  }
  b.join_all();
  EXPECT_GE(true_returns.load(), notified_total);
}

// Sleeping waiters are moved to the lock's futex by notify() (wait morphing):
// every one of them must still get the lock, for both lock kinds, whether it
// was woken with notify_all, notify(n) one by one, or timed out meanwhile.
template <class L>
void all_sleepers_wake(bool all_at_once) {
  L lock;
  th::Condition c(lock);
  for (int round = 0; round < 10; ++round) {
    int waiting = 0, generation = 0;
    std::atomic<int> woke{0};
    Bunch b(8, [&](int i) {
      std::scoped_lock g(c);
      ++waiting;
      const int mine = generation;
      // Odd threads use short timeouts and re-wait: they race notify with timeouts.
      while (generation == mine) {  // NOLINT(bugprone-infinite-loop): changed under c by main
        if (i % 2)
          c.wait(std::chrono::milliseconds(1));
        else
          c.wait(kBound);
      }
      ++woke;
    });
    ASSERT_TRUE(eventually([&] {
      std::scoped_lock g(c);
      return waiting == 8;
    }));
    th::Event().wait(std::chrono::milliseconds(5));  // let them fall asleep
    {
      std::scoped_lock g(c);
      ++generation;
      if (all_at_once) {
        c.notify_all();
      } else {
        for (int k = 0; k < 8; ++k) c.notify(1);
      }
    }
    b.join_all();
    EXPECT_EQ(woke.load(), 8);
    EXPECT_FALSE(lock.locked());
  }
}

TEST(Condition, SleepersMovedToLockAllWakeLock) {
  all_sleepers_wake<th::Lock>(true);
  all_sleepers_wake<th::Lock>(false);
}

TEST(Condition, SleepersMovedToLockAllWakeRLock) {
  all_sleepers_wake<th::RLock>(true);
  all_sleepers_wake<th::RLock>(false);
}

TEST(Semaphore, StressNeverExceedsPermits) {
  for (int threads : {2, 4, 8}) {
    th::Semaphore s(2);
    std::atomic<int> inside{0}, max_inside{0};
    Bunch b(threads, [&](int) {
      for (int i = 0; i < 2000; ++i) {
        std::scoped_lock g(s);
        const int now = ++inside;
        int m = max_inside.load();
        while (now > m && !max_inside.compare_exchange_weak(m, now)) {
        }
        --inside;
      }
    });
    b.join_all();
    EXPECT_LE(max_inside.load(), 2);
    EXPECT_EQ(s.value(), 2);
  }
}

TEST(Semaphore, ReleaseManyWakesMany) {
  th::Semaphore s(0);
  std::atomic<int> got{0};
  Bunch b(6, [&](int) {
    if (s.acquire(kBound)) ++got;
  });
  s.release(6);
  b.join_all();
  EXPECT_EQ(got.load(), 6);
  EXPECT_EQ(s.value(), 0);
}

TEST(Event, PingPongManyRounds) {
  th::Event ping, pong;
  constexpr int kRounds = 2000;
  std::atomic<int> rounds{0};
  th::Thread other([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (!ping.wait(kBound)) return;
      ping.clear();
      ++rounds;
      pong.set();
    }
  });
  other.start();
  for (int i = 0; i < kRounds; ++i) {
    ping.set();
    ASSERT_TRUE(pong.wait(kBound));
    pong.clear();
  }
  ASSERT_TRUE(other.join(kBound));
  EXPECT_EQ(rounds.load(), kRounds);
}

TEST(Barrier, ManyRoundsAtSeveralSizes) {
  for (int parties : {1, 2, 4, 8}) {
    th::Barrier b(parties);
    std::atomic<int> zeros{0};
    Bunch threads(parties, [&](int) {
      for (int r = 0; r < 200; ++r)
        if (b.wait(kBound) == 0) ++zeros;
    });
    threads.join_all();
    EXPECT_EQ(zeros.load(), 200) << parties << " parties";
  }
}

TEST(Timer, FinishedEventAndRepr) {
  std::atomic<int> calls{0};
  th::Timer t(std::chrono::milliseconds(1), [&] { ++calls; });
  EXPECT_FALSE(t.finished().is_set());
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_TRUE(t.finished().is_set());
  EXPECT_EQ(calls.load(), 1);
  EXPECT_NE(t.repr().find("<Timer("), std::string::npos) << t.repr();
}

TEST(Timer, DestroyedWhileWaitingStillFiresUnlessCancelled) {
  th::Event fired;
  {
    th::Timer t(std::chrono::milliseconds(5), [&] { fired.set(); });
    t.start();
  }
  EXPECT_TRUE(fired.wait(kBound));
}

}  // namespace
