// Process under each start method: start/join/exitcode, signals, errors, handles crossing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/detail/region.hpp"
#include "concur/threading/event.hpp"
#include "concur/threading/thread.hpp"
#include "support/mp_process_util.hpp"

namespace mp = concur::mp;
using concur::testing::proc::LinePipe;
using concur::testing::proc::method_name;
using concur::testing::proc::WriteEnd;
using namespace std::chrono_literals;

namespace {

class ProcessAllMethods : public concur::testing::proc::StartMethodTest {};

// The child body of the tests that stop a child, as a closure.
const auto say_up_and_sleep = [](WriteEnd w) {
  concur::testing::proc::say_up_and_sleep(std::move(w));
};

void report_self(WriteEnd w, int x) {
  w.write(mp::current_process().name() + " " + std::to_string(getpid()) + " " + std::to_string(x) +
          " " + mp::get_start_method());
}

}  // namespace

TEST_P(ProcessAllMethods, StartJoinExitcodeZero) {
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

TEST_P(ProcessAllMethods, ThrowingTargetExitsWithOne) {
  auto p = ctx().Process([] { throw concur::ValueError("boom"); });
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 1);
}

TEST_P(ProcessAllMethods, ExitCodes) {
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

TEST_P(ProcessAllMethods, TerminateAndKill) {
  LinePipe pipe;
  auto p = ctx().Process(say_up_and_sleep, pipe.writer);
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  EXPECT_FALSE(p.join(0s));
  EXPECT_TRUE(p.is_alive());
  EXPECT_FALSE(p.exitcode().has_value());
  p.terminate();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), -SIGTERM);
  p.terminate();  // ended: nothing happens

  auto k = ctx().Process(say_up_and_sleep, pipe.writer);
  k.start();
  ASSERT_EQ(pipe.read_line(), "up");
  k.kill();
  ASSERT_TRUE(k.join(20s));
  EXPECT_EQ(k.exitcode(), -SIGKILL);
}

TEST_P(ProcessAllMethods, SentinelBecomesReadableAtExit) {
  LinePipe pipe;
  auto p = ctx().Process(say_up_and_sleep, pipe.writer);
  EXPECT_THROW((void)p.sentinel(), concur::ValueError);
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  pollfd pf{p.sentinel(), POLLIN, 0};
  EXPECT_EQ(::poll(&pf, 1, 0), 0);
  p.kill();
  EXPECT_EQ(::poll(&pf, 1, 20000), 1);
  ASSERT_TRUE(p.join(20s));
}

