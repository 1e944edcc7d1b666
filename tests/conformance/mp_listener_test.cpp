// Conformance: multiprocessing.connection.Listener / Client (CPython's
// _test_multiprocessing._TestListener, _TestListenerClient, _TestConnection run over
// sockets, and OtherTest's deliver_challenge / answer_challenge tests), for every family
// CPython offers on Linux (AF_UNIX, AF_INET) and the abstract AF_UNIX namespace. Clients in
// children are mp::Process children (default method: forkserver; the address crosses as
// plain values). Only 127.0.0.1 is used.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "support/timing.hpp"

namespace mp = concur::multiprocessing;
namespace mpc = concur::multiprocessing::connection;
using concur::Bytes;
using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace concur::testing;  // timing: kT, expect_takes_about, expect_immediate

namespace {

const std::vector<std::string> kFamilies = {"AF_UNIX", "AF_INET"};

// An address as plain values, to cross to a child under any start method.
struct Where {
  std::string path_or_host;
  int port;
  bool inet;
};
Where where(const mpc::Address& a) { return {a.path(), a.port(), a.family() == "AF_INET"}; }
mpc::Address address(const std::string& p, int port, bool inet) {
  return inet ? mpc::Address(p, port) : mpc::Address(p);
}

}  // namespace

// CPython _TestListener.test_multiple_bind: binding an address that a Listener already holds
// raises OSError, for every family.
TEST(Listener, MultipleBind) {
  for (const auto& family : kFamilies) {
    mpc::Listener l({.family = family});
    EXPECT_EQ(l.address().family(), family);
    EXPECT_THROW(mpc::Listener({.address = l.address(), .family = family}), std::system_error)
        << family;
  }
}

// CPython _TestListener.test_context: a Listener and the connections of Client and accept are
// scoped resources; they exchange objects; accept on a closed Listener raises OSError.
TEST(Listener, Context) {
  for (const auto& family : kFamilies) {
    mpc::Listener l({.family = family});
    {
      auto c = mpc::Client<int>(l.address());
      auto d = l.accept<int>(seconds(10));
      c.send(1729);
      EXPECT_EQ(d.recv(), 1729);
    }
    l.close();
    EXPECT_TRUE(l.closed());
    EXPECT_THROW((void)l.accept<int>(seconds(1)), std::system_error) << family;
  }
}

// CPython _TestListener.test_abstract_socket: a Listener on a Linux abstract address ("\0..."):
// its address is the one given, and a Client reaches it.
TEST(Listener, AbstractSocket) {
  const std::string name = std::string("\0concur-abstract-", 17) + std::to_string(::getpid());
  mpc::Listener l({.address = name});
  EXPECT_EQ(l.address().path(), name);
  EXPECT_TRUE(l.address().is_abstract());
  auto c = mpc::Client<std::string>(name);
  auto d = l.accept<std::string>(seconds(10));
  c.send("hello");
  EXPECT_EQ(d.recv(), "hello");
}

