// Test harness: see redis_server.hpp.
#include "support/redis_server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "concur/subprocess.hpp"
#include "distributed/redis.hpp"

namespace concur::testing {
namespace {

std::string random_hex(std::size_t n) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(kHex[rd() % 16]);
  return out;
}

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("free_port: bind failed");
  return ntohs(addr.sin_port);
}

RedisServer::RedisServer(RedisServerOptions options)
    : options_(options), password_(random_hex(32)) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "concur-redis-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("RedisServer: mkdtemp failed");
  dir_ = tmpl;
  std::string why;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (start_on(free_port(), why)) return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  throw std::runtime_error("RedisServer: redis-server did not start: " + why);
}

bool RedisServer::start_on(int port, std::string& why) {
  port_ = port;
  proc_ =
      std::make_unique<subprocess::Popen>(subprocess::Args{"setpriv",
                                                           "--pdeathsig",
                                                           "KILL",
                                                           "redis-server",
                                                           "--port",
                                                           std::to_string(port),
                                                           "--bind",
                                                           "127.0.0.1",
                                                           "--protected-mode",
                                                           "yes",
                                                           "--requirepass",
                                                           password_,
                                                           "--save",
                                                           "",
                                                           "--appendonly",
                                                           options_.appendonly ? "yes" : "no",
                                                           "--appendfsync",
                                                           "always",
                                                           "--dir",
                                                           dir_.string(),
                                                           "--logfile",
                                                           (dir_ / "redis.log").string(),
                                                           "--daemonize",
                                                           "no"},
                                          subprocess::PopenOptions{.stdin_ = subprocess::DEVNULL,
                                                                   .stdout_ = subprocess::DEVNULL,
                                                                   .stderr_ = subprocess::DEVNULL});
  using namespace std::chrono_literals;
  const auto end = std::chrono::steady_clock::now() + 10s;
  distributed::detail::RedisAddress address;
  address.port = port;
  address.password = password_;
  while (std::chrono::steady_clock::now() < end) {
    if (proc_->poll()) {
      why = "it exited with " + std::to_string(*proc_->returncode()) + "; log:\n" + log();
      proc_.reset();
      return false;
    }
    try {
      distributed::detail::Redis r(address, {.connect_timeout = 500ms, .command_timeout = 1s});
      if (r.command({"PING"}).str == "PONG") {
        // Nothing is written there from now on (no persistence; Redis reopens its log file
        // for each line and skips it when that fails): gone now, so that even a test that
        // crashes leaves no directory behind.
        if (!options_.appendonly) {
          std::error_code ec;
          std::filesystem::remove_all(dir_, ec);
        }
        return true;
      }
    } catch (const std::exception& e) {
      why = e.what();
    }
    std::this_thread::sleep_for(5ms);
  }
  why = "no PING answer within 10 s (" + why + "); log:\n" + log();
  stop();
  return false;
}

void RedisServer::restart() {
  stop();
  std::string why;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {  // the port is ours again once the old server closed it
    if (start_on(port_, why)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < end);
  throw std::runtime_error("RedisServer: redis-server did not restart: " + why);
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void RedisServer::stop() noexcept {
  if (!proc_) return;
  try {
    proc_->terminate();
    try {
      proc_->wait(std::chrono::seconds(5));
    } catch (const subprocess::TimeoutExpired&) {
      proc_->kill();
      proc_->wait();
    }
  } catch (...) {
  }
  proc_.reset();  // reaps (killing first) whatever is left
}

std::string RedisServer::url() const {
  return "redis://:" + password_ + "@127.0.0.1:" + std::to_string(port_) + "/0";
}

std::string RedisServer::url_without_password() const {
  return "redis://127.0.0.1:" + std::to_string(port_) + "/0";
}

std::string RedisServer::log() const {
  std::ifstream in(dir_ / "redis.log");
  std::ostringstream out;
  out << in.rdbuf();
  std::string text = out.str();
  constexpr std::size_t kTail = 4000;
  return text.size() > kTail ? text.substr(text.size() - kTail) : text;
}

}  // namespace concur::testing
