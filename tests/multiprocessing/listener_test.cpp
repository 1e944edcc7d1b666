// Listener / Client (concur/multiprocessing/listener.hpp): concur's own guarantees. The
// handshake against wrong keys and missing keys, peers that send garbage, truncated frames
// and huge length prefixes (raw sockets written by hand), the frame limit, accept's
// timeout, close from another thread, what is left on disk, a socket Connection crossing
// to a child, and a fuzz test (deterministic seed, bounded time) that throws random and
// mutated bytes at a Listener before and after authentication while a good client keeps
// being served. Only 127.0.0.1 and private Unix sockets.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "concur/subprocess.hpp"
#include "multiprocessing/fork_child.hpp"
#include "multiprocessing/socket_connection.hpp"
#include "os/fd.hpp"
#include "os/socket.hpp"

namespace mp = concur::multiprocessing;
namespace mpc = concur::multiprocessing::connection;
using concur::Bytes;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

bool path_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// A raw stream socket connected to `a`, for writing what a Client never would.
concur::os::Fd raw_connect(const mpc::Address& a) {
  const auto sa = a.family() == "AF_INET" ? concur::os::inet_address(a.host(), a.port())
                                          : concur::os::unix_address(a.path());
  auto fd = concur::os::stream_socket(sa.family());
  concur::os::connect_until(fd.get(), sa, concur::Deadline(concur::Timeout(seconds(10))));
  return fd;
}

void raw_send(int fd, std::span<const std::byte> b) {
  (void)::send(fd, b.data(), b.size(), MSG_NOSIGNAL);
}
void raw_send(int fd, std::string_view s) { raw_send(fd, std::as_bytes(std::span(s))); }

std::vector<std::byte> be32(std::uint32_t v) {
  return {std::byte(v >> 24), std::byte(v >> 16), std::byte(v >> 8), std::byte(v)};
}

// The client side of an authenticated raw connection: the handshake through the library's
// own functions on a SocketCore sharing the raw socket, which the test then writes to
// directly.
concur::os::Fd raw_authenticated(const mpc::Address& a, const Bytes& key) {
  auto fd = raw_connect(a);
  auto core = std::make_shared<mp::detail::SocketCore>(concur::os::dup_cloexec(fd.get(), 3),
                                                       std::size_t{1} << 20);
  mpc::detail::answer_challenge(*core, key.span());
  mpc::detail::deliver_challenge(*core, key.span());
  return fd;
}

// Runs `body` on a thread; join() rethrows nothing but reports what it threw.
class Server {
 public:
  template <class F>
  explicit Server(F body)
      : t_([this, body]() mutable {
          try {
            body();
          } catch (const std::exception& e) {
            error_ = e.what();
          }
        }) {}
  ~Server() {
    if (t_.joinable()) t_.join();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  std::string join() {
    t_.join();
    return error_;
  }

 private:
  std::string error_;
  std::thread t_;
};

}  // namespace

TEST(Listener, DefaultAddressIsAPrivateUnixSocketRemovedOnClose) {
  mpc::Listener l;
  const std::string path = l.address().path();
  EXPECT_EQ(l.address().family(), "AF_UNIX");
  ASSERT_TRUE(path_exists(path));
  const std::string dir = path.substr(0, path.rfind('/'));
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  l.close();
  EXPECT_FALSE(path_exists(path));
  EXPECT_FALSE(path_exists(dir));
}

TEST(Listener, DefaultInetAddressIsLoopback) {
  mpc::Listener l({.family = "AF_INET"});
  EXPECT_EQ(l.address().host(), "127.0.0.1");
  EXPECT_GT(l.address().port(), 0);
  auto c = mpc::Client<int>(l.address());
  auto a = l.accept<int>(seconds(10));
  ASSERT_TRUE(l.last_accepted().has_value());
  EXPECT_EQ(l.last_accepted()->host(), "127.0.0.1");
  EXPECT_EQ(l.address().repr(), "('127.0.0.1', " + std::to_string(l.address().port()) + ")");
}

TEST(Listener, GivenPathRemovedOnCloseAndScopeEnd) {
  const std::string dir = concur::os::make_private_dir("concur-listener-test-");
  const std::string path = dir + "/sock";
  {
    mpc::Listener l({.address = path});
    EXPECT_EQ(l.address().path(), path);
    EXPECT_TRUE(path_exists(path));
  }
  EXPECT_FALSE(path_exists(path));
  concur::os::remove_dir_noexcept(dir);
}

