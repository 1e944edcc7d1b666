// A child never outlives its parent (design 0004 §2): SIGKILL a parent that started children under
// each start method, and every child is gone within a bound.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "support/mp_process_util.hpp"

namespace mp = concur::mp;
using concur::testing::proc::LinePipe;
using concur::testing::proc::WriteEnd;
using namespace std::chrono_literals;

namespace {

void grandchild(WriteEnd w) {
  w.write(std::to_string(getpid()));
  for (;;) ::pause();
}

// The middle process: starts two children with `method`, reports their pids, then waits
// to be killed.
void middle(WriteEnd w, int method, bool from_thread) {
  auto body = [&] {
    const auto& ctx = mp::get_context(mp::to_string(static_cast<mp::StartMethod>(method)));
    std::vector<mp::Process> kids;
    for (int i = 0; i < 2; ++i) {
      kids.push_back(ctx.Process(mp::fn<&grandchild>, w));
      kids.back().start();
    }
    w.write("started");
    for (;;) ::pause();
  };
  if (from_thread) {
    // Started from a thread that is not the main thread: no PR_SET_PDEATHSIG, the lifeline
    // alone must do it.
    std::thread t(body);
    t.join();
  } else {
    body();
  }
}

// True once `pid` has ended (gone, or a zombie not yet reaped by its new parent).
bool ended_within(pid_t pid, std::chrono::seconds bound) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  const bool ended = ::poll(&p, 1, static_cast<int>(bound.count() * 1000)) == 1;
  ::close(fd);
  return ended;
}

class Orphans : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

}  // namespace

TEST_P(Orphans, SigkillOfTheParentKillsItsChildren) {
  const auto& [method, from_thread] = GetParam();
  LinePipe pipe;
  auto mid = mp::get_context("fork").Process(
      &middle, pipe.writer, static_cast<int>(mp::start_method_from_string(method)), from_thread);
  mid.start();
  std::vector<pid_t> pids;
  bool started = false;
  while (!started || pids.size() < 2) {
    auto line = pipe.read_line();
    if (!line) break;
    if (*line == "started") {
      started = true;
    } else {
      pids.push_back(std::stoi(*line));
    }
  }
  if (!started || pids.size() != 2) {
    mid.kill();
    ADD_FAILURE() << "the middle process did not report";
  }
  mid.kill();
  ASSERT_TRUE(mid.join(20s));
  EXPECT_EQ(mid.exitcode(), -SIGKILL);
  for (pid_t pid : pids) EXPECT_TRUE(ended_within(pid, 20s)) << "child " << pid << " survived";
}

INSTANTIATE_TEST_SUITE_P(Methods, Orphans,
                         ::testing::Combine(::testing::Values("fork", "spawn", "forkserver"),
                                            ::testing::Bool()),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param) +
                                  (std::get<1>(param_info.param) ? "_from_thread" : "_from_main");
                         });