TEST_P(ProcessAllMethods, BadCalls) {
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

TEST_P(ProcessAllMethods, CloseWhileRunningIsValueError) {
  LinePipe pipe;
  auto p = ctx().Process(say_up_and_sleep, pipe.writer);
  p.start();
  ASSERT_EQ(pipe.read_line(), "up");
  EXPECT_THROW(p.close(), concur::ValueError);
  p.kill();
  ASSERT_TRUE(p.join(20s));
  p.close();
}

TEST_P(ProcessAllMethods, ActiveChildren) {
  LinePipe pipe;
  auto p = ctx().Process(say_up_and_sleep, pipe.writer);
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

TEST_P(ProcessAllMethods, DestructorWaitsForTheChild) {
  LinePipe pipe;
  {
    auto p = ctx().Process([](WriteEnd w) { w.write("done"); }, pipe.writer);
    p.start();
  }
  EXPECT_EQ(pipe.read_line(), "done");
  {
    mp::Process d = ctx().Process(mp::ProcessOptions{.name = "d", .daemon = true}, say_up_and_sleep,
                                  pipe.writer);
    d.start();
    ASSERT_EQ(pipe.read_line(), "up");
  }  // daemonic: terminated, then joined
  EXPECT_TRUE(mp::active_children().empty());
}

INSTANTIATE_TEST_SUITE_P(Methods, ProcessAllMethods,
                         ::testing::Values("fork", "spawn", "forkserver"), method_name);

// ---- fork only ------------------------------------------------------------------------------

TEST(ProcessFork, AnyInvocableAndSubclassRun) {
  std::string captured = "not trivially copyable";
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  auto p = mp::get_context("fork").Process(
      [captured, fds] { (void)!::write(fds[1], captured.data(), captured.size()); });
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

// ---- objects crossing as handles, inherited service fds ---------------------------------------

namespace {

// The smallest process-shared object (as in handles_test.cpp): a counter in a Region.
class Counter {
 public:
  using concur_handle_tag = void;
  Counter() : region_(mp::detail::Region::create(sizeof(std::uint64_t), "Counter")) {}
  void add(std::uint64_t n) { std::atomic_ref(*region_->at<std::uint64_t>()).fetch_add(n); }
  [[nodiscard]] std::uint64_t value() const {
    return std::atomic_ref(*region_->at<std::uint64_t>()).load();
  }
  void concur_encode_handle(mp::Buffer& out) const { region_->encode(out, "Counter"); }
  static Counter concur_decode_handle(mp::Reader& in) {
    return Counter(mp::detail::Region::decode(in, "Counter"));
  }

 private:
  explicit Counter(std::shared_ptr<mp::detail::Region> r) : region_(std::move(r)) {}
  std::shared_ptr<mp::detail::Region> region_;
};

void add_many(Counter c, std::vector<Counter> more, int n) {
  for (int i = 0; i < n; ++i) c.add(1);
  for (auto& m : more) m.add(static_cast<std::uint64_t>(n));
}

}  // namespace

TEST_P(ProcessAllMethods, HandlesCrossAsArguments) {
  Counter a;
  Counter b;
  auto p = ctx().Process(mp::fn<&add_many>, a, std::vector<Counter>{b, a}, 1000);
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(a.value(), 2000u);
  EXPECT_EQ(b.value(), 1000u);
}

TEST_P(ProcessAllMethods, InheritedFdsReachEveryChildUnderTheirKey) {
  LinePipe pipe;
  mp::detail::set_inherited_fd("test.service", pipe.writer.fd());
  auto p = ctx().Process([] {
    const int fd = mp::detail::inherited_fd("test.service");
    const std::string line = fd >= 0 ? "got it\n" : "missing\n";
    (void)!::write(fd >= 0 ? fd : 2, line.data(), line.size());
  });
  p.start();
  EXPECT_EQ(pipe.read_line(), "got it");
  ASSERT_TRUE(p.join(20s));
  mp::detail::set_inherited_fd("test.service", -1);
}

TEST_P(ProcessAllMethods, ParentProcessInTheChild) {
  LinePipe pipe;
  EXPECT_EQ(mp::parent_process(), nullptr);
  auto p = ctx().Process(
      [](WriteEnd w) {
        const mp::ParentProcess* parent = mp::parent_process();
        if (parent == nullptr) return w.write("none");
        w.write(std::to_string(parent->pid()) + " " + parent->name() + " " +
                (parent->is_alive() ? "alive" : "dead"));
      },
      pipe.writer);
  p.start();
  EXPECT_EQ(pipe.read_line(), std::to_string(getpid()) + " MainProcess alive");
  ASSERT_TRUE(p.join(20s));
}

TEST_P(ProcessAllMethods, AChildWithoutMainGuardCannotStartProcesses) {
  // What a spawned child that skipped main_guard sees (the variable is then still set).
  ::setenv("CONCUR_MP_CHILD", "1", 1);  // NOLINT(concurrency-mt-unsafe): no thread reads it now
  auto p = ctx().Process([] {});
  EXPECT_THROW(p.start(), concur::RuntimeError);
  ::unsetenv("CONCUR_MP_CHILD");  // NOLINT(concurrency-mt-unsafe)
}

TEST(ProcessDefault, DefaultMethodIsForkserverAndAPlainProcessUsesIt) {
  EXPECT_EQ(mp::get_start_method(), "forkserver");
  LinePipe pipe;
  mp::Process p(mp::fn<&report_self>, pipe.writer, 7);
  p.start();
  const auto line = pipe.read_line();
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, p.name() + " " + std::to_string(*p.pid()) + " 7 forkserver");
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(p.start_method(), mp::StartMethod::forkserver);
}

// ---- more behaviour ----------------------------------------------------------------------------

namespace {
void report_names(WriteEnd w) {
  mp::Process inner([] {});
  w.write(mp::current_process().name() + " " + inner.name());
}
void unregistered(int) {}
}  // namespace

TEST_P(ProcessAllMethods, CustomNameIsSeenByTheChild) {
  LinePipe pipe;
  auto p = ctx().Process(mp::ProcessOptions{.name = "custom"}, mp::fn<&report_names>, pipe.writer);
  EXPECT_EQ(p.name(), "custom");
  p.start();
  const auto line = pipe.read_line();
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->substr(0, 7), "custom ");
  ASSERT_TRUE(p.join(20s));
}

TEST_P(ProcessAllMethods, ChildNamesItsChildrenAfterItsIdentity) {
  LinePipe pipe;
  auto p = ctx().Process(mp::fn<&report_names>, pipe.writer);
  const std::string name = p.name();  // "Process-N"
  p.start();
  EXPECT_EQ(pipe.read_line(), name + " " + name + ":1");
  ASSERT_TRUE(p.join(20s));
  EXPECT_NE(p.repr().find("exitcode=0"), std::string::npos) << p.repr();
}

TEST_P(ProcessAllMethods, AProcessWithoutTargetExitsWithZero) {
  mp::Process p = ctx().Process(mp::ProcessOptions{}, [] {});
  mp::Process bare;
  EXPECT_NE(bare.repr().find("initial"), std::string::npos) << bare.repr();
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessSpawn, UnregisteredFunctionPointerIsValueErrorBeforeAnyProcess) {
  auto p = mp::get_context("spawn").Process(&unregistered, 1);
  EXPECT_THROW(p.start(), concur::ValueError);
  EXPECT_FALSE(p.pid().has_value());
  auto q = mp::get_context("fork").Process(&unregistered, 1);  // fork needs no name
  q.start();
  ASSERT_TRUE(q.join(20s));
  EXPECT_EQ(q.exitcode(), 0);
}

TEST(ProcessSpawn, TypedContextsAcceptWhatCrosses) {
  LinePipe pipe;
  auto p = mp::SpawnContext{}.Process(mp::fn<&report_self>, pipe.writer, 5);
  auto q = mp::ForkserverContext{}.Process([](WriteEnd w) { w.write("fs"); }, pipe.writer);
  auto r = mp::ForkContext{}.Process([s = std::string("anything")] { (void)s; });
  p.start();
  q.start();
  r.start();
  for (auto* x : {&p, &q, &r}) {
    ASSERT_TRUE(x->join(20s));
    EXPECT_EQ(x->exitcode(), 0);
  }
  EXPECT_EQ(p.start_method(), mp::StartMethod::spawn);
  EXPECT_EQ(q.start_method(), mp::StartMethod::forkserver);
  EXPECT_EQ(r.start_method(), mp::StartMethod::fork);
}

TEST(ProcessFork, WarnsWhenOtherThreadsRun) {
  std::vector<std::string> warnings;
  auto old = mp::set_fork_warning_hook([&](const std::string& m) { warnings.push_back(m); });
  concur::threading::Event stop;
  concur::threading::Thread t([&stop] { (void)stop.wait(20s); });
  t.start();
  auto p = mp::get_context("fork").Process([] {});
  p.start();
  ASSERT_TRUE(p.join(20s));
  stop.set();
  t.join();
  mp::set_fork_warning_hook(old);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("use of fork() may lead to deadlocks"), std::string::npos)
      << warnings[0];
}

