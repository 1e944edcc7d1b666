// The process pools' worker engine (mp::Pool and futures::ProcessPoolExecutor share it):
// a dead worker never hangs a caller, whatever entry point the caller used and however the
// worker died; a worker dying in its initializer; workers retired by maxtasksperchild;
// messages of 64 KiB and more; calls refused at submit; and no worker outlives a parent
// killed with SIGKILL.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <future>
#include <set>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "concur/futures.hpp"
#include "concur/futures/process_pool.hpp"
#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/pool.hpp"
#include "multiprocessing/fork_child.hpp"
#include "support/mp_pool_util.hpp"

namespace mp = concur::mp;
namespace fu = concur::futures;
namespace pu = concur::testing::pool;
using namespace std::chrono_literals;
using PPE = concur::futures::ProcessPoolExecutor;

namespace pool_engine_fns {

// Says "started" (a file in `dir` holding the pid), then waits (bounded) for "go".
int started_waits(std::string dir) {
  return pu::start_then_wait(dir + "/started", dir + "/go", 20000);
}
int started_waits2(std::string dir, int /*unused*/) { return started_waits(std::move(dir)); }
int kill_self2(int x, int /*unused*/) { return pu::kill_self(x); }
int twice(int x) { return 2 * x; }
std::string reversed(std::string s) {
  std::reverse(s.begin(), s.end());
  return s;
}
std::vector<int> plus_one(std::vector<int> v) {
  for (auto& x : v) ++x;
  return v;
}
void init_kill_self() { ::kill(::getpid(), SIGKILL); }
int not_registered(int x) { return x; }

}  // namespace pool_engine_fns

CONCUR_REGISTER(pool_engine_fns::started_waits);
CONCUR_REGISTER(pool_engine_fns::started_waits2);
CONCUR_REGISTER(pool_engine_fns::kill_self2);
CONCUR_REGISTER(pool_engine_fns::twice);
CONCUR_REGISTER(pool_engine_fns::reversed);
CONCUR_REGISTER(pool_engine_fns::plus_one);
CONCUR_REGISTER(pool_engine_fns::init_kill_self);

