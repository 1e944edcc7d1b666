// Conformance: multiprocessing.Pipe, Connection and connection.wait (CPython's
// _test_multiprocessing._TestConnection, _TestPoll and TestWait), with children started by
// mp::Process (default method: forkserver, the connections cross as handles; and fork where said).
// Listener/Client (_test_multiprocessing._TestListener, _TestListenerClient) are not provided.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "support/timing.hpp"

namespace mp = concur::multiprocessing;
using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace concur::testing;  // timing: kT, expect_takes_about, expect_immediate
using Waitable = mp::connection::Waitable;

namespace {

constexpr auto kImmediate = milliseconds(50);  // what "at once" allows

mp::Buffer bytes(std::string_view s) {
  const auto b = std::as_bytes(std::span(s));
  return {b.begin(), b.end()};
}

template <class T>
bool contains(const std::vector<Waitable>& v, const T& x) {
  return std::find(v.begin(), v.end(), Waitable(x)) != v.end();
}

// A list of mixed values: Python's [1, 2.5, 'x', None, [3, 4]].
using Mixed = std::vector<std::variant<int, double, std::string, std::monostate, std::vector<int>>>;

}  // namespace

// CPython _test_multiprocessing._TestConnection.test_connection: a duplex Pipe to an echo child
// round-trips send/recv of a list of mixed values, send_bytes/recv_bytes of bytes, and a 16 MiB
// message; send returns nothing.
TEST(Connection, EchoRoundTrips) {
  auto [a, b] = mp::Pipe<Mixed>();
  mp::Process echo(
      [](mp::Connection<Mixed> c) {
        try {
          for (;;) c.send_bytes(c.recv_bytes());
        } catch (const concur::EOFError&) {
        }
      },
      b);
  echo.start();
  b.close();
  static_assert(std::is_void_v<decltype(a.send(Mixed{}))>);
  static_assert(std::is_void_v<decltype(a.send_bytes(mp::Buffer{}))>);
  const Mixed m{1, 2.5, std::string("x"), std::monostate{}, std::vector<int>{3, 4}};
  a.send(m);
  EXPECT_EQ(a.recv(), m);
  a.send_bytes(bytes("hello"));
  EXPECT_EQ(a.recv_bytes(), bytes("hello"));
  const mp::Buffer big(16u << 20, std::byte{0x5a});
  a.send_bytes(big);
  EXPECT_EQ(a.recv_bytes(), big);
  a.close();
  EXPECT_TRUE(echo.join(seconds(30)));
  EXPECT_EQ(echo.exitcode(), 0);
}

// CPython _test_multiprocessing._TestConnection.test_connection: with nothing pending poll() is
// false at once and poll(T) after about T; with data pending poll(T) is true at once. Deviation:
// poll(-1) (Python: false at once) is a ValueError, as every negative timeout in concur.
TEST(Connection, Poll) {
  auto pipe = mp::Pipe<int>();  // no structured binding: clang 14 cannot capture one
  auto& a = pipe.first;
  auto& b = pipe.second;
  expect_immediate(kImmediate, [&] { EXPECT_FALSE(a.poll()); });
  EXPECT_THROW(a.poll(milliseconds(-1)), concur::ValueError);
  expect_takes_about(kT, [&] { EXPECT_FALSE(a.poll(kT)); });
  b.send(1);
  expect_immediate(kImmediate, [&] { EXPECT_TRUE(a.poll(kT)); });
  EXPECT_EQ(a.recv(), 1);
}

// CPython _test_multiprocessing._TestConnection.test_connection; CPython docs, Connection.recv():
// EOFError when nothing is left and the other end is closed: with the peer end closed (in every
// process) and nothing left, recv and recv_bytes raise EOFError; what was sent before is still
// received first.
TEST(Connection, EofAfterPeerClosed) {
  auto [a, b] = mp::Pipe<int>();
  mp::Process child([](mp::Connection<int> c) { c.send(5); }, b);
  child.start();
  b.close();
  EXPECT_TRUE(child.join(seconds(30)));
  EXPECT_EQ(a.recv(), 5);
  EXPECT_THROW(a.recv(), concur::EOFError);
  EXPECT_THROW(a.recv_bytes(), concur::EOFError);
}

