// Conformance: multiprocessing.Pool, AsyncResult and IMapIterator (CPython's
// _test_multiprocessing._TestPool, _TestPoolWorkerLifetime and TestInitializers), under the
// default start method and, where the method matters, under fork, spawn and forkserver.
// Pools here are small (one or two workers) so that spawn stays fast.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "concur/futures.hpp"
#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/pool.hpp"
#include "support/mp_pool_util.hpp"

namespace mp = concur::mp;
namespace pu = concur::testing::pool;
using namespace std::chrono_literals;

// Worker functions, registered by name (distinct names: the binary holds other test files).
namespace mp_pool_fns {

int sqr(int x) { return x * x; }
int mul(int x, int y) { return x * y; }
void nothing() {}

// CPython's SayWhenError: a ValueError subclass, a type the codec does not know.
struct SayWhenError : concur::ValueError {
  using concur::ValueError::ValueError;
};

int raise_value_error(int x) { throw concur::ValueError("bad value " + std::to_string(x)); }
int raise_overflow(int /*x*/) { throw std::overflow_error("too big"); }
int raise_say_when(int x) { throw SayWhenError("SomeException " + std::to_string(x)); }
// sqr, except for `when`: SayWhenError.
int sqr_or_raise_at_5(int x) {
  if (x == 5) throw SayWhenError("Somebody said when");
  return x * x;
}

// The initializer: records this worker's pid in `dir`/<pid> (one line per call), and
// sets this worker's status.
std::string g_init_status = "uninitialized";
void init_record(std::string dir, std::string status) {
  pu::append_line(dir + "/" + std::to_string(::getpid()), "init");
  g_init_status = std::move(status);
}
std::string get_init_status() { return g_init_status; }
int get_pid() { return ::getpid(); }

}  // namespace mp_pool_fns

CONCUR_REGISTER(mp_pool_fns::sqr);
CONCUR_REGISTER(mp_pool_fns::mul);
CONCUR_REGISTER(mp_pool_fns::nothing);
CONCUR_REGISTER(mp_pool_fns::raise_value_error);
CONCUR_REGISTER(mp_pool_fns::raise_overflow);
CONCUR_REGISTER(mp_pool_fns::raise_say_when);
CONCUR_REGISTER(mp_pool_fns::sqr_or_raise_at_5);
CONCUR_REGISTER(mp_pool_fns::init_record);
CONCUR_REGISTER(mp_pool_fns::get_init_status);
CONCUR_REGISTER(mp_pool_fns::get_pid);

namespace {

using namespace mp_pool_fns;

constexpr auto kBound = 10s;  // every wait on a result

std::vector<int> range(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}
std::vector<int> squares(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i * i);
  return v;
}

// Runs `call` and returns the ValueError's message ("" when none was thrown).
template <class F>
std::string value_error_of(F&& call) {
  try {
    call();
  } catch (const concur::ValueError& e) {
    return e.what();
  }
  return "";
}

class Pool : public ::testing::TestWithParam<std::string> {
 protected:
  [[nodiscard]] mp::PoolOptions options(int processes) const {
    return {.processes = processes, .context = mp::get_context(GetParam())};
  }
};

// ---------------------------------------------------------------------------------------
// apply, apply_async, map, starmap: under every start method.

// _test_multiprocessing._TestPool.test_apply
TEST_P(Pool, Apply) {
  mp::Pool pool(options(2));
  EXPECT_EQ(pool.apply(&sqr, 5), 25);
  EXPECT_EQ(pool.apply(mp::fn<&mul>, 3, 4), 12);
  EXPECT_EQ(pool.apply([](int x) { return x + 1; }, 41), 42);
  pool.apply(&nothing);
}

// _test_multiprocessing._TestPool.test_map
TEST_P(Pool, Map) {
  mp::Pool pool(options(2));
  EXPECT_EQ(pool.map(&sqr, range(10)), squares(10));
  EXPECT_EQ(pool.map(mp::fn<&sqr>, range(100), 10), squares(100));
}

