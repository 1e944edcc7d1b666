// Reliability: many runs without leaks, huge transfers both ways, timeouts that kill, children
// closing pipes early.
#include <gtest/gtest.h>
#include <signal.h>

#include <concur/subprocess.hpp>

#include "support/leak_check.hpp"
#include "support/subprocess_util.hpp"

namespace sp = concur::subprocess;
using namespace std::chrono_literals;
using sp_test::Clock;

namespace {

// 10,000 runs of /bin/true leave the fd table and the child list unchanged. Bound: ~0.5 ms a run
// here, i.e. ~5 s (CTest's 60 s timeout is the backstop); the sanitizer builds spend more per
// spawn, hence the soft bound below.
TEST(PopenReliability, TenThousandRunsLeakNothing) {
  const auto fds = concur::testing::open_fds();
  const auto t0 = Clock::now();
  int failures = 0;
  for (int i = 0; i < 10'000; ++i) failures += sp::run({"/bin/true"}).returncode != 0;
  const double took = sp_test::seconds_since(t0);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(concur::testing::open_fds(), fds);
  EXPECT_TRUE(concur::testing::children().empty());
  EXPECT_LT(took, 50.0);
  RecordProperty("seconds", std::to_string(took));
}

// 64 MiB in, and 64 MiB out on both stdout and stderr at once, in one thread.
TEST(PopenReliability, Communicate64MiBEachWay) {
  std::string input(64 << 20, '\0');
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>('a' + i % 26);
  const auto t0 = Clock::now();
  auto r = sp::run({"tee", "/dev/stderr"},
                   {.input = input, .capture_output = true, .timeout = 40s, .check = true});
  ASSERT_TRUE(r.stdout_ && r.stderr_);
  EXPECT_EQ(r.stdout_->size(), input.size());
  EXPECT_EQ(r.stderr_->size(), input.size());
  EXPECT_TRUE(*r.stdout_ == input);
  EXPECT_TRUE(*r.stderr_ == input);
  RecordProperty("seconds", std::to_string(sp_test::seconds_since(t0)));
}

// A timeout kills the child and returns within a bounded grace, also when a grandchild outside the
// group keeps the pipes (the 250 ms drain bound).
TEST(PopenReliability, TimeoutReturnsWithinGrace) {
  auto t0 = Clock::now();
  EXPECT_THROW(sp::run({"sleep", "30"}, {.capture_output = true, .timeout = 100ms}),
               sp::TimeoutExpired);
  EXPECT_LT(sp_test::seconds_since(t0), 0.1 + 0.3);
  t0 = Clock::now();
  EXPECT_THROW(
      sp::run("sleep 2 & exec sleep 30", {.capture_output = true, .shell = true, .timeout = 100ms}),
      sp::TimeoutExpired);
  const double took = sp_test::seconds_since(t0);
  EXPECT_GE(took, 0.1);
  EXPECT_LT(took, 0.1 + 0.25 + 0.3);
  EXPECT_TRUE(concur::testing::children().empty());
}

// A child that closes its stdout (and stdin) early does not kill the parent with SIGPIPE, and the
// process-wide disposition stays SIG_DFL.
TEST(PopenReliability, ChildClosingPipesEarlyDoesNotSigpipeParent) {
  struct sigaction sa {};
  sigaction(SIGPIPE, nullptr, &sa);
  ASSERT_EQ(sa.sa_handler, SIG_DFL);
  const std::string big(8 << 20, 'x');
  for (int i = 0; i < 20; ++i) {
    auto r = sp::run({"sh", "-c", "exec 0<&- 1>&-; exit 0"},
                     {.input = big, .capture_output = true, .timeout = 10s});
    EXPECT_EQ(r.returncode, 0);
    auto h = sp::run({"head", "-c", "10"}, {.input = big, .capture_output = true, .timeout = 10s});
    EXPECT_EQ(h.stdout_, std::string(10, 'x'));
  }
  sigaction(SIGPIPE, nullptr, &sa);
  EXPECT_EQ(sa.sa_handler, SIG_DFL);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

// Concurrent runs from several threads: every child reaped by its own Popen.
TEST(PopenReliability, ConcurrentRunsFromThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        ok += sp::run({"echo", "x"}, {.capture_output = true, .timeout = 10s}).stdout_ == "x\n";
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_TRUE(concur::testing::children().empty());
}

}  // namespace