// CPython _test_multiprocessing._TestConnection.test_connection: recv_bytes_into returns the byte
// count and writes at the given offset; a buffer too small raises BufferTooShort holding the whole
// message.
TEST(Connection, RecvBytesInto) {
  auto [a, b] = mp::Pipe<int>();
  b.send_bytes(bytes("abcdef"));
  mp::Buffer buf(10, std::byte{'.'});
  EXPECT_EQ(a.recv_bytes_into(buf, 3), 6u);
  EXPECT_EQ(buf, bytes("...abcdef."));
  b.send_bytes(bytes("0123456789xyz"));
  try {
    (void)a.recv_bytes_into(buf, 0);
    FAIL() << "expected BufferTooShort";
  } catch (const mp::BufferTooShort& e) {
    EXPECT_EQ(e.message(), bytes("0123456789xyz"));
  }
  EXPECT_THROW((void)a.recv_bytes_into(buf, 11), concur::ValueError);  // offset out of bounds
  b.send_bytes(bytes("x"));
  EXPECT_THROW((void)a.recv_bytes_into(buf, 10), mp::BufferTooShort);  // no room at the end
  b.send_bytes(mp::Buffer{});
  EXPECT_EQ(a.recv_bytes_into(buf, 10), 0u);
}

// CPython _test_multiprocessing._TestConnection.test_duplex_false: Pipe(duplex=false) gives
// (reader, writer): the reader only reads, the writer only writes; reader.send, writer.recv and
// writer.poll raise OSError.
TEST(Connection, DuplexFalse) {
  auto [r, w] = mp::Pipe<int>(false);
  EXPECT_TRUE(r.readable());
  EXPECT_FALSE(r.writable());
  EXPECT_FALSE(w.readable());
  EXPECT_TRUE(w.writable());
  EXPECT_THROW(r.send(1), std::system_error);
  EXPECT_THROW((void)w.recv(), std::system_error);
  EXPECT_THROW((void)w.poll(), std::system_error);
  w.send(2);
  EXPECT_EQ(r.recv(), 2);
}

// CPython _test_multiprocessing._TestConnection.test_sendbytes: send_bytes(buf, offset, size) sends
// exactly that slice; offset == len sends an empty message; offset > len, offset + size > len,
// negative offset or size: ValueError.
TEST(Connection, SendBytesSlices) {
  auto [a, b] = mp::Pipe<int>();
  const mp::Buffer msg = bytes("abcdefghijklmnopqrstuvwxyz");
  const auto n = static_cast<std::int64_t>(msg.size());
  b.send_bytes(msg);
  EXPECT_EQ(a.recv_bytes(), msg);
  b.send_bytes(msg, n - 3);
  EXPECT_EQ(a.recv_bytes(), bytes("xyz"));
  b.send_bytes(msg, 2, 3);
  EXPECT_EQ(a.recv_bytes(), bytes("cde"));
  b.send_bytes(msg, n);
  EXPECT_EQ(a.recv_bytes(), mp::Buffer{});
  b.send_bytes(msg, n, 0);
  EXPECT_EQ(a.recv_bytes(), mp::Buffer{});
  EXPECT_THROW(b.send_bytes(msg, n + 1), concur::ValueError);
  EXPECT_THROW(b.send_bytes(msg, 2, n), concur::ValueError);
  EXPECT_THROW(b.send_bytes(msg, -1), concur::ValueError);
  EXPECT_THROW(b.send_bytes(msg, 0, -1), concur::ValueError);
  EXPECT_FALSE(a.poll());  // nothing was sent by the failed calls
}

// CPython _test_multiprocessing._TestPoll.test_empty_string, test_dont_merge, test_boundaries,
// test_strings: an empty message makes poll() true until it is received; messages are never merged
// or split; a poll() in another process never consumes part of a message.
TEST(Connection, MessageBoundaries) {
  auto [a, b] = mp::Pipe<int>();
  b.send_bytes(mp::Buffer{});
  EXPECT_TRUE(a.poll());
  EXPECT_TRUE(a.poll());
  EXPECT_EQ(a.recv_bytes(), mp::Buffer{});
  EXPECT_FALSE(a.poll());
  b.send_bytes(bytes("a"));
  b.send_bytes(bytes("b"));
  b.send_bytes(bytes("cd"));
  EXPECT_EQ(a.recv_bytes(), bytes("a"));
  EXPECT_EQ(a.recv_bytes(), bytes("b"));
  EXPECT_EQ(a.recv_bytes(), bytes("cd"));
  // Another process polls, then the message is still whole here.
  const std::string big(100000, 'q');  // fits the ring: the send returns at once
  b.send_bytes(big);
  mp::Process poller([](mp::Connection<int> c) { mp::exit(c.poll(seconds(10)) ? 0 : 3); }, a);
  poller.start();
  EXPECT_TRUE(poller.join(seconds(30)));
  EXPECT_EQ(poller.exitcode(), 0);
  EXPECT_EQ(a.recv_bytes(), bytes(big));
}

