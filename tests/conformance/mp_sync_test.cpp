// Conformance: Python's multiprocessing synchronisation primitives across processes (CPython's
// _test_multiprocessing._TestLock, _TestSemaphore, _TestCondition, _TestEvent, _TestBarrier).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "support/mp_process_child.hpp"
#include "support/timing.hpp"

namespace mp = concur::multiprocessing;
using concur::testing::expect_took;
using concur::testing::ProcessChild;
using concur::testing::seconds_since;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// A waiter as in _TestCondition.f: takes the lock, says it sleeps, waits, says it woke.
void condition_waiter(mp::Condition cond, mp::Semaphore sleeping, mp::Semaphore woken,
                      concur::Timeout timeout) {
  cond.acquire();
  sleeping.release();
  cond.wait(timeout);
  woken.release();
  cond.release();
}

// `n` waiters: half processes (forked first), half threads of this process.
struct MixedWaiters {
  std::vector<std::unique_ptr<ProcessChild>> procs;
  std::vector<std::thread> threads;
  void start(int n_procs, int n_threads, const mp::Condition& cond, const mp::Semaphore& sleeping,
             const mp::Semaphore& woken, concur::Timeout timeout) {
    for (int i = 0; i < n_procs; ++i)
      procs.push_back(std::make_unique<ProcessChild>([=] {
        condition_waiter(cond, sleeping, woken, timeout);
        return 0;
      }));
    for (int i = 0; i < n_threads; ++i)
      threads.emplace_back([=] { condition_waiter(cond, sleeping, woken, timeout); });
  }
  void join() {
    for (auto& t : threads) t.join();
    for (auto& p : procs) EXPECT_EQ(p->join(), 0);
    threads.clear();
    procs.clear();
  }
};

// Every waiter that said it sleeps is inside wait() once we hold the lock.
void all_asleep(mp::Condition& cond, mp::Semaphore& sleeping, int n) {
  for (int i = 0; i < n; ++i) ASSERT_TRUE(sleeping.acquire(20s));
  cond.acquire();
  cond.release();
}

}  // namespace

// CPython _test_multiprocessing._TestLock.test_lock, test_rlock: Lock acquire True, second
// acquire(False) False, release returns nothing, releasing an unlocked Lock raises (ValueError).
TEST(Lock, LockAcquireReleaseAndReleaseUnlocked) {
  mp::Lock lock;
  EXPECT_TRUE(lock.acquire());
  EXPECT_FALSE(lock.acquire(false));
  static_assert(std::is_void_v<decltype(lock.release())>);
  lock.release();
  EXPECT_THROW(lock.release(), concur::ValueError);
  // ... and across processes: held by a child, the parent cannot take it.
  mp::Event held, done;
  ProcessChild child([&] {
    lock.acquire();
    held.set();
    done.wait(20s);
    lock.release();
    return 0;
  });
  ASSERT_TRUE(held.wait(20s));
  EXPECT_FALSE(lock.acquire(false));
  done.set();
  EXPECT_TRUE(lock.acquire(20s));
  lock.release();
  EXPECT_EQ(child.join(), 0);
}

// CPython _test_multiprocessing._TestLock.test_lock, test_rlock: an RLock acquired 3 times takes 3
// releases; a 4th raises.
TEST(RLock, RLockThreeAcquiresThreeReleasesFourthRaises) {
  mp::RLock lock;
  EXPECT_TRUE(lock.acquire());
  EXPECT_TRUE(lock.acquire());
  EXPECT_TRUE(lock.acquire());
  lock.release();
  lock.release();
  lock.release();
  EXPECT_THROW(lock.release(), concur::RuntimeError);
}

// CPython _test_multiprocessing._TestSemaphore.test_semaphore, test_timeout: Semaphore(2) reads 2,
// 1, 0; acquire(False) at 0 is False; releases go above the initial value (3, 4).
TEST(Semaphore, ValueAndReleasesAboveInitial) {
  mp::Semaphore sem(2);
  EXPECT_EQ(sem.get_value(), 2);
  EXPECT_TRUE(sem.acquire());
  EXPECT_EQ(sem.get_value(), 1);
  EXPECT_TRUE(sem.acquire());
  EXPECT_EQ(sem.get_value(), 0);
  EXPECT_FALSE(sem.acquire(false));
  EXPECT_EQ(sem.get_value(), 0);
  sem.release();
  EXPECT_EQ(sem.get_value(), 1);
  sem.release();
  EXPECT_EQ(sem.get_value(), 2);
  sem.release();
  EXPECT_EQ(sem.get_value(), 3);
  sem.release();
  EXPECT_EQ(sem.get_value(), 4);
}