namespace {

using namespace pool_engine_fns;

constexpr auto kBound = 10s;  // how long a caller may wait for a dead worker's error

// How the worker running the caller's call dies.
enum class Death { self, outside };

// Runs `call` (one caller's use of an entry point, which returns once it has its outcome) on
// a thread; if `death` is outside, kills the worker that runs it (SIGKILL) once it has
// started. The caller must end with BrokenProcessPool within kBound. If it hangs instead, the
// test fails and `rescue` (which stops the pool) lets it end.
template <class Call, class Rescue>
void expect_broken_within_bound(Death death, const pu::TempDir& dir, Call call, Rescue rescue) {
  std::promise<std::exception_ptr> outcome;
  auto done = outcome.get_future();
  std::thread caller([&] {
    try {
      call();
      outcome.set_value(nullptr);
    } catch (...) {
      outcome.set_value(std::current_exception());
    }
  });
  if (death == Death::outside) {
    const auto started = dir.file("started");
    EXPECT_TRUE(pu::wait_for_file(started)) << "the call did not start";
    if (pu::exists(started)) {
      const std::string pid = pu::read_file(started);
      EXPECT_FALSE(pid.empty());
      if (!pid.empty()) {
        EXPECT_EQ(::kill(std::stoi(pid), SIGKILL), 0);
      }
    }
  }
  const bool ended = done.wait_for(kBound + 5s) == std::future_status::ready;
  if (!ended) {
    ADD_FAILURE() << "the caller hung on a dead worker";
    pu::touch(dir.file("go"));
    rescue();
  }
  caller.join();
  const auto e = done.get();
  if (!ended) return;
  ASSERT_NE(e, nullptr) << "the call succeeded";
  try {
    std::rethrow_exception(e);
  } catch (const fu::BrokenProcessPool& b) {
    SUCCEED() << b.what();
  } catch (const std::exception& other) {
    ADD_FAILURE() << "not BrokenProcessPool: " << other.what();
  }
}

// A Pool of one worker whose single call's worker dies; afterwards (replace, Pool's default)
// the pool still works.
template <class Use>
void pool_case(Death death, Use use) {
  pu::TempDir dir;
  mp::Pool pool(1);
  expect_broken_within_bound(
      death, dir, [&] { use(pool, dir); }, [&] { pool.terminate(); });
  EXPECT_EQ(pool.apply_async(&twice, 21).get(kBound), 42);
}

template <class Use>
void executor_case(Death death, Use use) {
  pu::TempDir dir;
  PPE ex({.max_workers = 1});
  expect_broken_within_bound(
      death, dir, [&] { use(ex, dir); }, [&] { ex.kill_workers(); });
}

// Pool.apply
TEST(PoolEngine, ApplyWorkerKillsItself) {
  pool_case(Death::self,
            [](mp::Pool& p, const pu::TempDir&) { p.apply(mp::fn<&pu::kill_self>, 0); });
}
TEST(PoolEngine, ApplyWorkerKilledFromOutside) {
  pool_case(Death::outside,
            [](mp::Pool& p, const pu::TempDir& d) { p.apply(&started_waits, d.path()); });
}

// Pool.apply_async
TEST(PoolEngine, ApplyAsyncWorkerKillsItself) {
  pool_case(Death::self, [](mp::Pool& p, const pu::TempDir&) {
    (void)p.apply_async(mp::fn<&pu::kill_self>, 0).get(kBound);
  });
}
TEST(PoolEngine, ApplyAsyncWorkerKilledFromOutside) {
  pool_case(Death::outside, [](mp::Pool& p, const pu::TempDir& d) {
    (void)p.apply_async(&started_waits, d.path()).get(kBound);
  });
}

// Pool.map
TEST(PoolEngine, MapWorkerKillsItself) {
  pool_case(Death::self, [](mp::Pool& p, const pu::TempDir&) {
    (void)p.map(mp::fn<&pu::kill_self>, std::vector<int>{0, 1, 2});
  });
}
TEST(PoolEngine, MapWorkerKilledFromOutside) {
  pool_case(Death::outside, [](mp::Pool& p, const pu::TempDir& d) {
    (void)p.map(&started_waits, std::vector<std::string>{d.path()});
  });
}

// Pool.imap
TEST(PoolEngine, ImapWorkerKillsItself) {
  pool_case(Death::self, [](mp::Pool& p, const pu::TempDir&) {
    auto it = p.imap(mp::fn<&pu::kill_self>, std::vector<int>{0});
    (void)it.next(kBound);
  });
}
TEST(PoolEngine, ImapWorkerKilledFromOutside) {
  pool_case(Death::outside, [](mp::Pool& p, const pu::TempDir& d) {
    auto it = p.imap(&started_waits, std::vector<std::string>{d.path()});
    (void)it.next(kBound);
  });
}

// Pool.imap_unordered
TEST(PoolEngine, ImapUnorderedWorkerKillsItself) {
  pool_case(Death::self, [](mp::Pool& p, const pu::TempDir&) {
    auto it = p.imap_unordered(mp::fn<&pu::kill_self>, std::vector<int>{0});
    (void)it.next(kBound);
  });
}
TEST(PoolEngine, ImapUnorderedWorkerKilledFromOutside) {
  pool_case(Death::outside, [](mp::Pool& p, const pu::TempDir& d) {
    auto it = p.imap_unordered(&started_waits, std::vector<std::string>{d.path()});
    (void)it.next(kBound);
  });
}

// Pool.starmap
TEST(PoolEngine, StarmapWorkerKillsItself) {
  pool_case(Death::self, [](mp::Pool& p, const pu::TempDir&) {
    (void)p.starmap(&kill_self2, std::vector<std::tuple<int, int>>{{0, 0}});
  });
}
TEST(PoolEngine, StarmapWorkerKilledFromOutside) {
  pool_case(Death::outside, [](mp::Pool& p, const pu::TempDir& d) {
    (void)p.starmap(&started_waits2, std::vector<std::tuple<std::string, int>>{{d.path(), 0}});
  });
}

// ProcessPoolExecutor.submit
TEST(PoolEngine, SubmitWorkerKillsItself) {
  executor_case(Death::self, [](PPE& ex, const pu::TempDir&) {
    (void)ex.submit(mp::fn<&pu::kill_self>, 0).result(kBound);
  });
}
TEST(PoolEngine, SubmitWorkerKilledFromOutside) {
  executor_case(Death::outside, [](PPE& ex, const pu::TempDir& d) {
    (void)ex.submit(&started_waits, d.path()).result(kBound);
  });
}

// ProcessPoolExecutor.map (with and without chunks)
TEST(PoolEngine, ExecutorMapWorkerKillsItself) {
  executor_case(Death::self, [](PPE& ex, const pu::TempDir&) {
    for (int v : ex.map({.timeout = kBound}, mp::fn<&pu::kill_self>, std::vector<int>{0, 1}))
      (void)v;
  });
  executor_case(Death::self, [](PPE& ex, const pu::TempDir&) {
    for (int v : ex.map({.timeout = kBound, .chunksize = 2}, mp::fn<&pu::kill_self>,
                        std::vector<int>{0, 1, 2}))
      (void)v;
  });
}
TEST(PoolEngine, ExecutorMapWorkerKilledFromOutside) {
  executor_case(Death::outside, [](PPE& ex, const pu::TempDir& d) {
    for (int v : ex.map({.timeout = kBound}, &started_waits, std::vector<std::string>{d.path()}))
      (void)v;
  });
}

// With on_worker_death = replace, the executor's other calls (queued behind the dead one,
// or on another worker) complete, and the pool stays usable.
TEST(PoolEngine, ReplaceKeepsOtherCalls) {
  PPE ex({.max_workers = 2, .on_worker_death = fu::WorkerDeath::replace});
  std::vector<fu::Future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(ex.submit(&twice, i));
  auto dies = ex.submit(mp::fn<&pu::kill_self>, 0);
  for (int i = 10; i < 20; ++i) fs.push_back(ex.submit(&twice, i));
  EXPECT_THROW((void)dies.result(kBound), fu::BrokenProcessPool);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(kBound), 2 * i);
  EXPECT_FALSE(ex.broken());
}

