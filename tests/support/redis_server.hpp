// Test harness: a private redis-server for one test (or one fixture), or for a tour part
// (examples/distributed_master_worker.cpp): the library concur_redis_server, without gtest.
//
//   concur::testing::RedisServer redis;            // started, answering PING
//   distributed::Executor ex({.url = redis.url()});  // redis://:<password>@127.0.0.1:<port>/0
//   ...                                            // scope end: stopped, reaped, its dir gone
//
// Each server listens on 127.0.0.1 only (or on the addresses given, e.g. the host ends of
// veth pairs: never 0.0.0.0), on a port free when it starts, with a random
// password (--requirepass), without persistence (--save '', --appendonly no, unless
// RedisServerOptions::appendonly), in a private
// temporary directory (--dir, also holding its log until PING answers, then removed). It runs under
// `setpriv --pdeathsig KILL`, so a test killed by CTest's timeout leaves no server behind. The
// constructor waits at most 10 s for PING to answer (retrying on another port if the chosen one was
// taken meanwhile) and throws std::runtime_error with the end of the server's log otherwise. The
// destructor sends SIGTERM, waits at most 5 s, then SIGKILLs, reaps it and removes the directory:
// no process, fd or file is left. Needs Debian's redis-server (tools/deps.sh installs it).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace concur::subprocess {
class Popen;
}

namespace concur::testing {

/// A TCP port on `host` (an IPv4 address) that was free when this returned.
int free_port(const std::string& host = "127.0.0.1");

struct RedisServerOptions {
  /// The IPv4 addresses it listens on (the first one is the URLs'); never 0.0.0.0.
  std::vector<std::string> bind{"127.0.0.1"};
  /// Persistence in an append-only file (--appendonly yes, fsync always), in the private
  /// directory, which then stays until the destructor: what restart() reloads.
  bool appendonly = false;
};

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] const std::string& password() const noexcept { return password_; }
  /// "redis://:<password>@127.0.0.1:<port>/0" (the first bind address).
  [[nodiscard]] std::string url() const;
  /// The same on another of its bind addresses.
  [[nodiscard]] std::string url_on(const std::string& host) const;
  /// The same without the password.
  [[nodiscard]] std::string url_without_password() const;
  /// Stops the server now (SIGTERM, bounded, then SIGKILL) and reaps it; the directory
  /// stays until the destructor. For tests of a server gone away.
  void stop() noexcept;
  /// stop(), then a new server on the same port, directory and password (with appendonly,
  /// it reloads what the first one wrote); waits for PING as the constructor does. Throws
  /// std::runtime_error if it does not start.
  void restart();
  /// The server's log (its file in the private directory) while it starts, for failure
  /// messages; empty once it answered (the directory is gone).
  [[nodiscard]] std::string log() const;

 private:
  bool start_on(int port, std::string& why);

  RedisServerOptions options_;
  std::filesystem::path dir_;
  std::string password_;
  int port_ = 0;
  std::unique_ptr<subprocess::Popen> proc_;
};

}  // namespace concur::testing
