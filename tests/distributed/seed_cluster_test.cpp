// The seed's master/worker on the cluster (examples/seed_cluster.hpp) as separate programs:
// two `concur-seed-cluster worker` and one `concur-seed-cluster master`
// (examples/concur-seed-cluster.cpp), started with subprocess::Popen, meeting at a private
// redis-server: first on loopback, then, where the machine allows network namespaces, with
// each worker in a network namespace of its own that reaches Redis over a veth pair, as
// another machine would (never over loopback).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "concur/subprocess.hpp"
#include "concur/timeout.hpp"
#include "distributed/redis.hpp"
#include "support/redis_server.hpp"
#include "support/seed_util.hpp"
#include "support/timing.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace {

namespace sp = concur::subprocess;
namespace seed = concur::testing::seed;
using namespace std::chrono_literals;

#ifdef CONCUR_SEED_CLUSTER
constexpr const char* kProgram = CONCUR_SEED_CLUSTER;
#else
constexpr const char* kProgram = nullptr;
#endif

// This environment, with the Redis password in CONCUR_REDIS_PASSWORD (kept out of argv).
sp::Environment with_password(const std::string& password) {
  sp::Environment env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  env["CONCUR_REDIS_PASSWORD"] = password;
  return env;
}

// True once `n` workers beat in the namespace "concur" (within 30 s).
bool workers_serving(const std::string& url, std::size_t n) {
  namespace detail = concur::distributed::detail;
  const auto end = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    try {
      detail::Redis redis(detail::parse_url(url), {});
      if (redis.command({"KEYS", "{concur}:worker:*"}).elements.size() >= n) return true;
    } catch (const std::exception&) {
    }
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(50ms);
  }
}

// SIGTERM to a worker: it finishes what it holds and exits 0; its output.
std::string stop_worker(sp::Popen& worker) {
  worker.terminate();
  const auto out = worker.communicate(30s);
  EXPECT_EQ(worker.returncode(), 0) << *out.stdout_ << *out.stderr_;
  EXPECT_NE(out.stdout_->find("worker exit ("), std::string::npos) << *out.stdout_;
  return *out.stdout_;
}

class SeedCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kProgram == nullptr) GTEST_SKIP() << "examples are not built (CONCUR_BUILD_EXAMPLES)";
  }
};

// Two worker programs serve; a master program submits ten n * n tasks and prints the ten
// results; each worker ran some of them (one task at a time, 50 ms each).
TEST_F(SeedCluster, MasterAndTwoWorkerPrograms) {
  concur::testing::RedisServer server;
  const std::string url = server.url_without_password();
  std::vector<sp::Popen> workers;
  for (int i = 0; i < 2; ++i) {
    workers.emplace_back(
        sp::Args{kProgram, "worker", url},
        sp::PopenOptions{
            .stdout_ = sp::PIPE, .stderr_ = sp::PIPE, .env = with_password(server.password())});
  }
  ASSERT_TRUE(workers_serving(server.url(), 2)) << "the workers did not start serving";
  sp::Popen master(
      {kProgram, "master", url},
      {.stdout_ = sp::PIPE, .stderr_ = sp::PIPE, .env = with_password(server.password())});
  const auto m = master.communicate(60s);
  EXPECT_EQ(master.returncode(), 0) << *m.stdout_ << *m.stderr_;
  seed::expect_ten_squares(*m.stdout_);
  EXPECT_EQ(m.stdout_->find(server.password()), std::string::npos) << "the password was shown";
  for (sp::Popen& w : workers) {
    const std::string out = stop_worker(w);
    EXPECT_NE(out.find("run task "), std::string::npos) << "a worker ran nothing:\n" << out;
  }
}

// A wrong password: the worker and the master exit 3, saying why.
TEST_F(SeedCluster, WrongPasswordIsAnError) {
  concur::testing::RedisServer server;
  const std::string url = server.url_without_password();
  for (const char* mode : {"worker", "master"}) {
    const auto r = sp::run({kProgram, mode, url}, {.stdout_ = sp::PIPE,
                                                   .stderr_ = sp::PIPE,
                                                   .timeout = concur::Timeout(30s),
                                                   .env = with_password("wrong")});
    EXPECT_EQ(r.returncode, 3) << mode << ": " << *r.stdout_ << *r.stderr_;
    EXPECT_NE(r.stderr_->find("WRONGPASS"), std::string::npos) << *r.stderr_;
  }
}

