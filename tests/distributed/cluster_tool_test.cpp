// concur-cluster (tools/cluster/), run as a program against a private redis-server, with
// workers serving in threads of this process: `info` shows the workers and counts that match,
// `purge` empties the queue (answering the waiting clients), `purge --all` deletes the
// namespace's keys and no other; a bad URL, an unreachable Redis, a wrong or missing password
// and a server that never answers are clear errors with a non-zero exit code, never a hang.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "concur/distributed.hpp"
#include "concur/futures.hpp"
#include "concur/multiprocessing.hpp"
#include "concur/subprocess.hpp"
#include "distributed/redis.hpp"
#include "os/fd.hpp"
#include "os/socket.hpp"
#include "os/terminal.hpp"
#include "support/redis_server.hpp"
#include "support/thread_worker.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace {

namespace dist = concur::distributed;
namespace sp = concur::subprocess;
using namespace std::chrono_literals;

#ifdef CONCUR_CLUSTER_TOOL
constexpr const char* kTool = CONCUR_CLUSTER_TOOL;
#else
constexpr const char* kTool = nullptr;
#endif

int tool_square(int n) { return n * n; }
int tool_fail(int n) { throw concur::ValueError("bad " + std::to_string(n)); }
// A task that runs until the test releases it (at most 30 s): its workers run in this process.
std::mutex g_hold_mu;
std::condition_variable g_hold_cv;
bool g_released = false;
int tool_held(int n) {
  std::unique_lock lock(g_hold_mu);
  g_hold_cv.wait_for(lock, 30s, [] { return g_released; });
  return n;
}
void set_released(bool released) {
  {
    std::lock_guard lock(g_hold_mu);
    g_released = released;
  }
  g_hold_cv.notify_all();
}

}  // namespace

CONCUR_REGISTER(tool_square);
CONCUR_REGISTER(tool_fail);
CONCUR_REGISTER(tool_held);

namespace {

using concur::testing::ThreadWorker;

struct Ran {
  int rc = -1;
  std::string out;
  std::string err;
  std::chrono::milliseconds took{};
};

// Runs concur-cluster ARGS (stdin not a terminal); `password` goes in CONCUR_REDIS_PASSWORD.
Ran cluster(std::vector<std::string> args, const std::optional<std::string>& password = {}) {
  args.insert(args.begin(), kTool);
  std::optional<sp::Environment> env;
  if (password) {
    env.emplace();
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const auto eq = entry.find('=');
      if (eq != std::string::npos) (*env)[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    (*env)["CONCUR_REDIS_PASSWORD"] = *password;
  }
  const auto start = std::chrono::steady_clock::now();
  const sp::CompletedProcess p = sp::run(sp::Args(args), {.stdin_ = sp::DEVNULL,
                                                          .stdout_ = sp::PIPE,
                                                          .stderr_ = sp::PIPE,
                                                          .timeout = concur::Timeout(60s),
                                                          .env = env});
  return {p.returncode, p.stdout_.value_or(""), p.stderr_.value_or(""),
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                start)};
}

// Runs `info --json` until `pred(output)` holds (at most 15 s); the last output.
template <class Pred>
std::string info_until(const concur::testing::RedisServer& server, Pred pred) {
  const auto end = std::chrono::steady_clock::now() + 15s;
  std::string out;
  for (;;) {
    const Ran r = cluster({"--url", server.url(), "info", "--json"});
    EXPECT_EQ(r.rc, 0) << r.err;
    out = r.out;
    if (pred(out) || std::chrono::steady_clock::now() >= end) return out;
    std::this_thread::sleep_for(100ms);
  }
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The sum of the workers' "done" fields in info's JSON.
long long workers_done(const std::string& json) {
  long long sum = 0;
  const auto workers = json.find("\"workers\":");
  for (auto at = json.find("\"done\":", workers);
       workers != std::string::npos && at != std::string::npos;
       at = json.find("\"done\":", at + 1)) {
    sum += std::atoll(json.c_str() + at + 7);
  }
  return sum;
}

class ClusterTool : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kTool == nullptr) GTEST_SKIP() << "concur-cluster is not built (CONCUR_BUILD_CLUSTER_TOOL)";
  }
};

