// Implementation tests of the process-shared primitives (synchronize.hpp): bad input, robustness (a
// holder SIGKILLed), handles crossing, load across processes.
#include "concur/multiprocessing/synchronize.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "concur/multiprocessing/context.hpp"
#include "concur/multiprocessing/process.hpp"
#include "concur/multiprocessing/sharedctypes.hpp"
#include "multiprocessing/fork_child.hpp"
#include "multiprocessing/handle_crossing.hpp"
#include "multiprocessing/handles.hpp"
#include "support/timing.hpp"

namespace mp = concur::multiprocessing;
using concur::testing::cross;
using concur::testing::expect_decode_fails;
using concur::testing::ForkChild;
using concur::testing::kill_while_holding;
using concur::testing::seconds_since;
using concur::testing::Signal;
using namespace std::chrono_literals;

static_assert(mp::Picklable<mp::Lock>);
static_assert(mp::Picklable<mp::RLock>);
static_assert(mp::Picklable<mp::Semaphore>);
static_assert(mp::Picklable<mp::BoundedSemaphore>);
static_assert(mp::Picklable<mp::Event>);
static_assert(mp::Picklable<mp::Condition>);
static_assert(mp::Picklable<mp::Barrier>);

// --- Lock --------------------------------------------------------------------------------

TEST(Lock, ReleaseErrorsNameTheCase) {
  mp::Lock lock;
  EXPECT_THROW(lock.release(), concur::ValueError);  // unlocked
  ASSERT_TRUE(lock.acquire());
  std::thread other([&] { EXPECT_THROW(lock.release(), concur::RuntimeError); });
  other.join();
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, NonBlockingIgnoresTheTimeoutNegativeIsValueError) {
  mp::Lock lock;
  EXPECT_TRUE(lock.acquire(false, 1s));
  std::thread other([&] {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(lock.acquire(false, 5s));
    EXPECT_LT(seconds_since(t0), 1.0);
  });
  other.join();
  lock.release();
  EXPECT_THROW(lock.acquire(std::chrono::milliseconds(-5)), concur::ValueError);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, ReacquireByTheOwnerDoesNotHang) {
  mp::Lock lock;
  ASSERT_TRUE(lock.acquire());
  EXPECT_FALSE(lock.acquire(false));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(lock.acquire(100ms));
  EXPECT_GE(seconds_since(t0), 0.06);
  EXPECT_THROW(lock.acquire(), concur::RuntimeError);
  EXPECT_TRUE(lock.is_owned());
  lock.release();
  EXPECT_FALSE(lock.is_owned());
}

TEST(Lock, ReprShowsTheOwner) {
  mp::Lock lock;
  EXPECT_EQ(lock.repr(), "<Lock(owner=None)>");
  lock.acquire();
  EXPECT_EQ(lock.repr(), "<Lock(owner=" + std::to_string(gettid()) + ")>");
  lock.release();
}

TEST(Lock, CopiesAreHandlesToOneLock) {
  mp::Lock a;
  mp::Lock b = a;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_TRUE(a == b);
  ASSERT_TRUE(a.acquire());
  EXPECT_TRUE(b.locked());
  EXPECT_TRUE(b.is_owned());
  b.release();
  EXPECT_FALSE(a.locked());
  EXPECT_FALSE(a == mp::Lock());
}

TEST(Lock, ASigkilledHolderHandsTheLockOnWithOwnerDied) {
  mp::Lock lock;
  ASSERT_NO_FATAL_FAILURE(kill_while_holding([&] { lock.acquire(); },
                                             [&] {
                                               EXPECT_TRUE(lock.locked());
                                               EXPECT_FALSE(lock.acquire(false));
                                             }));
  ASSERT_TRUE(lock.acquire(5s));
  EXPECT_TRUE(lock.owner_died());
  EXPECT_TRUE(lock.is_owned());
  lock.release();
  EXPECT_FALSE(lock.owner_died());
  ASSERT_TRUE(lock.acquire(false));
  EXPECT_FALSE(lock.owner_died());  // once only: the lock is consistent again
  lock.release();
}

TEST(Lock, AWaiterBlockedWhenTheHolderDiesGetsTheLock) {
  mp::Lock lock;
  Signal held;
  ForkChild child([&] {
    lock.acquire();
    held.post();
    pause();
    return 0;
  });
  ASSERT_TRUE(held.wait());
  std::atomic<bool> got{false};
  std::atomic<bool> died{false};
  std::thread waiter([&] {
    got = lock.acquire(20s);
    died = lock.owner_died();
    if (got) lock.release();
  });
  child.kill(SIGKILL);
  waiter.join();
  EXPECT_EQ(child.join(), -SIGKILL);
  EXPECT_TRUE(got);
  EXPECT_TRUE(died);
}

