// The OS layer (src/os/): EINTR retries with recomputed time, close-on-exec fds, status
// decoding.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>

#include "os/child.hpp"
#include "os/fd.hpp"
#include "os/poll.hpp"

namespace d = concur::os;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

TEST(Poll, PollRetriesEintrWithRemainingTime) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = [](int) {};
  sigaction(SIGALRM, &sa, &old);  // no SA_RESTART
  itimerval every{{0, 10'000}, {0, 10'000}};
  setitimer(ITIMER_REAL, &every, nullptr);
  auto p = d::make_pipe();
  d::PollItem item{p.read.get(), d::kPollIn, 0};
  const auto t0 = Clock::now();
  const int n = d::poll_until(&item, 1, concur::Deadline(concur::Timeout(200ms)));
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &old, nullptr);
  EXPECT_EQ(n, 0);
  EXPECT_GE(took, 0.2);  // never early
  EXPECT_LT(took, 2.0);  // and the retries did not restart the full wait each time
}

TEST(Fd, ReadWriteRetryEintrAndReportErrno) {
  auto p = d::make_pipe();
  EXPECT_EQ(d::write_noexcept(p.write.get(), "ab", 2), 2);
  char buf[4];
  EXPECT_EQ(d::read_noexcept(p.read.get(), buf, sizeof buf), 2);
  EXPECT_EQ(d::read_noexcept(-1, buf, sizeof buf), -EBADF);
}

TEST(Fd, FdsAreCloexec) {
  auto p = d::make_pipe();
  EXPECT_EQ(fcntl(p.read.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(fcntl(p.write.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  auto dup = d::dup_cloexec(p.read.get(), 3);
  EXPECT_EQ(fcntl(dup.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  auto pidfd = d::pidfd_open(getpid());
  EXPECT_EQ(fcntl(pidfd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  auto pair = d::make_socketpair(SOCK_STREAM);
  EXPECT_EQ(fcntl(pair.first.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(fcntl(pair.second.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(Poll, WaitFdSeesReadiness) {
  auto p = d::make_pipe();
  EXPECT_FALSE(d::wait_fd(p.read.get(), d::kPollIn, concur::Deadline(concur::Timeout(10ms))));
  ASSERT_EQ(d::write_noexcept(p.write.get(), "x", 1), 1);
  EXPECT_TRUE(d::wait_fd(p.read.get(), d::kPollIn, concur::Deadline(concur::Timeout(1s))));
}

TEST(ChildReaping, ReapReportsExitCodeAndSignal) {
  for (const int how : {0, 1}) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (how == 1) raise(SIGKILL);
      _exit(7);
    }
    auto pidfd = d::pidfd_open_started(pid);
    int code = 12345;
    EXPECT_EQ(d::reap(pidfd.get(), &code), d::WaitState::exited);
    EXPECT_EQ(code, how == 0 ? 7 : -SIGKILL);
  }
}

TEST(ChildReaping, ReapOfAChildReapedElsewhereIsLost) {
  // SIGCHLD ignored: the kernel reaps the child itself, and its status is lost (CPython's
  // subprocess then reports returncode 0).
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ign, &old);
  auto go = d::make_pipe();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    go.write.reset();
    char c;
    (void)!read(go.read.get(), &c, 1);  // until the parent holds a pidfd
    _exit(3);
  }
  auto pidfd = d::pidfd_open(pid);
  go.write.reset();  // the child exits now; the kernel reaps it
  ASSERT_TRUE(d::wait_fd(pidfd.get(), d::kPollIn, concur::Deadline(concur::Timeout(10s))));
  int code = 12345;
  EXPECT_EQ(d::reap(pidfd.get(), &code), d::WaitState::lost);
  EXPECT_EQ(code, 0);
  sigaction(SIGCHLD, &old, nullptr);
}

TEST(ChildReaping, StatusDecoding) {
  EXPECT_EQ(d::returncode_from_status(0), 0);
  EXPECT_EQ(d::returncode_from_status(47 << 8), 47);
  EXPECT_EQ(d::returncode_from_status(SIGTERM), -SIGTERM);
  EXPECT_EQ(d::returncode_from_status(SIGABRT | 0x80), -SIGABRT);  // core dumped
  EXPECT_EQ(d::returncode_from_status((SIGSTOP << 8) | 0x7f), -SIGSTOP);
}

}  // namespace
