// Conformance: multiprocessing.Process (CPython's _test_multiprocessing._TestProcess and
// _TestSubclassingProcess), under the default start method and, where the method matters, under
// fork, spawn and forkserver.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "concur/threading/thread.hpp"
#include "support/mp_process_util.hpp"

namespace mp = concur::mp;
using concur::testing::proc::ChildGate;
using concur::testing::proc::LinePipe;
using concur::testing::proc::method_name;
using concur::testing::proc::say_up_and_sleep;
using concur::testing::proc::WriteEnd;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

class Process : public concur::testing::proc::StartMethodTest {
 protected:
  [[nodiscard]] bool is_spawn() const { return GetParam() == "spawn"; }
};

// The child reports what it received and who it is, then waits for the gate.
void report_and_wait(WriteEnd w, ChildGate g, int a, std::string b) {
  w.write(std::to_string(a) + " " + b + " " + mp::current_process().name() + " " +
          std::to_string(getpid()));
  (void)g.wait();
}

std::string id_text(const std::vector<int>& id) {
  std::string s = "[";
  for (std::size_t i = 0; i < id.size(); ++i) s += (i ? ", " : "") + std::to_string(id[i]);
  return s + "]";
}

void recurse(WriteEnd w, std::vector<int> id) {
  w.write(id_text(id));
  if (id.size() < 2) {
    for (int i = 0; i < 2; ++i) {
      auto next = id;
      next.push_back(i);
      mp::Process p(mp::fn<&recurse>, w, next);
      p.start();
      p.join();
    }
  }
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

// CPython _test_multiprocessing._TestProcess.test_process, test_active_children: before start not
// alive, no exitcode, not listed; after start alive, listed, the target gets its args and sees its
// own name and pid; after join exitcode 0.
TEST_P(Process, LifecycleAndActiveChildren) {
  LinePipe pipe;
  ChildGate gate;
  mp::Process p = ctx().Process(mp::fn<&report_and_wait>, pipe.writer, gate, 17, "kw");
  EXPECT_FALSE(p.is_alive());
  EXPECT_FALSE(p.exitcode().has_value());
  EXPECT_TRUE(mp::active_children().empty());
  p.start();
  const auto line = pipe.read_line();
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "17 kw " + p.name() + " " + std::to_string(*p.pid()));
  EXPECT_TRUE(p.is_alive());
  EXPECT_FALSE(p.exitcode().has_value());
  auto kids = mp::active_children();
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0].pid(), p.pid());
  gate.open();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_FALSE(p.is_alive());
  EXPECT_TRUE(mp::active_children().empty());
}

// CPython _test_multiprocessing._TestProcess.test_terminate, test_kill: join(0) returns at once on
// a live child; terminate → -SIGTERM, kill → -SIGKILL, promptly. (join(-1): ValueError in concur,
// see process.hpp.)
TEST_P(Process, JoinZeroTerminateKill) {
  LinePipe pipe;
  mp::Process p = ctx().Process(mp::fn<&say_up_and_sleep>, pipe.writer);
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  auto t0 = Clock::now();
  EXPECT_FALSE(p.join(0s));
  EXPECT_THROW(p.join(-1s), concur::ValueError);
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_TRUE(p.is_alive());
  p.terminate();
  t0 = Clock::now();
  ASSERT_TRUE(p.join(20s));
  EXPECT_LT(Clock::now() - t0, 10s);
  EXPECT_EQ(p.exitcode(), -SIGTERM);

  mp::Process k = ctx().Process(mp::fn<&say_up_and_sleep>, pipe.writer);
  k.start();
  ASSERT_EQ(pipe.read_line(), "up");
  k.kill();
  ASSERT_TRUE(k.join(20s));
  EXPECT_EQ(k.exitcode(), -SIGKILL);
}

// CPython _test_multiprocessing._TestSubclassingProcess.test_sys_exit: sys.exit(x) → exitcode 1 for
// True, 0 for False, 8 for 8, 0 for none; a text argument gives 1 and the text on the child's
// stderr.
TEST_P(Process, SysExitCodes) {
  auto run = [&](auto target) {
    mp::Process p = ctx().Process(target);
    p.start();
    EXPECT_TRUE(p.join(20s));
    return p.exitcode();
  };
  EXPECT_EQ(run([] { mp::exit(true); }), 1);
  EXPECT_EQ(run([] { mp::exit(false); }), 0);
  EXPECT_EQ(run([] { mp::exit(8); }), 8);
  EXPECT_EQ(run([] { mp::exit(); }), 0);
  EXPECT_EQ(run([] { throw mp::SystemExit(); }), 0);
  LinePipe err;
  mp::Process p = ctx().Process(
      [](WriteEnd w) {
        ::dup2(w.fd(), 2);
        mp::exit("it went wrong");
      },
      err.writer);
  p.start();
  EXPECT_EQ(err.read_line(), "it went wrong");
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 1);
}

