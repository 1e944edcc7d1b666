// Conformance: concurrent.futures.ProcessPoolExecutor (CPython's
// test_concurrent_futures: test_process_pool, executor, test_shutdown, test_init, test_wait,
// test_as_completed, as run for process pools), under the default start method and, where the
// method matters, under fork, spawn and forkserver. Pools here have one or two workers so that
// spawn stays fast.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "concur/futures.hpp"
#include "concur/futures/process_pool.hpp"
#include "concur/futures/thread_pool.hpp"
#include "concur/multiprocessing.hpp"
#include "support/mp_pool_util.hpp"

namespace mp = concur::mp;
namespace fu = concur::futures;
namespace pu = concur::testing::pool;
using namespace std::chrono_literals;
using PPE = concur::futures::ProcessPoolExecutor;

// Worker functions, registered by name (distinct names: the binary holds other test files).
namespace ppe_fns {

long power(long x, long y) {
  long r = 1;
  for (long i = 0; i < y; ++i) r *= x;
  return r;
}
int mul(int x, int y) { return x * y; }
int abs_value(int x) { return x < 0 ? -x : x; }
std::pair<int, int> divmod(int a, int b) {
  if (b == 0) throw std::domain_error("integer division or modulo by zero");
  return {a / b, a % b};
}
int raise_runtime_error(int x) { throw concur::RuntimeError(std::to_string(x)); }
int get_pid() { return ::getpid(); }
int pid_after_ms(int ms) {
  pu::sleep_ms(ms);
  return ::getpid();
}

std::string g_init_status = "uninitialized";
void init_status(std::string status) { g_init_status = std::move(status); }
std::string get_init_status() { return g_init_status; }
void init_fails() { throw concur::ValueError("error in initializer"); }

}  // namespace ppe_fns

CONCUR_REGISTER(ppe_fns::power);
CONCUR_REGISTER(ppe_fns::mul);
CONCUR_REGISTER(ppe_fns::abs_value);
CONCUR_REGISTER(ppe_fns::divmod);
CONCUR_REGISTER(ppe_fns::raise_runtime_error);
CONCUR_REGISTER(ppe_fns::get_pid);
CONCUR_REGISTER(ppe_fns::pid_after_ms);
CONCUR_REGISTER(ppe_fns::init_status);
CONCUR_REGISTER(ppe_fns::get_init_status);
CONCUR_REGISTER(ppe_fns::init_fails);

