// distributed::Executor and distributed::serve against a private redis-server: workers in
// threads of this process (serve with a stop token) and in child processes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "concur/distributed.hpp"
#include "concur/futures.hpp"
#include "concur/multiprocessing.hpp"
#include "concur/subprocess.hpp"
#include "distributed/protocol.hpp"
#include "distributed/redis.hpp"
#include "support/leak_check.hpp"
#include "support/redis_server.hpp"
#include "support/thread_worker.hpp"

namespace dist = concur::distributed;
namespace cf = concur::futures;
namespace mp = concur::mp;
using namespace std::chrono_literals;

int square(int n) { return n * n; }
CONCUR_REGISTER(square);

int fail_with_value_error(int n) { throw concur::ValueError("bad value " + std::to_string(n)); }
CONCUR_REGISTER(fail_with_value_error);

struct CustomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
int fail_with_custom_error(int) { throw CustomError("custom failure"); }
CONCUR_REGISTER(fail_with_custom_error);

struct RegisteredError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
CONCUR_REGISTER_EXCEPTION(RegisteredError);
int fail_with_registered_error(int n) { throw RegisteredError("registered " + std::to_string(n)); }
CONCUR_REGISTER(fail_with_registered_error);

std::string greet(std::string name) { return "hello " + name; }
CONCUR_REGISTER(greet);

int only_in_the_client(int n) { return n; }  // registered by a test, after its worker started

int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
CONCUR_REGISTER(sleep_ms);

int kill_my_worker(int) {
  std::raise(SIGKILL);
  return 0;
}
CONCUR_REGISTER(kill_my_worker);

// Which tasks of record_run ran, in this process (thread workers).
std::mutex g_runs_mu;
std::vector<int> g_runs;
int record_run(int n) {
  std::lock_guard lock(g_runs_mu);
  g_runs.push_back(n);
  return n;
}
CONCUR_REGISTER(record_run);

int my_pid(int) { return static_cast<int>(::getpid()); }
CONCUR_REGISTER(my_pid);

// Kills its process on the first run (leaving `marker` behind), returns 7 on the next.
int kill_once(std::string marker) {
  if (::access(marker.c_str(), F_OK) != 0) {
    std::FILE* f = std::fopen(marker.c_str(), "w");
    if (f != nullptr) std::fclose(f);
    std::raise(SIGKILL);
  }
  return 7;
}
CONCUR_REGISTER(kill_once);

int cube(int n) { return n * n * n; }  // also in test_program.cpp, under the same name
CONCUR_REGISTER(cube);

void run_worker(std::string url, int concurrency) {
  (void)dist::serve({.url = url,
                     .concurrency = concurrency,
                     .poll_interval = std::chrono::milliseconds(50),
                     .heartbeat_ttl = std::chrono::milliseconds(600)});
}

namespace {

using concur::testing::ThreadWorker;

// serve() in a child process, stopped by SIGTERM at scope end (it must exit 0).
class ProcessWorker {
 public:
  explicit ProcessWorker(const std::string& url, int concurrency = 2)
      : p_(mp::fn<&run_worker>, url, concurrency) {
    p_.start();
  }
  ~ProcessWorker() {
    if (!p_.exitcode()) stop();
  }
  ProcessWorker(const ProcessWorker&) = delete;
  ProcessWorker& operator=(const ProcessWorker&) = delete;
  /// SIGKILL, and the exit code.
  int kill() {
    p_.kill();
    p_.join();
    return *p_.exitcode();
  }
  /// SIGTERM, then the exit code (the worker finishes what it holds first).
  int stop() {
    p_.terminate();
    if (!p_.join(10s)) {
      p_.kill();
      p_.join();
    }
    return *p_.exitcode();
  }

 private:
  mp::Process p_;
};

std::string this_host() {
  char host[256] = {};
  (void)::gethostname(host, sizeof host - 1);
  return host;
}

dist::detail::Redis connect(const concur::testing::RedisServer& server) {
  return dist::detail::Redis(dist::detail::parse_url(server.url()), {});
}

TEST(Executor, SubmitRunsOnAWorker) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  cf::Future<int> f = ex.submit(&square, 7);
  EXPECT_EQ(f.result(10s), 49);
  cf::Future<std::string> g = ex.submit(&greet, std::string("redis"));
  EXPECT_EQ(g.result(10s), "hello redis");
}

TEST(Executor, ManyTasksAllComplete) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url(), 4);
  dist::Executor ex({.url = server.url()});
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 500; ++i) fs.push_back(ex.submit(&square, i));
  for (int i = 0; i < 500; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(20s), i * i);
}