TEST(Listener, BadFamilyAndMismatch) {
  EXPECT_THROW(mpc::Listener({.family = "AF_PIPE"}), concur::ValueError);
  EXPECT_THROW(mpc::Listener({.address = {"127.0.0.1", 0}, .family = "AF_UNIX"}),
               concur::ValueError);
  EXPECT_THROW((void)mpc::Client<int>(mpc::Address()), concur::ValueError);
}

TEST(Client, NothingListening) {
  EXPECT_THROW((void)mpc::Client<int>("/nonexistent/concur-socket"), concur::FileNotFoundError);
  int port = 0;
  {
    mpc::Listener l({.family = "AF_INET"});
    port = l.address().port();
  }
  EXPECT_THROW((void)mpc::Client<int>({"127.0.0.1", port}), concur::ConnectionRefusedError);
}

TEST(Listener, AcceptTimesOut) {
  mpc::Listener l;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW((void)l.accept<int>(milliseconds(100)), concur::TimeoutError);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(60));
}

TEST(Listener, CloseWakesAcceptInAnotherThread) {
  for (const char* family : {"AF_UNIX", "AF_INET"}) {
    mpc::Listener l({.family = family});
    std::atomic<bool> entered{false};
    std::string what;
    std::thread t([&] {
      entered = true;
      try {
        (void)l.accept<int>();  // no timeout: only close() ends it
      } catch (const std::system_error& e) {
        what = e.what();
      }
    });
    while (!entered) std::this_thread::yield();
    l.close();
    t.join();
    EXPECT_NE(what.find("Listener.accept"), std::string::npos) << what;
  }
}

TEST(Listener, CloseWakesAcceptInTheHandshake) {
  mpc::Listener l({.authkey = Bytes("k"), .handshake_timeout = seconds(60)});
  auto silent = raw_connect(l.address());  // connects, never answers
  std::string what;
  std::atomic<bool> entered{false};
  std::thread t([&] {
    entered = true;
    try {
      (void)l.accept<int>(seconds(60));
    } catch (const std::exception& e) {
      what = e.what();
    }
  });
  while (!entered) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(50));  // let it reach the handshake (either way ok)
  l.close();
  t.join();
  EXPECT_FALSE(what.empty());
}

TEST(Authkey, WrongKeyFailsOnBothSides) {
  for (const char* family : {"AF_UNIX", "AF_INET"}) {
    mpc::Listener l({.family = family, .authkey = Bytes("right")});
    bool server_refused = false;
    Server server([&] {
      try {
        (void)l.accept<int>(seconds(10));
      } catch (const mp::AuthenticationError&) {
        server_refused = true;
      }
    });
    EXPECT_THROW(
        (void)mpc::Client<int>(l.address(), {.authkey = Bytes("wrong"), .timeout = seconds(10)}),
        mp::AuthenticationError);
    EXPECT_EQ(server.join(), "");
    EXPECT_TRUE(server_refused) << family;
  }
}

TEST(Authkey, ClientInForkedChildWithTheKey) {
  mpc::Listener l({.family = "AF_INET", .authkey = Bytes("secret")});
  const mpc::Address a = l.address();
  concur::testing::ForkChild child([&] {
    auto c = mpc::Client<std::string>(a, {.authkey = Bytes("secret"), .timeout = seconds(10)});
    c.send(c.recv() + "!");
    return 0;
  });
  auto conn = l.accept<std::string>(seconds(20));
  conn.send("hi");
  EXPECT_EQ(conn.recv(), "hi!");
  EXPECT_EQ(child.join(), 0);
}

TEST(Authkey, ServerKeyClientWithoutKeyIsRefused) {
  mpc::Listener l({.authkey = Bytes("k")});
  Server server([&] { EXPECT_THROW((void)l.accept<int>(seconds(10)), mp::AuthenticationError); });
  auto c = mpc::Client<int>(l.address());  // no handshake on this side
  c.send(5);                               // taken as the answer: refused, unparsed
  EXPECT_EQ(server.join(), "");
  EXPECT_ANY_THROW((void)c.recv());  // a "#CHALLENGE#" frame, not an int
}

