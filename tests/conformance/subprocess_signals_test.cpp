// Conformance: subprocess return codes and signals, POSIX (CPython's
// test_subprocess.POSIXProcessTestCase).
//
// CPython tests that do not apply: none. test_subprocess.POSIXProcessTestCase.test_stopped (a
// stopped child) is checked on the status decoder, since waiting with WEXITED never reports a
// stopped child.
#include <gtest/gtest.h>
#include <signal.h>

#include <concur/subprocess.hpp>

#include "os/child.hpp"

namespace sp = concur::subprocess;
using namespace std::chrono_literals;

namespace {

// CPython test_subprocess.POSIXProcessTestCase.test_run_abort, test_kill, test_terminate,
// test_send_signal
TEST(PopenSignals, AbortKillTerminateSendSignal) {
  EXPECT_EQ(sp::run({"sh", "-c", "kill -ABRT $$"}).returncode, -SIGABRT);

  sp::Popen k({"sleep", "30"}, {.stderr_ = sp::PIPE});
  k.kill();
  auto [o1, e1] = k.communicate(10s);
  EXPECT_EQ(k.returncode(), -SIGKILL);
  EXPECT_EQ(e1, "");

  sp::Popen t({"sleep", "30"}, {.stderr_ = sp::PIPE});
  t.terminate();
  auto [o2, e2] = t.communicate(10s);
  EXPECT_EQ(t.returncode(), -SIGTERM);
  EXPECT_EQ(e2, "");

  sp::Popen i({"sleep", "30"});
  i.send_signal(SIGINT);
  EXPECT_NE(i.wait(10s), 0);
}

// CPython test_subprocess.POSIXProcessTestCase.test_stopped
TEST(PopenSignals, StoppedStatusIsNegative) {
  EXPECT_EQ(concur::os::returncode_from_status((3 << 8) | 0x7f), -3);  // WIFSTOPPED, sig 3
  EXPECT_EQ(concur::os::returncode_from_status(SIGKILL), -SIGKILL);    // WIFSIGNALED
  EXPECT_EQ(concur::os::returncode_from_status(5 << 8), 5);            // WIFEXITED
}

// CPython test_subprocess.POSIXProcessTestCase.test_send_signal_dead, test_kill_dead,
// test_terminate_dead, test_send_signal_race, test_send_signal_race2
TEST(PopenSignals, SignalsToAnExitedChildAreIgnored) {
  sp::Popen p({"true"});
  p.wait(10s);
  EXPECT_NO_THROW(p.send_signal(SIGTERM));
  EXPECT_NO_THROW(p.kill());
  EXPECT_NO_THROW(p.terminate());
  EXPECT_EQ(p.returncode(), 0);  // reaped, so no signal was sent

  // Exited but not yet reaped: still no error (the pidfd pins the process).
  sp::Popen q({"true"});
  sp::Popen sync({"sleep", "0.2"});
  sync.wait(10s);
  EXPECT_NO_THROW(q.kill());
  EXPECT_EQ(q.wait(10s), 0);
}

// CPython test_subprocess.POSIXProcessTestCase.test_CalledProcessError_str_signal,
// test_CalledProcessError_str_signal_unknown_signal, test_CalledProcessError_str_signal_non_zero
TEST(PopenSignals, CalledProcessErrorText) {
  EXPECT_STREQ(sp::CalledProcessError(-SIGABRT, sp::Args{"fake", "cmd"}).what(),
               "Command '['fake', 'cmd']' died with <Signals.SIGABRT: 6>.");
  EXPECT_STREQ(sp::CalledProcessError(-9876543, sp::Args{"fake", "cmd"}).what(),
               "Command '['fake', 'cmd']' died with unknown signal 9876543.");
  EXPECT_STREQ(sp::CalledProcessError(2, sp::Args{"fake", "cmd"}).what(),
               "Command '['fake', 'cmd']' returned non-zero exit status 2.");
  EXPECT_STREQ(sp::CalledProcessError(1, "exit 1").what(),
               "Command 'exit 1' returned non-zero exit status 1.");
}

}  // namespace