// Starts from several threads at once: the fork mutex, the list of fds closed in fork children, and
// the forkserver's control socket are shared.
TEST_P(ProcessAllMethods, ConcurrentStartsFromThreads) {
  const int per_thread = GetParam() == "spawn" ? 3 : 15;
  std::atomic<int> ok{0};
  std::vector<std::unique_ptr<concur::threading::Thread>> threads;
  for (int t = 0; t < 4; ++t) {
    threads.push_back(std::make_unique<concur::threading::Thread>([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto p = ctx().Process([](int code) { mp::exit(code); }, t + i);
        p.start();
        if (p.join(30s) && p.exitcode() == t + i) ok.fetch_add(1);
      }
    }));
  }
  for (auto& t : threads) t->start();
  for (auto& t : threads) t->join();
  EXPECT_EQ(ok.load(), 4 * per_thread);
  EXPECT_TRUE(mp::active_children().empty());
}

namespace {
// The inodes of the pipes this process holds open for writing.
std::string pipe_write_inodes() {
  std::string out;
  for (int fd = 0; fd < 1024; ++fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) continue;
    const int flags = ::fcntl(fd, F_GETFL);
    if ((flags & O_ACCMODE) == O_WRONLY) out += " " + std::to_string(st.st_ino);
  }
  return out + " ";
}
}  // namespace

