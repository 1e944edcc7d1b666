// Process API: move assignment (the destructor's policy for the left side), exitcode()
// and is_alive() on a const Process, a status lost to an ignored SIGCHLD (as subprocess
// reports it), and subclasses that choose their context and, once registered, run under
// spawn and forkserver too (rebuilt from their fields in the child).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <concur/subprocess.hpp>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "concur/multiprocessing.hpp"
#include "support/mp_process_util.hpp"

namespace mp = concur::mp;
using concur::testing::proc::LinePipe;
using concur::testing::proc::method_name;
using concur::testing::proc::WriteEnd;
using namespace std::chrono_literals;

namespace {

class ProcessApi : public concur::testing::proc::StartMethodTest {};

static_assert(std::is_move_assignable_v<mp::Process>);
static_assert(std::is_nothrow_move_assignable_v<mp::Process>);
template <class P>
concept const_queries = requires(const P& p) {
  { p.exitcode() } -> std::same_as<std::optional<int>>;
  { p.is_alive() } -> std::same_as<bool>;
  { p.status_lost() } -> std::same_as<bool>;
};
static_assert(const_queries<mp::Process>);

/// True once `pid` names no process (reaped; not a zombie of ours).
bool gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// A registered subclass: fields that cross (a handle, a string, an int), run() overridden,
// its context chosen by the caller.
class Greeter : public mp::Process {
 public:
  Greeter() = default;
  Greeter(const mp::Context& ctx, WriteEnd out, std::string who, int code)
      : Process(ctx), out_(std::move(out)), who_(std::move(who)), code_(code) {}
  void run() override {
    out_.write("hello " + who_ + " from " + name() + " " + std::to_string(getpid()) + " " +
               (mp::current_process().name() == name() ? "same" : "other"));
    mp::exit(code_);
  }
  auto concur_fields() { return std::tie(out_, who_, code_); }

 private:
  WriteEnd out_{-1};
  std::string who_;
  int code_ = 0;
};
CONCUR_REGISTER_PROCESS(Greeter);

// Not registered: runs only under fork.
class Unregistered : public mp::Process {
 public:
  explicit Unregistered(mp::StartMethod m) : Process(m, {.name = "unreg"}) {}
  void run() override { mp::exit(4); }
};

}  // namespace

TEST_P(ProcessApi, MoveAssignmentIntoAnUnstartedProcess) {
  mp::Process a([] {});
  auto b = ctx().Process([] { mp::exit(6); });
  b.start();
  const int pid = *b.pid();
  a = std::move(b);
  EXPECT_EQ(a.pid(), pid);
  ASSERT_TRUE(a.join(20s));
  EXPECT_EQ(a.exitcode(), 6);
  mp::Process& same = a;
  a = std::move(same);  // self-assignment: nothing happens
  EXPECT_EQ(a.exitcode(), 6);
}

TEST_P(ProcessApi, MoveAssignmentOverARunningChildDoesWhatTheDestructorDoes) {
  // A daemonic running child on the left is terminated and reaped, as by the destructor.
  LinePipe pipe;
  auto a = ctx().Process(
      {.daemon = true},
      [](WriteEnd w) {
        w.write("up");
        for (;;) ::pause();
      },
      pipe.writer);
  a.start();
  ASSERT_EQ(pipe.read_line(), "up");
  const pid_t old_pid = *a.pid();
  auto b = ctx().Process([] { mp::exit(2); });
  a = std::move(b);
  EXPECT_TRUE(gone(old_pid));
  a.start();
  ASSERT_TRUE(a.join(20s));
  EXPECT_EQ(a.exitcode(), 2);
  // A non-daemonic child that ended but was never joined is reaped by the assignment.
  auto c = ctx().Process([] {});
  c.start();
  const pid_t c_pid = *c.pid();
  a = std::move(c);
  auto d = ctx().Process([] {});
  a = std::move(d);
  EXPECT_TRUE(gone(c_pid));
  EXPECT_FALSE(a.pid().has_value());
}

TEST_P(ProcessApi, ConstQueries) {
  auto p = ctx().Process([] { mp::exit(3); });
  const mp::Process& cp = p;
  EXPECT_FALSE(cp.is_alive());
  EXPECT_EQ(cp.exitcode(), std::nullopt);
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_FALSE(cp.is_alive());
  EXPECT_EQ(cp.exitcode(), 3);
  EXPECT_FALSE(cp.status_lost());
}

// With SIGCHLD ignored the kernel reaps our children: Process reports the status as lost
// (exitcode 0, status_lost()), as subprocess's Popen does, instead of throwing. Under
// forkserver the server is the parent and reaps: the status is kept.
TEST_P(ProcessApi, IgnoredSigchldLosesTheStatusAsSubprocessDoes) {
  struct sigaction ign {};
  struct sigaction old {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  ASSERT_EQ(::sigaction(SIGCHLD, &ign, &old), 0);
  auto p = ctx().Process([] { mp::exit(5); });
  bool joined = false;
  std::optional<int> code;
  bool lost = false;
  try {
    p.start();
    joined = p.join(20s);
    code = p.exitcode();
    lost = p.status_lost();
  } catch (...) {
    ::sigaction(SIGCHLD, &old, nullptr);
    throw;
  }
  concur::subprocess::Popen sp({"sh", "-c", "exit 3"});
  const int rc = sp.wait(10s);
  ::sigaction(SIGCHLD, &old, nullptr);
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(sp.status_lost());
  EXPECT_TRUE(joined);
  EXPECT_FALSE(p.is_alive());
  if (GetParam() == "forkserver") {
    EXPECT_EQ(code, 5);
    EXPECT_FALSE(lost);
  } else {
    EXPECT_EQ(code, 0);
    EXPECT_TRUE(lost);
  }
}

TEST_P(ProcessApi, RegisteredSubclassRunsUnderEveryMethod) {
  LinePipe pipe;
  Greeter g(ctx(), pipe.writer, "world", 7);
  EXPECT_EQ(g.start_method(), ctx().method());
  g.start();
  const auto line = pipe.read_line();
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "hello world from " + g.name() + " " + std::to_string(*g.pid()) + " same");
  ASSERT_TRUE(g.join(20s));
  EXPECT_EQ(g.exitcode(), 7);
  EXPECT_EQ(g.start_method(), mp::start_method_from_string(GetParam()));
}

TEST_P(ProcessApi, UnregisteredSubclassRunsOnlyUnderFork) {
  Unregistered u(mp::start_method_from_string(GetParam()));
  EXPECT_EQ(u.start_method(), mp::start_method_from_string(GetParam()));
  EXPECT_EQ(u.name(), "unreg");
  if (GetParam() == "fork") {
    u.start();
    ASSERT_TRUE(u.join(20s));
    EXPECT_EQ(u.exitcode(), 4);
  } else {
    try {
      u.start();
      FAIL() << "expected TypeError";
    } catch (const concur::TypeError& e) {
      EXPECT_NE(std::string(e.what()).find("CONCUR_REGISTER_PROCESS"), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(u.pid().has_value());  // no process was made
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, ProcessApi, ::testing::Values("fork", "spawn", "forkserver"),
                         method_name);
