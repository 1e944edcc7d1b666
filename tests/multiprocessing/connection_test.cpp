// Pipe / Connection / connection::wait across raw fork()ed processes: echo of every size,
// end of file by close and by death, the poll doorbell, wait over mixed objects, whole
// messages with concurrent writers, handles.
#include "concur/multiprocessing/connection.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "multiprocessing/fork_child.hpp"
#include "multiprocessing/handle_crossing.hpp"
#include "multiprocessing/handles.hpp"
#include "support/leak_check.hpp"

namespace mp = concur::multiprocessing;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {
template <class C>
bool contains(const std::vector<mp::connection::Waitable>& v, const C& x) {
  return std::find(v.begin(), v.end(), mp::connection::Waitable(x)) != v.end();
}
}  // namespace

TEST(Connection, EchoesEverySizeThroughAChild) {
  auto a_b = mp::Pipe<std::string>(
      true, std::size_t{64} * 1024);  // named ends: lambdas capture them (clang 14)
  auto& a = a_b.first;
  auto& b = a_b.second;
  concur::testing::ForkChild echo([&] {
    a.close();
    try {
      for (;;) b.send(b.recv());
    } catch (const concur::EOFError&) {
      return 0;
    }
  });
  b.close();
  for (std::size_t n : {0u, 1u, 7u, 8u, 1000u, 40000u, 100000u, 16u << 20, 3u}) {
    const std::string s(n, static_cast<char>('a' + n % 26));
    a.send(s);
    ASSERT_EQ(a.recv(), s) << n;
  }
  a.close();
  EXPECT_TRUE(echo.ok());
}

TEST(Connection, EndOfFileWhenThePeerDies) {
  auto a_b = mp::Pipe<int>();  // named ends: lambdas capture them (clang 14)
  auto& a = a_b.first;
  auto& b = a_b.second;
  concur::testing::ForkChild child([&] {
    b.send(1);
    ::pause();  // killed below
    return 0;
  });
  b.close();
  EXPECT_EQ(a.recv(), 1);
  child.kill();
  EXPECT_NE(child.join(), 0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(a.recv(), concur::EOFError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
  EXPECT_TRUE(a.poll());  // end of file is "readable"
}

TEST(Connection, EndOfFileWakesASleepingReaderAtClose) {
  auto a_b = mp::Pipe<int>(false);  // named ends: lambdas capture them (clang 14)
  auto& a = a_b.first;
  auto& b = a_b.second;
  std::thread closer([b = b]() mutable {
    concur::testing::eventually([] { return false; }, milliseconds(50));
    b.close();
  });
  EXPECT_THROW(a.recv(), concur::EOFError);
  closer.join();
}

TEST(Connection, PollIsWokenByTheDoorbellOfAnotherProcess) {
  auto a_b = mp::Pipe<int>();  // named ends: lambdas capture them (clang 14)
  auto& a = a_b.first;
  auto& b = a_b.second;
  auto go_r_go_w = mp::Pipe<int>(false);  // named ends: lambdas capture them (clang 14)
  auto& go_r = go_r_go_w.first;
  auto& go_w = go_r_go_w.second;
  concur::testing::ForkChild child([&] {
    go_r.recv();  // the parent sleeps in poll by now, or soon
    b.send(7);
    return 0;
  });
  go_w.send(0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(a.poll(seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  EXPECT_EQ(a.recv(), 7);
  EXPECT_TRUE(child.ok());
}

TEST(Connection, WaitOverConnectionsPipesAndPidfds) {
  auto a1_b1 = mp::Pipe<int>();  // named ends: lambdas capture them (clang 14)
  auto& a1 = a1_b1.first;
  auto& b1 = a1_b1.second;
  auto a2_b2 = mp::Pipe<int>();  // named ends: lambdas capture them (clang 14)
  auto& a2 = a2_b2.first;
  auto& b2 = a2_b2.second;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  auto go_r_go_w = mp::Pipe<int>(false);  // named ends: lambdas capture them (clang 14)
  auto& go_r = go_r_go_w.first;
  auto& go_w = go_r_go_w.second;
  concur::testing::ForkChild child([&] {
    go_r.recv();
    b2.send(2);
    go_r.recv();
    return 0;
  });
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child.pid(), 0));
  ASSERT_GE(pidfd, 0);
  using W = mp::connection::Waitable;
  const std::vector<W> objs{a1, a2, fds[0], pidfd};
  EXPECT_TRUE(mp::connection::wait(objs, milliseconds(20)).empty());
  go_w.send(0);
  auto ready = mp::connection::wait(objs, seconds(10));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(contains(ready, a2));
  EXPECT_EQ(a2.recv(), 2);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  ready = mp::connection::wait(objs, seconds(10));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].fd(), fds[0]);
  char c;
  ASSERT_EQ(::read(fds[0], &c, 1), 1);
  go_w.send(0);
  ready = mp::connection::wait(objs, seconds(10));  // the child exits: its sentinel
  EXPECT_TRUE(contains(ready, pidfd));
  EXPECT_TRUE(child.ok());
  b1.close();  // EOF counts as ready
  ready = mp::connection::wait({a1}, seconds(10));
  EXPECT_TRUE(contains(ready, a1));
  ::close(fds[0]);
  ::close(fds[1]);
  ::close(pidfd);
}

TEST(Connection, ConcurrentWritersNeverInterleave) {
  auto r_w = mp::Pipe<std::string>(false, 8192);  // named ends: lambdas capture them (clang 14)
  auto& r = r_w.first;
  auto& w = r_w.second;
  std::vector<std::unique_ptr<concur::testing::ForkChild>> writers;
  for (int k = 0; k < 3; ++k) {
    writers.push_back(std::make_unique<concur::testing::ForkChild>([&, k] {
      for (int i = 0; i < 20; ++i)
        w.send(std::string(30000 + 1000 * i, static_cast<char>('a' + k)));
      return 0;
    }));
  }
  w.close();
  for (int i = 0; i < 60; ++i) {
    const std::string s = r.recv();
    ASSERT_GE(s.size(), 30000u);
    EXPECT_EQ(std::count(s.begin(), s.end(), s[0]), static_cast<std::ptrdiff_t>(s.size()));
  }
  for (auto& k : writers) EXPECT_TRUE(k->ok());
  EXPECT_THROW(r.recv(), concur::EOFError);
}

TEST(Connection, SendWaitingForRoomFailsWhenTheReaderIsGone) {
  auto r_w = mp::Pipe<std::string>(false, 4096);  // named ends: lambdas capture them (clang 14)
  auto& r = r_w.first;
  auto& w = r_w.second;
  r.close();
  w.send(std::string(1000, 'x'));  // room: accepted (the message is lost with the ring)
  try {
    for (int i = 0; i < 10; ++i) w.send(std::string(1000, 'x'));
    FAIL() << "expected OSError (EPIPE)";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EPIPE);
  }
}

