// main() of every test binary: GoogleTest, plus a check that the run leaves
// nothing behind. CTest runs each test in its own process, so each test is
// checked on its own: after it, the process must hold no more file
// descriptors than before, have no child process (running or zombie) and
// have added no /dev/shm entry. A leak fails the run and names what leaked.
//
// /dev/shm is machine-wide, and CTest runs tests in parallel: so that one test never
// counts (or removes) another's segments, each test process mounts a private tmpfs on
// /dev/shm in a mount namespace of its own (as root; otherwise in a user namespace
// too, where the kernel allows it). Children of every start method inherit it. Where
// neither is allowed, the shared /dev/shm is checked, exact only with `ctest -j1`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "concur/multiprocessing/context.hpp"
#include "multiprocessing/handles.hpp"
#include "support/leak_check.hpp"

namespace {

bool write_file(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// A private /dev/shm for this process and its children; false if not allowed. Must run
// while the process is single-threaded (unshare of a user namespace requires it).
bool private_dev_shm() {
  if (::unshare(CLONE_NEWNS) != 0) {
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return false;
    // The same ids inside as outside: nothing the tests see changes.
    if (!write_file("/proc/self/setgroups", "deny") ||
        !write_file("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1") ||
        !write_file("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1")) {
      return false;
    }
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  return ::mount("concur-test-shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") == 0;
}

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
  (void)private_dev_shm();
  ::testing::InitGoogleTest(&argc, argv);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ::testing::AddGlobalTestEnvironment(new LeakCheck);
  return RUN_ALL_TESTS();
}