// info: both workers (this process's pid, their concurrency), the tasks done and failed in
// all and per worker (their heartbeats carry their counts), nothing queued or running.
TEST_F(ClusterTool, InfoShowsWorkersAndCounts) {
  concur::testing::RedisServer server;
  ThreadWorker w2(server.url(), 2);
  ThreadWorker w3(server.url(), 3);
  {
    dist::Executor ex({.url = server.url()});
    std::vector<concur::futures::Future<int>> fs;
    for (int i = 0; i < 20; ++i) fs.push_back(ex.submit(&tool_square, i));
    auto bad1 = ex.submit(&tool_fail, 1);
    auto bad2 = ex.submit(&tool_fail, 2);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(20s), i * i);
    EXPECT_THROW((void)bad1.result(20s), concur::ValueError);
    EXPECT_THROW((void)bad2.result(20s), concur::ValueError);
  }
  const std::string json = info_until(server, [](const std::string& out) {
    return count(out, "\"alive\":true") == 2 && workers_done(out) == 22;
  });
  EXPECT_NE(json.find("\"tasks\":{\"queued\":0,\"running\":0,\"done\":22,\"failed\":2,"
                      "\"exhausted\":0}"),
            std::string::npos)
      << json;
  EXPECT_EQ(count(json, "\"alive\":true"), 2U) << json;
  EXPECT_EQ(workers_done(json), 22) << json;
  EXPECT_EQ(count(json, "\"pid\":" + std::to_string(::getpid()) + ","), 2U) << json;
  EXPECT_EQ(count(json, "\"concurrency\":2,"), 1U) << json;
  EXPECT_EQ(count(json, "\"concurrency\":3,"), 1U) << json;
  EXPECT_NE(json.find("\"last_heartbeat_ms\":"), std::string::npos) << json;

  // The table says the same for people.
  const Ran table = cluster({"info", "--url", server.url()});
  EXPECT_EQ(table.rc, 0) << table.err;
  EXPECT_NE(table.out.find("0 queued, 0 running, 22 done, 2 failed"), std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("workers: 2 alive"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("CONCURRENCY"), std::string::npos) << table.out;
  EXPECT_EQ(count(table.out, "  " + std::to_string(::getpid()) + "  "), 2U) << table.out;
  EXPECT_NE(table.out.find(" s ago"), std::string::npos) << table.out;
}

// Queued: in the stream, not taken; running: taken by a worker, not answered.
TEST_F(ClusterTool, InfoCountsQueuedAndRunning) {
  concur::testing::RedisServer server;
  set_released(false);
  dist::Executor ex({.url = server.url()});
  auto held = ex.submit(&tool_held, 7);
  ThreadWorker worker(server.url(), 1, 1);  // holds one task at a time: the held one
  const std::string before = info_until(server, [](const std::string& out) {
    return out.find("\"queued\":0,\"running\":1,") != std::string::npos;
  });
  EXPECT_NE(before.find("\"queued\":0,\"running\":1,"), std::string::npos) << before;
  std::vector<concur::futures::Future<int>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(ex.submit(&tool_square, i));
  const std::string json = info_until(server, [](const std::string& out) {
    return out.find("\"queued\":5,\"running\":1,") != std::string::npos;
  });
  EXPECT_NE(json.find("\"queued\":5,\"running\":1,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"concurrency\":1,\"running\":1,"), std::string::npos) << json;
  set_released(true);
  EXPECT_EQ(held.result(20s), 7);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(20s), i * i);
}