TEST(Authkey, ClientKeyServerWithoutKeyIsRefused) {
  mpc::Listener l;
  Server server([&] {
    auto a = l.accept<int>(seconds(10));
    a.send(5);
    (void)a.poll(seconds(10));  // until the client hangs up
  });
  EXPECT_THROW((void)mpc::Client<int>(l.address(), {.authkey = Bytes("k"), .timeout = seconds(10)}),
               mp::AuthenticationError);
  EXPECT_EQ(server.join(), "");
}

TEST(Authkey, SilentClientTimesOutInTheHandshake) {
  mpc::Listener l({.authkey = Bytes("k"), .handshake_timeout = milliseconds(100)});
  auto silent = raw_connect(l.address());
  EXPECT_THROW((void)l.accept<int>(seconds(10)), mp::AuthenticationError);
}

TEST(Authkey, GarbageBeforeAuthenticationIsRefusedUnread) {
  mpc::Listener l({.authkey = Bytes("k")});
  {
    auto g = raw_connect(l.address());
    raw_send(g.get(), "GET / HTTP/1.0\r\n\r\n");  // a length prefix of 1.2 GB: never read
    EXPECT_THROW((void)l.accept<int>(seconds(10)), mp::AuthenticationError);
  }
  {
    auto g = raw_connect(l.address());  // a huge announced answer: refused before reading
    auto h = be32(0xffffffffU);
    for (int i = 0; i < 8; ++i) h.push_back(std::byte{0x7f});
    raw_send(g.get(), h);
    EXPECT_THROW((void)l.accept<int>(seconds(10)), mp::AuthenticationError);
  }
  {
    auto g = raw_connect(l.address());  // a truncated answer, then hang up
    auto h = be32(40);
    h.push_back(std::byte{'{'});
    raw_send(g.get(), h);
    ::shutdown(g.get(), SHUT_WR);
    EXPECT_THROW((void)l.accept<int>(seconds(10)), mp::AuthenticationError);
  }
  // Still serving a good client.
  Server server([&] {
    auto a = l.accept<int>(seconds(10));
    a.send(a.recv() + 1);
  });
  auto c = mpc::Client<int>(l.address(), {.authkey = Bytes("k"), .timeout = seconds(10)});
  c.send(41);
  EXPECT_EQ(c.recv(), 42);
  EXPECT_EQ(server.join(), "");
}

TEST(SocketConnection, HugeLengthPrefixAfterAuthentication) {
  mpc::Listener l({.authkey = Bytes("k"), .max_message = 1024});
  std::optional<mpc::Connection<int>> a;
  Server server([&] { a = l.accept<int>(seconds(10)); });
  auto raw = raw_authenticated(l.address(), Bytes("k"));
  ASSERT_EQ(server.join(), "");
  auto h = be32(0xffffffffU);  // -1, then 2^63
  h.push_back(std::byte{0x80});
  for (int i = 0; i < 7; ++i) h.push_back(std::byte{0});
  raw_send(raw.get(), h);
  try {
    (void)a->recv_bytes();
    ADD_FAILURE() << "expected OSError";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EMSGSIZE);
  }
  EXPECT_TRUE(a->closed());
}

TEST(SocketConnection, FrameLimitAndNegativeLength) {
  mpc::Listener l({.max_message = 1000});
  {
    auto c = mpc::Client<int>(l.address());
    auto a = l.accept<int>(seconds(10));
    c.send_bytes(std::string(1000, 'x'));  // at the limit: fine
    EXPECT_EQ(a.recv_bytes().size(), 1000u);
    c.send_bytes(std::string(1001, 'x'));
    EXPECT_THROW((void)a.recv_bytes(), concur::OSError);
    EXPECT_TRUE(a.closed());
  }
  {
    auto raw = raw_connect(l.address());
    auto a = l.accept<int>(seconds(10));
    raw_send(raw.get(), be32(0x80000000U));  // negative, not -1
    try {
      (void)a.recv();
      ADD_FAILURE() << "expected OSError";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EPROTO);
    }
  }
}

TEST(SocketConnection, RecvBytesMaxlength) {
  mpc::Listener l;
  auto c = mpc::Client<int>(l.address());
  auto a = l.accept<int>(seconds(10));
  c.send_bytes("0123456789");
  EXPECT_THROW((void)a.recv_bytes(5), concur::OSError);  // Python: "bad message length"
  EXPECT_TRUE(a.closed());
}

