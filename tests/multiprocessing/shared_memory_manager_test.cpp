// SharedMemoryManager: a server (the tracker's code, quiet) that unlinks what was made through the
// manager at shutdown(), at scope exit, or when the program dies.
#include "concur/multiprocessing/shared_memory_manager.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "multiprocessing/tracker.hpp"
#include "support/leak_check.hpp"
#include "support/mp_shm_util.hpp"

namespace mgr = concur::multiprocessing::managers;
namespace shm = concur::multiprocessing::shared_memory;
namespace detail = concur::multiprocessing::detail;
using shm_test::shm_exists;
using namespace std::chrono_literals;

TEST(SharedMemoryManager, StateErrors) {
  mgr::SharedMemoryManager smm;
  EXPECT_FALSE(smm.started());
  EXPECT_EQ(smm.server_pid(), -1);
  smm.shutdown();  // before start: nothing
  EXPECT_THROW((void)smm.SharedMemory(10), concur::ValueError);
  smm.start();
  EXPECT_TRUE(smm.started());
  EXPECT_THROW(smm.start(), concur::multiprocessing::ProcessError);
  EXPECT_THROW((void)smm.SharedMemory(0), concur::ValueError);
  EXPECT_THROW((void)smm.SharedMemory(-1), concur::ValueError);
  smm.shutdown();
  smm.shutdown();  // idempotent
  EXPECT_FALSE(smm.started());
  EXPECT_THROW((void)smm.SharedMemory(10), concur::ValueError);
  EXPECT_THROW((void)smm.ShareableList({1}), concur::ValueError);
  EXPECT_THROW(smm.start(), concur::multiprocessing::ProcessError);
  EXPECT_TRUE(concur::testing::children().empty());
}

TEST(SharedMemoryManager, ServerIsQuietAndItsOwnGroupAndDoesNotUseTheProgramsTracker) {
  mgr::SharedMemoryManager smm;
  smm.start();
  const pid_t pid = smm.server_pid();
  ASSERT_GT(pid, 0);
  auto m = smm.SharedMemory(64);
  auto sl = smm.ShareableList({1, "two"});
  EXPECT_FALSE(m.tracked());
  EXPECT_FALSE(sl.shm().tracked());
  EXPECT_EQ(detail::tracker_pid(), -1);  // the manager's server is the only cleaner
  EXPECT_EQ(::getpgid(pid), pid);        // set by the parent too: no race
  const auto comm = [pid] {
    std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(f, name);
    return name;
  };
  EXPECT_TRUE(concur::testing::eventually([&] { return comm() == "concur-smm"; })) << comm();
  smm.shutdown();
  EXPECT_FALSE(shm_exists(m.name()));
  EXPECT_FALSE(shm_exists(sl.shm().name()));
  // Mappings stay usable; only the names are gone.
  m.buf()[0] = std::byte{1};
  sl.set(0, 5);
  EXPECT_EQ(sl[0], shm::Item(5));
}

TEST(SharedMemoryManager, AForkedChildDoesNotKeepTheServerAlive) {
  mgr::SharedMemoryManager smm;
  smm.start();
  auto m = smm.SharedMemory(64);
  shm_test::Pipe ready;
  const pid_t child = shm_test::fork_child([&] {
    if (::write(ready.w, "r", 1) != 1) return 1;
    ::pause();
    return 0;
  });
  ready.close_w();
  ASSERT_EQ(shm_test::read_to_eof(ready.r, 20s, 1), "r");
  const auto t0 = std::chrono::steady_clock::now();
  smm.shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_FALSE(shm_exists(m.name()));
  ::kill(child, SIGKILL);
  shm_test::wait_child(child);
}

TEST(SharedMemoryManager, AKilledProgramsSegmentsAreRemovedWithoutAWarning) {
  shm_test::Pipe err;
  shm_test::Pipe names;
  const pid_t child = shm_test::fork_child([&] {
    ::dup2(err.w, 2);
    mgr::SharedMemoryManager smm;
    smm.start();
    auto m = smm.SharedMemory(64);
    auto sl = smm.ShareableList({"x"});
    const std::string out = m.name() + " " + sl.shm().name() + "\n";
    if (::write(names.w, out.data(), out.size()) != static_cast<ssize_t>(out.size())) return 1;
    ::pause();
    return 0;
  });
  err.close_w();
  names.close_w();
  std::string line;
  while (line.find('\n') == std::string::npos) {
    const std::string part = shm_test::read_to_eof(names.r, 20s, 1);
    if (part.empty()) break;
    line += part;
  }
  const auto space = line.find(' ');
  ASSERT_NE(space, std::string::npos) << line;
  const std::string a = line.substr(0, space);
  const std::string b = line.substr(space + 1, line.size() - space - 2);
  EXPECT_TRUE(shm_exists(a));
  EXPECT_TRUE(shm_exists(b));
  ::kill(child, SIGKILL);
  shm_test::wait_child(child);
  EXPECT_TRUE(
      concur::testing::eventually([&] { return !shm_exists(a) && !shm_exists(b); }, 20000ms));
  EXPECT_EQ(shm_test::read_to_eof(err.r), "");
}