TEST(Lock, AThreadThatEndsHoldingItAlsoCounts) {
  mp::Lock lock;
  std::thread t([&] { lock.acquire(); });
  t.join();
  ASSERT_TRUE(lock.acquire(5s));
  EXPECT_TRUE(lock.owner_died());
  lock.release();
}

TEST(Lock, MutualExclusionAcrossProcessesExactCount) {
  mp::Lock lock;
  mp::RawValue<long> counter(0);
  constexpr int kProcs = 4;
  constexpr int kIters = 2000;
  std::vector<std::unique_ptr<ForkChild>> kids;
  for (int p = 0; p < kProcs; ++p) {
    kids.push_back(std::make_unique<ForkChild>([&] {
      for (int i = 0; i < kIters; ++i) {
        std::scoped_lock g(lock);
        const long v = counter.value();
        counter.set(v + 1);
      }
      return 0;
    }));
  }
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_EQ(counter.value(), kProcs * kIters);
}

TEST(Lock, CrossesAsAHandleToTheSameLock) {
  mp::Lock lock;
  std::vector<int> fds;
  mp::Lock copy = cross(lock, &fds);
  EXPECT_EQ(fds.size(), 1u);
  EXPECT_TRUE(copy == lock);  // decoded where it is mapped: the same mapping
  ASSERT_TRUE(copy.acquire());
  EXPECT_TRUE(lock.locked());
  EXPECT_TRUE(lock.is_owned());
  lock.release();
  EXPECT_FALSE(copy.locked());
}

TEST(Lock, OnAQueueIsARuntimeErrorNamingInheritance) {
  mp::Lock lock;
  mp::Buffer bytes;
  try {
    mp::encode(bytes, lock);
    FAIL() << "expected RuntimeError";
  } catch (const concur::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "Lock objects should only be shared between processes through inheritance"),
              std::string::npos)
        << e.what();
  }
}

TEST(Lock, DecodingAnotherKindIsValueError) {
  mp::Event ev;
  expect_decode_fails<mp::Lock>(ev);
}

// --- RLock -------------------------------------------------------------------------------

TEST(RLock, RecursionAndOwnership) {
  mp::RLock r;
  EXPECT_THROW(r.release(), concur::RuntimeError);
  EXPECT_EQ(r.recursion_count(), 0u);
  r.acquire();
  r.acquire();
  EXPECT_TRUE(r.acquire(false));
  EXPECT_EQ(r.recursion_count(), 3u);
  EXPECT_EQ(r.repr(), "<RLock(" + std::to_string(gettid()) + ", 3)>");
  std::thread other([&] {
    EXPECT_FALSE(r.is_owned());
    EXPECT_EQ(r.recursion_count(), 0u);
    EXPECT_TRUE(r.locked());
    EXPECT_FALSE(r.acquire(false));
    EXPECT_THROW(r.release(), concur::RuntimeError);
  });
  other.join();
  r.release();
  r.release();
  EXPECT_TRUE(r.locked());
  r.release();
  EXPECT_FALSE(r.locked());
  EXPECT_THROW(r.release(), concur::RuntimeError);
  EXPECT_EQ(r.repr(), "<RLock(None, 0)>");
}

TEST(RLock, ASigkilledHolderAtDepthThreeHandsItOnAtDepthOne) {
  mp::RLock r;
  ASSERT_NO_FATAL_FAILURE(kill_while_holding([&] {
    r.acquire();
    r.acquire();
    r.acquire();
  }));
  ASSERT_TRUE(r.acquire(5s));
  EXPECT_TRUE(r.owner_died());
  EXPECT_EQ(r.recursion_count(), 1u);
  r.release();
  EXPECT_FALSE(r.locked());
}

// --- Semaphore ---------------------------------------------------------------------------

TEST(Semaphore, BadInput) {
  EXPECT_THROW(mp::Semaphore(-1), concur::ValueError);
  EXPECT_THROW(mp::Semaphore(std::int64_t{1} << 33), concur::ValueError);
  mp::Semaphore s(1);
  EXPECT_THROW(s.release(0), concur::ValueError);
  mp::BoundedSemaphore b(2);
  EXPECT_THROW(b.release(), concur::ValueError);
  b.acquire();
  EXPECT_THROW(b.release(2), concur::ValueError);
  EXPECT_EQ(b.get_value(), 1);  // unchanged by the refused release
  b.release();
  EXPECT_EQ(b.repr(), "<BoundedSemaphore(value=2, maxvalue=2)>");
  EXPECT_EQ(s.repr(), "<Semaphore(value=1)>");
}