TEST(Connection, CrossesAsAHandleInsideASinkAndSource) {
  auto a_b = mp::Pipe<int>();  // named ends: lambdas capture them (clang 14)
  auto& a = a_b.first;
  auto& b = a_b.second;
  std::vector<int> fds;
  mp::Connection<int> other = concur::testing::cross(b, &fds);
  ASSERT_EQ(fds.size(), 2u);
  b.close();
  other.send(3);
  EXPECT_EQ(a.recv(), 3);
  a.send(4);
  EXPECT_EQ(other.recv(), 4);
  other.close();
  EXPECT_THROW(a.recv(), concur::EOFError);  // both copies of the end are closed
}

TEST(Connection, AConnectionCannotBeSentOnAConnection) {
  auto [a, b] = mp::Pipe<mp::Connection<int>>();
  auto [c, d] = mp::Pipe<int>();
  (void)d;
  EXPECT_THROW(a.send(c), concur::RuntimeError);
  EXPECT_FALSE(b.poll());
}

TEST(Connection, AStreamedStringArrivesWholeAndItsAnnouncedLengthIsChecked) {
  // A string larger than half the ring is streamed, and the receiver's string grows by the
  // ring's bytes as they come (RingPlacement::append): every byte in place, across wraps.
  auto [a, b] = mp::Pipe<std::string>(true, 4096);
  std::string s(100'003, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 7 + i / 251);
  std::thread sender([&, &b = b] { b.send(s); });
  EXPECT_EQ(a.recv(), s);
  sender.join();
  // The same message (type fingerprint, count, bytes) announcing one byte more, then one
  // less, than it carries: ValueError, and the connection goes on.
  sender = std::thread([&, &b = b] { b.send(s); });
  const concur::Bytes message = a.recv_bytes();
  sender.join();
  std::uint64_t count = 0;
  std::memcpy(&count, message.data() + 8, sizeof count);
  ASSERT_EQ(count, s.size());
  for (const std::uint64_t announced : {count + 1, count - 1}) {
    concur::Bytes forged(message.span());
    std::memcpy(forged.data() + 8, &announced, sizeof announced);
    sender = std::thread([&, &b = b] { b.send_bytes(forged); });
    EXPECT_THROW((void)a.recv(), concur::ValueError) << announced;
    sender.join();
    b.send("ok");
    EXPECT_EQ(a.recv(), "ok");
  }
}