// CPython _test_multiprocessing._TestSubclassingProcess.test_stderr_flush; CPython docs,
// Process.exitcode: an exception leaving the target is printed on the child's stderr (flushed
// before it exits) and the exitcode is 1.
TEST_P(Process, ExceptionReachesStderrExitcodeOne) {
  LinePipe err;
  mp::Process p = ctx().Process(
      [](WriteEnd w) {
        ::dup2(w.fd(), 2);
        std::fputs("partial line without newline... ", stdout);
        throw concur::ValueError("the child failed");
      },
      err.writer);
  p.start();
  const auto first = err.read_line();
  const auto second = err.read_line();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*first, "Process " + p.name() + ":");
  EXPECT_EQ(*second, "concur::ValueError: the child failed");
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 1);
}

// CPython _test_multiprocessing._TestProcess.test_close: close() of a running child is ValueError;
// after it ends close() succeeds, twice; then is_alive/join/terminate are ValueError.
TEST_P(Process, Close) {
  LinePipe pipe;
  mp::Process p = ctx().Process(mp::fn<&say_up_and_sleep>, pipe.writer);
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  EXPECT_THROW(p.close(), concur::ValueError);
  p.terminate();
  ASSERT_TRUE(p.join(20s));
  p.close();
  p.close();
  EXPECT_THROW((void)p.is_alive(), concur::ValueError);
  EXPECT_THROW(p.join(), concur::ValueError);
  EXPECT_THROW(p.terminate(), concur::ValueError);
  EXPECT_EQ(p.exitcode(), -SIGTERM);  // concur keeps the code (Python: None after close)
}

// CPython _test_multiprocessing._TestProcess.test_sentinel: sentinel before start is ValueError;
// after start it is ready exactly when the child exits.
TEST_P(Process, Sentinel) {
  ChildGate gate;
  LinePipe pipe;
  mp::Process p = ctx().Process(mp::fn<&report_and_wait>, pipe.writer, gate, 1, std::string("x"));
  EXPECT_THROW((void)p.sentinel(), concur::ValueError);
  p.start();
  ASSERT_TRUE(pipe.read_line().has_value());
  pollfd pf{p.sentinel(), POLLIN, 0};
  EXPECT_EQ(::poll(&pf, 1, 0), 0);
  gate.open();
  EXPECT_EQ(::poll(&pf, 1, 20000), 1);
  ASSERT_TRUE(p.join(20s));
}

// CPython _test_multiprocessing._TestProcess.test_daemon_argument: daemon defaults to the creator's
// flag; explicit values are honoured.
TEST(Process, DaemonArgument) {
  mp::Process p0([] {});
  EXPECT_EQ(p0.daemon(), mp::current_process().daemon());
  EXPECT_FALSE(p0.daemon());
  mp::Process p1({.daemon = true}, [] {});
  EXPECT_TRUE(p1.daemon());
  mp::Process p2({.daemon = false}, [] {});
  EXPECT_FALSE(p2.daemon());
  // In a daemonic child, a new Process inherits daemon=true.
  LinePipe pipe;
  mp::Process d(
      {.daemon = true},
      [](WriteEnd w) {
        mp::Process inner([] {});
        w.write(inner.daemon() ? "daemon" : "not daemon");
      },
      pipe.writer);
  d.start();
  EXPECT_EQ(pipe.read_line(), "daemon");
  ASSERT_TRUE(d.join(20s));
}

namespace {
void report_parent_twice(WriteEnd w) {
  mp::set_parent_death_signal(0);  // Python's behaviour: outlive the parent to report
  const mp::ParentProcess* parent = mp::parent_process();
  w.write(parent->is_alive() ? "alive" : "not alive");
  (void)parent->join(20s);
  w.write(parent->is_alive() ? "alive" : "not alive");
}
void create_grandchild(WriteEnd w) {
  mp::Process p(mp::fn<&report_parent_twice>, w);
  p.start();
  for (;;) ::pause();
}
void report_parent(WriteEnd w) {
  const mp::ParentProcess* parent = mp::parent_process();
  w.write(parent == nullptr ? "none" : std::to_string(parent->pid()) + " " + parent->name());
}
}  // namespace