// _test_multiprocessing._TestPool.test_starmap
TEST_P(Pool, Starmap) {
  mp::Pool pool(options(2));
  std::vector<std::tuple<int, int>> args;
  for (int i = 0; i < 10; ++i) args.emplace_back(i, i + 1);
  std::vector<int> want;
  for (auto [a, b] : args) want.push_back(a * b);
  EXPECT_EQ(pool.starmap(&mul, args), want);
  EXPECT_EQ(pool.starmap(mp::fn<&mul>, args, 3), want);
}

// _test_multiprocessing._TestPool.test_async
TEST_P(Pool, ApplyAsync) {
  mp::Pool pool(options(1));
  auto res = pool.apply_async(&sqr, 7);
  EXPECT_EQ(res.get(kBound), 49);
  EXPECT_TRUE(res.ready());
  EXPECT_TRUE(res.successful());
}

// _test_multiprocessing._TestPool.test_traceback (the exception's type and message come
// back; a type the codec does not know comes back as RemoteError naming it)
TEST_P(Pool, ExceptionsComeBackAsTheirTypes) {
  mp::Pool pool(options(1));
  try {
    pool.apply(&raise_value_error, 3);
    ADD_FAILURE() << "no exception";
  } catch (const concur::ValueError& e) {
    EXPECT_STREQ(e.what(), "bad value 3");
  }
  try {
    pool.apply(&raise_overflow, 0);
    ADD_FAILURE() << "no exception";
  } catch (const std::overflow_error& e) {
    EXPECT_STREQ(e.what(), "too big");
  }
  try {
    pool.apply(&raise_say_when, 1);
    ADD_FAILURE() << "no exception";
  } catch (const mp::RemoteError& e) {
    EXPECT_NE(e.type_name().find("SayWhenError"), std::string::npos) << e.type_name();
    EXPECT_EQ(e.message(), "SomeException 1");
    // It names the worker that raised it.
    EXPECT_GT(e.pid(), 0);
    EXPECT_NE(e.pid(), ::getpid());
    EXPECT_NE(std::string(e.what()).find("(in process " + std::to_string(e.pid()) + ")"),
              std::string::npos)
        << e.what();
  }
  // The pool is still usable.
  EXPECT_EQ(pool.apply(&sqr, 3), 9);
}

// _test_multiprocessing.TestInitializers.test_pool_initializer (initializer with initargs:
// it runs once in each worker, before that worker's first task)
TEST_P(Pool, InitializerRunsOncePerWorker) {
  pu::TempDir dir;
  auto opts = options(2);
  opts.initializer = mp::Call(&init_record, dir.path(), std::string("initialized"));
  std::set<int> task_pids;
  {
    mp::Pool pool(opts);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(pool.apply(&get_init_status), "initialized");
    for (int p : pool.map(mp::fn<&pu::worker_pid>, range(8), 1)) task_pids.insert(p);
    pool.close();
    pool.join();
  }
  ASSERT_FALSE(task_pids.empty());
  for (int p : task_pids)
    EXPECT_EQ(pu::read_file(dir.file(std::to_string(p))), "init\n") << "worker " << p;
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(pu::read_file(e.path().string()), "init\n") << e.path();
  }
  EXPECT_LE(files, 2U);  // no worker was started again
}

// _test_multiprocessing._TestPoolWorkerLifetime.test_pool_worker_lifetime (with
// maxtasksperchild, workers are replaced: the pids change, every result still comes)
TEST_P(Pool, MaxtasksperchildReplacesWorkers) {
  auto opts = options(2);
  opts.maxtasksperchild = 2;
  mp::Pool pool(opts);
  auto before = pool.pids();
  ASSERT_EQ(before.size(), 2U);
  std::vector<mp::AsyncResult<int>> results;
  for (int i = 0; i < 10; ++i) results.push_back(pool.apply_async(&sqr, i));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(kBound), i * i);
  // Ten tasks, at most two per worker: at least five workers ran them.
  const auto pids = pool.map(mp::fn<&pu::worker_pid>, range(10), 1);
  EXPECT_GE(std::set<int>(pids.begin(), pids.end()).size(), 5U);
  std::vector<int> after;
  EXPECT_TRUE(concur::testing::eventually([&] {
    after = pool.pids();
    return after.size() == 2U;
  }));
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_NE(before, after);
  pool.close();
  pool.join();
}

