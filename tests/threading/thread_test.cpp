// Implementation tests: Thread (OS names, views, subclasses, lifetime, hooks, dummy threads,
// stack_size) and the module functions.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
namespace th = concur::threading;

std::string os_name_of(std::uint64_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string s;
  std::getline(f, s);
  return s;
}

TEST(Thread, NameVisibleToOsAndRenamable) {
  th::Event named, renamed;
  th::Thread t({.name = "concur-worker-long-name"}, [&] {
    named.set();
    renamed.wait(kBound);
  });
  t.start();
  ASSERT_TRUE(named.wait(kBound));
  EXPECT_EQ(os_name_of(*t.native_id()), "concur-worker-l");  // 15 bytes kept
  t.set_name("renamed");
  EXPECT_EQ(t.name(), "renamed");
  EXPECT_EQ(os_name_of(*t.native_id()), "renamed");
  renamed.set();
  ASSERT_TRUE(t.join(kBound));
}

TEST(Thread, TargetWithArgumentsAndRefs) {
  int out = 0;
  th::Thread t([](int a, int b, int& r) { r = a + b; }, 40, 2, std::ref(out));
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_EQ(out, 42);
  // Move-only arguments are fine.
  std::atomic<int> seen{0};
  th::Thread u([&](std::unique_ptr<int> p) { seen = *p; }, std::make_unique<int>(5));
  u.start();
  ASSERT_TRUE(u.join(kBound));
  EXPECT_EQ(seen.load(), 5);
}

class Counter : public th::Thread {
 public:
  explicit Counter(int n) : Thread({.name = "counter"}), n_(n) {}
  ~Counter() override { join(); }
  void run() override {
    for (int i = 0; i < n_; ++i) total_ += i;
  }
  int total() const { return total_; }

 private:
  int n_;
  int total_ = 0;
};

TEST(Thread, SubclassOverridingRun) {
  Counter c(5);
  EXPECT_NE(c.repr().find("Counter(counter, initial)"), std::string::npos) << c.repr();
  c.start();
  ASSERT_TRUE(c.join(kBound));
  EXPECT_EQ(c.total(), 10);
  EXPECT_NE(c.repr().find("<Counter(counter, stopped"), std::string::npos) << c.repr();
}

TEST(Thread, CurrentThreadInsideIsTheSameThread) {
  std::shared_ptr<th::Thread> seen_name_holder;
  std::string name;
  bool same = false;
  th::Thread t({.name = "me"}, [&] {
    name = th::current_thread().name();
    same = th::current_thread().ident() == th::get_ident();
  });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_EQ(name, "me");
  EXPECT_TRUE(same);
}

TEST(Thread, ActiveCountAndEnumerate) {
  const std::size_t before = th::active_count();
  EXPECT_GE(before, 1u);
  th::Event go;
  Bunch b(3, [&](int) { go.wait(kBound); });
  EXPECT_EQ(th::active_count(), before + 3);
  EXPECT_EQ(th::enumerate().size(), before + 3);
  bool main_listed = false;
  for (const auto& t : th::enumerate()) main_listed |= (*t == th::main_thread());
  EXPECT_TRUE(main_listed);
  go.set();
  b.join_all();
  EXPECT_EQ(th::active_count(), before);
}

TEST(Thread, TargetThreadOutlivesItsObject) {
  th::Event go, done;
  {
    th::Thread t([&] {
      go.wait(kBound);
      done.set();
    });
    t.start();
  }  // the object is gone; the thread runs on (as in Python)
  go.set();
  EXPECT_TRUE(done.wait(kBound));
  // It leaves the registry by itself.
  EXPECT_TRUE(eventually([&] { return th::active_count() == 1; }));
}