// CPython _test_multiprocessing._TestProcess.test_parent_process_attributes, test_parent_process:
// parent_process() is null in the main process; a child sees its parent's pid and name; a
// grandchild sees its parent alive, then not alive once it is terminated.
TEST_P(Process, ParentProcess) {
  EXPECT_EQ(mp::parent_process(), nullptr);
  LinePipe pipe;
  mp::Process c = ctx().Process(mp::fn<&report_parent>, pipe.writer);
  c.start();
  EXPECT_EQ(pipe.read_line(), std::to_string(getpid()) + " MainProcess");
  ASSERT_TRUE(c.join(20s));

  mp::Process p = ctx().Process(mp::fn<&create_grandchild>, pipe.writer);
  p.start();
  EXPECT_EQ(pipe.read_line(), "alive");
  p.terminate();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(pipe.read_line(), "not alive");
}

namespace {
void threads_in_child(ChildGate gate) {
  concur::threading::Thread non_daemon([gate] { (void)gate.wait(); });
  concur::threading::Thread daemon({.daemon = true}, [] {
    for (;;) ::pause();
  });
  non_daemon.start();
  daemon.start();
}
}  // namespace

// CPython _test_multiprocessing._TestProcess.test_wait_for_threads: a child ends only after its
// non-daemon threads, and is not held up by a daemon thread. (The non-daemon thread waits for a
// gate instead of sleeping 0.5 s.)
TEST_P(Process, WaitsForNonDaemonThreadsOnly) {
  ChildGate gate;
  mp::Process p = ctx().Process(mp::fn<&threads_in_child>, gate);
  p.start();
  EXPECT_FALSE(p.join(300ms));  // held by the non-daemon thread
  gate.open();
  ASSERT_TRUE(p.join(20s));  // not held by the daemon thread
  EXPECT_EQ(p.exitcode(), 0);
}

// CPython _test_multiprocessing._TestProcess.test_recursion: processes starting processes (depth 2,
// fan-out 2) all run, messages in depth-first order.
TEST_P(Process, Recursion) {
  LinePipe pipe;
  pipe.writer.write("[]");
  for (int i = 0; i < 2; ++i) {
    mp::Process p = ctx().Process(mp::fn<&recurse>, pipe.writer, std::vector<int>{i});
    p.start();
    ASSERT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  std::vector<std::string> got;
  for (int i = 0; i < 7; ++i) {
    auto line = pipe.read_line();
    ASSERT_TRUE(line.has_value());
    got.push_back(*line);
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{"[]", "[0]", "[0, 0]", "[0, 1]", "[1]", "[1, 0]", "[1, 1]"}));
}