INSTANTIATE_TEST_SUITE_P(Methods, Pool, ::testing::Values("fork", "spawn", "forkserver"),
                         pu::method_name);

// ---------------------------------------------------------------------------------------
// The rest: the default start method.

// _test_multiprocessing._TestPool.test_async_error_callback and test_apply_async callback
TEST(Pool, ApplyAsyncCallback) {
  mp::Pool pool(1);
  auto got = std::make_shared<std::promise<int>>();
  auto res = pool.apply_async(
      &sqr, std::tuple{6}, [got](const int& v) { got->set_value(v); },
      [got](std::exception_ptr e) { got->set_exception(e); });
  auto f = got->get_future();
  ASSERT_EQ(f.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(f.get(), 36);
  EXPECT_EQ(res.get(kBound), 36);
}

// _test_multiprocessing._TestPool.test_async_error_callback
TEST(Pool, ApplyAsyncErrorCallback) {
  mp::Pool pool(1);
  auto got = std::make_shared<std::promise<std::string>>();
  auto res = pool.apply_async(
      &raise_value_error, std::tuple{9},
      [got](const int&) { got->set_value("callback called with a value"); },
      [got](std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const concur::ValueError& v) {
          got->set_value(std::string("ValueError: ") + v.what());
        } catch (...) {
          got->set_value("another exception");
        }
      });
  auto f = got->get_future();
  ASSERT_EQ(f.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(f.get(), "ValueError: bad value 9");
  EXPECT_THROW(res.get(kBound), concur::ValueError);
  EXPECT_FALSE(res.successful());
}

// _test_multiprocessing._TestPool.test_map_async and test_map_async_callbacks
TEST(Pool, MapAsyncCallbacks) {
  mp::Pool pool(2);
  auto got = std::make_shared<std::promise<std::vector<int>>>();
  auto res = pool.map_async(
      &sqr, range(10), std::nullopt, [got](const std::vector<int>& v) { got->set_value(v); },
      [got](std::exception_ptr e) { got->set_exception(e); });
  auto f = got->get_future();
  ASSERT_EQ(f.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(f.get(), squares(10));
  EXPECT_EQ(res.get(kBound), squares(10));

  // _test_multiprocessing._TestPool.test_map_async_callbacks: the error callback
  auto err = std::make_shared<std::promise<bool>>();
  auto bad = pool.map_async(
      &sqr_or_raise_at_5, range(10), 1, [err](const std::vector<int>&) { err->set_value(false); },
      [err](std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const mp::RemoteError&) {
          err->set_value(true);
        } catch (...) {
          err->set_value(false);
        }
      });
  auto ef = err->get_future();
  ASSERT_EQ(ef.wait_for(kBound), std::future_status::ready);
  EXPECT_TRUE(ef.get());
  EXPECT_THROW(bad.get(kBound), mp::RemoteError);
}

// _test_multiprocessing._TestPool.test_starmap_async
TEST(Pool, StarmapAsync) {
  mp::Pool pool(2);
  std::vector<std::pair<int, int>> args;
  for (int i = 0; i < 10; ++i) args.emplace_back(i, i + 1);
  std::vector<int> want;
  for (auto [a, b] : args) want.push_back(a * b);
  EXPECT_EQ(pool.starmap_async(&mul, args).get(kBound), want);
  EXPECT_EQ(pool.starmap_async(mp::fn<&mul>, args, 4).get(kBound), want);
}

// _test_multiprocessing._TestPool.test_map_chunksize (empty input, chunksize 1: no hang)
TEST(Pool, MapEmptyInput) {
  mp::Pool pool(2);
  EXPECT_TRUE(pool.map_async(&sqr, std::vector<int>{}, 1).get(kBound).empty());
  EXPECT_TRUE(pool.map(&sqr, std::vector<int>{}).empty());
  EXPECT_TRUE(pool.starmap(&mul, std::vector<std::tuple<int, int>>{}).empty());
  auto it = pool.imap(&sqr, std::vector<int>{});
  EXPECT_EQ(it.next(kBound), std::nullopt);
}

// _test_multiprocessing._TestPool.test_map (chunksizes: results in order whatever the
// chunking)
TEST(Pool, MapChunksizes) {
  mp::Pool pool(2);
  for (long cs : {1L, 2L, 3L, 7L, 50L, 100L}) EXPECT_EQ(pool.map(&sqr, range(50), cs), squares(50));
}

// The documentation of Pool.map: "chops the iterable into a number of chunks which it
// submits to the process pool as separate tasks"; the default chunksize is CPython's
// len / (4 x processes) rounded up: 16 items on 2 workers go in chunks of 2, each chunk run
// by one worker.
TEST(Pool, MapDefaultChunksize) {
  mp::Pool pool(2);
  const auto pids = pool.map(mp::fn<&pu::worker_pid>, range(16));
  ASSERT_EQ(pids.size(), 16U);
  for (std::size_t i = 0; i < 16; i += 2) EXPECT_EQ(pids[i], pids[i + 1]) << "chunk at " << i;
  const auto one = pool.map(mp::fn<&pu::worker_pid>, range(8), 8);
  EXPECT_EQ(std::set<int>(one.begin(), one.end()).size(), 1U);
}

// _test_multiprocessing._TestPool.test_map_no_failfast analogue and the documented chunksize
// rule: chunksize < 1 is ValueError (CPython checks it for imap only).
TEST(Pool, ChunksizeBelowOne) {
  mp::Pool pool(1);
  EXPECT_EQ(value_error_of([&] { (void)pool.map(&sqr, range(3), 0); }),
            "Chunksize must be 1+, not 0");
  EXPECT_EQ(value_error_of([&] { (void)pool.map_async(&sqr, range(3), -1); }),
            "Chunksize must be 1+, not -1");
  // _test_multiprocessing._TestPool.test_imap (chunksize checked at the call)
  EXPECT_EQ(value_error_of([&] { (void)pool.imap(&sqr, range(3), 0); }),
            "Chunksize must be 1+, not 0");
  EXPECT_EQ(value_error_of([&] { (void)pool.imap_unordered(&sqr, range(3), -2); }),
            "Chunksize must be 1+, not -2");
}

// _test_multiprocessing._TestPool.test_imap
TEST(Pool, Imap) {
  mp::Pool pool(2);
  std::vector<int> got;
  for (int v : pool.imap(&sqr, range(10))) got.push_back(v);
  EXPECT_EQ(got, squares(10));

  auto it = pool.imap(mp::fn<&sqr>, range(1000), 100);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(it.next(kBound), i * i);
  EXPECT_EQ(it.next(kBound), std::nullopt);  // StopIteration
  EXPECT_EQ(it.next(kBound), std::nullopt);  // and again
}

// _test_multiprocessing._TestPool.test_imap_unordered
TEST(Pool, ImapUnordered) {
  mp::Pool pool(2);
  std::vector<int> got;
  for (int v : pool.imap_unordered(&sqr, range(10))) got.push_back(v);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, squares(10));

  auto it = pool.imap_unordered(&sqr, range(100), 7);
  std::vector<int> all;
  while (auto v = it.next(kBound)) all.push_back(*v);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, squares(100));
}