TEST(Semaphore, AChildBlocksUntilTheParentReleases) {
  mp::Semaphore s(0);
  mp::Event started;
  ForkChild child([&] {
    started.set();
    return s.acquire(20s) ? 0 : 1;
  });
  ASSERT_TRUE(started.wait(20s));
  s.release();
  EXPECT_EQ(child.join(), 0);
  EXPECT_EQ(s.get_value(), 0);
}

TEST(Semaphore, BoundedCrossesAsBounded) {
  mp::BoundedSemaphore b(1);
  mp::BoundedSemaphore c = cross(b);
  EXPECT_THROW(c.release(), concur::ValueError);
  EXPECT_TRUE(c.acquire(false));
  EXPECT_EQ(b.get_value(), 0);
  b.release();
  // A plain Semaphore handle cannot be decoded as a bounded one, and vice versa.
  mp::Semaphore plain(1);
  expect_decode_fails<mp::BoundedSemaphore>(plain);
}

// --- Event -------------------------------------------------------------------------------

TEST(Event, AChildSetWakesTheParent) {
  mp::Event ev;
  mp::Event go;
  ForkChild child([&] {
    if (!go.wait(20s)) return 1;
    ev.set();
    return 0;
  });
  go.set();
  EXPECT_TRUE(ev.wait(20s));
  EXPECT_EQ(child.join(), 0);
  EXPECT_EQ(ev.repr(), "<Event: set>");
  ev.clear();
  EXPECT_EQ(ev.repr(), "<Event: unset>");
  EXPECT_THROW(ev.wait(std::chrono::milliseconds(-1)), concur::ValueError);
}

// --- Condition ---------------------------------------------------------------------------

TEST(Condition, BadInput) {
  mp::Condition c;
  EXPECT_THROW(c.wait(10ms), concur::RuntimeError);
  EXPECT_THROW(c.notify(), concur::RuntimeError);
  EXPECT_THROW(c.notify_all(), concur::RuntimeError);
  std::scoped_lock g(c);
  EXPECT_THROW(c.notify(-1), concur::ValueError);
  c.notify(5);  // no waiters: nothing
  EXPECT_EQ(c.repr(), "<Condition(<RLock(" + std::to_string(gettid()) + ", 1)>, 0)>");
}

TEST(Condition, ANotifyFromAChildProcessEndsTheWait) {
  mp::Condition c;
  mp::RawValue<int> ready(0);
  ForkChild child([&] {
    std::scoped_lock g(c);
    ready.set(1);
    c.notify();
    return 0;
  });
  std::scoped_lock g(c);
  EXPECT_TRUE(c.wait_for([&] { return ready.value() == 1; }, 20s));
  EXPECT_EQ(child.join(), 0);
}

TEST(Condition, OnASuppliedLockHoldingTheConditionHoldsTheLock) {
  mp::Lock lock;
  mp::Condition c(lock);
  c.acquire();
  EXPECT_TRUE(lock.is_owned());
  EXPECT_FALSE(c.wait(10ms));
  EXPECT_TRUE(lock.is_owned());
  c.release();
  EXPECT_FALSE(lock.locked());
}

TEST(Condition, WaitKeepsTheRLockLevel) {
  mp::RLock r;
  mp::Condition c(r);
  r.acquire();
  r.acquire();
  EXPECT_FALSE(c.wait(10ms));
  EXPECT_EQ(r.recursion_count(), 2u);
  r.release();
  r.release();
}

TEST(Condition, AHolderKilledInsideTheLockIsSeenAsOwnerDied) {
  mp::Condition c;
  ASSERT_NO_FATAL_FAILURE(kill_while_holding([&] { c.acquire(); }));
  ASSERT_TRUE(c.acquire(5s));
  EXPECT_TRUE(c.owner_died());
  c.notify_all();  // usable
  c.release();
}

TEST(Condition, CrossesWithItsLock) {
  mp::Condition c;
  std::vector<int> fds;
  mp::Condition d = cross(c, &fds);
  EXPECT_EQ(fds.size(), 1u);  // the default RLock lives in the condition's block
  d.acquire();
  c.notify();  // the same lock, held by this thread through the other handle
  EXPECT_EQ(c.repr(), d.repr());
  c.release();
  EXPECT_THROW(d.notify(), concur::RuntimeError);
}

// --- Barrier -----------------------------------------------------------------------------

