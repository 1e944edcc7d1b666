// The thin layer over hiredis (src/distributed/redis.hpp), against a private redis-server.
#include "distributed/redis.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "concur/distributed/errors.hpp"
#include "concur/exceptions.hpp"
#include "support/redis_server.hpp"

namespace {

using concur::distributed::detail::parse_url;
using concur::distributed::detail::Redis;
using concur::distributed::detail::RedisAddress;
using concur::distributed::detail::Reply;
using namespace std::chrono_literals;

RedisAddress address_of(const concur::testing::RedisServer& server) {
  return parse_url(server.url());
}

TEST(RedisUrl, ParsesEveryPart) {
  const RedisAddress a = parse_url("redis://alice:s3cr:et@db.example:6380/2");
  EXPECT_EQ(a.username, "alice");
  EXPECT_EQ(a.password, "s3cr:et");
  EXPECT_EQ(a.host, "db.example");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 2);
  EXPECT_EQ(a.display(), "db.example:6380");
}

TEST(RedisUrl, DefaultsAndPasswordOnly) {
  const RedisAddress a = parse_url("redis://127.0.0.1");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 0);
  EXPECT_TRUE(a.password.empty());
  const RedisAddress b = parse_url("redis://:pw@[::1]:7000/0");
  EXPECT_EQ(b.password, "pw");
  EXPECT_TRUE(b.username.empty());
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 7000);
  EXPECT_EQ(b.display(), "[::1]:7000");
}

TEST(RedisUrl, RejectsMalformed) {
  EXPECT_THROW(parse_url("http://127.0.0.1"), concur::ValueError);
  EXPECT_THROW(parse_url("rediss://127.0.0.1"), concur::ValueError);
  EXPECT_THROW(parse_url("redis://127.0.0.1:port"), concur::ValueError);
  EXPECT_THROW(parse_url("redis://127.0.0.1:70000"), concur::ValueError);
  EXPECT_THROW(parse_url("redis://127.0.0.1/x"), concur::ValueError);
  EXPECT_THROW(parse_url("redis://:6379"), concur::ValueError);
}

TEST(Redis, PingAndBinarySafeValues) {
  concur::testing::RedisServer server;
  Redis r(address_of(server), {});
  EXPECT_EQ(r.command({"PING"}).str, "PONG");
  const std::string value("a\0b\r\n\xff", 6);
  EXPECT_EQ(r.command({"SET", "k", value}).str, "OK");
  const Reply got = r.command({"GET", "k"});
  EXPECT_EQ(got.type, Reply::Type::string);
  EXPECT_EQ(got.str, value);
  EXPECT_TRUE(r.command({"GET", "missing"}).is_nil());
  EXPECT_EQ(r.command({"INCR", "n"}).integer, 1);
}

TEST(Redis, PipelinedRepliesComeInOrder) {
  concur::testing::RedisServer server;
  Redis r(address_of(server), {});
  constexpr int kN = 1000;
  for (int i = 0; i < kN; ++i) r.append({"RPUSH", "list", std::to_string(i)});
  r.append({"LRANGE", "list", "0", "-1"});
  for (int i = 0; i < kN; ++i) EXPECT_EQ(r.get_reply().integer, i + 1);
  const Reply all = r.get_reply();
  ASSERT_EQ(all.type, Reply::Type::array);
  ASSERT_EQ(all.elements.size(), static_cast<std::size_t>(kN));
  EXPECT_EQ(all.elements[kN - 1].str, std::to_string(kN - 1));
}

TEST(Redis, ErrorReplyIsRedisErrorAndConnectionStaysUsable) {
  concur::testing::RedisServer server;
  Redis r(address_of(server), {});
  r.command({"SET", "k", "v"});
  try {
    r.command({"LPUSH", "k", "x"});
    FAIL() << "no error";
  } catch (const concur::distributed::RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("WRONGTYPE"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("LPUSH"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(r.broken());
  r.append({"LPUSH", "k", "x"});
  EXPECT_TRUE(r.get_reply().is_error());
  EXPECT_EQ(r.command({"PING"}).str, "PONG");
}

TEST(Redis, WrongPasswordIsPermissionError) {
  concur::testing::RedisServer server;
  RedisAddress a = address_of(server);
  a.password = "not-the-password";
  EXPECT_THROW(Redis(a, {}), concur::PermissionError);
}

TEST(Redis, NoPasswordIsRefusedByTheServer) {
  concur::testing::RedisServer server;
  Redis r(parse_url(server.url_without_password()), {});
  EXPECT_THROW(r.command({"GET", "k"}), concur::distributed::RedisError);  // NOAUTH
}

TEST(Redis, UnreachableIsConnectionRefusedNamingTheAddress) {
  const int port = concur::testing::free_port();
  RedisAddress a;
  a.port = port;
  const auto start = std::chrono::steady_clock::now();
  try {
    Redis r(a, {.connect_timeout = 2s});
    FAIL() << "connected to a closed port";
  } catch (const concur::ConnectionRefusedError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(Redis, SlowCommandIsTimeoutErrorThenBroken) {
  concur::testing::RedisServer server;
  Redis r(address_of(server), {.command_timeout = 100ms});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(r.command({"BLPOP", "nothing", "5"}), concur::TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(r.broken());
  EXPECT_THROW(r.command({"PING"}), concur::ConnectionError);
}

TEST(Redis, ServerGoneIsConnectionError) {
  concur::testing::RedisServer server;
  Redis r(address_of(server), {.command_timeout = 2s});
  EXPECT_EQ(r.command({"PING"}).str, "PONG");
  server.stop();
  EXPECT_THROW(r.command({"PING"}), concur::ConnectionError);
  EXPECT_TRUE(r.broken());
}

}  // namespace