// CPython _test_multiprocessing._TestSemaphore.test_semaphore, test_timeout: on Semaphore(0),
// acquire(False, T) is False at once (timeout ignored); acquire(True, T) and acquire(timeout=T) are
// False after about T.
TEST(Semaphore, Timeouts) {
  mp::Semaphore sem(0);
  auto t0 = Clock::now();
  EXPECT_FALSE(sem.acquire(false, 1s));
  EXPECT_LT(seconds_since(t0), 0.5);
  t0 = Clock::now();
  EXPECT_FALSE(sem.acquire(true, 200ms));
  expect_took(seconds_since(t0), 0.2);
  t0 = Clock::now();
  EXPECT_FALSE(sem.acquire(200ms));
  expect_took(seconds_since(t0), 0.2);
  // A release from a child ends a parent's wait.
  ProcessChild child([&] {
    sem.release();
    return 0;
  });
  EXPECT_TRUE(sem.acquire(20s));
  EXPECT_EQ(child.join(), 0);
}

// CPython _test_multiprocessing._TestCondition.test_notify, test_notify_all, test_notify_n: one
// process waiter and one thread waiter; each notify() wakes one.
TEST(Condition, NotifyWakesOneMixedWaiterEach) {
  mp::Condition cond;
  mp::Semaphore sleeping(0), woken(0);
  MixedWaiters w;
  w.start(1, 1, cond, sleeping, woken, concur::Timeout(20s));
  all_asleep(cond, sleeping, 2);
  EXPECT_EQ(woken.get_value(), 0);
  for (int round = 1; round <= 2; ++round) {
    cond.acquire();
    cond.notify();
    cond.release();
    EXPECT_TRUE(woken.acquire(20s));
    EXPECT_FALSE(woken.acquire(50ms)) << "notify() woke more than one waiter";
  }
  w.join();
}

// CPython _test_multiprocessing._TestCondition.test_notify, test_notify_all, test_notify_n: 6 mixed
// waiters that time out leave no stale count; then notify_all() wakes all 6 mixed waiters.
TEST(Condition, NotifyAllAndNoStaleCountAfterTimeouts) {
  mp::Condition cond;
  mp::Semaphore sleeping(0), woken(0);
  MixedWaiters w;
  w.start(3, 3, cond, sleeping, woken, concur::Timeout(50ms));
  all_asleep(cond, sleeping, 6);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(woken.acquire(20s));  // all timed out
  w.join();
  cond.acquire();
  EXPECT_EQ(cond.repr().substr(cond.repr().size() - 5), ", 0)>") << cond.repr();
  cond.release();

  w.start(3, 3, cond, sleeping, woken, concur::Timeout(20s));
  all_asleep(cond, sleeping, 6);
  EXPECT_EQ(woken.get_value(), 0);
  cond.acquire();
  cond.notify_all();
  cond.release();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(woken.acquire(20s));
  EXPECT_FALSE(woken.acquire(50ms));
  w.join();
}

// CPython _test_multiprocessing._TestCondition.test_notify, test_notify_all, test_notify_n (the
// same contract for threads): notify(n=2) then notify(n=4) wake exactly 2, then 4; notify(n) with
// fewer waiters wakes them all.
TEST(Condition, NotifyNWakesExactlyN) {
  mp::Condition cond;
  mp::Semaphore sleeping(0), woken(0);
  MixedWaiters w;
  w.start(4, 3, cond, sleeping, woken, concur::Timeout(20s));
  all_asleep(cond, sleeping, 7);
  cond.acquire();
  cond.notify(2);
  cond.release();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(woken.acquire(20s));
  EXPECT_FALSE(woken.acquire(50ms));
  cond.acquire();
  cond.notify(4);
  cond.release();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(woken.acquire(20s));
  EXPECT_FALSE(woken.acquire(50ms));
  cond.acquire();
  cond.notify(10);  // one left
  cond.release();
  ASSERT_TRUE(woken.acquire(20s));
  w.join();
}