// CPython _TestListener.test_empty_authkey (3.12): an empty authkey is a key: both ends run the
// handshake with it and talk.
TEST(Listener, EmptyAuthkey) {
  for (const auto& family : kFamilies) {
    mpc::Listener l({.family = family, .authkey = Bytes()});
    std::optional<mpc::Connection<int>> d;
    std::thread server([&] {
      try {
        d = l.accept<int>(seconds(10));
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    });
    auto c = mpc::Client<int>(l.address(), {.authkey = Bytes(), .timeout = seconds(10)});
    server.join();
    ASSERT_TRUE(d.has_value());
    c.send(7);
    EXPECT_EQ(d->recv(), 7);
  }
}

// CPython _TestListenerClient.test_listener_client: a client in a child process connects to the
// Listener's address and sends 'hello', which the parent receives from accept().
TEST(ListenerClient, ClientInChildProcess) {
  for (const auto& family : kFamilies) {
    mpc::Listener l({.family = family});
    const Where w = where(l.address());
    mp::Process p(
        [](std::string path, int port, bool inet) {
          auto conn = mpc::Client<std::string>(address(path, port, inet), {.timeout = seconds(20)});
          conn.send("hello");
          conn.close();
        },
        w.path_or_host, w.port, w.inet);
    p.start();
    auto conn = l.accept<std::string>(seconds(20));
    EXPECT_EQ(conn.recv(), "hello") << family;
    EXPECT_TRUE(p.join(seconds(30)));
    EXPECT_EQ(p.exitcode(), 0);
  }
}

// CPython _TestListenerClient.test_issue14725: a client that connected, wrote and closed before
// accept() is called is still accepted, and its message received.
TEST(ListenerClient, AcceptAfterClientClosed) {
  mpc::Listener l;
  const Where w = where(l.address());
  mp::Process p(
      [](std::string path, int port, bool inet) {
        auto conn = mpc::Client<std::string>(address(path, port, inet), {.timeout = seconds(20)});
        conn.send("hello");
      },
      w.path_or_host, w.port, w.inet);
  p.start();
  EXPECT_TRUE(p.join(seconds(30)));  // the client is gone before accept
  auto conn = l.accept<std::string>(seconds(10));
  EXPECT_EQ(conn.recv(), "hello");
  EXPECT_THROW((void)conn.recv(), concur::EOFError);
}

// CPython _TestListenerClient.test_issue16955: after the accepted end sends bytes, poll(1) on the
// client's end is true.
TEST(ListenerClient, PollSeesData) {
  for (const auto& family : kFamilies) {
    mpc::Listener l({.family = family});
    auto c = mpc::Client<int>(l.address());
    auto a = l.accept<int>(seconds(10));
    a.send_bytes("hello");
    EXPECT_TRUE(c.poll(seconds(1))) << family;
    EXPECT_EQ(c.recv_bytes(), Bytes("hello"));
  }
}

// CPython _TestConnection.test_connection, over sockets: an echo child round-trips objects,
// bytes and a 16 MiB message; poll() is false with nothing pending, poll(T) waits about T;
// recv_bytes_into writes at an offset and BufferTooShort holds the whole message; EOFError
// once the peer is closed.
TEST(ListenerConnection, EchoOverSockets) {
  for (const auto& family : kFamilies) {
    mpc::Listener l({.family = family, .authkey = Bytes("k")});
    const Where w = where(l.address());
    mp::Process echo(
        [](std::string path, int port, bool inet) {
          auto c = mpc::Client<std::vector<int>>(address(path, port, inet),
                                                 {.authkey = Bytes("k"), .timeout = seconds(20)});
          try {
            for (;;) c.send_bytes(c.recv_bytes());
          } catch (const concur::EOFError&) {
          }
        },
        w.path_or_host, w.port, w.inet);
    echo.start();
    auto a = l.accept<std::vector<int>>(seconds(20));
    expect_immediate(milliseconds(50), [&] { EXPECT_FALSE(a.poll()); });
    expect_takes_about(kT, [&] { EXPECT_FALSE(a.poll(kT)); });
    a.send({1, 2, 3});
    EXPECT_EQ(a.recv(), (std::vector<int>{1, 2, 3}));
    a.send_bytes("hello");
    EXPECT_EQ(a.recv_bytes(), Bytes("hello"));
    const Bytes big(std::vector<std::byte>(16u << 20, std::byte{0x5a}));
    a.send_bytes(big);
    EXPECT_EQ(a.recv_bytes(), big);
    a.send_bytes("abcdef");
    Bytes buf(std::size_t{10});
    EXPECT_EQ(a.recv_bytes_into(buf.span(), 3), 6u);
    EXPECT_EQ(buf.string_view().substr(3, 6), "abcdef");
    a.send_bytes("0123456789xyz");
    try {
      (void)a.recv_bytes_into(buf.span(), 0);
      ADD_FAILURE() << "expected BufferTooShort";
    } catch (const mp::BufferTooShort& e) {
      EXPECT_EQ(e.message(), Bytes("0123456789xyz"));
    }
    a.send_bytes(Bytes());  // an empty message is a message
    EXPECT_TRUE(a.poll(seconds(10)));
    EXPECT_EQ(a.recv_bytes(), Bytes());
    a.close();
    EXPECT_TRUE(echo.join(seconds(30)));
    EXPECT_EQ(echo.exitcode(), 0) << family;
  }
}

// CPython _TestConnection.test_sendbytes, over a socket: send_bytes(buf, offset, size) sends that
// slice; out-of-range offsets and sizes raise ValueError.
TEST(ListenerConnection, SendBytesSlices) {
  mpc::Listener l({.family = "AF_INET"});
  auto c = mpc::Client<int>(l.address());
  auto a = l.accept<int>(seconds(10));
  const std::string msg = "abcdefghijklmnopqrstuvwxyz";
  c.send_bytes(msg, 0, 5);
  EXPECT_EQ(a.recv_bytes(), Bytes("abcde"));
  c.send_bytes(msg, 26);
  EXPECT_EQ(a.recv_bytes(), Bytes());
  EXPECT_THROW(c.send_bytes(msg, 27), concur::ValueError);
  EXPECT_THROW(c.send_bytes(msg, 10, 30), concur::ValueError);
  EXPECT_THROW(c.send_bytes(msg, -1), concur::ValueError);
  EXPECT_THROW(c.send_bytes(msg, 0, -1), concur::ValueError);
}

// CPython TestWait.test_wait over sockets: connection::wait returns the ready connections;
// an end whose peer closed counts as ready.
TEST(ListenerConnection, WaitOnSockets) {
  mpc::Listener l;
  auto c1 = mpc::Client<int>(l.address());
  auto a1 = l.accept<int>(seconds(10));
  auto c2 = mpc::Client<int>(l.address());
  auto a2 = l.accept<int>(seconds(10));
  EXPECT_TRUE(mpc::wait({a1, a2}, milliseconds(10)).empty());
  c2.send(2);
  auto ready = mpc::wait({a1, a2}, seconds(10));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0] == a2);
  EXPECT_EQ(a2.recv(), 2);
  c1.close();
  ready = mpc::wait({a1, a2}, seconds(10));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0] == a1);
  EXPECT_THROW((void)a1.recv(), concur::EOFError);
}