// _test_multiprocessing._TestPool.test_imap_handle_iterable_exception (the error appears at
// its position: the results before it come first)
TEST(Pool, ImapExceptionAtItsPosition) {
  mp::Pool pool(2);
  {
    auto it = pool.imap(&sqr_or_raise_at_5, range(10), 1);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(it.next(kBound), i * i);
    EXPECT_THROW((void)it.next(kBound), mp::RemoteError);
    // CPython's imap goes on after the failed item.
    for (int i = 6; i < 10; ++i) EXPECT_EQ(it.next(kBound), i * i);
    EXPECT_EQ(it.next(kBound), std::nullopt);
  }
  {
    auto it = pool.imap(&sqr_or_raise_at_5, range(10), 2);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(it.next(kBound), i * i);  // the chunk [4, 5] fails
    EXPECT_THROW((void)it.next(kBound), mp::RemoteError);
    for (int i = 6; i < 10; ++i) EXPECT_EQ(it.next(kBound), i * i);
    EXPECT_EQ(it.next(kBound), std::nullopt);
  }
}

// _test_multiprocessing._TestPool.test_imap_unordered_handle_iterable_exception
TEST(Pool, ImapUnorderedException) {
  mp::Pool pool(2);
  auto it = pool.imap_unordered(&sqr_or_raise_at_5, range(10), 1);
  auto expected = squares(10);
  bool raised = false;
  try {
    for (int i = 0; i < 10; ++i) {
      auto v = it.next(kBound);
      ASSERT_TRUE(v.has_value());
      auto at = std::find(expected.begin(), expected.end(), *v);
      ASSERT_NE(at, expected.end()) << *v;
      expected.erase(at);
    }
  } catch (const mp::RemoteError& e) {
    raised = true;
    EXPECT_EQ(e.message(), "Somebody said when");
  }
  EXPECT_TRUE(raised);
}