TEST(Executor, ExceptionComesBackAsItsType) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  auto f = ex.submit(&fail_with_value_error, 3);
  try {
    (void)f.result(10s);
    FAIL() << "no exception";
  } catch (const concur::ValueError& e) {
    EXPECT_STREQ(e.what(), "bad value 3");
  }
  auto g = ex.submit(&fail_with_custom_error, 1);
  try {
    (void)g.result(10s);
    FAIL() << "no exception";
  } catch (const mp::RemoteError& e) {
    EXPECT_NE(e.type_name().find("CustomError"), std::string::npos) << e.type_name();
    EXPECT_EQ(e.message(), "custom failure");
    // Where it was raised: the worker's host and pid (a thread of this process here).
    EXPECT_EQ(e.host(), this_host());
    EXPECT_EQ(e.pid(), ::getpid());
    EXPECT_NE(std::string(e.what()).find(" on " + this_host() + ")"), std::string::npos)
        << e.what();
  }
}

TEST(Executor, FuturesMixWithLocalOnesInWaitAndAsCompleted) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  cf::ThreadPoolExecutor local({.max_workers = 1});
  auto remote = ex.submit(&square, 3);
  auto here = local.submit([] { return 4; });
  const auto [done, not_done] = cf::wait({remote, here}, 10s, cf::ALL_COMPLETED);
  EXPECT_EQ(done.size(), 2U);
  EXPECT_TRUE(not_done.empty());
  int seen = 0;
  for (auto& f : cf::as_completed({remote, here}, 10s)) {
    (void)f;
    ++seen;
  }
  EXPECT_EQ(seen, 2);
}

TEST(Executor, MapInOrderWithChunks) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url(), 3);
  dist::Executor ex({.url = server.url()});
  std::vector<int> xs;
  for (int i = 0; i < 100; ++i) xs.push_back(i);
  std::vector<int> got;
  for (int v : ex.map(&square, xs)) got.push_back(v);
  std::vector<int> chunked;
  for (int v : ex.map({.timeout = 20s, .chunksize = 7}, &square, xs)) chunked.push_back(v);
  ASSERT_EQ(got.size(), xs.size());
  ASSERT_EQ(chunked.size(), xs.size());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)], i * i);
    EXPECT_EQ(chunked[static_cast<std::size_t>(i)], i * i);
  }
}

// concurrent.futures.Future.cancel: "If the call is currently being executed or finished
// running and cannot be cancelled then the method will return False, otherwise the call will
// be cancelled and the method will return True." Here: cancelled while in the stream and not
// yet delivered to a worker.
TEST(ExecutorCancel, TaskNoWorkerTookIsCancelledAndNeverRuns) {
  concur::testing::RedisServer server;
  auto r = connect(server);
  dist::Executor ex({.url = server.url()});
  auto early = ex.submit(&record_run, 1001);  // maybe still queued here, or being written
  EXPECT_TRUE(early.cancel());
  auto f = ex.submit(&record_run, 1002);
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"XLEN", "{concur}:tasks"}).integer == 1;
      },
      10s));
  EXPECT_FALSE(f.running());  // PENDING while it waits in the stream
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancel());  // again: still true, as in Python
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_THROW((void)f.result(1s), cf::CancelledError);
  EXPECT_EQ(r.command({"XLEN", "{concur}:tasks"}).integer, 0);  // gone from the stream
  // Counted as completed by wait(), as CANCELLED_AND_NOTIFIED.
  const auto [done, not_done] = cf::wait({f, early}, 1s, cf::ALL_COMPLETED);
  EXPECT_EQ(done.size(), 2U);
  ThreadWorker worker(server.url());
  EXPECT_EQ(ex.submit(&record_run, 1003).result(10s), 1003);
  std::lock_guard lock(g_runs_mu);
  EXPECT_EQ(std::count(g_runs.begin(), g_runs.end(), 1001), 0);
  EXPECT_EQ(std::count(g_runs.begin(), g_runs.end(), 1002), 0);
}

// A cancel whose answer was lost (Redis restarted) runs its script again: the entry it had
// deleted is gone and was never delivered, which still counts as cancelled.
TEST(ExecutorCancel, EntryAlreadyGoneAndNeverDeliveredCountsAsCancelled) {
  concur::testing::RedisServer server;
  auto r = connect(server);
  dist::Executor ex({.url = server.url()});
  auto f = ex.submit(&record_run, 1004);
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"XLEN", "{concur}:tasks"}).integer == 1;
      },
      10s));
  const auto entries = r.command({"XRANGE", "{concur}:tasks", "-", "+"});
  ASSERT_EQ(entries.elements.size(), 1U);
  EXPECT_EQ(r.command({"XDEL", "{concur}:tasks", entries.elements[0].elements[0].str}).integer, 1);
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
}