TEST(Barrier, BadInput) {
  EXPECT_THROW(mp::Barrier(0), concur::ValueError);
  EXPECT_THROW(mp::Barrier(-3), concur::ValueError);
  EXPECT_THROW(mp::Barrier(2, std::chrono::milliseconds(-1)), concur::ValueError);
  mp::Barrier b(3);
  EXPECT_EQ(b.repr(), "<Barrier: waiters=0/3>");
  b.abort();
  EXPECT_EQ(b.repr(), "<Barrier: broken>");
  EXPECT_THROW(b.wait(), concur::BrokenBarrierError);
  b.reset();
  EXPECT_FALSE(b.broken());
}

namespace {
pid_t g_parent_pid = 0;
}  // namespace

TEST(Barrier, APartyKilledInsideTheActionBreaksItForTheOthers) {
  g_parent_pid = getpid();
  // The action runs in the last arrival: the child. It dies there, holding the barrier's
  // internal lock; the parent, waiting, sees the dead holder and gets BrokenBarrierError.
  mp::Barrier b(2, [] {
    if (getpid() != g_parent_pid) raise(SIGKILL);
  });
  mp::Event parent_waiting;
  ForkChild child([&] {
    if (!parent_waiting.wait(20s)) return 1;
    // Arrive second once the parent is (about to be) waiting.
    while (b.n_waiting() == 0) usleep(1000);
    b.wait(20s);
    return 2;
  });
  parent_waiting.set();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(b.wait(20s), concur::BrokenBarrierError);
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_EQ(child.join(), -SIGKILL);
  EXPECT_TRUE(b.broken());
  b.reset();
  EXPECT_FALSE(b.broken());
}

TEST(Barrier, ActionExceptionReachesTheLastArrivalAndBreaksIt) {
  mp::Barrier b(1, [] { throw concur::ValueError("from the action"); });
  try {
    b.wait();
    FAIL() << "expected ValueError";
  } catch (const concur::ValueError& e) {
    EXPECT_STREQ(e.what(), "from the action");
  }
  EXPECT_TRUE(b.broken());
}

TEST(Barrier, ThreeProcessesHundredRounds) {
  mp::Barrier b(3);
  mp::RawArray<int> rounds(3);
  std::vector<std::unique_ptr<ForkChild>> kids;
  for (int p = 1; p < 3; ++p) {
    kids.push_back(std::make_unique<ForkChild>([&, p] {
      for (int i = 0; i < 100; ++i) {
        b.wait(20s);
        rounds[static_cast<std::size_t>(p)] = i + 1;
        // Nobody can be more than one round ahead of anyone.
        for (int q = 0; q < 3; ++q)
          if (std::abs(rounds[static_cast<std::size_t>(q)] - (i + 1)) > 1) return 1;
      }
      return 0;
    }));
  }
  for (int i = 0; i < 100; ++i) {
    b.wait(20s);
    rounds[0] = i + 1;
  }
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_EQ(b.n_waiting(), 0);
  EXPECT_FALSE(b.broken());
}

// --- robustness through mp::Process under every start method ---------------------------

class RobustAllMethods : public ::testing::TestWithParam<const char*> {};

TEST_P(RobustAllMethods, AKilledProcessHoldingALockAnRLockAndAValueLock) {
  mp::Lock lock;
  mp::RLock rlock;
  mp::Value<int> value(0);
  mp::Event held;
  auto p = mp::get_context(GetParam())
               .Process(
                   [](mp::Lock l, mp::RLock r, mp::Value<int> v, mp::Event h) {
                     l.acquire();
                     r.acquire();
                     r.acquire();
                     v.get_lock().acquire();
                     v.get_obj() = 7;
                     h.set();
                     for (;;) pause();
                   },
                   lock, rlock, value, held);
  p.start();
  ASSERT_TRUE(held.wait(20s));
  p.kill();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), -SIGKILL);
  ASSERT_TRUE(lock.acquire(5s));
  EXPECT_TRUE(lock.owner_died());
  lock.release();
  ASSERT_TRUE(rlock.acquire(5s));
  EXPECT_TRUE(rlock.owner_died());
  EXPECT_EQ(rlock.recursion_count(), 1u);
  rlock.release();
  ASSERT_TRUE(value.get_lock().acquire(5s));
  EXPECT_TRUE(value.get_lock().owner_died());
  EXPECT_EQ(value.get_obj(), 7);
  value.get_lock().release();
  EXPECT_EQ(value.value(), 7);
}

INSTANTIATE_TEST_SUITE_P(Methods, RobustAllMethods,
                         ::testing::Values("fork", "spawn", "forkserver"),
                         [](const auto& p) { return std::string(p.param); });

