// main() of every test binary: GoogleTest, plus a check that the run leaves
// nothing behind. CTest runs each test in its own process, so each test is
// checked on its own: after it, the process must hold no more file
// descriptors than before, have no child process (running or zombie) and
// have added no /dev/shm entry. A leak fails the run and names what leaked.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "concur/detail/mp_handles.hpp"
#include "concur/multiprocessing/context.hpp"
#include "support/leak_check.hpp"

namespace {

class LeakCheck : public ::testing::Environment {
 public:
  void SetUp() override {
    fds_ = concur::testing::open_fds();
    shm_ = concur::testing::shm_entries();
  }

  void TearDown() override {
    using concur::testing::eventually;
    // /dev/shm first: stopping the resource tracker would remove what a test leaked.
    check_shm();
    // The library's own helper processes (forkserver, resource tracker) stop as at exit.
    concur::multiprocessing::detail::stop_services();
    // Give threads that are ending (pool workers after a detached shutdown)
    // a moment to close what they hold before calling anything a leak.
    const bool fds_ok = eventually([&] { return leaked_fds().empty(); });
    if (!fds_ok) {
      std::ostringstream msg;
      msg << "the test leaked file descriptors:";
      for (int fd : leaked_fds()) msg << " " << fd << " -> " << concur::testing::fd_target(fd);
      ADD_FAILURE() << msg.str();
    }
    const bool kids_ok = eventually([] { return concur::testing::children().empty(); });
    if (!kids_ok) {
      std::ostringstream msg;
      msg << "the test left child processes behind:";
      for (const auto& c : concur::testing::children()) {
        msg << " " << c.pid << " (" << c.comm << ", state " << c.state << ")";
        kill(c.pid, SIGKILL);
        waitpid(c.pid, nullptr, 0);
      }
      ADD_FAILURE() << msg.str();
    }
  }

 private:
  void check_shm() {
    std::ostringstream shm_msg;
    bool shm_leak = false;
    for (const auto& name : concur::testing::shm_entries()) {
      if (shm_.count(name)) continue;
      shm_leak = true;
      shm_msg << " /dev/shm/" << name;
      std::error_code ec;
      std::filesystem::remove("/dev/shm/" + name, ec);
    }
    if (shm_leak) ADD_FAILURE() << "the test left shared memory behind:" << shm_msg.str();
  }

  std::set<int> leaked_fds() const {
    std::set<int> out;
    for (int fd : concur::testing::open_fds())
      if (!fds_.count(fd)) out.insert(fd);
    return out;
  }
  std::set<int> fds_;
  std::set<std::string> shm_;
};

}  // namespace

int main(int argc, char** argv) {
  // First: a child started by spawn/forkserver runs its target here and never returns.
  concur::multiprocessing::main_guard(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ::testing::AddGlobalTestEnvironment(new LeakCheck);
  return RUN_ALL_TESTS();
}
