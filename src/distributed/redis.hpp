// src/distributed/redis.hpp: a thin RAII layer over hiredis. Internal: no public header
// includes hiredis, and nothing outside src/distributed/ sees this one.
//
//   Redis r(parse_url("redis://:secret@127.0.0.1:6379/0"), {.connect_timeout = 5s});
//   Reply pong = r.command({"PING"});                    // blocks, bounded by the timeout
//   r.append({"XADD", key, "*", "f", v});                // pipelining: append several,
//   r.append({"XADD", key, "*", "f", w});
//   Reply a = r.get_reply(), b = r.get_reply();          // then read their replies in order
//
// Every call is bounded: connecting by `connect_timeout` (the socket is ours, close-on-exec,
// connected by os::tcp_connect, then handed to hiredis), each command by the socket's
// receive/send timeouts (redisSetTimeout). Errors (concur/distributed/errors.hpp):
// transport failures are the ConnectionError family (refused, reset, closed by the
// server) and TimeoutError, each naming host:port; after one the connection is broken
// (broken() is true) and every later call throws ConnectionError: make a new one. Error
// replies are RedisError from command(); get_reply() returns them (Reply::check throws).
// AUTH (sent by the constructor when a password is set) refused: PermissionError.
//
// SIGPIPE: hiredis writes with write(2); each call blocks SIGPIPE in the calling thread
// while it runs (os::SigpipeBlock), so a server gone away is a BrokenPipeError, never a
// signal.
//
// Thread safety: none; one connection per thread, or a lock around it.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace concur::distributed::detail {

/// Where a Redis server is and how to log in.
struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username;  ///< empty: the default user (AUTH <password>)
  std::string password;  ///< empty: no AUTH
  int db = 0;
  /// "host:port" (never the password), for messages.
  [[nodiscard]] std::string display() const;
};

/// Parses "redis://[[username]:password@]host[:port][/db]" (host may be "[v6 address]").
/// ValueError for another scheme, a bad port or db, or an empty host.
RedisAddress parse_url(std::string_view url);

/// A Redis reply, copied out of hiredis's.
struct Reply {
  enum class Type { nil, status, error, integer, string, array };
  Type type = Type::nil;
  long long integer = 0;
  std::string str;  ///< string, status and error replies
  std::vector<Reply> elements;

  [[nodiscard]] bool is_nil() const noexcept { return type == Type::nil; }
  [[nodiscard]] bool is_error() const noexcept { return type == Type::error; }
};

struct RedisOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{5000};
};

class Redis {
 public:
  /// Connects, then AUTH (when the address has a password) and SELECT (db != 0). Blocks at
  /// most connect_timeout for the connection and command_timeout for each command. Throws
  /// as the file comment says.
  Redis(RedisAddress address, RedisOptions options);
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  /// Sends one command (binary-safe arguments) and returns its reply; an error reply is
  /// thrown as RedisError. Blocks at most the command timeout (a blocking command such as
  /// XREADGROUP BLOCK needs a longer one: set_timeout).
  Reply command(std::initializer_list<std::string_view> args);
  Reply command(std::span<const std::string_view> args);
  /// Queues a command in the output buffer (sent by the next get_reply).
  void append(std::initializer_list<std::string_view> args);
  void append(std::span<const std::string_view> args);
  /// Sends what is queued and reads the next reply, in the order the commands were
  /// appended. An error reply is returned (check() throws it).
  Reply get_reply();
  /// Throws `reply` as RedisError if it is an error reply, naming `command`.
  void check(const Reply& reply, std::string_view command) const;

  /// The receive and send timeout of each later command.
  void set_timeout(std::chrono::milliseconds timeout);
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  [[nodiscard]] const RedisAddress& address() const noexcept { return address_; }

 private:
  [[noreturn]] void fail(const char* during, int err);
  void ensure_usable() const;

  RedisAddress address_;
  redisContext* ctx_ = nullptr;
  bool broken_ = false;
};

/// How a lost connection is made again: `attempts` tries (0: none), the first at once, the
/// next after `backoff`, doubled each time up to 2 s.
struct RetryPolicy {
  int attempts = 10;
  std::chrono::milliseconds backoff{100};
};

/// Whether `error` says the server is (for now) out of reach: the ConnectionError family,
/// TimeoutError, or an error reply saying it is loading its data (-LOADING, after a
/// restart). Such failures are retried; others (PermissionError, RedisError) are not.
bool is_transient(const std::exception_ptr& error) noexcept;

/// A new connection that answered PING, made under `policy`: transient failures are retried
/// (sleeping the backoff; `give_up`, checked before each sleep, ends it early); a failure
/// that is not transient is thrown at once. After the last try: ConnectionError("redis
/// host:port: unreachable after N attempt(s): <last error>").
std::unique_ptr<Redis> reconnect(const RedisAddress& address, const RedisOptions& options,
                                 const RetryPolicy& policy,
                                 const std::function<bool()>& give_up = {});

}  // namespace concur::distributed::detail