// CPython _test_multiprocessing._TestCondition.test_wait_result, test_timeout, test_waitfor,
// test_waitfor_timeout: wait(0) and wait(0.1) are False; a notify() from a child process makes
// wait(60) True.
TEST(Condition, WaitResultAndTimeout) {
  mp::Condition cond;
  std::scoped_lock g(cond);
  EXPECT_FALSE(cond.wait(0s));
  const auto t0 = Clock::now();
  EXPECT_FALSE(cond.wait(100ms));
  expect_took(seconds_since(t0), 0.1);
  mp::Event started;
  ProcessChild child([&] {
    started.wait(20s);
    std::scoped_lock cg(cond);  // blocks until the parent is inside wait()
    cond.notify();
    return 0;
  });
  started.set();
  EXPECT_TRUE(cond.wait(60s));
  EXPECT_EQ(child.join(), 0);
}

// CPython _test_multiprocessing._TestCondition.test_wait_result, test_timeout, test_waitfor,
// test_waitfor_timeout: wait_for across processes with a shared Value, and its timeout.
TEST(Condition, WaitForWithASharedValue) {
  mp::Condition cond;
  mp::Value<int> state(0);
  ProcessChild child([&] {
    for (int i = 0; i < 4; ++i) {
      std::scoped_lock g(cond);
      state.set(state.value() + 1);
      cond.notify();
    }
    return 0;
  });
  {
    std::scoped_lock g(cond);
    EXPECT_TRUE(cond.wait_for([&] { return state.value() == 4; }, 20s));
    EXPECT_EQ(state.value(), 4);
  }
  EXPECT_EQ(child.join(), 0);
  std::scoped_lock g(cond);
  const auto t0 = Clock::now();
  EXPECT_FALSE(cond.wait_for([&] { return state.value() == 5; }, 100ms));
  expect_took(seconds_since(t0), 0.1);
}

// CPython _test_multiprocessing._TestEvent.test_event: wait(0) False at once, wait(T) False after
// about T; after set(), wait() and wait(T) True at once; a set() from a child wakes a parent
// blocked in wait().
TEST(Event, EventAcrossProcesses) {
  mp::Event event;
  auto t0 = Clock::now();
  EXPECT_FALSE(event.wait(0s));
  EXPECT_LT(seconds_since(t0), 0.5);
  t0 = Clock::now();
  EXPECT_FALSE(event.wait(200ms));
  expect_took(seconds_since(t0), 0.2);
  EXPECT_FALSE(event.is_set());
  event.set();
  EXPECT_TRUE(event.is_set());
  EXPECT_TRUE(event.wait());
  t0 = Clock::now();
  EXPECT_TRUE(event.wait(200ms));
  EXPECT_LT(seconds_since(t0), 0.1);
  event.clear();
  EXPECT_FALSE(event.is_set());
  mp::Event started;
  ProcessChild child([&] {
    started.wait(20s);
    event.set();
    return 0;
  });
  started.set();
  EXPECT_TRUE(event.wait());  // no bound: the test's own bound is the CTest timeout
  EXPECT_EQ(child.join(), 0);
}

namespace {
constexpr int kParties = 5;
}  // namespace

// CPython _test_multiprocessing._TestBarrier.test_barrier, test_barrier_10, test_wait_return:
// Barrier(5) shared by 5 processes; the wait() return values are a permutation of 0..4 in every
// round, for 10 rounds; afterwards n_waiting 0, not broken, parties 5.
TEST(Barrier, FiveProcessesWaitReturnsAPermutation) {
  mp::Barrier b(kParties);
  mp::Array<int> indices(std::size_t{kParties} * 10);
  std::vector<std::unique_ptr<ProcessChild>> kids;
  for (int p = 1; p < kParties; ++p)
    kids.push_back(std::make_unique<ProcessChild>([&, p] {
      for (int r = 0; r < 10; ++r) indices.set(std::ptrdiff_t{r} * kParties + p, b.wait(20s));
      return 0;
    }));
  for (int r = 0; r < 10; ++r) indices.set(std::ptrdiff_t{r} * kParties, b.wait(20s));
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  for (int r = 0; r < 10; ++r) {
    auto round = indices.slice(std::ptrdiff_t{r} * kParties, std::ptrdiff_t{r + 1} * kParties);
    std::sort(round.begin(), round.end());
    EXPECT_EQ(round, (std::vector<int>{0, 1, 2, 3, 4})) << "round " << r;
  }
  EXPECT_EQ(b.n_waiting(), 0);
  EXPECT_FALSE(b.broken());
  EXPECT_EQ(b.parties(), kParties);
}