// CPython _test_multiprocessing._TestProcess.test_many_processes: 100 short children (5 under
// spawn) exit 0; 100 sleeping children terminated right after start all end with -SIGTERM.
TEST_P(Process, ManyProcesses) {
  const int n = is_spawn() ? 5 : 100;
  std::vector<mp::Process> procs;
  for (int i = 0; i < n; ++i) procs.push_back(ctx().Process([] {}));
  for (auto& p : procs) p.start();
  for (auto& p : procs) {
    ASSERT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  procs.clear();
  for (int i = 0; i < n; ++i)
    procs.push_back(ctx().Process([] {
      for (;;) ::pause();
    }));
  for (auto& p : procs) {
    p.start();
    p.terminate();
  }
  for (auto& p : procs) {
    ASSERT_TRUE(p.join(30s));
    EXPECT_EQ(p.exitcode(), -SIGTERM);
  }
}

// CPython _test_multiprocessing._TestProcess.test_lose_target_ref: a started (and joined) Process
// no longer holds its target.
TEST(Process, LosesTargetReference) {
  auto held = std::make_shared<int>(1);
  std::weak_ptr<int> watch = held;
  mp::Process p = mp::get_context("fork").Process([held] { (void)held; });
  held.reset();
  EXPECT_FALSE(watch.expired());
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_TRUE(watch.expired());
}

// CPython docs, Process.start() and join(): a process is started at most once, joined only after
// start: start twice, join before start, a daemonic process starting a child.
TEST(Process, BadCalls) {
  mp::Process p([] {});
  try {
    p.join();
    ADD_FAILURE() << "join before start must throw";
  } catch (const concur::ValueError& e) {
    EXPECT_TRUE(contains(e.what(), "can only join a started process")) << e.what();
  }
  p.start();
  try {
    p.start();
    ADD_FAILURE() << "a second start must throw";
  } catch (const concur::RuntimeError& e) {
    EXPECT_TRUE(contains(e.what(), "cannot start a process twice")) << e.what();
  }
  ASSERT_TRUE(p.join(20s));
  LinePipe pipe;
  mp::Process d(
      {.daemon = true},
      [](WriteEnd w) {
        mp::Process inner([] {});
        try {
          inner.start();
          w.write("started");
        } catch (const concur::ValueError& e) {
          w.write(e.what());
        }
      },
      pipe.writer);
  d.start();
  EXPECT_EQ(pipe.read_line(), "daemonic processes are not allowed to have children");
  ASSERT_TRUE(d.join(20s));
}

namespace {
// A subclass overriding run(): an upper-casing echo server over a socket (fork only: its
// fields are raw fds, which only fork carries; mp_process_subclass_test.cpp runs a
// registered subclass under every method).
class Upper : public mp::Process {
 public:
  Upper(int fd, int parent_end) : fd_(fd), parent_end_(parent_end) {}
  void run() override {
    if (parent_end_ >= 0) ::close(parent_end_);  // the parent's end, inherited by fork
    char buf[256];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return;
      for (ssize_t i = 0; i < n; ++i) buf[i] = static_cast<char>(std::toupper(buf[i]));
      (void)!::write(fd_, buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  int parent_end_;
};

void report_method(WriteEnd w) { w.write(mp::get_start_method()); }
}  // namespace

// CPython _test_multiprocessing._TestSubclassingProcess.test_subclassing: a Process subclass
// overriding run() works as an echo server; current_process(), cpu_count(), contexts and
// set_start_method.
TEST(Process, SubclassCurrentProcessContexts) {
  mp::set_start_method("fork", true);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  {
    Upper server(sv[1], sv[0]);
    server.start();
    ::close(sv[1]);
    for (const std::string word : {"hello", "world"}) {
      ASSERT_EQ(::write(sv[0], word.data(), word.size()), static_cast<ssize_t>(word.size()));
      char buf[16] = {};
      pollfd pf{sv[0], POLLIN, 0};
      ASSERT_EQ(::poll(&pf, 1, 20000), 1);
      ASSERT_EQ(::read(sv[0], buf, sizeof buf), static_cast<ssize_t>(word.size()));
      std::string up = word;
      for (auto& ch : up) ch = static_cast<char>(std::toupper(ch));
      EXPECT_EQ(std::string(buf), up);
    }
    ::close(sv[0]);
    ASSERT_TRUE(server.join(20s));
    EXPECT_EQ(server.exitcode(), 0);
  }
  // Under spawn/forkserver a subclass cannot cross: TypeError at start().
  {
    Upper other(-1, -1);
    EXPECT_EQ(other.start_method(), std::nullopt);
    mp::set_start_method("spawn", true);
    EXPECT_THROW(other.start(), concur::TypeError);
  }

  mp::Process& me = mp::current_process();
  EXPECT_TRUE(me.is_alive());
  EXPECT_FALSE(me.daemon());
  EXPECT_FALSE(me.authkey().empty());
  EXPECT_EQ(me.ident(), me.pid());
  EXPECT_EQ(me.pid(), static_cast<int>(getpid()));
  EXPECT_EQ(me.name(), "MainProcess");
  EXPECT_GE(mp::cpu_count(), 1);

  for (const std::string m : {"fork", "spawn", "forkserver"}) {
    const mp::Context& c = mp::get_context(m);
    EXPECT_EQ(c.get_start_method(), m);
    EXPECT_EQ(&c.get_context(), &c);
    EXPECT_THROW(c.set_start_method("spawn"), concur::ValueError);
    LinePipe pipe;
    mp::Process p = c.Process(mp::fn<&report_method>, pipe.writer);
    p.start();
    EXPECT_EQ(pipe.read_line(), m);
    ASSERT_TRUE(p.join(20s));
  }
  EXPECT_THROW(mp::get_context("nope"), concur::ValueError);
  EXPECT_THROW(mp::set_start_method("spawn"), concur::RuntimeError);  // already set
  try {
    mp::set_start_method("fork");
  } catch (const concur::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "context has already been set");
  }
  mp::set_start_method("forkserver", true);
  EXPECT_EQ(mp::get_start_method(), "forkserver");
  EXPECT_EQ(mp::get_all_start_methods(), (std::vector<std::string>{"forkserver", "spawn", "fork"}));
}

INSTANTIATE_TEST_SUITE_P(Methods, Process, ::testing::Values("forkserver", "fork", "spawn"),
                         method_name);