// No worker serves the namespace: the master says so after its wait (here 1 s), takes its
// tasks back from the stream (cancelled: none is left for a later worker) and exits 1.
TEST_F(SeedCluster, NoWorkerIsSaidAfterTheWaitAndTheTasksAreTakenBack) {
  concur::testing::RedisServer server;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = sp::run({kProgram, "master", server.url_without_password(), "nobody", "1"},
                         {.stdout_ = sp::PIPE,
                          .stderr_ = sp::PIPE,
                          .timeout = concur::Timeout(30s),
                          .env = with_password(server.password())});
  concur::testing::expect_took(concur::testing::seconds_since(t0), 1.0);
  EXPECT_EQ(r.returncode, 1) << *r.stdout_ << *r.stderr_;
  EXPECT_NE(r.stdout_->find("No result within 1000 ms"), std::string::npos) << *r.stdout_;
  namespace detail = concur::distributed::detail;
  detail::Redis redis(detail::parse_url(server.url()), {});
  EXPECT_EQ(redis.command({"XLEN", "{nobody}:tasks"}).integer, 0);
  // A usage error for a bad wait.
  EXPECT_EQ(sp::run({kProgram, "master", server.url(), "nobody", "0"}, {.stderr_ = sp::DEVNULL})
                .returncode,
            2);
}

// As other machines would: each worker runs in a network namespace of its own (`unshare
// -n`), whose only way out is a veth pair to this namespace; redis-server listens on the host
// ends of the pairs only (with its password; not on loopback, never on 0.0.0.0); the master
// reaches it on one of them. Needs root (CAP_NET_ADMIN), unshare and ip; skipped otherwise.
TEST_F(SeedCluster, WorkersInTheirOwnNetworkNamespaces) {
  if (const std::string why = seed::netns_unavailable(); !why.empty()) GTEST_SKIP() << why;
  const int pid = static_cast<int>(::getpid());
  const std::vector<seed::Link> links = seed::free_links(2);
  std::vector<std::string> host_ends;
  std::vector<std::string> peer_ends;
  std::vector<std::optional<seed::VethPair>> pairs(2);
  for (std::size_t i = 0; i < 2; ++i) {
    host_ends.push_back("ccl" + std::to_string(pid) + "h" + std::to_string(i));
    peer_ends.push_back("ccl" + std::to_string(pid) + "p" + std::to_string(i));
    if (seed::ip({"link", "add", host_ends[i], "type", "veth", "peer", "name", peer_ends[i]}) != 0)
      GTEST_SKIP() << "cannot create a veth pair here";
    pairs[i].emplace(host_ends[i]);
    ASSERT_EQ(seed::ip({"addr", "add", links[i].host_ip + "/30", "dev", host_ends[i]}), 0);
    ASSERT_EQ(seed::ip({"link", "set", host_ends[i], "up"}), 0);
  }
  concur::testing::RedisServer server({.bind = {links[0].host_ip, links[1].host_ip}});

  // Each worker's shell says in which namespace it is, waits until its end of the pair has
  // been moved in, sets it up (loopback stays down), and becomes the worker.
  const std::string script =
      "echo \"ready $(readlink /proc/self/ns/net)\"; read go; "
      "ip addr add \"$4/30\" dev \"$3\" && ip link set \"$3\" up && "
      "exec \"$1\" worker \"$2\"";
  const std::string here = std::filesystem::read_symlink("/proc/self/ns/net").string();
  std::vector<sp::Popen> workers;
  std::vector<std::string> namespaces;
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string url = "redis://" + links[i].host_ip + ":" + std::to_string(server.port());
    workers.emplace_back(sp::Args{"unshare", "-n", "--", "sh", "-c", script, "sh", kProgram, url,
                                  peer_ends[i], links[i].worker_ip},
                         sp::PopenOptions{.stdin_ = sp::PIPE,
                                          .stdout_ = sp::PIPE,
                                          .stderr_ = sp::PIPE,
                                          .env = with_password(server.password())});
    sp::Popen& w = workers.back();
    const std::string netns =
        seed::read_line_starting(w.stdout_, "ready ", concur::Deadline(concur::Timeout(20s)));
    ASSERT_FALSE(netns.empty()) << "worker " << i << "'s shell did not start";
    EXPECT_NE(netns, here) << "worker " << i << " is not in a network namespace of its own";
    namespaces.push_back(netns);
    ASSERT_EQ(seed::ip({"link", "set", peer_ends[i], "netns", std::to_string(w.pid())}), 0);
    w.stdin_.write("go\n");
    w.stdin_.close();
  }
  EXPECT_NE(namespaces[0], namespaces[1]) << "the workers share a network namespace";
  ASSERT_TRUE(workers_serving(server.url(), 2)) << "the workers did not start serving";

  sp::Popen master(
      {kProgram, "master", server.url_without_password()},
      {.stdout_ = sp::PIPE, .stderr_ = sp::PIPE, .env = with_password(server.password())});
  const auto m = master.communicate(60s);
  EXPECT_EQ(master.returncode(), 0) << *m.stdout_ << *m.stderr_;
  EXPECT_NE(m.stdout_->find("Connect to redis://" + links[0].host_ip + ":"), std::string::npos)
      << *m.stdout_;
  seed::expect_ten_squares(*m.stdout_);
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string out = stop_worker(workers[i]);
    EXPECT_NE(out.find(": connect to redis://" + links[i].host_ip + ":"), std::string::npos) << out;
    EXPECT_NE(out.find("run task "), std::string::npos) << "worker " << i << " ran nothing:\n"
                                                        << out;
  }
}

}  // namespace
