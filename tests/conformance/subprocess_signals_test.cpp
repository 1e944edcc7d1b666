// Conformance: CHECKLISTS.md §4c (return codes and signals, POSIX).
//
// Items that do not apply: none. 4c.26 (a stopped child) is checked on the status
// decoder, since waiting with WEXITED never reports a stopped child.
#include <gtest/gtest.h>
#include <signal.h>

#include "os/child.hpp"
#include <concur/subprocess.hpp>

namespace sp = concur::subprocess;
using namespace std::chrono_literals;

namespace {

// CHECKLISTS 4c.25
TEST(SubprocessSignals, AbortKillTerminateSendSignal) {
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

// CHECKLISTS 4c.26
TEST(SubprocessSignals, StoppedStatusIsNegative) {
  EXPECT_EQ(concur::os::returncode_from_status((3 << 8) | 0x7f), -3);  // WIFSTOPPED, sig 3
  EXPECT_EQ(concur::os::returncode_from_status(SIGKILL), -SIGKILL);    // WIFSIGNALED
  EXPECT_EQ(concur::os::returncode_from_status(5 << 8), 5);            // WIFEXITED
}

// CHECKLISTS 4c.27
TEST(SubprocessSignals, SignalsToAnExitedChildAreIgnored) {
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

// CHECKLISTS 4c.28
TEST(SubprocessSignals, CalledProcessErrorText) {
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