// CPython OtherTest.test_deliver_challenge_auth_failure: a peer that answers a challenge with
// something bogus makes deliver_challenge raise AuthenticationError.
TEST(DeliverChallenge, BogusAnswer) {
  auto ends = mp::Pipe<int>();  // named ends: clang 14 cannot capture bindings
  auto& server = ends.first;
  auto& peer = ends.second;
  std::thread fake([&] {
    try {
      (void)peer.recv_bytes();  // the challenge
      peer.send_bytes("something bogus");
      EXPECT_EQ(peer.recv_bytes(), Bytes("#FAILURE#"));
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  });
  EXPECT_THROW(mpc::deliver_challenge(server, std::as_bytes(std::span("abc", 3))),
               mp::AuthenticationError);
  fake.join();
}

// CPython OtherTest.test_answer_challenge_auth_failure: a peer that sends the challenge marker
// without a challenge, or rejects the answer, makes answer_challenge raise AuthenticationError.
TEST(AnswerChallenge, BogusChallenge) {
  auto ends = mp::Pipe<int>();  // named ends: clang 14 cannot capture bindings
  auto& client = ends.first;
  auto& peer = ends.second;
  peer.send_bytes("#CHALLENGE#");
  EXPECT_THROW(mpc::answer_challenge(client, std::as_bytes(std::span("abc", 3))),
               mp::AuthenticationError);
  // A well-formed challenge whose answer is then rejected.
  std::thread fake([&] {
    try {
      peer.send_bytes("#CHALLENGE#{sha256}0123456789012345678901234567890123456789");
      (void)peer.recv_bytes();
      peer.send_bytes("something bogus");
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  });
  EXPECT_THROW(mpc::answer_challenge(client, std::as_bytes(std::span("abc", 3))),
               mp::AuthenticationError);
  fake.join();
}

// CPython ChallengeResponseTest (3.12): deliver_challenge and answer_challenge with the same key
// succeed on both ends (the mutual handshake of Listener/Client, on any connection).
TEST(DeliverChallenge, SameKeySucceeds) {
  auto ends = mp::Pipe<int>();  // named ends: clang 14 cannot capture bindings
  auto& server = ends.first;
  auto& client = ends.second;
  const auto key = std::as_bytes(std::span("secret", 6));
  std::thread other([&] {
    try {
      mpc::answer_challenge(client, key);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  });
  EXPECT_NO_THROW(mpc::deliver_challenge(server, key));
  other.join();
}