// purge: refused without --yes when stdin is not a terminal; with it, removes the queued
// tasks, says what it removed, and their futures fail with a RuntimeError saying so (not a
// wait forever). The namespace works as before afterwards.
TEST_F(ClusterTool, PurgeEmptiesTheQueueAndAnswersTheClients) {
  concur::testing::RedisServer server;
  dist::Executor ex({.url = server.url()});
  std::vector<concur::futures::Future<int>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(ex.submit(&tool_square, i));
  info_until(server,
             [](const std::string& out) { return out.find("\"queued\":5,") != std::string::npos; });

  const Ran refused = cluster({"--url", server.url(), "purge"});
  EXPECT_EQ(refused.rc, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("without --yes"), std::string::npos) << refused.err;
  EXPECT_NE(info_until(server, [](const std::string&) { return true; }).find("\"queued\":5,"),
            std::string::npos);

  const Ran purged = cluster({"--url", server.url(), "purge", "--yes"});
  EXPECT_EQ(purged.rc, 0) << purged.err;
  EXPECT_NE(purged.out.find("purged 5 queued task(s) of namespace 'concur'"), std::string::npos)
      << purged.out;
  EXPECT_NE(purged.out.find("5  tool_square"), std::string::npos) << purged.out;
  for (auto& f : fs) {
    try {
      (void)f.result(20s);
      ADD_FAILURE() << "a purged task has a result";
    } catch (const concur::RuntimeError& e) {
      EXPECT_NE(std::string(e.what()).find("purged"), std::string::npos) << e.what();
    }
  }
  const std::string json = info_until(server, [](const std::string&) { return true; });
  EXPECT_NE(json.find("\"queued\":0,\"running\":0,"), std::string::npos) << json;

  ThreadWorker worker(server.url(), 1);
  EXPECT_EQ(ex.submit(&tool_square, 9).result(20s), 81);
}

// On a terminal, purge says what it will remove and asks: "n" removes nothing (exit 1),
// "y" removes (exit 0).
TEST_F(ClusterTool, PurgeAsksOnATerminal) {
  concur::testing::RedisServer server;
  dist::detail::Redis redis(dist::detail::parse_url(server.url()), {});
  redis.command({"XADD", "{concur}:tasks", "*", "client", "c", "task", "1", "call", "x"});
  for (const char* answer : {"n\n", "y\n"}) {
    auto pty = concur::os::open_pty();
    sp::Popen p(
        sp::Args{kTool, "--url", server.url(), "purge"},
        sp::PopenOptions{.stdin_ = pty.slave.get(), .stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
    pty.slave.reset();
    ASSERT_EQ(concur::os::write_all_noexcept(pty.master.get(), answer, 2), 0);
    const auto out = p.communicate(30s);
    EXPECT_NE(out.stderr_->find("Remove the 1 queued task(s) of namespace 'concur'"),
              std::string::npos)
        << *out.stderr_;
    if (answer[0] == 'n') {
      EXPECT_EQ(p.returncode(), 1) << *out.stderr_;
      EXPECT_NE(out.stderr_->find("Nothing removed."), std::string::npos) << *out.stderr_;
      EXPECT_EQ(redis.command({"XLEN", "{concur}:tasks"}).integer, 1);
    } else {
      EXPECT_EQ(p.returncode(), 0) << *out.stderr_;
      EXPECT_NE(out.stdout_->find("purged 1 queued task(s)"), std::string::npos) << *out.stdout_;
      EXPECT_EQ(redis.command({"XLEN", "{concur}:tasks"}).integer, 0);
    }
  }
}

// purge --all: every key of the namespace goes (listed), and no key of another namespace,
// even one the namespace's name matches as a glob pattern.
TEST_F(ClusterTool, PurgeAllDeletesTheNamespaceOnly) {
  concur::testing::RedisServer server;
  {  // the namespace "concur" used for real: its stream and group, its counters
    ThreadWorker worker(server.url(), 1);
    dist::Executor ex({.url = server.url()});
    EXPECT_EQ(ex.submit(&tool_square, 3).result(20s), 9);
  }
  dist::detail::Redis redis(dist::detail::parse_url(server.url()), {});
  for (const char* key : {"{concur}:extra", "{concurx}:kept", "{a*}:gone", "{ab}:kept", "other"}) {
    redis.command({"SET", key, "x"});
  }
  const Ran all = cluster({"--url", server.url(), "purge", "--all", "--yes", "--json"});
  EXPECT_EQ(all.rc, 0) << all.err;
  EXPECT_NE(all.out.find("\"purged\":0,"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("\"deleted_keys\":[\"{concur}:extra\",\"{concur}:stats\","
                         "\"{concur}:tasks\"]"),
            std::string::npos)
      << all.out;
  const Ran glob = cluster({"--url", server.url(), "-n", "a*", "purge", "--all", "--yes"});
  EXPECT_EQ(glob.rc, 0) << glob.err;
  EXPECT_NE(glob.out.find("deleted {a*}:gone\n"), std::string::npos) << glob.out;
  EXPECT_NE(glob.out.find("deleted 1 key(s) of namespace 'a*'"), std::string::npos) << glob.out;
  std::vector<std::string> left;
  for (const auto& key : redis.command({"KEYS", "*"}).elements) left.push_back(key.str);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"other", "{ab}:kept", "{concurx}:kept"}));
}

