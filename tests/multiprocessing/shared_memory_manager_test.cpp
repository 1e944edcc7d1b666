// SharedMemoryManager: a server (the tracker's code, quiet) that unlinks what was made through the
// manager at shutdown(), at scope exit, or when the program dies.
#include "concur/multiprocessing/shared_memory_manager.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "multiprocessing/tracker.hpp"
#include "support/leak_check.hpp"
#include "support/mp_process_util.hpp"
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

// ---- address, authkey and connect(): other processes hand their segments to the manager.

namespace smm_connect_test {

namespace mp = concur::mp;
namespace mm = concur::mp::managers;

// A connected process (another start method's child): makes a segment and a list through
// the manager, reports their names, and exits.
void connected_child(std::string address, concur::Bytes key, mp::Connection<std::string> out) {
  mgr::SharedMemoryManager smm({.address = mp::connection::Address(address), .authkey = key});
  smm.connect();
  auto m = smm.SharedMemory(64);
  m.buf()[0] = std::byte{'h'};
  auto sl = smm.ShareableList({7, "seven"});
  out.send(m.name() + " " + sl.shm().name());
}
CONCUR_REGISTER(connected_child);

void no_types(mm::Registry& /*r*/) {}

class SmmMethods : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Methods, SmmMethods, ::testing::Values("fork", "spawn", "forkserver"),
                         concur::testing::proc::method_name);

// The segments a connected child made outlive it, and the owner's shutdown unlinks them.
TEST_P(SmmMethods, AConnectedProcessHandsItsSegmentsToTheManager) {
  const concur::Bytes key("smm-key");
  mgr::SharedMemoryManager smm({.authkey = key});
  smm.start();
  EXPECT_TRUE(smm.address().is_abstract());  // no socket file, even after a crash
  auto [r, w] = mp::Pipe<std::string>(false);
  mp::Process p = mp::get_context(GetParam())
                      .Process(mp::fn<&connected_child>, smm.address().path(), key, std::move(w));
  p.start();
  ASSERT_TRUE(r.poll(60s));
  const std::string names = r.recv();
  ASSERT_TRUE(p.join(60s));
  EXPECT_EQ(p.exitcode(), 0);
  const auto space = names.find(' ');
  ASSERT_NE(space, std::string::npos) << names;
  const std::string a = names.substr(0, space);
  const std::string b = names.substr(space + 1);
  ASSERT_TRUE(shm_exists(a));
  ASSERT_TRUE(shm_exists(b));
  shm::SharedMemory att(a);
  EXPECT_EQ(att.buf()[0], std::byte{'h'});
  att.close();
  EXPECT_EQ(shm::ShareableList(b)[1], shm::Item("seven"));
  const auto listed = smm.list_segments();
  EXPECT_NE(std::find(listed.begin(), listed.end(), a), listed.end());
  EXPECT_NE(std::find(listed.begin(), listed.end(), b), listed.end());
  smm.shutdown();
  EXPECT_FALSE(shm_exists(a));
  EXPECT_FALSE(shm_exists(b));
}

// A process that is a program of its own (its own resource tracker) hands a segment over
// and ends: its tracker does not unlink it (CPython's does); the manager's shutdown does.
TEST(SharedMemoryManagerConnect, ASeparateProgramsTrackerLetsTheSegmentGo) {
  const concur::Bytes key("smm-key");
  mgr::SharedMemoryManager smm({.authkey = key});
  smm.start();
  const std::string address = smm.address().path();
  shm_test::Pipe names;
  const pid_t child = shm_test::fork_child([&] {
    detail::forget_tracker();  // from here on, a program of its own
    std::string name;
    {
      mgr::SharedMemoryManager c({.address = mp::connection::Address(address), .authkey = key});
      c.connect();
      name = c.SharedMemory(32).name();
      if (detail::tracker_pid() <= 0) return 2;  // it was tracked here until handed over
    }
    detail::stop_tracker();  // the program ends: its tracker unlinks what it still holds
    name += "\n";
    return ::write(names.w, name.data(), name.size()) == static_cast<ssize_t>(name.size()) ? 0 : 1;
  });
  names.close_w();
  std::string line = shm_test::read_to_eof(names.r, 30s);
  ASSERT_EQ(shm_test::wait_child(child), 0) << line;
  ASSERT_FALSE(line.empty());
  line.pop_back();
  EXPECT_TRUE(shm_exists(line));
  EXPECT_EQ(smm.list_segments(), std::vector<std::string>{line});
  smm.shutdown();
  EXPECT_FALSE(shm_exists(line));
}