TEST(ExecutorCancel, TaskAWorkerTookCannotBeCancelled) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url(), 1);
  dist::Executor ex({.url = server.url()});
  auto r = connect(server);
  auto f = ex.submit(&sleep_ms, 600);
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"XPENDING", "{concur}:tasks", "workers"}).elements[0].integer == 1;
      },
      10s));  // delivered to the worker
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(10s), 600);
  EXPECT_FALSE(f.cancel());  // finished
}

// Whatever the timing, a future is either cancelled (and its task never ran) or completed
// with its value (and cancel() said false): never both, never neither.
TEST(ExecutorCancel, CancelRacingWithWorkersIsAlwaysOneOrTheOther) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url(), 2);
  dist::Executor ex({.url = server.url()});
  constexpr int kTasks = 300;
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < kTasks; ++i) fs.push_back(ex.submit(&record_run, 2000 + i));
  std::vector<bool> said(kTasks, false);
  for (int i = 0; i < kTasks; i += 2)
    said[static_cast<std::size_t>(i)] = fs[static_cast<std::size_t>(i)].cancel();
  const auto [done, not_done] = cf::wait(fs, 30s, cf::ALL_COMPLETED);
  ASSERT_TRUE(not_done.empty());
  ex.shutdown();
  std::multiset<int> ran;
  {
    std::lock_guard lock(g_runs_mu);
    ran.insert(g_runs.begin(), g_runs.end());
  }
  int cancelled = 0;
  for (int i = 0; i < kTasks; ++i) {
    const auto& f = fs[static_cast<std::size_t>(i)];
    EXPECT_EQ(f.cancelled(), said[static_cast<std::size_t>(i)]) << i;
    if (f.cancelled()) {
      ++cancelled;
      EXPECT_EQ(ran.count(2000 + i), 0U) << "cancelled task " << i << " ran";
    } else {
      EXPECT_EQ(f.result(1s), 2000 + i);
      EXPECT_GE(ran.count(2000 + i), 1U);
    }
  }
  RecordProperty("cancelled", cancelled);
}

// Executor.shutdown(cancel_futures=True): "Any pending futures that have not started running
// are cancelled" (here: not yet taken by a worker); the one a worker holds completes.
TEST(ExecutorCancel, ShutdownWithCancelFuturesCancelsTheUntakenOnes) {
  concur::testing::RedisServer server;
  auto r = connect(server);
  std::jthread worker([&](std::stop_token stop) {
    (void)dist::serve({.url = server.url(),
                       .concurrency = 1,
                       .prefetch = 1,  // holds only the task it runs
                       .stop = stop,
                       .handle_signals = false,
                       .poll_interval = 50ms});
  });
  dist::Executor ex({.url = server.url()});
  auto running = ex.submit(&sleep_ms, 500);
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"XPENDING", "{concur}:tasks", "workers"}).elements[0].integer == 1;
      },
      10s));
  std::vector<cf::Future<int>> queued;
  for (int i = 0; i < 20; ++i) queued.push_back(ex.submit(&record_run, 3000 + i));
  ex.shutdown(true, true);
  EXPECT_EQ(running.result(1s), 500);
  for (auto& f : queued) EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(r.command({"XLEN", "{concur}:tasks"}).integer, 0);
  std::lock_guard lock(g_runs_mu);
  for (int v : g_runs) EXPECT_TRUE(v < 3000 || v >= 3020) << v;
}

TEST(ExecutorCancel, ShutdownWithCancelFuturesAndNoWorker) {
  concur::testing::RedisServer server;
  dist::Executor ex({.url = server.url()});
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(ex.submit(&square, i));
  ex.shutdown(false, true);
  for (auto& f : fs) EXPECT_TRUE(f.cancelled());
  ex.shutdown(true);  // nothing left to wait for
  auto r = connect(server);
  EXPECT_EQ(r.command({"XLEN", "{concur}:tasks"}).integer, 0);
}

TEST(Executor, TaskSubmittedBeforeAnyWorkerRunsWhenOneJoins) {
  concur::testing::RedisServer server;
  dist::Executor ex({.url = server.url()});
  auto f = ex.submit(&square, 5);
  EXPECT_THROW((void)f.result(100ms), concur::TimeoutError);
  ThreadWorker worker(server.url());
  EXPECT_EQ(f.result(10s), 25);
}

