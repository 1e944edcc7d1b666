// src/distributed/redis.cpp: see redis.hpp.
#include "distributed/redis.hpp"

#include <hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>
#include <utility>

#include "concur/distributed/errors.hpp"
#include "concur/exceptions.hpp"
#include "os/net.hpp"
#include "os/signals.hpp"

namespace concur::distributed::detail {
namespace {

int parse_int(std::string_view text, std::string_view what, std::string_view url) {
  int value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) {
    throw ValueError("concur::distributed: bad " + std::string(what) + " in Redis URL '" +
                     std::string(url) + "'");
  }
  return value;
}

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::nil;
  }
  return out;
}

timeval to_timeval(std::chrono::milliseconds ms) {
  if (ms.count() <= 0) ms = std::chrono::milliseconds(1);  // 0 would mean "no timeout"
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// Arguments as hiredis takes them.
struct ArgvView {
  explicit ArgvView(std::span<const std::string_view> args) {
    ptrs.reserve(args.size());
    lens.reserve(args.size());
    for (auto a : args) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
  }
  std::vector<const char*> ptrs;
  std::vector<std::size_t> lens;
};

}  // namespace

std::string RedisAddress::display() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

RedisAddress parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    throw ValueError("concur::distributed: a Redis URL starts with redis:// (got '" +
                     std::string(url) + "'; hiredis here has no TLS: rediss:// is not supported)");
  }
  RedisAddress a;
  std::string_view rest = url.substr(kScheme.size());
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (const auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      a.username = std::string(userinfo.substr(0, colon));
      a.password = std::string(userinfo.substr(colon + 1));
    } else {
      a.password = std::string(userinfo);  // redis://secret@host: a password alone
    }
  }
  std::string_view hostport = rest;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) a.db = parse_int(db, "database number", url);
  }
  std::string_view host = hostport;
  std::string_view port;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) {
      throw ValueError("concur::distributed: bad host in Redis URL '" + std::string(url) + "'");
    }
    host = hostport.substr(1, close - 1);
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        throw ValueError("concur::distributed: bad host in Redis URL '" + std::string(url) + "'");
      }
      port = after.substr(1);
    }
  } else if (const auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.empty()) {
    throw ValueError("concur::distributed: no host in Redis URL '" + std::string(url) + "'");
  }
  a.host = std::string(host);
  if (!port.empty()) {
    a.port = parse_int(port, "port", url);
    if (a.port == 0 || a.port > 65535) {
      throw ValueError("concur::distributed: bad port in Redis URL '" + std::string(url) + "'");
    }
  }
  return a;
}

Redis::Redis(RedisAddress address, RedisOptions options) : address_(std::move(address)) {
  os::Fd fd = os::tcp_connect(address_.host, address_.port, Deadline(options.connect_timeout));
  ctx_ = ::redisConnectFd(fd.get());
  if (ctx_ == nullptr) throw std::bad_alloc();
  (void)fd.release();  // redisFree closes it from now on
  try {
    if (ctx_->err != 0) fail("connect", errno);
    set_timeout(options.command_timeout);
    if (!address_.password.empty()) {
      if (address_.username.empty()) {
        append({"AUTH", address_.password});
      } else {
        append({"AUTH", address_.username, address_.password});
      }
      const Reply r = get_reply();
      if (r.is_error()) throw PermissionError("redis " + address_.display() + ": AUTH: " + r.str);
    }
    if (address_.db != 0) command({"SELECT", std::to_string(address_.db)});
  } catch (...) {  // no destructor runs for a constructor that throws
    ::redisFree(std::exchange(ctx_, nullptr));
    throw;
  }
}

Redis::~Redis() {
  if (ctx_ != nullptr) ::redisFree(ctx_);
}

void Redis::set_timeout(std::chrono::milliseconds timeout) {
  ensure_usable();
  if (::redisSetTimeout(ctx_, to_timeval(timeout)) != REDIS_OK) fail("setsockopt", errno);
}

void Redis::ensure_usable() const {
  if (broken_) {
    throw ConnectionError("redis " + address_.display() +
                          ": the connection was broken by an earlier error");
  }
}

void Redis::fail(const char* during, int err) {
  broken_ = true;
  const std::string what = "redis " + address_.display() + ": " + during + ": " + ctx_->errstr;
  switch (ctx_->err) {
    case REDIS_ERR_IO:
      if (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT) {
        throw TimeoutError("redis " + address_.display() + ": " + during + ": timed out");
      }
      throw_os_error(err != 0 ? err : ECONNRESET, what);
    case REDIS_ERR_EOF:
      throw ConnectionResetError(what);
    case REDIS_ERR_OOM:
      throw std::bad_alloc();
    default:  // protocol error, other
      throw ConnectionError(ECONNABORTED, what);
  }
}

void Redis::append(std::initializer_list<std::string_view> args) {
  append(std::span<const std::string_view>(args.begin(), args.size()));
}

void Redis::append(std::span<const std::string_view> args) {
  ensure_usable();
  ArgvView v(args);
  if (::redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), v.ptrs.data(), v.lens.data()) !=
      REDIS_OK) {
    fail("append", errno);
  }
}

Reply Redis::get_reply() {
  ensure_usable();
  void* raw = nullptr;
  int rc = 0;
  int err = 0;
  {
    os::SigpipeBlock no_sigpipe;
    errno = 0;
    rc = ::redisGetReply(ctx_, &raw);
    err = errno;  // before the mask is restored
  }
  if (rc != REDIS_OK || raw == nullptr) fail("reply", err);
  auto* r = static_cast<redisReply*>(raw);
  Reply out = convert(r);
  ::freeReplyObject(r);
  return out;
}

void Redis::check(const Reply& reply, std::string_view command) const {
  if (reply.is_error()) {
    throw RedisError("redis " + address_.display() + ": " + std::string(command) + ": " +
                     reply.str);
  }
}

Reply Redis::command(std::initializer_list<std::string_view> args) {
  return command(std::span<const std::string_view>(args.begin(), args.size()));
}

Reply Redis::command(std::span<const std::string_view> args) {
  append(args);
  Reply r = get_reply();
  check(r, args.empty() ? std::string_view() : args.front());
  return r;
}

bool is_transient(const std::exception_ptr& error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const ConnectionError&) {
    return true;
  } catch (const TimeoutError&) {
    return true;
  } catch (const RedisError& e) {
    return std::string_view(e.what()).find(": LOADING") != std::string_view::npos;
  } catch (...) {
    return false;
  }
}

std::unique_ptr<Redis> reconnect(const RedisAddress& address, const RedisOptions& options,
                                 const RetryPolicy& policy, const std::function<bool()>& give_up) {
  std::chrono::milliseconds wait = policy.backoff;
  std::string last = "no attempt";
  for (int attempt = 0; attempt < policy.attempts; ++attempt) {
    if (attempt > 0) {
      if (give_up && give_up()) break;
      std::this_thread::sleep_for(wait);
      wait = std::min<std::chrono::milliseconds>(wait * 2, std::chrono::seconds(2));
    }
    try {
      auto r = std::make_unique<Redis>(address, options);
      (void)r->command({"PING"});  // -LOADING while it reads its append-only file
      return r;
    } catch (...) {
      if (!is_transient(std::current_exception())) throw;
      try {
        throw;
      } catch (const std::exception& e) {
        last = e.what();
      }
    }
  }
  throw ConnectionError(ECONNREFUSED, "redis " + address.display() + ": unreachable after " +
                                          std::to_string(policy.attempts) + " attempt(s): " + last);
}

}  // namespace concur::distributed::detail
