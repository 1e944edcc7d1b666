// The system-call layer: EINTR retries with recomputed time, status decoding.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/time.h>

#include <concur/detail/subprocess_sys.hpp>

#include "support/subprocess_util.hpp"

namespace d = concur::subprocess::detail;
using namespace std::chrono_literals;
using sp_test::Clock;

namespace {

TEST(SysLayer, PollRetriesEintrWithRemainingTime) {
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
  const double took = sp_test::seconds_since(t0);
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &old, nullptr);
  EXPECT_EQ(n, 0);
  EXPECT_GE(took, 0.2);  // never early
  EXPECT_LT(took, 2.0);  // and the retries did not restart the full wait each time
}

TEST(SysLayer, ReadWriteRetryEintrAndReportErrno) {
  auto p = d::make_pipe();
  EXPECT_EQ(d::write_noexcept(p.write.get(), "ab", 2), 2);
  char buf[4];
  EXPECT_EQ(d::read_noexcept(p.read.get(), buf, sizeof buf), 2);
  EXPECT_EQ(d::read_noexcept(-1, buf, sizeof buf), -EBADF);
}

TEST(SysLayer, FdsAreCloexec) {
  auto p = d::make_pipe();
  EXPECT_EQ(fcntl(p.read.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(fcntl(p.write.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  auto dup = d::dup_cloexec(p.read.get(), 3);
  EXPECT_EQ(fcntl(dup.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  auto pidfd = d::pidfd_open(getpid());
  EXPECT_EQ(fcntl(pidfd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(SysLayer, StatusDecoding) {
  EXPECT_EQ(d::returncode_from_status(0), 0);
  EXPECT_EQ(d::returncode_from_status(47 << 8), 47);
  EXPECT_EQ(d::returncode_from_status(SIGTERM), -SIGTERM);
  EXPECT_EQ(d::returncode_from_status(SIGABRT | 0x80), -SIGABRT);  // core dumped
  EXPECT_EQ(d::returncode_from_status((SIGSTOP << 8) | 0x7f), -SIGSTOP);
}

}  // namespace