TEST(Executor, WorkerRecreatesTheGroupAfterThePurgeOfTheStream) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  EXPECT_EQ(ex.submit(&square, 2).result(10s), 4);
  auto r = connect(server);
  EXPECT_EQ(r.command({"DEL", "{concur}:tasks"}).integer, 1);  // stream and group gone
  EXPECT_EQ(ex.submit(&square, 3).result(10s), 9);
}

TEST(Executor, SubmitAfterShutdownIsRuntimeError) {
  concur::testing::RedisServer server;
  dist::Executor ex({.url = server.url()});
  ex.shutdown();
  EXPECT_THROW((void)ex.submit(&square, 1), concur::RuntimeError);
}

TEST(Executor, LeavesNoKeyButTheTaskStreamAndCounters) {
  concur::testing::RedisServer server;
  {
    ThreadWorker worker(server.url());
    dist::Executor ex({.url = server.url()});
    for (int i = 0; i < 20; ++i) EXPECT_EQ(ex.submit(&square, i).result(10s), i * i);
  }
  auto r = connect(server);
  const auto keys = r.command({"KEYS", "*"});
  ASSERT_EQ(keys.elements.size(), 2U);  // and the counters concur-cluster reads (0007 §2)
  EXPECT_EQ(r.command({"HGET", "{concur}:stats", "done"}).str, "20");
  EXPECT_EQ(r.command({"TYPE", "{concur}:tasks"}).str, "stream");
  EXPECT_EQ(r.command({"XLEN", "{concur}:tasks"}).integer, 0);  // acknowledged and deleted
  const auto pending = r.command({"XPENDING", "{concur}:tasks", "workers"});
  EXPECT_EQ(pending.elements[0].integer, 0);
  // The worker that stopped cleanly, holding nothing, left the group too.
  EXPECT_TRUE(r.command({"XINFO", "CONSUMERS", "{concur}:tasks", "workers"}).elements.empty());
}

TEST(Executor, NamespacesAreApart) {
  concur::testing::RedisServer server;
  ThreadWorker other_ns_worker(server.url());  // namespace "concur"
  dist::Executor ex({.url = server.url(), .namespace_ = "elsewhere"});
  auto f = ex.submit(&square, 2);
  EXPECT_THROW((void)f.result(300ms), concur::TimeoutError);
  std::jthread worker([&](std::stop_token stop) {
    (void)dist::serve({.url = server.url(),
                       .namespace_ = "elsewhere",
                       .concurrency = 1,
                       .stop = stop,
                       .handle_signals = false,
                       .poll_interval = 50ms});
  });
  EXPECT_EQ(f.result(10s), 4);
}

TEST(Executor, PasswordOptionOverridesTheUrl) {
  concur::testing::RedisServer server;
  EXPECT_THROW(dist::Executor({.url = server.url(), .password = "wrong"}), concur::PermissionError);
  ThreadWorker worker(server.url());
  dist::Executor ex({.url = server.url_without_password(), .password = server.password()});
  EXPECT_EQ(ex.submit(&square, 6).result(10s), 36);
}

// The ACL user of docs/design/0007 §4: its namespace's keys and the protocol's commands only.
TEST(Executor, AclUserLimitedToItsNamespace) {
  concur::testing::RedisServer server;
  auto admin = connect(server);
  admin.command({"ACL",       "SETUSER",       "app",
                 "on",        ">app-secret",   "resetkeys",
                 "~{app}:*",  "resetchannels", "-@all",
                 "+auth",     "+ping",         "+xgroup|create",
                 "+xadd",     "+xreadgroup",   "+xack",
                 "+xdel",     "+rpush",        "+pexpire",
                 "+lrange",   "+ltrim",        "+blmove",
                 "+del",      "+set",          "+exists",
                 "+xpending", "+xclaim",       "+xgroup|delconsumer",
                 "+eval",     "+xinfo|groups"});
  const std::string url =
      "redis://app:app-secret@127.0.0.1:" + std::to_string(server.port()) + "/0";
  {
    std::jthread worker([&](std::stop_token stop) {
      (void)dist::serve({.url = url,
                         .namespace_ = "app",
                         .concurrency = 1,
                         .stop = stop,
                         .handle_signals = false,
                         .poll_interval = 50ms});
    });
    dist::Executor ex({.url = url, .namespace_ = "app"});
    EXPECT_EQ(ex.submit(&square, 11).result(10s), 121);
  }
  {
    // cancel (a script) works for that user too.
    dist::Executor ex({.url = url, .namespace_ = "app"});
    auto f = ex.submit(&square, 12);
    ASSERT_TRUE(concur::testing::eventually(
        [&] {
          return admin.command({"XLEN", "{app}:tasks"}).integer == 1;
        },
        10s));
    EXPECT_TRUE(f.cancel());
    EXPECT_EQ(admin.command({"XLEN", "{app}:tasks"}).integer, 0);
  }
  // Another namespace's keys are refused to that user.
  EXPECT_THROW(dist::Executor({.url = url, .namespace_ = "other"}),
               concur::distributed::RedisError);
}