// A fork child closes the fds meant for its siblings — above all their lifelines' write ends, or a
// sibling would keep another child's parent "alive".
TEST(ProcessFork, ASiblingDoesNotHoldAnotherChildsLifeline) {
  LinePipe pipe;
  auto a = mp::get_context("fork").Process(
      [](WriteEnd w) {
        struct stat st {};
        ::fstat(mp::parent_process()->sentinel(), &st);
        w.write(std::to_string(st.st_ino));
        for (;;) ::pause();
      },
      pipe.writer);
  a.start();
  const auto lifeline = pipe.read_line();
  ASSERT_TRUE(lifeline.has_value());
  auto b = mp::get_context("fork").Process([](WriteEnd w) { w.write(pipe_write_inodes()); },
                                           pipe.writer);
  b.start();
  const auto held = pipe.read_line();
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->find(" " + *lifeline + " "), std::string::npos)
      << "B holds A's lifeline (inode " << *lifeline << "): " << *held;
  // The parent itself does hold it (one writer: this process).
  EXPECT_NE(pipe_write_inodes().find(" " + *lifeline + " "), std::string::npos);
  ASSERT_TRUE(b.join(20s));
  a.kill();
  ASSERT_TRUE(a.join(20s));
}

namespace {
void greet(WriteEnd w, std::string who) { w.write("hello " + who); }
}  // namespace

TEST_P(ProcessAllMethods, StringLiteralsTravelAsStrings) {
  LinePipe pipe;
  auto p = ctx().Process(mp::fn<&greet>, pipe.writer, "bob");
  p.start();
  EXPECT_EQ(pipe.read_line(), "hello bob");
  ASSERT_TRUE(p.join(20s));
  auto q = ctx().Process([](WriteEnd w, std::string_view who) { w.write(std::string(who)); },
                         pipe.writer, "view");
  q.start();
  EXPECT_EQ(pipe.read_line(), "view");
  ASSERT_TRUE(q.join(20s));
}

TEST(ProcessFork, ATargetTakingConstCharPointerKeepsThePointer) {
  LinePipe pipe;
  auto p = mp::get_context("fork").Process(
      [](WriteEnd w, const char* s) { w.write(std::string("ptr ") + s); }, pipe.writer, "x");
  p.start();
  EXPECT_EQ(pipe.read_line(), "ptr x");
  ASSERT_TRUE(p.join(20s));
}