// IMapIterator.next(timeout) raises TimeoutError when no result is ready in time
// (multiprocessing/pool.py IMapIterator.next; CPython: imap of a slow task,
// next(timeout=0.05))
TEST(IMapIterator, NextTimesOut) {
  mp::Pool pool(1);
  auto it = pool.imap(mp::fn<&pu::sleep_ms>, std::vector<int>{200, 0});
  EXPECT_THROW((void)it.next(50ms), concur::TimeoutError);
  EXPECT_EQ(it.next(kBound), 200);
  EXPECT_EQ(it.next(kBound), 0);
  EXPECT_EQ(it.next(kBound), std::nullopt);

  auto un = pool.imap_unordered(mp::fn<&pu::sleep_ms>, std::vector<int>{200});
  EXPECT_THROW((void)un.next(50ms), concur::TimeoutError);
  EXPECT_EQ(un.next(kBound), 200);
}

// _test_multiprocessing._TestPool.test_async_timeout (get(timeout) raises TimeoutError, then
// the result comes)
TEST(AsyncResult, GetTimesOut) {
  mp::Pool pool(1);
  auto res = pool.apply_async(mp::fn<&pu::sleep_ms>, 500);
  EXPECT_THROW((void)res.get(50ms), concur::TimeoutError);
  EXPECT_FALSE(res.ready());
  EXPECT_EQ(res.get(kBound), 500);
}

// multiprocessing/pool.py ApplyResult.successful: ValueError "... not ready" before ready;
// ready() and wait(timeout)
TEST(AsyncResult, SuccessfulBeforeReadyIsValueError) {
  mp::Pool pool(1);
  auto res = pool.apply_async(mp::fn<&pu::sleep_ms>, 300);
  EXPECT_FALSE(res.ready());
  const std::string msg = value_error_of([&] { (void)res.successful(); });
  ASSERT_GE(msg.size(), 10U);
  EXPECT_EQ(msg.substr(msg.size() - 10), " not ready") << msg;
  res.wait(10ms);  // returns when the timeout passes
  EXPECT_FALSE(res.ready());
  res.wait(kBound);
  EXPECT_TRUE(res.ready());
  EXPECT_TRUE(res.successful());
}

// AsyncResult wraps a futures::Future: pool results mix with other futures in wait()
TEST(AsyncResult, FutureMixesWithWait) {
  mp::Pool pool(2);
  auto a = pool.apply_async(&sqr, 3);
  auto b = pool.map_async(&sqr, range(3));
  auto r = concur::futures::wait({a.future(), b.future()}, kBound);
  EXPECT_EQ(r.done.size(), 2U);
  EXPECT_EQ(a.get(kBound), 9);
}