TEST(SocketConnection, TruncatedFrameThenEof) {
  mpc::Listener l;
  auto raw = raw_connect(l.address());
  auto a = l.accept<int>(seconds(10));
  auto h = be32(100);
  h.resize(4 + 10, std::byte{1});
  raw_send(raw.get(), h);
  raw.reset();
  try {
    (void)a.recv_bytes();
    ADD_FAILURE() << "expected OSError";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EPROTO);  // Python: "got end of file during message"
  }
}

TEST(SocketConnection, MalformedPayloadIsValueError) {
  mpc::Listener l;
  auto c = mpc::Client<std::string>(l.address());
  auto a = l.accept<std::string>(seconds(10));
  c.send_bytes("abc");  // shorter than a type fingerprint
  EXPECT_THROW((void)a.recv(), concur::ValueError);
  c.send("still fine");
  EXPECT_EQ(a.recv(), "still fine");
}

TEST(SocketConnection, LargeMessagesBothWays) {
  mpc::Listener l({.family = "AF_INET"});
  auto c = mpc::Client<std::vector<std::uint32_t>>(l.address());
  auto a = l.accept<std::vector<std::uint32_t>>(seconds(10));
  std::vector<std::uint32_t> v(3u << 20);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint32_t>(i * 2654435761u);
  Server sender([&] { c.send(v); });
  EXPECT_EQ(a.recv(), v);
  EXPECT_EQ(sender.join(), "");
}

TEST(SocketConnection, CrossesToAChildProcess) {
  mpc::Listener l;
  auto c = mpc::Client<int>(l.address());
  auto a = l.accept<int>(seconds(10));
  mp::Process p([](mp::Connection<int> conn) { conn.send(conn.recv() * 2); }, a);  // forkserver
  p.start();
  a.close();
  c.send(21);
  EXPECT_EQ(c.recv(), 42);
  EXPECT_TRUE(p.join(seconds(30)));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(SocketConnection, ClosedConnectionRaises) {
  mpc::Listener l;
  auto c = mpc::Client<int>(l.address());
  auto a = l.accept<int>(seconds(10));
  c.close();
  EXPECT_TRUE(c.closed());
  EXPECT_THROW(c.send(1), concur::OSError);
  EXPECT_THROW((void)c.recv(), concur::OSError);
  EXPECT_THROW((void)c.poll(), concur::OSError);
  EXPECT_THROW((void)a.recv(), concur::EOFError);
}

// The wire is CPython's: a CPython Listener and Client exchange send_bytes/recv_bytes
// messages with ours (both sizes of the read path). The handshake speaks only 3.12's
// {sha256}: the build machine's CPython 3.11 answers with a legacy HMAC-MD5 digest, which
// our Listener refuses.
TEST(ListenerInterop, CPythonPeers) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  namespace sp = concur::subprocess;
  {
    sp::Popen py({"/usr/bin/python3", "-c",
                  "from multiprocessing.connection import Listener\n"
                  "with Listener(('127.0.0.1', 0)) as l:\n"
                  "    print(l.address[1], flush=True)\n"
                  "    with l.accept() as c:\n"
                  "        c.send_bytes(c.recv_bytes()[::-1])\n"},
                 {.stdout_ = sp::PIPE});
    const int port = std::stoi(py.stdout_.readline());
    auto c = mpc::Client<int>({"127.0.0.1", port}, {.timeout = seconds(10)});
    c.send_bytes("hello");
    ASSERT_TRUE(c.poll(seconds(10)));
    EXPECT_EQ(c.recv_bytes(), Bytes("olleh"));
    EXPECT_EQ(py.wait(seconds(10)), 0);
  }
  {
    mpc::Listener l;
    sp::Popen py({"/usr/bin/python3", "-c",
                  "import sys\n"
                  "from multiprocessing.connection import Client\n"
                  "with Client(sys.argv[1]) as c:\n"
                  "    c.send_bytes(b'x' * 70000)\n"
                  "    print(c.recv_bytes().decode(), flush=True)\n",
                  l.address().path()},
                 {.stdout_ = sp::PIPE});
    auto a = l.accept<int>(seconds(10));
    EXPECT_EQ(a.recv_bytes(), Bytes(std::string(70000, 'x')));
    a.send_bytes("done");
    EXPECT_EQ(py.stdout_.readline(), "done\n");
    EXPECT_EQ(py.wait(seconds(10)), 0);
  }
  {
    mpc::Listener l({.authkey = Bytes("k")});
    sp::Popen py({"/usr/bin/python3", "-c",
                  "import sys\n"
                  "from multiprocessing.connection import Client\n"
                  "try:\n"
                  "    Client(sys.argv[1], authkey=b'k')\n"
                  "except Exception:\n"
                  "    pass\n",
                  l.address().path()},
                 {.stderr_ = sp::DEVNULL});
    EXPECT_THROW((void)l.accept<int>(seconds(10)), mp::AuthenticationError);
    (void)py.wait(seconds(10));
  }
}