TEST(Executor, RedisUnreachableIsAClearErrorNotAHang) {
  const int port = concur::testing::free_port();
  const std::string url = "redis://127.0.0.1:" + std::to_string(port) + "/0";
  const auto start = std::chrono::steady_clock::now();
  try {
    dist::Executor ex({.url = url, .connect_timeout = 2s});
    FAIL() << "connected";
  } catch (const concur::ConnectionRefusedError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)dist::serve({.url = url, .handle_signals = false, .connect_timeout = 2s}),
               concur::ConnectionRefusedError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST(Executor, BadOptionsAreValueError) {
  EXPECT_THROW(dist::Executor({.url = "http://x"}), concur::ValueError);
  EXPECT_THROW(dist::Executor({.url = "redis://127.0.0.1:1/0", .max_attempts = 0}),
               concur::ValueError);
  EXPECT_THROW((void)dist::serve({.concurrency = -1}), concur::ValueError);
  EXPECT_THROW((void)dist::serve({.prefetch = 0}), concur::ValueError);
}

TEST(Executor, LostRedisFailsTheWaitingFuturesAfterTheReconnectBound) {
  concur::testing::RedisServer server;
  dist::Executor ex({.url = server.url(),
                     .connect_timeout = 1s,
                     .reconnect_attempts = 3,
                     .reconnect_backoff = 50ms});
  auto f = ex.submit(&square, 2);  // no worker: it waits
  server.stop();
  try {
    (void)f.result(10s);
    FAIL() << "no exception";
  } catch (const concur::ConnectionError& e) {
    EXPECT_NE(std::string(e.what()).find("unreachable after 3 attempt(s)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)ex.submit(&square, 3), cf::BrokenExecutor);
}

TEST(Serve, LostRedisEndsServeWithConnectionErrorAfterTheReconnectBound) {
  concur::testing::RedisServer server;
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      (void)dist::serve({.url = server.url(),
                         .concurrency = 1,
                         .handle_signals = false,
                         .poll_interval = 50ms,
                         .connect_timeout = 1s,
                         .reconnect_attempts = 2,
                         .reconnect_backoff = 50ms});
    } catch (...) {
      error = std::current_exception();
    }
  });
  auto r = connect(server);
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"KEYS", "{concur}:worker:*"}).elements.size() == 1;
      },
      10s));
  server.stop();
  worker.join();  // bounded: two tries, 50 ms apart
  ASSERT_TRUE(error);
  EXPECT_THROW(std::rethrow_exception(error), concur::ConnectionError);
}

int slow_square(int n) {
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return n * n;
}
CONCUR_REGISTER(slow_square);

// Issue 11: redis-server restarted with its append-only file while tasks are queued, running
// and answered: the client and the workers (separate processes) reconnect, nothing is lost,
// and every future completes exactly once with its value.
TEST(ExecutorReconnect, RedisRestartedWithItsAppendOnlyFileLosesNothing) {
  concur::testing::RedisServer server({.appendonly = true});
  ProcessWorker a(server.url());
  ProcessWorker b(server.url());
  dist::Executor ex({.url = server.url()});
  constexpr int kBefore = 300;
  constexpr int kAfter = 50;
  std::vector<cf::Future<int>> fs;
  std::vector<std::atomic<int>> completions(kBefore + kAfter);
  const auto submit = [&](int i) {
    fs.push_back(ex.submit(&slow_square, i));
    fs.back().add_done_callback(
        [&completions, i](const cf::Future<int>&) { ++completions[static_cast<std::size_t>(i)]; });
  };
  for (int i = 0; i < kBefore; ++i) submit(i);
  ASSERT_TRUE(concur::testing::eventually([&] { return fs[20].done(); }, 20s));
  server.restart();  // some answered, some running, most queued
  for (int i = kBefore; i < kBefore + kAfter; ++i) submit(i);
  for (int i = 0; i < kBefore + kAfter; ++i) {
    EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(60s), i * i) << i;
  }
  ex.shutdown();
  for (int i = 0; i < kBefore + kAfter; ++i) {
    EXPECT_EQ(completions[static_cast<std::size_t>(i)].load(), 1) << i;
  }
  EXPECT_EQ(a.stop(), 0);  // the workers lived through it
  EXPECT_EQ(b.stop(), 0);
  auto r = connect(server);
  EXPECT_EQ(r.command({"XLEN", "{concur}:tasks"}).integer, 0);
  EXPECT_EQ(r.command({"XPENDING", "{concur}:tasks", "workers"}).elements[0].integer, 0);
}

