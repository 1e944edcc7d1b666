// Helpers for the tests that run the seed's master/worker as separate programs
// (tests/multiprocessing/managers_seed_test.cpp: concur-seed-queue; tests/distributed/
// seed_cluster_test.cpp: concur-seed-cluster): reading their output, and giving a worker a
// network namespace of its own that reaches this one over a veth pair, as another machine
// would.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/subprocess.hpp"
#include "concur/timeout.hpp"
#include "os/poll.hpp"
#include "support/leak_check.hpp"

namespace concur::testing::seed {

// The first line of `out` (within `deadline`) that starts with `prefix`, without it and its
// newline; "" when none came in time or the pipe ended first.
inline std::string read_line_starting(subprocess::PipeFile& out, std::string_view prefix,
                                      const Deadline& deadline) {
  for (;;) {
    if (!os::wait_fd(out.fileno(), os::kPollIn, deadline)) return "";
    std::string line = out.readline();
    if (line.empty()) return "";  // EOF
    if (line.starts_with(prefix)) {
      line.erase(0, prefix.size());
      if (!line.empty() && line.back() == '\n') line.pop_back();
      return line;
    }
  }
}

// Checks a master's output: ten tasks put ("Put task N..."), ten results ("Result: N * N =
// M"), each a task squared, and "master exit.".
inline void expect_ten_squares(const std::string& out) {
  std::multiset<long long> put;
  std::multiset<long long> answered;
  // (sscanf, not std::regex: GCC 12's -Wmaybe-uninitialized misfires on <regex> under ASan.)
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    long long n = 0;
    long long m = 0;
    long long square = 0;
    if (std::sscanf(line.c_str(), "Put task %lld...", &n) == 1) put.insert(n);
    if (std::sscanf(line.c_str(), "Result: %lld * %lld = %lld", &n, &m, &square) == 3) {
      EXPECT_EQ(m, n) << line;
      EXPECT_EQ(square, n * n) << line;
      answered.insert(n);
    }
  }
  EXPECT_EQ(put.size(), 10U) << out;
  EXPECT_EQ(answered, put) << out;
  EXPECT_NE(out.find("master exit."), std::string::npos) << out;
}

// `ip ARGS...` quietly; its returncode (127 when there is no `ip`).
inline int ip(std::vector<std::string> args) {
  args.insert(args.begin(), "ip");
  try {
    return subprocess::run(subprocess::Args(args), {.stdin_ = subprocess::DEVNULL,
                                                    .stdout_ = subprocess::DEVNULL,
                                                    .stderr_ = subprocess::DEVNULL,
                                                    .timeout = Timeout(std::chrono::seconds(10))})
        .returncode;
  } catch (const FileNotFoundError&) {
    return 127;
  }
}

// Why a worker cannot be given a network namespace of its own here (for GTEST_SKIP), or ""
// when it can: needs root (CAP_NET_ADMIN), unshare(1) allowed to make one, and ip(8).
inline std::string netns_unavailable() {
  if (::geteuid() != 0) return "network namespaces need root (CAP_NET_ADMIN)";
  try {
    if (subprocess::run({"unshare", "-n", "true"}, {.stdin_ = subprocess::DEVNULL,
                                                    .stdout_ = subprocess::DEVNULL,
                                                    .stderr_ = subprocess::DEVNULL,
                                                    .timeout = Timeout(std::chrono::seconds(10))})
            .returncode != 0)
      return "`unshare -n` is not allowed here";
  } catch (const FileNotFoundError&) {
    return "no unshare(1)";
  }
  if (ip({"link", "show", "lo"}) != 0) return "no working ip(8)";
  return "";
}

// The veth pair of one test: the host end is deleted at scope end (which deletes its peer),
// whatever happened; the worker's network namespace ends with the worker.
class VethPair {
 public:
  explicit VethPair(std::string host_end) : host_end_(std::move(host_end)) {}
  ~VethPair() {
    if (exists()) ip({"link", "del", host_end_});
    // The kernel may still be tearing down the worker's namespace, and the pair with it.
    EXPECT_TRUE(eventually([&] { return !exists(); }, std::chrono::milliseconds(10000)))
        << "veth " << host_end_ << " left behind";
  }
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  [[nodiscard]] bool exists() const { return ip({"link", "show", host_end_}) == 0; }

 private:
  std::string host_end_;
};

// A /30 of 198.18.0.0/15 (RFC 2544, benchmarking: never routed) for one veth pair: the host
// end's address and the worker's.
struct Link {
  std::string host_ip;
  std::string worker_ip;
};

// `n` /30s that no interface of this namespace uses now, picked at random, so that tests
// that run at once (in several processes) do not collide.
inline std::vector<Link> free_links(std::size_t n) {
  std::string used;
  try {
    used = subprocess::run({"ip", "-4", "-o", "addr", "show"},
                           {.stdin_ = subprocess::DEVNULL,
                            .stdout_ = subprocess::PIPE,
                            .stderr_ = subprocess::DEVNULL,
                            .timeout = Timeout(std::chrono::seconds(10))})
               .stdout_.value_or("");
  } catch (const FileNotFoundError&) {
  }
  std::mt19937 gen(std::random_device{}());
  std::uniform_int_distribution<int> pick(0, 32767);  // the /30s of a /15
  std::vector<Link> out;
  std::set<int> taken;
  while (out.size() < n) {
    const int k = pick(gen);
    const std::string net =
        "198." + std::to_string(18 + k / 16384) + "." + std::to_string(k / 64 % 256) + ".";
    const int base = k % 64 * 4;
    bool free = taken.insert(k).second;
    for (int i = 0; i < 4 && free; ++i) {
      free = used.find(" " + net + std::to_string(base + i) + "/") == std::string::npos;
    }
    if (free) out.push_back({net + std::to_string(base + 1), net + std::to_string(base + 2)});
  }
  return out;
}

}  // namespace concur::testing::seed