namespace {
mp::Value<int>* g_action_count = nullptr;
}  // namespace

// CPython _test_multiprocessing._TestBarrier.test_action: the action runs exactly once per trip,
// before anyone leaves.
TEST(Barrier, ActionOncePerTrip) {
  mp::Value<int> count(0);
  g_action_count = &count;
  mp::Barrier b(3, [] { g_action_count->set(g_action_count->value() + 1); });
  std::vector<std::unique_ptr<ProcessChild>> kids;
  for (int p = 1; p < 3; ++p)
    kids.push_back(std::make_unique<ProcessChild>([&] {
      // Round r+1 cannot trip without this party: right after round r, count is r.
      for (int r = 1; r <= 5; ++r) {
        b.wait(20s);
        if (count.value() != r) return 1;  // the action ran before anyone was released
      }
      return 0;
    }));
  for (int r = 1; r <= 5; ++r) {
    b.wait(20s);
    EXPECT_EQ(count.value(), r);
  }
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_EQ(count.value(), 5);
  g_action_count = nullptr;
}

// CPython _test_multiprocessing._TestBarrier.test_abort: one party's abort() while the others are
// in their second wait(): all others get BrokenBarrierError, broken() is true.
// (test_threading.BarrierTests.test_abort_and_reset) reset() after everyone left makes it usable
// again.
TEST(Barrier, AbortThenReset) {
  mp::Barrier b(3);
  mp::Value<int> broken_seen(0);
  std::vector<std::unique_ptr<ProcessChild>> kids;
  for (int p = 1; p < 3; ++p)
    kids.push_back(std::make_unique<ProcessChild>([&] {
      b.wait(20s);
      try {
        b.wait(20s);
      } catch (const concur::BrokenBarrierError&) {
        std::scoped_lock g(broken_seen.get_lock());
        broken_seen.get_obj() += 1;
      }
      return 0;
    }));
  b.wait(20s);
  while (b.n_waiting() < 2) std::this_thread::yield();  // both in their second wait()
  b.abort();
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_EQ(broken_seen.value(), 2);
  EXPECT_TRUE(b.broken());
  EXPECT_THROW(b.wait(1s), concur::BrokenBarrierError);
  b.reset();
  EXPECT_FALSE(b.broken());
  ProcessChild a([&] { return b.wait(20s) >= 0 ? 0 : 1; });
  ProcessChild c([&] { return b.wait(20s) >= 0 ? 0 : 1; });
  EXPECT_GE(b.wait(20s), 0);
  EXPECT_EQ(a.join(), 0);
  EXPECT_EQ(c.join(), 0);
}

// CPython _test_multiprocessing._TestBarrier.test_reset: reset() from the Nth party while N-1 wait
// makes them all get BrokenBarrierError; then all N pass again.
TEST(Barrier, ResetFailsTheWaitersThenItPassesAgain) {
  mp::Barrier b(3);
  std::vector<std::unique_ptr<ProcessChild>> kids;
  for (int p = 1; p < 3; ++p)
    kids.push_back(std::make_unique<ProcessChild>([&] {
      try {
        b.wait(20s);
        return 1;
      } catch (const concur::BrokenBarrierError&) {
      }
      return b.wait(20s) >= 0 ? 0 : 2;
    }));
  while (b.n_waiting() < 2) std::this_thread::yield();
  b.reset();
  EXPECT_FALSE(b.broken());
  while (b.n_waiting() < 2) std::this_thread::yield();  // back for the second round
  EXPECT_GE(b.wait(20s), 0);
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
}