TEST(ServeProcess, WorkerInAChildProcessAndStopsOnSigterm) {
  concur::testing::RedisServer server;
  ProcessWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(ex.submit(&square, i));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(20s), i * i);
  EXPECT_EQ(worker.stop(), 0);
}

// A type of the program's own, registered (mp::register_exception) in client and worker:
// rebuilt as itself from a worker process.
TEST(ServeProcess, RegisteredExceptionTypeComesBackAsItself) {
  concur::testing::RedisServer server;
  ProcessWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  auto f = ex.submit(&fail_with_registered_error, 4);
  try {
    (void)f.result(20s);
    FAIL() << "no exception";
  } catch (const RegisteredError& e) {
    EXPECT_STREQ(e.what(), "registered 4");
  }
}

TEST(ServeProcess, RemoteErrorNamesTheWorkersHostAndPid) {
  concur::testing::RedisServer server;
  ProcessWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  auto f = ex.submit(&fail_with_custom_error, 1);
  try {
    (void)f.result(20s);
    FAIL() << "no exception";
  } catch (const mp::RemoteError& e) {
    EXPECT_EQ(e.message(), "custom failure");
    EXPECT_EQ(e.host(), this_host());
    EXPECT_NE(e.pid(), ::getpid());  // the worker process's
    EXPECT_GT(e.pid(), 0);
    EXPECT_NE(std::string(e.what()).find("(in process " + std::to_string(e.pid()) + " on "),
              std::string::npos)
        << e.what();
  }
}

TEST(ServeProcess, UnregisteredFunctionIsRefusedByName) {
  concur::testing::RedisServer server;
  ProcessWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  EXPECT_EQ(ex.submit(&square, 2).result(20s), 4);  // the worker runs
  // Registered here only now: the worker process never had it.
  (void)mp::register_function<&only_in_the_client>("only_in_the_client");
  auto f = ex.submit(&only_in_the_client, 1);
  try {
    (void)f.result(20s);
    FAIL() << "no exception";
  } catch (const concur::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("no function registered as 'only_in_the_client'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(ex.submit(&square, 3).result(20s), 9);  // and the worker goes on
}

// Issue 11: a task whose worker dies (SIGKILL) is claimed from the dead consumer once its
// heartbeat expired, and run again elsewhere; the client sees one result.
TEST(ServeProcess, TaskOfAKilledWorkerRunsAgainElsewhere) {
  concur::testing::RedisServer server;
  ProcessWorker doomed(server.url());
  dist::Executor ex({.url = server.url()});
  auto f = ex.submit(&sleep_ms, 1500);
  auto r = connect(server);
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"XPENDING", "{concur}:tasks", "workers"}).elements[0].integer == 1;
      },
      10s));  // the doomed worker holds it
  EXPECT_EQ(doomed.kill(), -SIGKILL);
  ThreadWorker rescuer(server.url());
  EXPECT_EQ(f.result(20s), 1500);
  // The dead consumer is gone from the group once its tasks were claimed.
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"XINFO", "CONSUMERS", "{concur}:tasks", "workers"}).elements.size() == 1;
      },
      10s));
}

