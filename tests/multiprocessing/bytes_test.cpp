// concur::Bytes (mp::Bytes): one bytes type both ways. recv_bytes returns one, send_bytes
// takes it back (and any byte span or string, with Python's offset and size),
// recv_bytes_into writes into one, BufferTooShort carries one, authkey is one; it
// converts to and from strings and spans and crosses through the codec.
#include "concur/bytes.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <compare>
#include <cstddef>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "concur/multiprocessing.hpp"

namespace mp = concur::mp;
using concur::Bytes;
using namespace std::chrono_literals;

namespace {

// What the Connection API passes is Bytes, and Bytes passes where byte spans go.
static_assert(std::is_same_v<decltype(std::declval<mp::Connection<int>&>().recv_bytes()), Bytes>);
static_assert(
    std::is_same_v<decltype(std::declval<mp::BufferTooShort&>().message()), const Bytes&>);
static_assert(std::is_same_v<decltype(mp::current_process().authkey()), Bytes>);
static_assert(std::is_convertible_v<const Bytes&, std::span<const std::byte>>);
static_assert(std::is_convertible_v<Bytes&&, std::span<const std::byte>>);
static_assert(std::is_convertible_v<Bytes&, std::span<std::byte>>);
static_assert(!std::is_convertible_v<const Bytes&, std::span<std::byte>>);
static_assert(std::is_convertible_v<std::vector<std::byte>, Bytes>);  // adopts, no copy
static_assert(!std::is_convertible_v<std::string_view, Bytes>);       // a copy: explicit
static_assert(std::is_same_v<mp::Bytes, concur::Bytes>);
static_assert(mp::Picklable<Bytes>);

}  // namespace

TEST(Bytes, ConvertsToAndFromStringsAndSpans) {
  const Bytes a("hello");
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(a.str(), "hello");
  EXPECT_EQ(a.string_view(), "hello");
  EXPECT_TRUE(a == "hello");
  EXPECT_TRUE(a != "hellO");
  EXPECT_EQ(Bytes(std::string("hello")), a);
  const std::array<char, 5> chars{'h', 'e', 'l', 'l', 'o'};
  EXPECT_EQ(Bytes(std::span<const char>(chars)), a);
  EXPECT_EQ(Bytes(a.span()), a);
  std::span<const std::byte> view = a;
  EXPECT_EQ(view.data(), a.data());  // a view, not a copy
  EXPECT_EQ(view.size(), 5u);

  std::vector<std::byte> v{std::byte{1}, std::byte{2}};
  const std::byte* where = v.data();
  Bytes adopted = std::move(v);
  EXPECT_EQ(adopted.data(), where);  // adopted, not copied
  std::vector<std::byte> back = std::move(adopted).vector();
  EXPECT_EQ(back.data(), where);

  Bytes zeros(3);
  EXPECT_EQ(zeros, Bytes(std::string_view("\0\0\0", 3)));
  zeros[1] = std::byte{'x'};
  zeros.append(Bytes("yz"));
  EXPECT_EQ(zeros.str(), std::string("\0x\0yz", 5));
  EXPECT_TRUE(Bytes().empty());
}

TEST(Bytes, ReprHexAndOrdering) {
  EXPECT_EQ(Bytes(std::string_view("a'\\\n\x00\xff", 6)).repr(), "b'a\\'\\\\\\n\\x00\\xff'");
  EXPECT_EQ(Bytes("\x01\xab").hex(), "01ab");
  EXPECT_LT(Bytes("ab"), Bytes("b"));
  EXPECT_LT(Bytes("ab"), Bytes("abc"));
  EXPECT_LT(Bytes(), Bytes("a"));
  EXPECT_EQ(Bytes() <=> Bytes(), std::strong_ordering::equal);
  std::ostringstream os;
  os << Bytes("hi");
  EXPECT_EQ(os.str(), "b'hi'");
}

TEST(Bytes, RoundTripsThroughTheCodecAndAQueue) {
  const Bytes b(std::string_view("\0bytes\xff", 7));
  EXPECT_EQ(mp::loads<Bytes>(mp::dumps(b)), b);
  mp::SimpleQueue<Bytes> q;
  q.put(b);
  EXPECT_EQ(q.get(), b);
  // loads takes a Bytes where it takes a byte span.
  const Bytes encoded = mp::dumps(std::string("x"));
  EXPECT_EQ(mp::loads<std::string>(encoded), "x");
}

TEST(Bytes, ConnectionBytesGoBothWays) {
  auto [a, b] = mp::Pipe<int>();
  b.send_bytes(std::string("hello world"));
  Bytes got = a.recv_bytes();
  EXPECT_EQ(got.str(), "hello world");
  a.send_bytes(got);  // what recv_bytes returns goes back as it is
  EXPECT_EQ(b.recv_bytes(), got);
  // Python's send_bytes(buf, offset, size), for strings as for byte ranges.
  b.send_bytes(std::string("hello world"), 6);
  EXPECT_EQ(a.recv_bytes(), "world");
  b.send_bytes("hello world", 2, 3);
  EXPECT_EQ(a.recv_bytes(), "llo");
  b.send_bytes(got, 0, 5);
  EXPECT_EQ(a.recv_bytes(), "hello");
  EXPECT_THROW(b.send_bytes(std::string_view("abc"), 4), concur::ValueError);
  EXPECT_THROW(b.send_bytes(std::string_view("abc"), 1, 3), concur::ValueError);
  EXPECT_THROW(b.send_bytes(std::string_view("abc"), -1), concur::ValueError);
  EXPECT_THROW(b.send_bytes(got, 0, -1), concur::ValueError);
  // recv_bytes_into a Bytes sized beforehand (Python's bytearray).
  Bytes buf(8);
  b.send_bytes("abc");
  EXPECT_EQ(a.recv_bytes_into(buf, 2), 3u);
  EXPECT_EQ(buf, Bytes(std::string_view("\0\0abc\0\0\0", 8)));
  b.send_bytes("0123456789");
  try {
    (void)a.recv_bytes_into(buf);
    FAIL() << "expected BufferTooShort";
  } catch (const mp::BufferTooShort& e) {
    EXPECT_EQ(e.message(), "0123456789");
    EXPECT_EQ(e.message().str(), "0123456789");
  }
}

TEST(Bytes, SendBytesOfAStringFromAChild) {
  auto [a, b] = mp::Pipe<int>();
  auto p = mp::get_context("spawn").Process(
      [](mp::Connection<int> c) {
        const std::string text = "from the child";
        c.send_bytes(text, 9);
        c.send_bytes(c.recv_bytes());  // echo
      },
      b);
  p.start();
  b.close();
  ASSERT_TRUE(a.poll(20s));
  EXPECT_EQ(a.recv_bytes(), "child");
  a.send_bytes(Bytes("echo"));
  ASSERT_TRUE(a.poll(20s));
  EXPECT_EQ(a.recv_bytes().str(), "echo");
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(Bytes, AuthkeyIsBytes) {
  mp::Process p([] {});
  const Bytes key = p.authkey();
  EXPECT_EQ(key.size(), 32u);
  p.set_authkey(Bytes("secret"));
  EXPECT_EQ(p.authkey(), "secret");
}