// CPython _test_multiprocessing._TestBarrier.test_timeout, test_default_timeout: a wait(timeout)
// that is never matched raises BrokenBarrierError and breaks the barrier for the late party too;
// the barrier's default timeout applies to wait() without one.
TEST(Barrier, TimeoutsBreakIt) {
  mp::Barrier b(2);
  ProcessChild child([&] {
    try {
      b.wait(100ms);
    } catch (const concur::BrokenBarrierError&) {
      return 0;
    }
    return 1;
  });
  EXPECT_EQ(child.join(), 0);
  EXPECT_TRUE(b.broken());
  EXPECT_THROW(b.wait(1s), concur::BrokenBarrierError);  // the late party

  mp::Barrier d(2, concur::Timeout(100ms));
  const auto t0 = Clock::now();
  EXPECT_THROW(d.wait(), concur::BrokenBarrierError);
  expect_took(seconds_since(t0), 0.1);
}

// CPython _test_multiprocessing._TestBarrier.test_single_thread, test_repr: Barrier(1) never
// blocks; n_waiting counts parties of other processes.
TEST(Barrier, SinglePartyAndNWaiting) {
  mp::Barrier one(1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(one.wait(), 0);
  mp::Barrier b(3);
  ProcessChild c1([&] { return b.wait(20s) >= 0 ? 0 : 1; });
  ProcessChild c2([&] { return b.wait(20s) >= 0 ? 0 : 1; });
  while (b.n_waiting() < 2) std::this_thread::yield();
  EXPECT_EQ(b.n_waiting(), 2);
  EXPECT_EQ(b.repr(), "<Barrier: waiters=2/3>");
  b.wait(20s);
  EXPECT_EQ(c1.join(), 0);
  EXPECT_EQ(c2.join(), 0);
}

// CPython docs, threading.Barrier.wait(): if the action raises, the barrier is put into the broken
// state (multiprocessing.Barrier is a clone of threading.Barrier): an action that throws breaks the
// barrier: the last arrival (in whichever process) gets the action's exception, the other parties
// BrokenBarrierError.
TEST(Barrier, ThrowingActionBreaksIt) {
  mp::Barrier b(3, [] { throw concur::ValueError("the action failed"); });
  mp::Value<int> value_errors(0), broken_errors(0);
  auto party = [&] {
    try {
      b.wait(20s);
    } catch (const concur::ValueError&) {
      std::scoped_lock g(value_errors.get_lock());
      ++value_errors.get_obj();
    } catch (const concur::BrokenBarrierError&) {
      std::scoped_lock g(broken_errors.get_lock());
      ++broken_errors.get_obj();
    }
    return 0;
  };
  ProcessChild c1(party);
  ProcessChild c2(party);
  party();
  EXPECT_EQ(c1.join(), 0);
  EXPECT_EQ(c2.join(), 0);
  EXPECT_EQ(value_errors.value(), 1);
  EXPECT_EQ(broken_errors.value(), 2);
  EXPECT_TRUE(b.broken());
}

// CPython _test_multiprocessing._TestBarrier.test_thousand: 1000 consecutive passes keep lockstep
// order: every party logs i after its i-th wait(); all i's come before any i+1.
TEST(Barrier, ThousandPassesInLockstep) {
  constexpr int kPasses = 1000;
  constexpr int kN = 3;
  mp::Barrier b(kN);
  mp::Array<int> log(std::size_t{kPasses} * kN);
  mp::Value<int> next(0);
  auto party = [&] {
    for (int i = 0; i < kPasses; ++i) {
      b.wait(20s);
      std::scoped_lock g(next.get_lock());
      log[static_cast<std::size_t>(next.get_obj()++)] = i;
    }
  };
  std::vector<std::unique_ptr<ProcessChild>> kids;
  for (int p = 1; p < kN; ++p)
    kids.push_back(std::make_unique<ProcessChild>([&] {
      party();
      return 0;
    }));
  party();
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  ASSERT_EQ(next.value(), kPasses * kN);
  for (int k = 0; k < kPasses * kN; ++k) ASSERT_EQ(log.get(k), k / kN) << "at " << k;
}

// ---- passed as Process arguments under spawn and forkserver (their fds cross) --------------

class SyncAcrossProcesses : public ::testing::TestWithParam<const char*> {
 protected:
  [[nodiscard]] const mp::Context& ctx() const { return mp::get_context(GetParam()); }
  static void join_ok(mp::Process& p) {
    ASSERT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), 0);
  }
};