// Issue 11: at most max_attempts runs, then a clear error (Dask's KilledWorker).
TEST(ServeProcess, TaskThatKillsItsWorkersFailsAfterMaxAttempts) {
  concur::testing::RedisServer server;
  ProcessWorker a(server.url());
  ProcessWorker b(server.url());
  dist::Executor ex({.url = server.url(), .max_attempts = 1});
  auto f = ex.submit(&kill_my_worker, 0);
  try {
    (void)f.result(20s);
    FAIL() << "no exception";
  } catch (const concur::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("max_attempts = 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ex.submit(&square, 4).result(10s), 16);  // the survivor serves on
}

// serve({.processes = true}): each task in a worker process of a pool of serve's own.
class ProcessesWorker {
 public:
  explicit ProcessesWorker(const std::string& url)
      : thread_([url](std::stop_token stop) {
          (void)dist::serve({.url = url,
                             .concurrency = 2,
                             .processes = true,
                             .stop = stop,
                             .handle_signals = false,
                             .poll_interval = 50ms,
                             .heartbeat_ttl = 600ms});
        }) {}
  ~ProcessesWorker() {
    thread_.request_stop();
    thread_.join();
  }
  ProcessesWorker(const ProcessesWorker&) = delete;
  ProcessesWorker& operator=(const ProcessesWorker&) = delete;

 private:
  std::jthread thread_;
};

TEST(ServeProcesses, TasksRunInWorkerProcesses) {
  concur::testing::RedisServer server;
  ProcessesWorker worker(server.url());
  dist::Executor ex({.url = server.url()});
  const int pid = ex.submit(&my_pid, 0).result(20s);
  EXPECT_NE(pid, ::getpid());  // serve runs in this process; the task in another
  EXPECT_GT(pid, 0);
  std::vector<int> xs(40);
  for (int i = 0; i < 40; ++i) xs[static_cast<std::size_t>(i)] = i;
  int i = 0;
  for (int v : ex.map({.timeout = 30s}, &square, xs)) {
    EXPECT_EQ(v, i * i) << i;
    ++i;
  }
  EXPECT_EQ(i, 40);
  auto f = ex.submit(&fail_with_value_error, 5);
  EXPECT_THROW((void)f.result(20s), concur::ValueError);
}

// A task that kills its worker process: run again in a fresh process, at most max_attempts
// runs in all, then the error of a task whose workers died; serve itself goes on.
TEST(ServeProcesses, TaskThatKillsItsProcessFailsAfterMaxAttempts) {
  concur::testing::RedisServer server;
  ProcessesWorker worker(server.url());
  dist::Executor ex({.url = server.url(), .max_attempts = 2});
  auto f = ex.submit(&kill_my_worker, 0);
  try {
    (void)f.result(30s);
    FAIL() << "no exception";
  } catch (const concur::RuntimeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("run 2 time(s)"), std::string::npos) << what;
    EXPECT_NE(what.find("max_attempts = 2"), std::string::npos) << what;
    EXPECT_NE(what.find("SIGKILL"), std::string::npos) << what;
  }
  EXPECT_EQ(ex.submit(&square, 9).result(20s), 81);
}

TEST(ServeProcesses, TaskWhoseProcessDiedOnceRunsAgain) {
  concur::testing::RedisServer server;
  const std::string marker =
      ::testing::TempDir() + "concur-kill-once-" + std::to_string(::getpid());
  ::unlink(marker.c_str());
  ProcessesWorker worker(server.url());
  dist::Executor ex({.url = server.url(), .max_attempts = 2});
  EXPECT_EQ(ex.submit(&kill_once, marker).result(30s), 7);
  EXPECT_EQ(::unlink(marker.c_str()), 0);  // the first run left it
}

// A malformed entry never crashes a worker in process mode either: the call bytes reach
// invoke in the worker process, which answers ValueError.
TEST(ServeProcesses, MalformedEntryIsAnsweredWithAnError) {
  concur::testing::RedisServer server;
  ProcessesWorker worker(server.url());
  auto r = connect(server);
  r.command({"XADD", "{concur}:tasks", "*", "client", "fake", "task", "4", "call", "garbage"});
  r.command({"XADD", "{concur}:tasks", "*", "client", "fake", "task", "x", "call", "y"});
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"LLEN", "{concur}:results:fake"}).integer == 1;
      },
      20s));
  const auto msg =
      dist::detail::ResultMessage::decode(r.command({"LPOP", "{concur}:results:fake"}).str);
  EXPECT_EQ(msg.task, 4U);
  EXPECT_THROW(mp::decode_result<int>(msg.reply), concur::ValueError);
  dist::Executor ex({.url = server.url()});
  EXPECT_EQ(ex.submit(&square, 5).result(20s), 25);  // and it serves on
}

