// Conformance: Popen, communicate and wait (CPython's test_subprocess.ProcessTestCase and
// POSIXProcessTestCase).
//
// CPython tests that do not apply to C++, and why:
// - CPython's documentation of Popen.wait() warns of a hazard (wait() without reading a full pipe
//   can deadlock); it is documented on Popen::wait, and there is nothing to test.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/time.h>

#include <atomic>
#include <concur/subprocess.hpp>
#include <thread>

#include "support/leak_check.hpp"
#include "support/subprocess_util.hpp"

namespace sp = concur::subprocess;
using namespace std::chrono_literals;
using sp_test::Clock;

namespace {

// CPython test_subprocess.ProcessTestCase.test_stdin_none, test_stdout_none, test_stderr_none,
// test_issue8780
TEST(Popen, UnredirectedStreamsAreNoneAndInherited) {
  sp::Popen p({"sh", "-c", "x=$(readlink /proc/$$/fd/1); echo $x >&2"}, {.stderr_ = sp::PIPE});
  EXPECT_FALSE(p.stdin_);
  EXPECT_FALSE(p.stdout_);
  EXPECT_TRUE(p.stderr_);
  auto [out, err] = p.communicate(10s);
  EXPECT_EQ(out, std::nullopt);
  EXPECT_EQ(err, concur::testing::fd_target(1) + "\n");  // the child's stdout is ours
}

// CPython test_subprocess.ProcessTestCase.test_communicate, test_communicate_stdin,
// test_communicate_stdout, test_communicate_stderr, test_communicate_returns
TEST(Popen, CommunicateAllThreePipes) {
  sp::Popen p({"sh", "-c", "cat; echo err >&2"},
              {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  auto [out, err] = p.communicate("banana", 10s);
  EXPECT_EQ(out, "banana");
  EXPECT_EQ(err, "err\n");
  EXPECT_TRUE(p.stdin_.closed());
  EXPECT_EQ(p.returncode(), 0);

  sp::Popen none({"true"});
  auto [o2, e2] = none.communicate(10s);
  EXPECT_EQ(o2, std::nullopt);
  EXPECT_EQ(e2, std::nullopt);

  sp::Popen only_err({"sh", "-c", "echo x >&2"}, {.stderr_ = sp::PIPE});
  auto [o3, e3] = only_err.communicate(10s);
  EXPECT_EQ(o3, std::nullopt);
  EXPECT_EQ(e3, "x\n");
}

// CPython test_subprocess.ProcessTestCase.test_communicate_pipe_buf
TEST(Popen, CommunicateLargerThanPipeBuffer) {
  const std::string input(1 << 20, 'a');  // 16x the 64 KiB pipe
  sp::Popen p({"sh", "-c", "cat >&2; echo done"},
              {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  auto [out, err] = p.communicate(input, 30s);
  EXPECT_EQ(out, "done\n");
  EXPECT_EQ(err->size(), input.size());
  EXPECT_EQ(err, input);
}

// CPython test_subprocess.ProcessTestCase.test_communicate_timeout,
// test_communicate_timeout_large_output; CPython docs, Popen.communicate(timeout=...)
TEST(Popen, CommunicateTimeoutThenRest) {
  sp::Popen p({"sh", "-c", "printf a; sleep 0.5; head -c 262144 /dev/zero | tr '\\0' b"},
              {.stdout_ = sp::PIPE});
  const auto t0 = Clock::now();
  try {
    p.communicate(300ms);
    FAIL();
  } catch (const sp::TimeoutExpired& e) {
    EXPECT_TRUE(sp_test::timing_ok(sp_test::seconds_since(t0), 0.3));
    EXPECT_EQ(e.stdout_, "a");
  }
  EXPECT_EQ(p.poll(), std::nullopt);  // not killed
  auto [out, err] = p.communicate(20s);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->size(), 1u + 4 * 65536);
  EXPECT_EQ(*out, "a" + std::string(std::size_t{4} * 65536, 'b'));
  EXPECT_EQ(p.returncode(), 0);
}

// CPython test_subprocess.ProcessTestCase.test_communicate_pipe_fd_leak
TEST(Popen, CommunicateClosesEveryPipe) {
  for (int mask = 0; mask < 8; ++mask) {
    const auto before = concur::testing::open_fds();
    {
      sp::Popen p({"sh", "-c", "cat; echo x; echo y >&2"},
                  {.stdin_ = (mask & 1) ? sp::Redirect(sp::PIPE) : sp::Redirect(sp::DEVNULL),
                   .stdout_ = (mask & 2) ? sp::Redirect(sp::PIPE) : sp::Redirect(sp::DEVNULL),
                   .stderr_ = (mask & 4) ? sp::Redirect(sp::PIPE) : sp::Redirect(sp::DEVNULL)});
      p.communicate(10s);
      EXPECT_TRUE(p.stdin_.closed() && p.stdout_.closed() && p.stderr_.closed());
      auto now = concur::testing::open_fds();
      EXPECT_EQ(now.size(), before.size() + 1) << "only the pidfd remains, mask " << mask;
    }
    EXPECT_EQ(concur::testing::open_fds(), before);
  }
}

// CPython test_subprocess.ProcessTestCase.test_writes_before_communicate
TEST(Popen, WritesBeforeCommunicate) {
  sp::Popen p({"cat"}, {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE});
  p.stdin_.write("banana");
  auto [out, err] = p.communicate("split", 10s);
  EXPECT_EQ(out, "bananasplit");
}

// CPython test_subprocess.ProcessTestCase.test_communicate_epipe,
// test_communicate_epipe_only_stdin,
// test_subprocess.POSIXProcessTestCase.test_communicate_BrokenPipeError_stdin_close and its
// variants
TEST(Popen, CommunicateEpipeIsNotAnError) {
  const std::string big(1 << 20, 'x');
  sp::Popen p({"true"}, {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
  EXPECT_NO_THROW(p.communicate(big, 10s));
  EXPECT_EQ(p.returncode(), 0);
  sp::Popen only_stdin({"true"}, {.stdin_ = sp::PIPE});
  EXPECT_NO_THROW(only_stdin.communicate(big, 10s));
}

// CPython test_subprocess.POSIXProcessTestCase.test_communicate_repeated_call_after_stdout_close
TEST(Popen, RepeatedCommunicateAfterStdoutClosed) {
  sp::Popen p({"sh", "-c", "exec 1>&-; sleep 0.5"}, {.stdout_ = sp::PIPE});
  const auto t0 = Clock::now();
  for (;;) {
    try {
      p.communicate(100ms);
      break;
    } catch (const sp::TimeoutExpired&) {
      ASSERT_LT(sp_test::seconds_since(t0), 10.0);
    }
  }
  EXPECT_EQ(p.returncode(), 0);
}

// CPython test_subprocess.ProcessTestCase.test_communicate_eintr
TEST(Popen, CommunicateIsEintrSafe) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = [](int) {};
  sa.sa_flags = 0;  // no SA_RESTART: poll/read fail with EINTR
  sigaction(SIGALRM, &sa, &old);
  itimerval every{{0, 20'000}, {0, 20'000}};
  setitimer(ITIMER_REAL, &every, nullptr);
  sp::Popen p({"sh", "-c", "sleep 0.3; echo done"}, {.stdout_ = sp::PIPE});
  auto [out, err] = p.communicate(10s);
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &old, nullptr);
  EXPECT_EQ(out, "done\n");
}

// CPython test_subprocess.ProcessTestCase.test_poll, test_wait
TEST(Popen, PollAndRepeatedWait) {
  sp::Popen p({"sh", "-c", "read x; exit 7"}, {.stdin_ = sp::PIPE});
  EXPECT_EQ(p.poll(), std::nullopt);
  p.stdin_.close();
  EXPECT_EQ(p.wait(10s), 7);
  EXPECT_EQ(p.wait(), 7);
  EXPECT_EQ(p.poll(), 7);
  EXPECT_EQ(p.returncode(), 7);
}

// CPython test_subprocess.ProcessTestCase.test_wait_timeout
TEST(Popen, WaitTimeout) {
  sp::Popen p({"sleep", "0.3"});
  try {
    p.wait(std::chrono::duration<double>(0.0001));
    FAIL();
  } catch (const sp::TimeoutExpired& e) {
    EXPECT_NE(std::string(e.what()).find("0.0001"), std::string::npos) << e.what();
  }
  EXPECT_EQ(p.wait(10s), 0);
}

// CPython test_subprocess.ProcessTestCase.test_threadsafe_wait
TEST(Popen, ThreadsafeWait) {
  sp::Popen p({"sleep", "30"});
  std::optional<int> polled = 0, other_rc;
  std::thread killer([&] {
    polled = p.poll();
    p.kill();
    other_rc = p.wait(10s);
  });
  const int rc = p.wait(10s);
  killer.join();
  EXPECT_EQ(polled, std::nullopt);
  EXPECT_EQ(rc, -SIGKILL);
  EXPECT_EQ(other_rc, -SIGKILL);
  EXPECT_EQ(p.wait(), -SIGKILL);
}

}  // namespace