// CPython _test_multiprocessing._TestLock.test_lock, test_rlock: a Lock and an RLock passed to a
// child: held there, refused here.
TEST_P(SyncAcrossProcesses, LockAndRLockAsProcessArguments) {
  mp::Lock lock;
  mp::RLock rlock;
  mp::Event held, go;
  auto p = ctx().Process(
      [](mp::Lock l, mp::RLock r, mp::Event h, mp::Event g) {
        l.acquire();
        r.acquire();
        r.acquire();
        h.set();
        if (!g.wait(20s)) mp::exit(2);
        r.release();
        r.release();
        l.release();
        try {
          l.release();
          mp::exit(3);
        } catch (const concur::ValueError&) {
        }
      },
      lock, rlock, held, go);
  p.start();
  ASSERT_TRUE(held.wait(20s));
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(lock.acquire(false));
  EXPECT_FALSE(rlock.acquire(false));
  go.set();
  join_ok(p);
  EXPECT_TRUE(lock.acquire(false));
  EXPECT_TRUE(rlock.acquire(false));
  lock.release();
  rlock.release();
}

// CPython _test_multiprocessing._TestSemaphore.test_semaphore, test_timeout: a Semaphore passed to
// a child: its releases raise the value here.
TEST_P(SyncAcrossProcesses, SemaphoreAsProcessArgument) {
  mp::Semaphore sem(0);
  mp::BoundedSemaphore bounded(1);
  bounded.acquire();
  auto p = ctx().Process(
      [](mp::Semaphore s, mp::BoundedSemaphore b) {
        s.release();
        s.release();
        b.release();
        try {
          b.release();
          mp::exit(2);
        } catch (const concur::ValueError&) {
        }
      },
      sem, bounded);
  p.start();
  join_ok(p);
  EXPECT_EQ(sem.get_value(), 2);
  EXPECT_EQ(bounded.get_value(), 1);
}

// CPython _test_multiprocessing._TestCondition.test_wait_result, test_timeout, test_waitfor,
// test_waitfor_timeout: a Condition (and a Value for its state) passed to a child: its notify()
// ends the parent's wait_for.
TEST_P(SyncAcrossProcesses, ConditionAsProcessArgument) {
  mp::Condition cond;
  mp::Value<int> state(0);
  auto p = ctx().Process(
      [](mp::Condition c, mp::Value<int> v) {
        for (int i = 0; i < 3; ++i) {
          std::scoped_lock g(c);
          v.set(v.value() + 1);
          c.notify();
        }
      },
      cond, state);
  {
    std::scoped_lock g(cond);
    p.start();
    EXPECT_TRUE(cond.wait_for([&] { return state.value() == 3; }, 20s));
  }
  join_ok(p);
}

// CPython _test_multiprocessing._TestEvent.test_event: an Event passed to a child: its set() wakes
// the parent.
TEST_P(SyncAcrossProcesses, EventAsProcessArgument) {
  mp::Event ping, pong;
  auto p = ctx().Process(
      [](mp::Event in, mp::Event out) {
        if (!in.wait(20s)) mp::exit(2);
        out.set();
      },
      ping, pong);
  p.start();
  EXPECT_FALSE(pong.wait(0s));
  ping.set();
  EXPECT_TRUE(pong.wait(20s));
  join_ok(p);
}

// CPython _test_multiprocessing._TestBarrier (a Barrier crossing to children): a Barrier (with an
// action) passed to 2 children: 3 parties, 20 rounds, the action ran once per round in some party's
// process.
TEST_P(SyncAcrossProcesses, BarrierAsProcessArgument) {
  mp::Value<int> trips(0);
  mp::Barrier b(3, [] {});
  std::vector<mp::Process> kids;
  for (int i = 0; i < 2; ++i) {
    kids.push_back(ctx().Process(
        [](mp::Barrier bar, mp::Value<int> t) {
          for (int r = 0; r < 20; ++r) {
            const int index = bar.wait(20s);
            if (index == 0) t.set(t.value() + 1);
          }
        },
        b, trips));
    kids.back().start();
  }
  for (int r = 0; r < 20; ++r)
    if (b.wait(20s) == 0) trips.set(trips.value() + 1);
  for (auto& k : kids) join_ok(k);
  EXPECT_EQ(trips.value(), 20);  // exactly one index 0 per round
  EXPECT_FALSE(b.broken());
}

INSTANTIATE_TEST_SUITE_P(Methods, SyncAcrossProcesses, ::testing::Values("spawn", "forkserver"),
                         [](const auto& p) { return std::string(p.param); });