// mp::main_guard handles --concur-worker=<url>: the user's program serves instead of running
// main (tests/distributed/test_program.cpp); without it, main runs (a client here).
TEST(ServeSwitch, ProgramServesWithTheWorkerSwitch) {
  namespace sp = concur::subprocess;
  concur::testing::RedisServer server;
  sp::Popen worker({CONCUR_DISTRIBUTED_TEST_PROGRAM, "--concur-worker=" + server.url(),
                    "--concur-worker-concurrency=2"},
                   {.stdin_ = sp::DEVNULL, .stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  {
    dist::Executor ex({.url = server.url()});
    EXPECT_EQ(ex.submit(&cube, 3).result(20s), 27);  // run by the program
    auto r = connect(server);
    const auto workers = r.command({"KEYS", "{concur}:worker:*"});
    ASSERT_EQ(workers.elements.size(), 1U);
    EXPECT_NE(workers.elements[0].str.find(":" + std::to_string(worker.pid()) + ":"),
              std::string::npos)
        << workers.elements[0].str;
    // The same program without the switch is a client of that worker.
    auto client = sp::run({CONCUR_DISTRIBUTED_TEST_PROGRAM, server.url()},
                          {.capture_output = true, .timeout = 30s, .text = true});
    EXPECT_EQ(client.returncode, 0);
    EXPECT_EQ(client.stdout_.value_or(""), "1\n8\n27\n64\n125\n");
  }
  worker.terminate();
  auto [out, err] = worker.communicate(20s);
  EXPECT_EQ(worker.returncode(), 0) << err.value_or("");
  EXPECT_EQ(out.value_or("x"), "");  // main's body never ran
  EXPECT_NE(err.value_or("").find("concur-worker: stopped after 6 task(s)"), std::string::npos)
      << err.value_or("");
}

TEST(ServeSwitch, ProcessesOptionRunsTasksInWorkerProcesses) {
  namespace sp = concur::subprocess;
  concur::testing::RedisServer server;
  sp::Popen worker({CONCUR_DISTRIBUTED_TEST_PROGRAM, "--concur-worker=" + server.url(),
                    "--concur-worker-concurrency=1", "--concur-worker-processes"},
                   {.stdin_ = sp::DEVNULL, .stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  {
    dist::Executor ex({.url = server.url()});
    EXPECT_EQ(ex.submit(&cube, 4).result(30s), 64);
    EXPECT_EQ(ex.submit(&cube, 5).result(30s), 125);
  }
  worker.terminate();
  auto [out, err] = worker.communicate(20s);
  EXPECT_EQ(worker.returncode(), 0) << err.value_or("");
  EXPECT_NE(err.value_or("").find("concur-worker: stopped after 2 task(s)"), std::string::npos)
      << err.value_or("");
}

TEST(ServeSwitch, UnreachableRedisIsAnErrorExit) {
  namespace sp = concur::subprocess;
  const std::string url =
      "redis://127.0.0.1:" + std::to_string(concur::testing::free_port()) + "/0";
  auto r = sp::run({CONCUR_DISTRIBUTED_TEST_PROGRAM, "--concur-worker=" + url},
                   {.capture_output = true, .timeout = 30s, .text = true});
  EXPECT_EQ(r.returncode, 1);
  EXPECT_NE(r.stderr_.value_or("").find("concur-worker: "), std::string::npos)
      << r.stderr_.value_or("");
  EXPECT_EQ(r.stdout_.value_or("x"), "");
}

TEST(Serve, MalformedEntriesAreAnsweredOrDroppedNeverFatal) {
  concur::testing::RedisServer server;
  ThreadWorker worker(server.url());
  auto r = connect(server);
  // A call that is not a request: answered with ValueError on the client's list.
  r.command({"XADD", "{concur}:tasks", "*", "client", "fake", "task", "9", "call", "garbage"});
  // No client: nobody to answer; dropped.
  r.command({"XADD", "{concur}:tasks", "*", "task", "1", "call", "x"});
  // No fields the worker knows.
  r.command({"XADD", "{concur}:tasks", "*", "what", "ever"});
  ASSERT_TRUE(concur::testing::eventually(
      [&] {
        return r.command({"LLEN", "{concur}:results:fake"}).integer == 1;
      },
      10s));
  EXPECT_GT(r.command({"PTTL", "{concur}:results:fake"}).integer, 0);  // it expires
  const auto popped = r.command({"LPOP", "{concur}:results:fake"});
  const auto msg = dist::detail::ResultMessage::decode(popped.str);
  EXPECT_EQ(msg.task, 9U);
  EXPECT_THROW(mp::decode_result<int>(msg.reply), concur::ValueError);
  // The worker still serves.
  dist::Executor ex({.url = server.url()});
  EXPECT_EQ(ex.submit(&square, 8).result(10s), 64);
}

}  // namespace
