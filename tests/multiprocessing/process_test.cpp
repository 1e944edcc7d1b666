// Process under each start method: start/join/exitcode, signals, errors, handles crossing.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "concur/threading/event.hpp"
#include "process_test_util.hpp"

namespace mp = concur::mp;
using concur::testing::LinePipe;
using concur::testing::WriteEnd;
using namespace std::chrono_literals;

namespace {

class ProcessTest : public ::testing::TestWithParam<std::string> {
 protected:
  const mp::Context& ctx() const { return mp::get_context(GetParam()); }
};

std::string method_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

void report_self(WriteEnd w, int x) {
  w.write(mp::current_process().name() + " " + std::to_string(getpid()) + " " +
          std::to_string(x) + " " + mp::get_start_method());
}

}  // namespace

TEST_P(ProcessTest, StartJoinExitcodeZero) {
  LinePipe pipe;
  auto p = ctx().Process(mp::fn<&report_self>, pipe.writer, 42);
  EXPECT_FALSE(p.is_alive());
  EXPECT_FALSE(p.exitcode().has_value());
  EXPECT_FALSE(p.pid().has_value());
  p.start();
  ASSERT_TRUE(p.pid().has_value());
  const auto line = pipe.read_line();
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, p.name() + " " + std::to_string(*p.pid()) + " 42 " + GetParam());
  EXPECT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_FALSE(p.is_alive());
}

TEST_P(ProcessTest, ThrowingTargetExitsWithOne) {
  auto p = ctx().Process([] { throw concur::ValueError("boom"); });
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 1);
}

TEST_P(ProcessTest, ExitCodes) {
  struct Case {
    int code;
    int expected;
  };
  for (const Case c : {Case{8, 8}, Case{0, 0}, Case{1, 1}}) {
    auto p = ctx().Process([](int code) { mp::exit(code); }, c.code);
    p.start();
    ASSERT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), c.expected);
  }
  auto t = ctx().Process([] { mp::exit(true); });
  t.start();
  ASSERT_TRUE(t.join(20s));
  EXPECT_EQ(t.exitcode(), 1);
  auto s = ctx().Process([] { mp::exit("bad things"); });
  s.start();
  ASSERT_TRUE(s.join(20s));
  EXPECT_EQ(s.exitcode(), 1);
}

TEST_P(ProcessTest, TerminateAndKill) {
  LinePipe pipe;
  auto sleeper = [](WriteEnd w) {
    w.write("up");
    for (;;) ::pause();
  };
  auto p = ctx().Process(sleeper, pipe.writer);
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  EXPECT_FALSE(p.join(0s));
  EXPECT_TRUE(p.is_alive());
  EXPECT_FALSE(p.exitcode().has_value());
  p.terminate();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), -SIGTERM);
  p.terminate();  // ended: nothing happens

  auto k = ctx().Process(sleeper, pipe.writer);
  k.start();
  ASSERT_EQ(pipe.read_line(), "up");
  k.kill();
  ASSERT_TRUE(k.join(20s));
  EXPECT_EQ(k.exitcode(), -SIGKILL);
}

TEST_P(ProcessTest, SentinelBecomesReadableAtExit) {
  LinePipe pipe;
  auto p = ctx().Process(
      [](WriteEnd w) {
        w.write("up");
        for (;;) ::pause();
      },
      pipe.writer);
  EXPECT_THROW((void)p.sentinel(), concur::ValueError);
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  pollfd pf{p.sentinel(), POLLIN, 0};
  EXPECT_EQ(::poll(&pf, 1, 0), 0);
  p.kill();
  EXPECT_EQ(::poll(&pf, 1, 20000), 1);
  ASSERT_TRUE(p.join(20s));
}

TEST_P(ProcessTest, BadCalls) {
  auto p = ctx().Process([] {});
  EXPECT_THROW(p.join(), concur::ValueError);
  EXPECT_THROW(p.terminate(), concur::ValueError);
  p.start();
  EXPECT_THROW(p.start(), concur::RuntimeError);
  ASSERT_TRUE(p.join(20s));
  EXPECT_THROW(p.join(-1s), concur::ValueError);
  p.close();
  p.close();
  EXPECT_THROW((void)p.is_alive(), concur::ValueError);
  EXPECT_THROW(p.join(), concur::ValueError);
  EXPECT_THROW(p.terminate(), concur::ValueError);
  EXPECT_THROW((void)p.sentinel(), concur::ValueError);
  EXPECT_THROW(p.start(), concur::ValueError);
}

TEST_P(ProcessTest, CloseWhileRunningIsValueError) {
  LinePipe pipe;
  auto p = ctx().Process(
      [](WriteEnd w) {
        w.write("up");
        for (;;) ::pause();
      },
      pipe.writer);
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  EXPECT_THROW(p.close(), concur::ValueError);
  p.kill();
  ASSERT_TRUE(p.join(20s));
  p.close();
}

TEST_P(ProcessTest, ActiveChildren) {
  LinePipe pipe;
  auto p = ctx().Process(
      [](WriteEnd w) {
        w.write("up");
        for (;;) ::pause();
      },
      pipe.writer);
  EXPECT_TRUE(mp::active_children().empty());
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  auto kids = mp::active_children();
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0].pid(), p.pid());
  EXPECT_EQ(kids[0].name(), p.name());
  p.terminate();
  ASSERT_TRUE(p.join(20s));
  EXPECT_TRUE(mp::active_children().empty());
}

TEST_P(ProcessTest, DestructorWaitsForTheChild) {
  LinePipe pipe;
  {
    auto p = ctx().Process([](WriteEnd w) { w.write("done"); }, pipe.writer);
    p.start();
  }
  EXPECT_EQ(pipe.read_line(), "done");
  {
    mp::Process d = ctx().Process(mp::ProcessOptions{.name = "d", .daemon = true},
                                  [](WriteEnd w) {
                                    w.write("up");
                                    for (;;) ::pause();
                                  },
                                  pipe.writer);
    d.start();
    ASSERT_EQ(pipe.read_line(), "up");
  }  // daemonic: terminated, then joined
  EXPECT_TRUE(mp::active_children().empty());
}

INSTANTIATE_TEST_SUITE_P(Methods, ProcessTest, ::testing::Values("fork", "spawn", "forkserver"),
                         method_name);

// ---- fork only ------------------------------------------------------------------------------

TEST(ProcessFork, AnyInvocableAndSubclassRun) {
  std::string captured = "not trivially copyable";
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  auto p = mp::get_context("fork").Process([captured, fds] {
    (void)!::write(fds[1], captured.data(), captured.size());
  });
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  char buf[64] = {};
  EXPECT_EQ(::read(fds[0], buf, sizeof buf), static_cast<ssize_t>(captured.size()));
  EXPECT_EQ(std::string(buf), captured);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(ProcessFork, NonPicklableTargetIsTypeErrorUnderSpawn) {
  std::string captured = "x";
  auto p = mp::get_context("spawn").Process([captured] { (void)captured; });
  EXPECT_THROW(p.start(), concur::TypeError);
  auto q = mp::get_context("forkserver").Process([captured] { (void)captured; });
  EXPECT_THROW(q.start(), concur::TypeError);
  EXPECT_TRUE(mp::active_children().empty());
}