// A malformed URL or option is a usage error (2), said on stderr.
TEST_F(ClusterTool, BadUrlIsAUsageError) {
  const Ran r = cluster({"--url", "http://127.0.0.1:6379", "info"});
  EXPECT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("redis://"), std::string::npos) << r.err;
  const Ran port = cluster({"--url", "redis://127.0.0.1:99999", "info"});
  EXPECT_EQ(port.rc, 2) << port.err;
  EXPECT_NE(port.err.find("bad port"), std::string::npos) << port.err;
  const Ran none = cluster({"--url", "redis://127.0.0.1:6379"});
  EXPECT_EQ(none.rc, 2) << none.err;
  EXPECT_NE(none.err.find("subcommand"), std::string::npos) << none.err;
}

// Nothing listens there: exit 1 at once, naming the address.
TEST_F(ClusterTool, UnreachableRedisIsAClearError) {
  const int port = concur::testing::free_port();
  const Ran r = cluster({"--url", "redis://127.0.0.1:" + std::to_string(port), "info"});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot reach Redis"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// A server that accepts and never answers: --timeout bounds the wait (exit 1, "timed out").
TEST_F(ClusterTool, SilentServerTimesOut) {
  const concur::os::Fd listener = concur::os::stream_socket(AF_INET);
  // The kernel completes the handshake for connections waiting in the backlog; nobody reads.
  concur::os::bind_listen(listener.get(), concur::os::inet_address("127.0.0.1", 0), 8);
  const int port = concur::os::describe(concur::os::local_address(listener.get())).port;
  const Ran r =
      cluster({"--url", "redis://127.0.0.1:" + std::to_string(port), "--timeout", "0.5", "info"});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
  EXPECT_GE(r.took, 300ms);
  EXPECT_LT(r.took, 20s);
}

// A wrong password and a missing one: exit 1, saying so; the password may come from
// CONCUR_REDIS_PASSWORD instead of the URL.
TEST_F(ClusterTool, PasswordErrorsAndTheEnvironment) {
  concur::testing::RedisServer server;
  const std::string bare = server.url_without_password();
  const Ran wrong = cluster({"--url", bare, "--password", "not-the-password", "info"});
  EXPECT_EQ(wrong.rc, 1) << wrong.out << wrong.err;
  EXPECT_NE(wrong.err.find("WRONGPASS"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("is the password right?"), std::string::npos) << wrong.err;
  const Ran missing = cluster({"--url", bare, "info"});
  EXPECT_EQ(missing.rc, 1) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("NOAUTH"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("Redis wants a password"), std::string::npos) << missing.err;
  const Ran from_env = cluster({"--url", bare, "info"}, server.password());
  EXPECT_EQ(from_env.rc, 0) << from_env.err;
  EXPECT_NE(from_env.out.find("namespace 'concur' on redis 127.0.0.1:"), std::string::npos)
      << from_env.out;
}

}  // namespace