// CPython _test_multiprocessing._TestConnection.test_spawn_close: the parent closes its copy of the
// child's end right after start(); the child still communicates (under forkserver and under fork).
TEST(Connection, ParentClosesTheChildsEnd) {
  for (const char* method : {"forkserver", "spawn", "fork"}) {
    auto [a, b] = mp::Pipe<std::string>();
    auto child = mp::get_context(method).Process(
        [](mp::Connection<std::string> c) { c.send(c.recv() + " back"); }, b);
    child.start();
    b.close();
    a.send("there");
    EXPECT_EQ(a.recv(), "there back") << method;
    EXPECT_TRUE(child.join(seconds(30)));
    EXPECT_THROW(a.recv(), concur::EOFError);  // the child's end is gone with it
  }
}

// CPython _test_multiprocessing._TestConnection.test_context: closed connections report closed()
// and raise OSError on use; the scope of the last copy closes an end (the peer then sees end of
// file).
TEST(Connection, ClosedAndScoped) {
  auto [a, b] = mp::Pipe<int>();
  {
    auto [c, d] = mp::Pipe<int>();
    c.close();
    d.close();
    EXPECT_TRUE(c.closed());
    EXPECT_TRUE(d.closed());
    EXPECT_THROW((void)c.recv(), std::system_error);
    EXPECT_THROW(d.send(1), std::system_error);
    c.close();  // idempotent
  }
  EXPECT_FALSE(a.closed());
  { auto moved = std::move(b); }  // the last copy of b goes out of scope
  EXPECT_THROW((void)a.recv(), concur::EOFError);
}

// CPython _test_multiprocessing.TestWait.test_wait, test_wait_timeout, test_neg_timeout,
// test_wait_integer: connection::wait over pipes, sockets and process sentinels returns the ready
// subset; [] after about the timeout when nothing is ready; end of file counts as ready; a sentinel
// becomes ready when its process exits. Deviation: a negative timeout is a ValueError (Python
// returns [] at once). Listener/Client are not provided (not in scope).
TEST(Connection, Wait) {
  auto [a1, b1] = mp::Pipe<int>();
  auto [a2, b2] = mp::Pipe<int>();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto [go_r, go_w] = mp::Pipe<int>(false);
  mp::Process child(
      [](mp::Connection<int> go, mp::Connection<int> out) {
        (void)go.recv();
        out.send(2);
        (void)go.recv();
      },
      go_r, b2);
  child.start();
  b2.close();
  const std::vector<Waitable> objs{a1, a2, sv[0], child.sentinel()};
  expect_takes_about(kT, [&] { EXPECT_TRUE(mp::connection::wait(objs, kT).empty()); });
  EXPECT_THROW(mp::connection::wait(objs, milliseconds(-1)), concur::ValueError);
  go_w.send(0);
  auto ready = mp::connection::wait(objs, seconds(10));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(contains(ready, a2));
  EXPECT_EQ(a2.recv(), 2);
  ASSERT_EQ(::write(sv[1], "s", 1), 1);
  ready = mp::connection::wait(objs, seconds(10));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].fd(), sv[0]);
  char c = 0;
  ASSERT_EQ(::read(sv[0], &c, 1), 1);
  go_w.send(0);  // the child exits: its sentinel, and its end of pipe 2, become ready
  ready = mp::connection::wait(objs, seconds(10));
  EXPECT_TRUE(contains(ready, child.sentinel()) || contains(ready, a2));
  EXPECT_TRUE(child.join(seconds(30)));
  ready = mp::connection::wait(objs, seconds(10));
  EXPECT_TRUE(contains(ready, child.sentinel()));
  EXPECT_TRUE(contains(ready, a2));  // end of file counts as ready
  EXPECT_THROW((void)a2.recv(), concur::EOFError);
  EXPECT_FALSE(contains(ready, a1));
  b1.send(1);
  EXPECT_TRUE(contains(mp::connection::wait({a1}, seconds(10)), a1));
  ::close(sv[0]);
  ::close(sv[1]);
}