// The fuzz test: random and mutated byte streams, before and after authentication, against
// one Listener served by one thread; a good client is served every few rounds, and at the
// end. Deterministic seed; bounded rounds and time; under ASan in the asan preset.
TEST(ListenerFuzz, GarbageNeverStopsTheServer) {
  const Bytes key("fuzz-key");
  mpc::Listener l({.family = "AF_INET",
                   .backlog = 64,  // a full accept queue drops a SYN: 1 s until the retry
                   .authkey = key,
                   .max_message = 4096,
                   .handshake_timeout = milliseconds(500)});
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::atomic<int> refused{0};
  Server server([&] {
    while (!stop) {
      try {
        auto conn = l.accept<std::vector<std::string>>(milliseconds(200));
        for (;;) {
          if (!conn.poll(seconds(5))) break;
          auto v = conn.recv();
          conn.send(v);
          ++served;
        }
      } catch (const concur::TimeoutError&) {
      } catch (const std::exception&) {
        ++refused;  // AuthenticationError, EOFError, OSError, ValueError, TypeError
      }
    }
  });
  std::mt19937 rng(20261206);
  auto rand_bytes = [&](std::size_t n) {
    std::vector<std::byte> b(n);
    for (auto& x : b) x = static_cast<std::byte>(rng() & 0xff);
    return b;
  };
  // A valid message to mutate: what send() of a vector<string> writes.
  std::vector<std::byte> good;
  {
    mp::Buffer body;
    mp::detail::with_encoding(std::vector<std::string>{"a", "bc"}, [&](auto prefix, auto rest) {
      body.insert(body.end(), prefix.begin(), prefix.end());
      body.insert(body.end(), rest.begin(), rest.end());
    });
    good = be32(static_cast<std::uint32_t>(body.size()));
    good.insert(good.end(), body.begin(), body.end());
  }
  auto check_good_client = [&] {
    auto c = mpc::Client<std::vector<std::string>>(l.address(),
                                                   {.authkey = key, .timeout = seconds(10)});
    const std::vector<std::string> v{"still", "serving"};
    c.send(v);
    ASSERT_TRUE(c.poll(seconds(10)));
    EXPECT_EQ(c.recv(), v);
  };
  const auto t_end = std::chrono::steady_clock::now() + seconds(8);
  int rounds = 0;
  for (; rounds < 3000 && std::chrono::steady_clock::now() < t_end; ++rounds) {
    const bool authenticated = rng() % 2 == 0;
    concur::os::Fd fd =
        authenticated ? raw_authenticated(l.address(), key) : raw_connect(l.address());
    std::vector<std::byte> out;
    switch (rng() % 4) {
      case 0:  // pure noise
        out = rand_bytes(rng() % 64);
        break;
      case 1: {  // a valid frame with a few bytes flipped
        out = good;
        for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i) {
          out[rng() % out.size()] ^= static_cast<std::byte>(1u << (rng() % 8));
        }
        break;
      }
      case 2: {  // a length prefix announcing much, little behind it
        const std::uint32_t lens[] = {0x7fffffffU, 0xffffffffU, 0x80000000U, 5000, 100};
        out = be32(lens[rng() % 5]);
        const auto tail = rand_bytes(rng() % 16);
        out.insert(out.end(), tail.begin(), tail.end());
        break;
      }
      default: {  // a valid frame, then random bytes after it
        out = good;
        const auto tail = rand_bytes(1 + rng() % 32);
        out.insert(out.end(), tail.begin(), tail.end());
        break;
      }
    }
    if (!out.empty()) raw_send(fd.get(), out);
    fd.reset();  // hang up: the server's read ends, whatever it was waiting for
    if (rounds % 500 == 499) {
      ASSERT_NO_FATAL_FAILURE(check_good_client());
    }
  }
  ASSERT_NO_FATAL_FAILURE(check_good_client());
  stop = true;
  EXPECT_EQ(server.join(), "");
  EXPECT_GT(rounds, 50);
  EXPECT_GT(refused.load(), 0);
  EXPECT_GT(served.load(), 0);
}