namespace {

using namespace ppe_fns;

constexpr auto kBound = 10s;  // every wait on a result

std::vector<long> lrange(long n) {
  std::vector<long> v;
  for (long i = 0; i < n; ++i) v.push_back(i);
  return v;
}

template <class F>
std::string value_error_of(F&& call) {
  try {
    call();
  } catch (const concur::ValueError& e) {
    return e.what();
  }
  return "";
}

// Runs `call` and returns the RuntimeError's message ("" when none was thrown; a
// BrokenExecutor is not the RuntimeError wanted).
template <class F>
std::string runtime_error_of(F&& call) {
  try {
    call();
  } catch (const fu::BrokenExecutor& e) {
    return std::string("BrokenExecutor: ") + e.what();
  } catch (const concur::RuntimeError& e) {
    return e.what();
  }
  return "";
}

class ProcessPoolExecutor : public ::testing::TestWithParam<std::string> {
 protected:
  [[nodiscard]] fu::ProcessPoolOptions options(int workers) const {
    return {.max_workers = workers, .mp_context = mp::get_context(GetParam())};
  }
  [[nodiscard]] bool is_fork() const { return GetParam() == "fork"; }
};

// ---------------------------------------------------------------------------------------
// Under every start method.

// test_concurrent_futures.executor.ExecutorTest.test_submit (ProcessPool*)
TEST_P(ProcessPoolExecutor, Submit) {
  PPE ex(options(2));
  EXPECT_EQ(ex.submit(&power, 2L, 8L).result(kBound), 256);
  EXPECT_EQ(ex.submit(mp::fn<&mul>, 2, 8).result(kBound), 16);
  EXPECT_EQ(ex.submit([](int x) { return x * 3; }, 14).result(kBound), 42);
}

// test_concurrent_futures.executor.ExecutorTest.test_map (and with chunksize=3)
TEST_P(ProcessPoolExecutor, Map) {
  PPE ex(options(2));
  std::vector<long> want;
  for (long i = 0; i < 10; ++i) want.push_back(power(i, i));
  std::vector<long> got;
  for (long v : ex.map(&power, lrange(10), lrange(10))) got.push_back(v);
  EXPECT_EQ(got, want);
  got.clear();
  for (long v : ex.map({.timeout = kBound, .chunksize = 3}, &power, lrange(10), lrange(10)))
    got.push_back(v);
  EXPECT_EQ(got, want);
}

// test_concurrent_futures.test_init.ProcessPool*InitializerTest.test_initializer
TEST_P(ProcessPoolExecutor, Initializer) {
  auto opts = options(2);
  opts.initializer = mp::Call(&init_status, std::string("initialized"));
  PPE ex(opts);
  auto a = ex.submit(&get_init_status);
  auto b = ex.submit(&get_init_status);
  EXPECT_EQ(a.result(kBound), "initialized");
  EXPECT_EQ(b.result(kBound), "initialized");
}

// test_concurrent_futures.test_init.ProcessPool*FailingInitializerTest.test_initializer
TEST_P(ProcessPoolExecutor, FailingInitializerBreaksThePool) {
  auto opts = options(2);
  opts.initializer = mp::Call(&init_fails);
  PPE ex(opts);
  // A submit either raises BrokenProcessPool or its result does.
  try {
    auto f = ex.submit(&get_pid);
    EXPECT_THROW((void)f.result(kBound), fu::BrokenProcessPool);
  } catch (const fu::BrokenProcessPool&) {
  }
  EXPECT_TRUE(concur::testing::eventually([&] { return ex.broken(); }, 10s));
  EXPECT_THROW((void)ex.submit(&get_pid), fu::BrokenProcessPool);
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest.test_max_tasks_per_child
TEST_P(ProcessPoolExecutor, MaxTasksPerChild) {
  auto opts = options(1);
  opts.max_tasks_per_child = 3;
  if (is_fork()) {
    EXPECT_EQ(value_error_of([&] { PPE ex(opts); }),
              "max_tasks_per_child is incompatible with the 'fork' multiprocessing start "
              "method; supply a different mp_context.");
    return;
  }
  PPE ex(opts);
  const int p1 = ex.submit(&get_pid).result(kBound);
  const int p2 = ex.submit(&get_pid).result(kBound);
  const int p3 = ex.submit(&get_pid).result(kBound);
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(p2, p3);
  // CPython replaces the retired worker at once (one process); workers start on demand here,
  // so none may be live until the next submit. Never more than max_workers.
  EXPECT_LE(ex.pids().size(), 1U);
  const int p4 = ex.submit(&get_pid).result(kBound);
  EXPECT_NE(p4, p1);
  // The retired worker leaves asynchronously, after its last reply.
  EXPECT_TRUE(concur::testing::eventually([&] { return ex.pids().size() == 1U; }, kBound));
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest.test_killed_child
TEST_P(ProcessPoolExecutor, KilledChildBreaksThePool) {
  pu::TempDir dir;
  PPE ex(options(2));
  auto f = ex.submit(mp::fn<&pu::start_then_wait>, dir.file("started"), dir.file("go"), 20000);
  ASSERT_TRUE(pu::wait_for_file(dir.file("started")));
  const int pid = std::stoi(pu::read_file(dir.file("started")));
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  try {
    (void)f.result(kBound);
    ADD_FAILURE() << "no exception";
  } catch (const fu::BrokenProcessPool& e) {
    EXPECT_STREQ(e.what(),
                 "A process in the process pool was terminated abruptly while the future was "
                 "running or pending.");
  }
  try {
    (void)ex.submit(&power, 2L, 8L);
    ADD_FAILURE() << "no exception";
  } catch (const fu::BrokenProcessPool& e) {
    EXPECT_STREQ(e.what(),
                 "A child process terminated abruptly, the process pool is not usable anymore");
  }
  EXPECT_TRUE(ex.broken());
}

INSTANTIATE_TEST_SUITE_P(Methods, ProcessPoolExecutor,
                         ::testing::Values("fork", "spawn", "forkserver"), pu::method_name);

// ---------------------------------------------------------------------------------------
// The default start method.

// test_concurrent_futures.executor.ExecutorTest.test_map_exception
TEST(ProcessPoolExecutor, MapException) {
  PPE ex({.max_workers = 2});
  auto it = ex.map(&divmod, std::vector{1, 1, 1, 1}, std::vector{2, 3, 0, 5});
  EXPECT_EQ(it.next(), std::make_pair(0, 1));
  EXPECT_EQ(it.next(), std::make_pair(0, 1));
  try {
    (void)it.next();
    ADD_FAILURE() << "no exception";
  } catch (const std::domain_error& e) {
    EXPECT_STREQ(e.what(), "integer division or modulo by zero");
  }
}

// test_concurrent_futures.executor.ExecutorTest.test_map_timeout
TEST(ProcessPoolExecutor, MapTimeout) {
  pu::TempDir dir;
  PPE ex({.max_workers = 2});
  // Two quick calls, then one that waits for "go": the map's timeout passes first.
  auto it = ex.map({.timeout = 300ms}, mp::fn<&pu::start_then_wait>,
                   std::vector<std::string>{dir.file("a"), dir.file("b"), dir.file("c")},
                   std::vector<std::string>{dir.file("a"), dir.file("b"), dir.file("go")},
                   std::vector<int>{0, 0, 20000});
  std::vector<int> got;
  EXPECT_THROW(
      {
        while (auto v = it.next()) got.push_back(*v);
      },
      concur::TimeoutError);
  EXPECT_EQ(got.size(), 2U);
  pu::touch(dir.file("go"));  // let the third call end, so shutdown does not wait long
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest.test_map_chunksize
TEST(ProcessPoolExecutor, MapChunksize) {
  PPE ex({.max_workers = 2});
  std::vector<long> want;
  for (long i = 0; i < 40; ++i) want.push_back(power(i, i % 5));
  std::vector<long> exps;
  for (long i = 0; i < 40; ++i) exps.push_back(i % 5);
  for (long cs : {6L, 50L, 40L}) {
    std::vector<long> got;
    for (long v : ex.map({.timeout = kBound, .chunksize = cs}, &power, lrange(40), exps))
      got.push_back(v);
    EXPECT_EQ(got, want) << "chunksize " << cs;
  }
  EXPECT_THROW((void)ex.map({.chunksize = -1}, &power, lrange(4), lrange(4)), concur::ValueError);
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest.test_traceback (the
// exception's type and message come back)
TEST(ProcessPoolExecutor, Traceback) {
  PPE ex({.max_workers = 1});
  auto f = ex.submit(&raise_runtime_error, 123);
  try {
    (void)f.result(kBound);
    ADD_FAILURE() << "no exception";
  } catch (const concur::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "123");
  }
}

// test_concurrent_futures.executor.ExecutorTest.test_max_workers_negative
TEST(ProcessPoolExecutor, MaxWorkersBelowOne) {
  for (int n : {0, -1})
    EXPECT_EQ(value_error_of([&] { PPE ex({.max_workers = n}); }),
              "max_workers must be greater than 0");
  EXPECT_EQ(value_error_of([] { PPE ex({.max_workers = 1, .max_tasks_per_child = 0}); }),
            "max_tasks_per_child must be >= 1");
}

// test_concurrent_futures.test_shutdown.ProcessPool*ProcessPoolShutdownTest.test_run_after_shutdown
TEST(ProcessPoolExecutor, RunAfterShutdown) {
  PPE ex({.max_workers = 1});
  ex.shutdown();
  EXPECT_EQ(runtime_error_of([&] { (void)ex.submit(&power, 2L, 5L); }),
            "cannot schedule new futures after shutdown");
  ex.shutdown();  // repeated: safe
}

// test_concurrent_futures.executor.ExecutorTest.test_shutdown_race_issue12456
TEST(ProcessPoolExecutor, ShutdownRace) {
  PPE ex({.max_workers = 2});
  auto it = ex.map(&abs_value, std::vector<int>(3, 2));
  ex.shutdown();
  std::vector<int> got;
  while (auto v = it.next()) got.push_back(*v);
  EXPECT_EQ(got, std::vector<int>(3, 2));
}

// test_concurrent_futures.test_shutdown.ExecutorShutdownTest.test_hang_issue12364
TEST(ProcessPoolExecutor, ShutdownWaitsForQueued) {
  PPE ex({.max_workers = 2});
  std::vector<fu::Future<int>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(ex.submit(mp::fn<&pu::sleep_ms>, 5));
  ex.shutdown();
  for (auto& f : fs) EXPECT_EQ(f.result(kBound), 5);
}

// test_concurrent_futures.test_shutdown.ExecutorShutdownTest.test_cancel_futures
TEST(ProcessPoolExecutor, ShutdownCancelFutures) {
  PPE ex({.max_workers = 2});
  (void)ex.submit(&get_pid).result(kBound);  // a worker is up and idle
  std::vector<fu::Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(ex.submit(mp::fn<&pu::sleep_ms>, 20));
  ex.shutdown(true, true);
  int cancelled = 0;
  for (auto& f : fs) {
    if (f.cancelled()) {
      ++cancelled;
    } else {
      EXPECT_TRUE(f.done());
      EXPECT_EQ(f.exception(kBound), nullptr);
    }
  }
  EXPECT_GT(cancelled, 20);
  EXPECT_LT(cancelled, 50);  // what a worker held ran
}

// test_concurrent_futures.test_shutdown.ExecutorShutdownTest.test_hang_gh94440
TEST(ProcessPoolExecutor, ShutdownAfterCancel) {
  PPE ex({.max_workers = 1});
  EXPECT_EQ(ex.submit(&abs_value, -3).result(kBound), 3);
  (void)ex.submit(&abs_value, -4).cancel();
  ex.shutdown(true);
}

// test_concurrent_futures.test_shutdown.ProcessPoolShutdownTest.test_context_manager_shutdown
TEST(ProcessPoolExecutor, ScopeEndShutsDown) {
  std::vector<int> pids;
  {
    PPE ex({.max_workers = 2});
    std::vector<int> got;
    for (int v : ex.map(&abs_value, std::vector{-5, -4, -3, -2, -1, 0, 1, 2, 3, 4}))
      got.push_back(v);
    EXPECT_EQ(got, (std::vector{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
    pids = ex.pids();
    EXPECT_FALSE(pids.empty());
  }
  EXPECT_TRUE(pu::all_gone(pids));
}

// test_concurrent_futures.test_shutdown.ProcessPoolShutdownTest.test_del_shutdown (the map's
// results outlive the executor)
TEST(ProcessPoolExecutor, ResultsOutliveTheExecutor) {
  std::optional<fu::MapResult<int>> res;
  {
    PPE ex({.max_workers = 2});
    res.emplace(ex.map(&abs_value, std::vector{-5, -4, -3, -2, -1, 0, 1, 2, 3, 4}));
  }
  std::vector<int> got;
  while (auto v = res->next()) got.push_back(*v);
  EXPECT_EQ(got, (std::vector{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
}

// test_concurrent_futures.test_shutdown.ProcessPoolShutdownTest.test_shutdown_no_wait
TEST(ProcessPoolExecutor, ShutdownNoWait) {
  PPE ex({.max_workers = 2});
  auto res = ex.map({.timeout = kBound}, &abs_value, std::vector{-5, -4, -3, -2, -1, 0, 1});
  ex.shutdown(false);
  std::vector<int> got;
  while (auto v = res.next()) got.push_back(*v);
  EXPECT_EQ(got, (std::vector{5, 4, 3, 2, 1, 0, 1}));
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest.test_max_tasks_early_shutdown
TEST(ProcessPoolExecutor, MaxTasksEarlyShutdown) {
  PPE ex({.max_workers = 2, .max_tasks_per_child = 1});
  std::vector<fu::Future<int>> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(ex.submit(&mul, i, i));
  ex.shutdown();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(kBound), i * i);
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest
// .test_max_tasks_per_child_pending_tasks_gh115634 (a backlog bigger than what the first
// workers may run completes)
TEST(ProcessPoolExecutor, MaxTasksPerChildBacklog) {
  PPE ex({.max_workers = 1, .max_tasks_per_child = 2});
  std::vector<fu::Future<int>> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(ex.submit(&mul, i, 2));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(kBound), 2 * i);
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest.test_idle_process_reuse_one
// (workers start on demand: sequential calls reuse one)
TEST(ProcessPoolExecutor, IdleProcessReuse) {
  PPE ex({.max_workers = 2});
  EXPECT_EQ(ex.submit(&mul, 21, 2).result(kBound), 42);
  EXPECT_EQ(ex.submit(&mul, 6, 7).result(kBound), 42);
  EXPECT_EQ(ex.submit(&mul, 3, 14).result(kBound), 42);
  EXPECT_EQ(ex.pids().size(), 1U);
}

// test_concurrent_futures.test_wait.ProcessPool*WaitTests and test_as_completed (process-pool
// futures are ordinary futures: they mix with thread-pool futures)
TEST(ProcessPoolExecutor, FuturesMixWithThreadPoolFutures) {
  pu::TempDir dir;
  PPE ex({.max_workers = 2});
  fu::ThreadPoolExecutor threads({.max_workers = 1});
  auto p = ex.submit(&mul, 21, 2);
  auto t = threads.submit([] { return std::string("thread"); });
  auto r = fu::wait({p, t}, kBound, fu::ALL_COMPLETED);
  EXPECT_EQ(r.done.size(), 2U);
  EXPECT_TRUE(r.not_done.empty());

  // FIRST_EXCEPTION: a failing process-pool call ends the wait
  auto bad = ex.submit(&divmod, 21, 0);
  auto slow = ex.submit(mp::fn<&pu::start_then_wait>, dir.file("s"), dir.file("go"), 20000);
  auto r2 = fu::wait({bad, slow, t}, kBound, fu::FIRST_EXCEPTION);
  EXPECT_EQ(r2.done.size(), 2U);  // bad and t
  EXPECT_EQ(r2.not_done.size(), 1U);
  EXPECT_NE(bad.exception(kBound), nullptr);

  // as_completed over both kinds: the finished ones, then TimeoutError naming the rest
  std::vector<fu::AnyFuture> seen;
  try {
    for (const auto& f : fu::as_completed({p, t, slow, p}, 100ms)) seen.push_back(f);
    ADD_FAILURE() << "no timeout";
  } catch (const concur::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "1 (of 3) futures unfinished");
  }
  EXPECT_EQ(seen.size(), 2U);
  pu::touch(dir.file("go"));
  EXPECT_GT(slow.result(kBound), 0);
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest.test_terminate_workers
// and test_kill_workers (3.14): the running call never finishes, submit then raises
// RuntimeError
TEST(ProcessPoolExecutor, TerminateAndKillWorkers) {
  for (const bool kill : {false, true}) {
    SCOPED_TRACE(kill ? "kill_workers" : "terminate_workers");
    pu::TempDir dir;
    PPE ex({.max_workers = 1});
    auto f = ex.submit(mp::fn<&pu::start_then_wait>, dir.file("started"), dir.file("go"), 20000);
    auto queued = ex.submit(&get_pid);
    ASSERT_TRUE(pu::wait_for_file(dir.file("started")));
    const auto pids = ex.pids();
    if (kill) {
      ex.kill_workers();
    } else {
      ex.terminate_workers();
    }
    EXPECT_THROW((void)f.result(kBound), fu::BrokenProcessPool);
    EXPECT_TRUE(queued.wait(kBound));
    EXPECT_TRUE(queued.cancelled() || queued.exception(kBound) != nullptr);
    EXPECT_TRUE(pu::all_gone(pids));
    EXPECT_EQ(runtime_error_of([&] { (void)ex.submit(&get_pid); }),
              "cannot schedule new futures after shutdown");
  }
}

// test_concurrent_futures.test_process_pool.ProcessPoolExecutorTest
// .test_force_shutdown_workers_dead_workers and _not_started_yet (3.14)
TEST(ProcessPoolExecutor, TerminateWorkersNoWorkers) {
  {
    PPE ex({.max_workers = 1});
    EXPECT_NO_THROW(ex.terminate_workers());  // none started yet
    EXPECT_NO_THROW(ex.kill_workers());
  }
  {
    PPE ex({.max_workers = 1});
    auto f = ex.submit(mp::fn<&pu::kill_self>, 0);
    EXPECT_THROW((void)f.result(kBound), fu::BrokenProcessPool);
    EXPECT_NO_THROW(ex.terminate_workers());  // the worker is already dead
    EXPECT_NO_THROW(ex.kill_workers());
  }
}

// test_concurrent_futures.test_deadlock.ExecutorDeadlockTest.test_crash_during_func_exec_on_worker
// and test_shutdown_deadlock: a worker dying in a call breaks the pool; shutdown returns
TEST(ProcessPoolExecutor, CrashInCallBreaksThePool) {
  PPE ex({.max_workers = 2});
  auto f = ex.submit(mp::fn<&pu::kill_self>, 0);
  ex.shutdown(true);
  EXPECT_THROW((void)f.result(kBound), fu::BrokenProcessPool);
}

// on_worker_death = replace (beyond Python): only the dead worker's call fails, with a message
// naming its pid and signal; the pool goes on
TEST(ProcessPoolExecutor, WorkerDeathReplace) {
  pu::TempDir dir;
  PPE ex({.max_workers = 2, .on_worker_death = fu::WorkerDeath::replace});
  auto ok1 = ex.submit(&mul, 2, 3);
  auto dies = ex.submit(mp::fn<&pu::note_pid_and_kill_self>, dir.file("pid"));
  try {
    (void)dies.result(kBound);
    ADD_FAILURE() << "no exception";
  } catch (const fu::BrokenProcessPool& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("SIGKILL"), std::string::npos) << msg;
    EXPECT_NE(msg.find(pu::read_file(dir.file("pid"))), std::string::npos) << msg;
  }
  EXPECT_EQ(ok1.result(kBound), 6);
  EXPECT_FALSE(ex.broken());
  std::vector<fu::Future<int>> after;
  for (int i = 0; i < 4; ++i) after.push_back(ex.submit(&mul, i, 3));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(after[static_cast<std::size_t>(i)].result(kBound), 3 * i);
}

}  // namespace
