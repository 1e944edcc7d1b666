// Popen: pipelines, destructor policy, moves, SIGCHLD ignored, groups.
#include <gtest/gtest.h>
#include <signal.h>

#include <concur/subprocess.hpp>

#include "support/leak_check.hpp"
#include "support/subprocess_util.hpp"

namespace sp = concur::subprocess;
using namespace std::chrono_literals;
using sp_test::Clock;

namespace {

TEST(Popen, PipelineEof) {  // ls / | grep -c .
  sp::Popen ls({"ls", "/"}, {.stdout_ = sp::PIPE});
  sp::Popen grep({"grep", "-c", "."}, {.stdin_ = ls.stdout_, .stdout_ = sp::PIPE});
  ls.stdout_.close();  // our copy closed, or grep never sees EOF
  auto [out, err] = grep.communicate(10s);
  EXPECT_GT(std::stoi(*out), 3);
  EXPECT_EQ(ls.wait(10s), 0);
}

TEST(Popen, PipelineSigpipePropagates) {  // yes | head -n 1
  sp::Popen yes({"yes"}, {.stdout_ = sp::PIPE});
  sp::Popen head({"head", "-n", "1"}, {.stdin_ = yes.stdout_, .stdout_ = sp::PIPE});
  yes.stdout_.close();
  auto [out, err] = head.communicate(10s);
  EXPECT_EQ(out, "y\n");
  EXPECT_EQ(yes.wait(10s), -SIGPIPE);  // restore_signals: SIGPIPE is default in yes
}

TEST(Popen, DestructorKillsAndReapsRunningChild) {
  const auto t0 = Clock::now();
  { sp::Popen p({"sleep", "30"}, {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE}); }
  EXPECT_LT(sp_test::seconds_since(t0), 5.0);
  EXPECT_TRUE(concur::testing::children().empty());
}

TEST(Popen, DestructorClosesStdinFirst) {
  // A child waiting for EOF on stdin is still killed (the policy is not "wait"), but
  // the EOF comes first: nothing leaks either way.
  { sp::Popen p({"cat"}, {.stdin_ = sp::PIPE}); }
  EXPECT_TRUE(concur::testing::children().empty());
}

TEST(Popen, MoveConstructAndAssign) {
  sp::Popen a({"sh", "-c", "echo a"}, {.stdout_ = sp::PIPE});
  const int pid = a.pid();
  sp::Popen b(std::move(a));
  EXPECT_EQ(b.pid(), pid);
  EXPECT_EQ(a.pid(), -1);  // NOLINT(bugprone-use-after-move)
  sp::Popen c({"sleep", "30"});
  c = std::move(b);  // kills and reaps the sleep
  EXPECT_EQ(c.pid(), pid);
  auto [out, err] = c.communicate(10s);
  EXPECT_EQ(out, "a\n");
  EXPECT_EQ(concur::testing::children().size(), 0u);
}

TEST(Popen, SigchldIgnoredLosesStatus) {
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ign, &old);
  sp::Popen p({"sh", "-c", "exit 3"});
  const int rc = p.wait(10s);
  sigaction(SIGCHLD, &old, nullptr);
  EXPECT_EQ(rc, 0);  // as in Python: the kernel reaped it, the status is gone
  EXPECT_TRUE(p.status_lost());
}

TEST(Popen, StdinWriteAndStdoutRead) {
  sp::Popen p({"cat"}, {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE});
  p.stdin_.write("one\ntwo\n");
  p.stdin_.close();
  EXPECT_EQ(p.stdout_.readline(), "one\n");
  EXPECT_EQ(p.stdout_.read(), "two\n");
  EXPECT_EQ(p.wait(10s), 0);
  // communicate keeps what a PipeFile had already buffered.
  sp::Popen q({"printf", "a\\nb\\nc"}, {.stdout_ = sp::PIPE});
  EXPECT_EQ(q.stdout_.readline(), "a\n");
  auto [out, err] = q.communicate(10s);
  EXPECT_EQ(out, "b\nc");
  auto again = q.communicate(10s);  // after completion: the same data
  EXPECT_EQ(again.stdout_, "b\nc");
}

TEST(Popen, TimeoutKillsTheWholeGroup) {
  // The grandchild holds the pipes; with start_new_session run() kills the group,
  // so EOF comes at once and run() returns well within the 250 ms drain grace.
  const auto t0 = Clock::now();
  try {
    sp::run("sleep 37 & sleep 37 & wait",
            {.capture_output = true, .shell = true, .timeout = 200ms, .start_new_session = true});
    FAIL();
  } catch (const sp::TimeoutExpired&) {
  }
  const double took = sp_test::seconds_since(t0);
  EXPECT_TRUE(sp_test::timing_ok(took, 0.2));
  EXPECT_LT(took, 0.2 + 0.24);  // below the 250 ms drain grace: EOF came at once
  // No sleep survives (they were in the killed group).
  EXPECT_TRUE(concur::testing::eventually([] {
    return sp::run({"pgrep", "-f", "^sleep 37$"}, {.capture_output = true}).returncode == 1;
  }));
}

TEST(Popen, ProcessGroupZeroAlsoKillsGroup) {
  const auto t0 = Clock::now();
  EXPECT_THROW(
      sp::run("sleep 31 & wait",
              {.capture_output = true, .shell = true, .timeout = 200ms, .process_group = 0}),
      sp::TimeoutExpired);
  EXPECT_LT(sp_test::seconds_since(t0), 0.2 + 0.24);
}

}  // namespace