// A worker SIGKILLed in its initializer: the pool is broken (even under Pool's
// on_worker_death = replace: a fresh worker would die the same way); no caller hangs.
TEST(PoolEngine, SigkillInInitializerPool) {
  {
    mp::Pool pool({.processes = 2, .initializer = mp::Call(&init_kill_self)});
    try {
      auto r = pool.apply_async(&twice, 1);
      EXPECT_THROW((void)r.get(kBound), fu::BrokenProcessPool);
    } catch (const fu::BrokenProcessPool&) {  // already broken at the call
    }
    EXPECT_TRUE(concur::testing::eventually(
        [&] {
          try {
            (void)pool.apply_async(&twice, 1);
            return false;
          } catch (const fu::BrokenProcessPool&) {
            return true;
          }
        },
        kBound));
  }
}
TEST(PoolEngine, SigkillInInitializerExecutor) {
  {
    PPE ex({.max_workers = 2, .initializer = mp::Call(&init_kill_self)});
    try {
      auto f = ex.submit(&twice, 1);
      EXPECT_THROW((void)f.result(kBound), fu::BrokenProcessPool);
    } catch (const fu::BrokenProcessPool&) {
    }
    EXPECT_TRUE(concur::testing::eventually([&] { return ex.broken(); }, kBound));
    EXPECT_THROW((void)ex.submit(&twice, 1), fu::BrokenProcessPool);
  }
}

// max_tasks_per_child / maxtasksperchild: each worker runs its quota, exits and is reaped;
// a fresh one takes its place.
TEST(PoolEngine, MaxTasksRetiresWorkersExecutor) {
  {
    PPE ex({.max_workers = 2, .max_tasks_per_child = 1});
    std::vector<fu::Future<int>> fs;
    for (int i = 0; i < 8; ++i) fs.push_back(ex.submit(mp::fn<&pu::worker_pid>, i));
    std::set<int> pids;
    for (auto& f : fs) pids.insert(f.result(kBound));
    EXPECT_EQ(pids.size(), 8U);
    EXPECT_TRUE(concur::testing::eventually([&] { return ex.pids().size() <= 2; }, kBound));
    std::set<int> old = pids;
    for (int p : ex.pids()) old.erase(p);
    EXPECT_TRUE(pu::all_gone(old));
  }
}