TEST(SharedMemoryManagerConnect, KeysStatesAndAConnectedShutdown) {
  mgr::SharedMemoryManager owner({.authkey = concur::Bytes("right")});
  owner.start();
  mgr::SharedMemoryManager bad({.address = owner.address(), .authkey = concur::Bytes("wrong")});
  EXPECT_THROW(bad.connect(), mp::AuthenticationError);
  mgr::SharedMemoryManager nowhere;
  EXPECT_THROW(nowhere.connect(), concur::ValueError);  // no address
  mgr::SharedMemoryManager c({.address = owner.address(), .authkey = concur::Bytes("right")});
  EXPECT_THROW((void)c.SharedMemory(8), concur::ValueError);  // not connected yet
  c.connect();
  EXPECT_TRUE(c.started());
  EXPECT_EQ(c.server_pid(), -1);  // the owner's
  EXPECT_THROW(c.connect(), mp::ProcessError);
  EXPECT_THROW(c.start(), mp::ProcessError);
  auto m = c.SharedMemory(8);
  auto own = owner.SharedMemory(8);
  EXPECT_EQ(c.list_segments(), owner.list_segments());
  EXPECT_EQ(owner.list_segments().size(), 2u);
  c.shutdown();  // forgets the connection; the segments are the owner's
  EXPECT_TRUE(shm_exists(m.name()));
  EXPECT_THROW((void)c.SharedMemory(8), concur::ValueError);
  owner.shutdown();
  EXPECT_FALSE(shm_exists(m.name()));
  EXPECT_FALSE(shm_exists(own.name()));
}

// The owner gone, a connected manager's next segment is an error, and the segment it was
// making is unlinked (nothing left in /dev/shm by that call).
TEST(SharedMemoryManagerConnect, AfterTheOwnerShutsDownAConnectedCallFails) {
  mgr::SharedMemoryManager owner({.authkey = concur::Bytes("k")});
  owner.start();
  mgr::SharedMemoryManager c({.address = owner.address(), .authkey = concur::Bytes("k")});
  c.connect();
  owner.shutdown();
  EXPECT_THROW((void)c.SharedMemory(64), concur::EOFError);
  // Opening a new connection finds nothing there.
  EXPECT_THROW((void)c.SharedMemory(64), concur::ConnectionRefusedError);
}

// An authenticated peer cannot make the manager adopt what is not a segment it made on this
// machine: the identity (device, inode) must match this machine's /dev/shm.
TEST(SharedMemoryManagerConnect, AForgedIdentityOrNameIsRefused) {
  const concur::Bytes key("k");
  mgr::SharedMemoryManager owner({.authkey = key});
  owner.start();
  mm::BaseManager raw(mm::setup<&no_types>, {.address = owner.address(), .authkey = key});
  raw.connect();
  auto book = raw.create<mm::BaseProxy>("SharedMemoryServer");
  shm::SharedMemory mine(std::nullopt, true, 16, true);
  EXPECT_THROW(
      book.callmethod<void>("track_segment", mine.name(), std::uint64_t{1}, std::uint64_t{2}),
      concur::FileNotFoundError);
  EXPECT_THROW(book.callmethod<void>("track_segment", std::string("../etc/passwd"),
                                     std::uint64_t{1}, std::uint64_t{2}),
               concur::FileNotFoundError);
  EXPECT_THROW(book.callmethod<void>("release_everything"), concur::ValueError);  // not exposed
  EXPECT_TRUE(owner.list_segments().empty());
  mine.close();
  mine.unlink();
}

// The owner killed: its concur-smm server still unlinks what connected processes made.
TEST(SharedMemoryManagerConnect, AKilledOwnerStillUnlinksTheConnectedSegments) {
  const concur::Bytes key("k");
  shm_test::Pipe out;
  const pid_t owner = shm_test::fork_child([&] {
    mgr::SharedMemoryManager smm({.authkey = key});
    smm.start();
    const std::string name = smm.address().path().substr(1) + "\n";  // abstract: '\0' + name
    if (::write(out.w, name.data(), name.size()) != static_cast<ssize_t>(name.size())) return 1;
    ::pause();
    return 0;
  });
  out.close_w();
  std::string line;
  while (line.find('\n') == std::string::npos) {
    const std::string part = shm_test::read_to_eof(out.r, 30s, 1);
    if (part.empty()) break;
    line += part;
  }
  ASSERT_FALSE(line.empty());
  line.pop_back();
  std::string name;
  {
    mgr::SharedMemoryManager c(
        {.address = mp::connection::Address::abstract(line), .authkey = key});
    c.connect();
    name = c.SharedMemory(64).name();
    EXPECT_TRUE(shm_exists(name));
    ::kill(owner, SIGKILL);
    shm_test::wait_child(owner);
  }
  EXPECT_TRUE(concur::testing::eventually([&] { return !shm_exists(name); }, 20000ms));
}

}  // namespace smm_connect_test