TEST_P(RobustAllMethods, APartyKilledWhileWaitingBreaksTheBarrier) {
  mp::Barrier b(3);
  mp::Event arrived;
  auto p = mp::get_context(GetParam())
               .Process(
                   [](mp::Barrier bar, mp::Event a) {
                     a.set();
                     bar.wait();  // no timeout: it is killed while it waits here
                   },
                   b, arrived);
  p.start();
  ASSERT_TRUE(arrived.wait(20s));
  while (b.n_waiting() < 1) std::this_thread::yield();
  p.kill();
  ASSERT_TRUE(p.join(20s));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(b.wait(20s), concur::BrokenBarrierError);  // 2 of 3: only the death ends it
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_TRUE(b.broken());
  b.reset();
  // Usable again, and the dead party's watch slot is free for others.
  mp::Barrier one = b;
  ForkChild a([&] { return one.wait(20s) >= 0 ? 0 : 1; });
  ForkChild c([&] { return one.wait(20s) >= 0 ? 0 : 1; });
  EXPECT_GE(b.wait(20s), 0);
  EXPECT_EQ(a.join(), 0);
  EXPECT_EQ(c.join(), 0);
}

TEST_P(RobustAllMethods, AConditionWaiterKilledInsideWaitIsNotNotified) {
  mp::Condition cond;
  mp::Semaphore sleeping(0);
  auto p = mp::get_context(GetParam())
               .Process(
                   [](mp::Condition c, mp::Semaphore s) {
                     c.acquire();
                     s.release();
                     c.wait();  // killed here
                   },
                   cond, sleeping);
  p.start();
  ASSERT_TRUE(sleeping.acquire(20s));
  cond.acquire();  // the child is inside wait() (it released the lock there)
  cond.release();
  p.kill();
  ASSERT_TRUE(p.join(20s));
  std::atomic<bool> woke{false};
  std::thread waiter([&] {
    cond.acquire();
    sleeping.release();
    woke = cond.wait(20s);
    cond.release();
  });
  ASSERT_TRUE(sleeping.acquire(20s));
  cond.acquire();
  cond.notify(1);  // must reach the live waiter, not the dead one
  EXPECT_EQ(cond.repr().substr(cond.repr().size() - 5), ", 0)>") << cond.repr();
  cond.release();
  waiter.join();
  EXPECT_TRUE(woke);
  // No stale count: a notify_all() with no live waiter leaves nothing for a later wait().
  std::scoped_lock g(cond);
  cond.notify_all();
  EXPECT_FALSE(cond.wait(50ms));
}

// Threads of one process use the same objects: observers read counts while others change them.
TEST(Barrier, ThreadsOfOneProcessAndObservers) {
  mp::Barrier b(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      for (int r = 0; r < 50; ++r) b.wait(20s);
    });
  for (int r = 0; r < 50; ++r) {
    while (b.n_waiting() < 2) std::this_thread::yield();
    EXPECT_EQ(b.repr(), "<Barrier: waiters=2/3>");
    b.wait(20s);
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(b.broken());
}

TEST(Condition, ThreadsOfOneProcessAndObservers) {
  mp::Condition c;
  mp::RawValue<int> turn(0);
  std::thread other([&] {
    for (int i = 0; i < 200; ++i) {
      std::scoped_lock g(c);
      while (turn.value() != 1) c.wait(20s);
      turn.set(0);
      c.notify();
    }
  });
  for (int i = 0; i < 200; ++i) {
    std::scoped_lock g(c);
    turn.set(1);
    c.notify();
    while (turn.value() != 0) c.wait(20s);
    (void)c.repr();
  }
  other.join();
}

// ENOTRECOVERABLE: a holder took the mutex from a dead owner and released it without making it
// consistent (concur never does; a foreign writer of the shared block could). Every later acquire
// is then a RuntimeError, not a hang and not a silent success.
TEST(Lock, AnUnrecoverableMutexIsARuntimeError) {
  for (const bool blocking : {false, true}) {
    auto region = mp::detail::create_region(sizeof(mp::detail::MutexState), "test");
    auto& m = *new (region->data()) mp::detail::MutexState{};
    mp::detail::mutex_init(m, mp::detail::kLockMagic);
    ForkChild child([&] {
      pthread_mutex_lock(&m.mutex);
      return 0;  // exits holding it
    });
    ASSERT_EQ(child.join(), 0);
    ASSERT_EQ(pthread_mutex_lock(&m.mutex), EOWNERDEAD);
    pthread_mutex_unlock(&m.mutex);  // without pthread_mutex_consistent
    EXPECT_THROW(mp::detail::mutex_acquire(m, blocking, concur::Deadline{}), concur::RuntimeError)
        << "blocking=" << blocking;
  }
}