// A Pool keeps its `processes` workers (CPython's worker handler repopulates the pool).
TEST(PoolEngine, MaxTasksRetiresWorkersPool) {
  {
    mp::Pool pool({.processes = 2, .maxtasksperchild = 1});
    const auto pids = pool.map(mp::fn<&pu::worker_pid>, std::vector<int>(8, 0), 1);
    EXPECT_EQ(std::set<int>(pids.begin(), pids.end()).size(), 8U);
    EXPECT_TRUE(concur::testing::eventually([&] { return pool.pids().size() == 2; }, kBound));
    pool.close();
    pool.join();
    EXPECT_TRUE(pu::all_gone(pids));
  }
}

// Arguments and results of 64 KiB and more round-trip intact.
TEST(PoolEngine, LargeMessagesRoundTrip) {
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::string want = big;
  std::reverse(want.begin(), want.end());
  std::vector<int> v(std::size_t{64} * 1024 / sizeof(int) + 17);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int>(i);
  std::vector<int> v1 = v;
  for (auto& x : v1) ++x;
  {
    PPE ex({.max_workers = 2});
    EXPECT_EQ(ex.submit(&reversed, big).result(kBound), want);
    EXPECT_EQ(ex.submit(&plus_one, v).result(kBound), v1);
    std::vector<std::string> many(4, big);
    for (const auto& r : ex.map({.timeout = kBound, .chunksize = 2}, &reversed, many))
      EXPECT_EQ(r, want);
  }
  {
    mp::Pool pool(2);
    EXPECT_EQ(pool.apply_async(&reversed, big).get(kBound), want);
    EXPECT_EQ(pool.apply_async(&plus_one, v).get(kBound), v1);
    EXPECT_EQ(pool.map_async(&reversed, std::vector<std::string>(3, big)).get(kBound),
              std::vector<std::string>(3, want));
  }
}

// Through a plain Executor&, a call that cannot cross is TypeError at submit, and an
// unregistered function pointer ValueError; the executor stays usable.
TEST(PoolEngine, CallThatCannotCrossRefusedAtSubmit) {
  PPE pool({.max_workers = 1});
  fu::Executor& ex = pool;
  const std::string s = "captured";
  EXPECT_THROW((void)ex.submit([s] { return s.size(); }), concur::TypeError);
  EXPECT_THROW((void)ex.submit([](std::stop_token /*st*/) { return 1; }), concur::TypeError);
  EXPECT_THROW((void)ex.submit(&not_registered, 1), concur::ValueError);
  EXPECT_THROW((void)pool.submit(&not_registered, 1), concur::ValueError);
  EXPECT_THROW((void)ex.map(&not_registered, std::vector<int>{1, 2}), concur::ValueError);
  EXPECT_EQ(ex.submit(&twice, 4).result(kBound), 8);
  EXPECT_FALSE(pool.broken());
}

// The parent SIGKILLed: no worker outlives it (each worker's lifeline), under each start
// method.
class PoolEngine : public ::testing::TestWithParam<std::string> {};

TEST_P(PoolEngine, ParentKilledLeavesNoWorker) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  const std::string method = GetParam();
  concur::testing::ForkChild child([&] {
    ::close(p[0]);
    mp::Pool pool({.processes = 2, .context = mp::get_context(method)});
    (void)pool.map(&twice, std::vector<int>{1, 2, 3, 4}, 1);
    std::ostringstream out;
    for (int pid : pool.pids()) out << pid << " ";
    out << "\n";
    const std::string s = out.str();
    (void)!::write(p[1], s.data(), s.size());
    for (;;) ::pause();
    return 0;
  });
  ::close(p[1]);
  std::string line;
  pollfd pfd{p[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && ::poll(&pfd, 1, 20000) == 1) {
    char buf[256];
    const ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  std::vector<int> pids;
  std::istringstream in(line);
  for (int pid = 0; in >> pid;) pids.push_back(pid);
  ASSERT_EQ(pids.size(), 2U) << "the child did not report its workers: '" << line << "'";
  child.kill(SIGKILL);
  EXPECT_EQ(child.join(), -SIGKILL);
  EXPECT_TRUE(pu::all_gone(pids, 5s)) << "a worker outlived its killed parent";
  for (int pid : pids)
    if (!pu::process_gone(pid)) ::kill(pid, SIGKILL);  // do not leave it behind
}

INSTANTIATE_TEST_SUITE_P(Methods, PoolEngine, ::testing::Values("fork", "spawn", "forkserver"),
                         pu::method_name);

}  // namespace