// _test_multiprocessing._TestPool.test_make_pool
TEST(Pool, ZeroProcessesIsValueError) {
  EXPECT_EQ(value_error_of([] { mp::Pool p(0); }), "Number of processes must be at least 1");
  EXPECT_EQ(value_error_of([] { mp::Pool p(-1); }), "Number of processes must be at least 1");
  // _test_multiprocessing._TestPoolWorkerLifetime / pool.py: maxtasksperchild < 1
  EXPECT_EQ(value_error_of([] { mp::Pool p({.processes = 1, .maxtasksperchild = 0}); }),
            "maxtasksperchild must be a positive int or None");
  EXPECT_EQ(value_error_of([] { mp::Pool p({.processes = 1, .maxtasksperchild = -1}); }),
            "maxtasksperchild must be a positive int or None");
  mp::Pool one(1);
  EXPECT_EQ(one.processes(), 1);
}

// _test_multiprocessing._TestPool.test_pool_worker_lifetime_early_close and
// test_context (after close(), every call is ValueError "Pool not running")
TEST(Pool, NotRunningAfterClose) {
  mp::Pool pool(1);
  auto pending = pool.apply_async(&sqr, 4);
  pool.close();
  const std::string not_running = "Pool not running";
  EXPECT_EQ(value_error_of([&] { (void)pool.apply(&sqr, 1); }), not_running);
  EXPECT_EQ(value_error_of([&] { (void)pool.apply_async(&sqr, 1); }), not_running);
  EXPECT_EQ(value_error_of([&] { (void)pool.map(&sqr, range(2)); }), not_running);
  EXPECT_EQ(value_error_of([&] { (void)pool.map_async(&sqr, range(2)); }), not_running);
  EXPECT_EQ(value_error_of([&] { (void)pool.starmap(&mul, std::vector<std::tuple<int, int>>{}); }),
            not_running);
  EXPECT_EQ(value_error_of([&] { (void)pool.imap(&sqr, range(2)); }), not_running);
  EXPECT_EQ(value_error_of([&] { (void)pool.imap_unordered(&sqr, range(2)); }), not_running);
  pool.join();  // the task submitted before close() still ran
  EXPECT_EQ(pending.get(kBound), 16);
}

// _test_multiprocessing._TestPool.test_terminate (and "Pool not running" after terminate)
TEST(Pool, Terminate) {
  mp::Pool pool(2);
  std::vector<int> sleeps(200, 50);
  auto res = pool.map_async(mp::fn<&pu::sleep_ms>, sleeps, 1);
  const auto start = std::chrono::steady_clock::now();
  pool.terminate();
  pool.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_ANY_THROW((void)res.get(kBound));  // CancelledError or BrokenProcessPool
  EXPECT_EQ(value_error_of([&] { (void)pool.apply(&sqr, 1); }), "Pool not running");
  pool.terminate();  // no-op
  pool.close();      // no-op
}

// multiprocessing/pool.py Pool.join: ValueError "Pool is still running" before close()
TEST(Pool, JoinWhileRunning) {
  mp::Pool pool(1);
  EXPECT_EQ(value_error_of([&] { pool.join(); }), "Pool is still running");
  pool.close();
  pool.join();
  pool.join();  // again: returns
}

// _test_multiprocessing._TestPool.test_empty_iterable / test_context: the destructor is
// __exit__ (terminate); after it, the workers are gone
TEST(Pool, DestructorStopsWorkers) {
  std::vector<int> pids;
  {
    mp::Pool pool(2);
    EXPECT_EQ(pool.map(&sqr, range(4)), squares(4));
    pids = pool.pids();
    EXPECT_EQ(pids.size(), 2U);
  }
  EXPECT_TRUE(pu::all_gone(pids));
}

// _test_multiprocessing._TestPool.test_release_task_refs analogue: many tasks, few workers
TEST(Pool, ManyTasksFewWorkers) {
  mp::Pool pool(2);
  std::vector<mp::AsyncResult<int>> rs;
  for (int i = 0; i < 200; ++i) rs.push_back(pool.apply_async(&mul, i, 2));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(rs[static_cast<std::size_t>(i)].get(kBound), 2 * i);
}

}  // namespace
