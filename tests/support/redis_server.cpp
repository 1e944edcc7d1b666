// Test harness: see redis_server.hpp.
#include "support/redis_server.hpp"

#include <arpa/inet.h>
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
#include <utility>

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

int free_port(const std::string& host) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    throw std::runtime_error("free_port: not an IPv4 address: " + host);
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket failed");
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("free_port: bind failed");
  return ntohs(addr.sin_port);
}

RedisServer::RedisServer(RedisServerOptions options)
    : options_(std::move(options)), password_(random_hex(32)) {
  if (options_.bind.empty()) throw std::runtime_error("RedisServer: no address to bind");
  std::string tmpl = (std::filesystem::temp_directory_path() / "concur-redis-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("RedisServer: mkdtemp failed");
  dir_ = tmpl;
  std::string why;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (start_on(free_port(options_.bind.front()), why)) return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  throw std::runtime_error("RedisServer: redis-server did not start: " + why);
}

bool RedisServer::start_on(int port, std::string& why) {
  port_ = port;
  std::vector<std::string> args{"setpriv", "--pdeathsig",        "KILL",  "redis-server",
                                "--port",  std::to_string(port), "--bind"};
  args.insert(args.end(), options_.bind.begin(), options_.bind.end());
  for (const char* arg : {"--protected-mode", "yes", "--requirepass"}) args.emplace_back(arg);
  args.push_back(password_);
  for (const char* arg : {"--save", "", "--appendonly"}) args.emplace_back(arg);
  args.emplace_back(options_.appendonly ? "yes" : "no");
  for (const char* arg : {"--appendfsync", "always", "--dir"}) args.emplace_back(arg);
  args.push_back(dir_.string());
  args.emplace_back("--logfile");
  args.push_back((dir_ / "redis.log").string());
  args.emplace_back("--daemonize");
  args.emplace_back("no");
  proc_ = std::make_unique<subprocess::Popen>(
      subprocess::Args(std::move(args)), subprocess::PopenOptions{.stdin_ = subprocess::DEVNULL,
                                                                  .stdout_ = subprocess::DEVNULL,
                                                                  .stderr_ = subprocess::DEVNULL});
  using namespace std::chrono_literals;
  const auto end = std::chrono::steady_clock::now() + 10s;
  distributed::detail::RedisAddress address;
  address.host = options_.bind.front();
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

std::string RedisServer::url() const { return url_on(options_.bind.front()); }

std::string RedisServer::url_on(const std::string& host) const {
  return "redis://:" + password_ + "@" + host + ":" + std::to_string(port_) + "/0";
}

std::string RedisServer::url_without_password() const {
  return "redis://" + options_.bind.front() + ":" + std::to_string(port_) + "/0";
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
