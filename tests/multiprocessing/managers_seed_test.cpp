// The seed's distributed master/worker (examples/seed_queue.hpp) as two separate programs:
// `concur-seed-queue master` and `concur-seed-queue worker` (examples/concur-seed-queue.cpp)
// started with subprocess::Popen, talking over TCP with an authkey, first on loopback, then,
// where the machine allows network namespaces, with the worker in a network namespace of its
// own that reaches the master over a veth pair, as another machine would.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "concur/exceptions.hpp"
#include "concur/subprocess.hpp"
#include "concur/timeout.hpp"
#include "support/seed_util.hpp"

namespace sp = concur::subprocess;
namespace seed = concur::testing::seed;
using namespace std::chrono_literals;
using seed::expect_ten_squares;
using seed::ip;
using seed::read_line_starting;

namespace mp_managers_seed {

#ifdef CONCUR_SEED_QUEUE
constexpr const char* kProgram = CONCUR_SEED_QUEUE;
#else
constexpr const char* kProgram = nullptr;
#endif

// The master's "Serving on HOST:PORT" line: the port it chose.
std::string served_port(sp::Popen& master) {
  const std::string where =
      read_line_starting(master.stdout_, "Serving on ", concur::Deadline(concur::Timeout(20s)));
  const auto colon = where.rfind(':');
  return colon == std::string::npos ? "" : where.substr(colon + 1);
}

sp::Popen start_master(const std::string& host, const std::string& key) {
  return sp::Popen({kProgram, "master", host, "0", key},
                   {.stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
}

class BaseManagerSeed : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kProgram == nullptr) GTEST_SKIP() << "examples are not built (CONCUR_BUILD_EXAMPLES)";
  }
};

// The seed: master and worker are two programs; the worker connects to the master's address
// with the same authkey, and the master gets the square of each of its ten numbers.
TEST_F(BaseManagerSeed, TwoProgramsOnLoopback) {
  auto master = start_master("127.0.0.1", "seed-key");
  const std::string port = served_port(master);
  ASSERT_FALSE(port.empty()) << "the master did not report its address";
  sp::Popen worker({kProgram, "worker", "127.0.0.1", port, "seed-key"},
                   {.stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  const auto w = worker.communicate(30s);
  const auto m = master.communicate(30s);
  EXPECT_EQ(worker.returncode(), 0) << *w.stdout_ << *w.stderr_;
  EXPECT_EQ(master.returncode(), 0) << *m.stdout_ << *m.stderr_;
  EXPECT_NE(w.stdout_->find("run task "), std::string::npos) << *w.stdout_;
  EXPECT_NE(w.stdout_->find("worker exit."), std::string::npos) << *w.stdout_;
  expect_ten_squares(*m.stdout_);
}

// A worker with another authkey is refused (AuthenticationError, exit code 3) and the master
// goes on serving: a worker with the right key then does the work.
TEST_F(BaseManagerSeed, WrongAuthkeyIsRefused) {
  auto master = start_master("127.0.0.1", "seed-key");
  const std::string port = served_port(master);
  ASSERT_FALSE(port.empty()) << "the master did not report its address";
  sp::Popen intruder({kProgram, "worker", "127.0.0.1", port, "not-the-key"},
                     {.stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  const auto i = intruder.communicate(30s);
  EXPECT_EQ(intruder.returncode(), 3) << *i.stdout_ << *i.stderr_;
  EXPECT_NE(i.stderr_->find("AuthenticationError"), std::string::npos) << *i.stderr_;
  EXPECT_EQ(i.stdout_->find("run task "), std::string::npos) << *i.stdout_;

  sp::Popen worker({kProgram, "worker", "127.0.0.1", port, "seed-key"},
                   {.stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  const auto w = worker.communicate(30s);
  const auto m = master.communicate(30s);
  EXPECT_EQ(worker.returncode(), 0) << *w.stdout_ << *w.stderr_;
  EXPECT_EQ(master.returncode(), 0) << *m.stdout_ << *m.stderr_;
  expect_ten_squares(*m.stdout_);
}

// As another machine would: the worker runs in a network namespace of its own (`unshare -n`),
// whose only way out is a veth pair to this namespace; the master listens on this end's
// address. Needs root (CAP_NET_ADMIN), unshare and ip; skipped otherwise.
TEST_F(BaseManagerSeed, WorkerInItsOwnNetworkNamespace) {
  if (const std::string why = seed::netns_unavailable(); !why.empty()) GTEST_SKIP() << why;

  // Names from our pid, a /30 no interface uses: runs at once do not collide.
  const int pid = static_cast<int>(::getpid());
  const std::string host_end = "csq" + std::to_string(pid) + "h";
  const std::string peer_end = "csq" + std::to_string(pid) + "p";
  const seed::Link link = seed::free_links(1).front();
  const std::string& master_ip = link.host_ip;
  const std::string& worker_ip = link.worker_ip;

  if (ip({"link", "add", host_end, "type", "veth", "peer", "name", peer_end}) != 0)
    GTEST_SKIP() << "cannot create a veth pair here";
  seed::VethPair veth(host_end);
  ASSERT_EQ(ip({"addr", "add", master_ip + "/30", "dev", host_end}), 0);
  ASSERT_EQ(ip({"link", "set", host_end, "up"}), 0);

  auto master = start_master(master_ip, "seed-key");
  const std::string port = served_port(master);
  ASSERT_FALSE(port.empty()) << "the master did not report its address";

  // The worker's shell says in which namespace it is, waits until its end of the pair has
  // been moved in, sets it up, and becomes the worker.
  const std::string script =
      "echo \"ready $(readlink /proc/self/ns/net)\"; read go; "
      "ip addr add \"$5/30\" dev \"$4\" && ip link set \"$4\" up && ip link set lo up && "
      "exec \"$1\" worker \"$2\" \"$3\" seed-key";
  sp::Popen worker({"unshare", "-n", "--", "sh", "-c", script, "sh", kProgram, master_ip, port,
                    peer_end, worker_ip},
                   {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  const std::string netns =
      read_line_starting(worker.stdout_, "ready ", concur::Deadline(concur::Timeout(20s)));
  ASSERT_FALSE(netns.empty()) << "the worker's shell did not start";
  EXPECT_NE(netns, std::filesystem::read_symlink("/proc/self/ns/net").string())
      << "the worker is not in a network namespace of its own";
  ASSERT_EQ(ip({"link", "set", peer_end, "netns", std::to_string(worker.pid())}), 0);
  worker.stdin_.write("go\n");
  worker.stdin_.close();

  const auto w = worker.communicate(30s);
  const auto m = master.communicate(30s);
  EXPECT_EQ(worker.returncode(), 0) << *w.stdout_ << *w.stderr_;
  EXPECT_EQ(master.returncode(), 0) << *m.stdout_ << *m.stderr_;
  EXPECT_NE(w.stdout_->find("Connect to server " + master_ip), std::string::npos) << *w.stdout_;
  EXPECT_NE(w.stdout_->find("worker exit."), std::string::npos) << *w.stdout_;
  expect_ten_squares(*m.stdout_);
}

}  // namespace mp_managers_seed