TEST(Thread, DummyThreadForForeignThreads) {
  std::string name, repr;
  bool daemon = false, alive = false, join_raises = false;
  std::size_t count_inside = 0;
  std::thread foreign([&] {
    auto& me = th::current_thread();
    name = me.name();
    repr = me.repr();
    daemon = me.daemon();
    alive = me.is_alive();
    count_inside = th::active_count();
    try {
      me.join();
    } catch (const concur::RuntimeError&) {
      join_raises = true;
    }
  });
  foreign.join();
  EXPECT_EQ(name.rfind("Dummy-", 0), 0u) << name;
  EXPECT_NE(repr.find("_DummyThread"), std::string::npos) << repr;
  EXPECT_TRUE(daemon);
  EXPECT_TRUE(alive);
  EXPECT_TRUE(join_raises);
  EXPECT_EQ(count_inside, 2u);
  EXPECT_TRUE(eventually([&] { return th::active_count() == 1; }));  // gone with its thread
}

TEST(Thread, MainThreadRepr) {
  EXPECT_NE(th::main_thread().repr().find("<_MainThread(MainThread, started "), std::string::npos)
      << th::main_thread().repr();
  EXPECT_EQ(th::main_thread().native_id(), th::get_native_id());
}

TEST(Thread, StackSize) {
  EXPECT_THROW(th::stack_size(1024), concur::ValueError);
  const std::size_t old = th::stack_size(std::size_t{256} * 1024);
  EXPECT_EQ(old, 0u);
  std::atomic<bool> ran{false};
  th::Thread t([&] { ran = true; });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_TRUE(ran.load());
  EXPECT_EQ(th::stack_size(0), std::size_t{256} * 1024);
}

TEST(Thread, ExceptionDoesNotEndProgramAndNonStdExceptions) {
  std::atomic<int> calls{0};
  std::string type;
  auto old = th::set_excepthook([&](const th::ExceptHookArgs& a) {
    type = a.exc_type;
    ++calls;
  });
  th::Thread t([] { throw 42; });
  t.start();
  ASSERT_TRUE(t.join(kBound));
  th::set_excepthook(old);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(type, "int");
}

TEST(Thread, ManyShortThreads) {
  std::atomic<int> ran{0};
  for (int i = 0; i < 200; ++i) {
    th::Thread t([&] { ++ran; });
    t.start();
    ASSERT_TRUE(t.join(kBound));
  }
  EXPECT_EQ(ran.load(), 200);
}

TEST(Thread, IsAliveTransitions) {
  th::Event go;
  th::Thread t([&] { go.wait(kBound); });
  EXPECT_FALSE(t.is_alive());
  t.start();
  EXPECT_TRUE(t.is_alive());
  go.set();
  ASSERT_TRUE(t.join(kBound));
  EXPECT_FALSE(t.is_alive());
}

}  // namespace

namespace {

using namespace concur_test;
namespace th = concur::threading;

// Daemon threads that keep using concur (the registry, locks, new threads, current_thread) while
// the process exits must not crash the exit.
TEST(ThreadDeathTest, BusyDaemonThreadsDoNotCrashExit) {
  EXPECT_EXIT(
      {
        for (int i = 0; i < 3; ++i) {
          th::Thread d({.daemon = true}, [] {
            th::Lock lock;
            for (;;) {
              std::scoped_lock g(lock);
              (void)th::current_thread().name();
              (void)th::active_count();
              th::Thread child([] {});  // a daemon too (inherited)
              child.start();
              child.join(kBound);
            }
          });
          d.start();
        }
        th::Event().wait(std::chrono::milliseconds(20));
        std::fputs("main exits\n", stderr);
        std::exit(0);  // NOLINT(concurrency-mt-unsafe): the point of the test
      },
      ::testing::ExitedWithCode(0), "main exits");
}

// A thread started from a dummy (foreign) thread inherits daemon = true, as in Python; an explicit
// daemon = false is joined at exit.
TEST(ThreadDeathTest, NonDaemonStartedFromForeignThreadIsJoinedAtExit) {
  EXPECT_EXIT(
      {
        std::thread foreign([] {
          th::Thread t({.daemon = false}, [] {
            th::Event().wait(std::chrono::milliseconds(100));
            std::fputs("joined at exit\n", stderr);
          });
          t.start();
        });
        foreign.join();
        std::exit(0);  // NOLINT(concurrency-mt-unsafe): the point of the test
      },
      ::testing::ExitedWithCode(0), "joined at exit");
}

}  // namespace
