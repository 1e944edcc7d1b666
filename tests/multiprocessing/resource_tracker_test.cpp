// The resource tracker (detail/mp_tracker.hpp): one process per program tree that removes the
// tracked segments of a program that died, however it died.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing.hpp"
#include "multiprocessing/handles.hpp"
#include "multiprocessing/tracker.hpp"
#include "support/leak_check.hpp"
#include "support/mp_shm_util.hpp"

namespace detail = concur::multiprocessing::detail;
namespace shm = concur::multiprocessing::shared_memory;
using shm::SharedMemory;
using shm_test::shm_exists;
using shm_test::unique_name;

namespace {

std::set<int> fds_of(pid_t pid) {
  std::set<int> out;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    out.insert(std::stoi(e.path().filename().string()));
  }
  return out;
}

std::string status_field(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  }
  return {};
}

bool gone(const std::string& name) {
  return concur::testing::eventually([&] { return !shm_exists(name); },
                                     std::chrono::milliseconds(20000));
}

// A child that stands for another program: stderr into `err`, no tracker inherited.
template <class F>
pid_t other_program(shm_test::Pipe& err, F body) {
  return shm_test::fork_child([&] {
    ::dup2(err.w, 2);
    detail::forget_tracker();
    return body();
  });
}

}  // namespace

TEST(ResourceTracker, StartsOnTheFirstTrackedCreationOnlyAndStopReapsIt) {
  EXPECT_EQ(detail::tracker_pid(), -1);
  SharedMemory untracked(std::nullopt, true, 16, false);
  EXPECT_EQ(detail::tracker_pid(), -1);
  EXPECT_EQ(detail::tracker_fd(), -1);

  SharedMemory a(std::nullopt, true, 16);
  const pid_t pid = detail::tracker_pid();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(detail::inherited_fd(detail::kTrackerFdKey), detail::tracker_fd());
  SharedMemory b(std::nullopt, true, 16);
  EXPECT_EQ(detail::tracker_pid(), pid);  // one tracker
  a.unlink();
  b.unlink();
  untracked.unlink();

  detail::stop_tracker();
  EXPECT_EQ(detail::tracker_pid(), -1);
  EXPECT_EQ(detail::tracker_fd(), -1);
  EXPECT_EQ(detail::inherited_fd(detail::kTrackerFdKey), -1);
  EXPECT_TRUE(concur::testing::children().empty());  // reaped, not a zombie
  detail::stop_tracker();                            // idempotent
}

TEST(ResourceTracker, HoldsOnlyItsSocketAndTheStandardFdsAndIgnoresInterrupts) {
  shm_test::Pipe unrelated;  // a pipe of the parent's that the tracker must not keep open
  SharedMemory a(std::nullopt, true, 16);
  const pid_t pid = detail::tracker_pid();
  ASSERT_GT(pid, 0);
  // The tracker closes what it inherited right after fork: wait until it has.
  const auto only_its_own = [&] {
    const auto fds = fds_of(pid);
    return fds.size() == 4 && fds.count(0) && fds.count(1) && fds.count(2) &&
           !fds.count(unrelated.r) && !fds.count(unrelated.w);
  };
  ASSERT_TRUE(concur::testing::eventually(only_its_own)) << fds_of(pid).size() << " fds";
  const auto ignored = std::stoull(status_field(pid, "SigIgn"), nullptr, 16);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) {
    EXPECT_TRUE(ignored & (1ULL << (sig - 1))) << "signal " << sig << " not ignored";
  }
  EXPECT_EQ(::getpgid(pid), pid);  // its own group: a killpg of ours does not stop it
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  EXPECT_EQ(name, "concur-rtracker");  // set before it closed the fds waited for above
  a.unlink();
}

// CPython
// _test_multiprocessing._TestSharedMemory.test_shared_memory_cleaned_after_process_termination,
// test_shared_memory_untracking, test_shared_memory_tracking (the implementation side): SIGKILL the
// creator; its tracker removes the segment and says so on stderr.
TEST(ResourceTracker, RemovesTheSegmentsOfAKilledProgramAndWarns) {
  const std::string one = unique_name("killed1");
  const std::string two = unique_name("killed2");
  shm_test::Pipe err;
  shm_test::Pipe ready;
  const pid_t child = other_program(err, [&] {
    SharedMemory a(one, true, 4096);
    SharedMemory b(two, true, 4096);
    SharedMemory c(std::nullopt, true, 4096);
    c.unlink();  // unlinked: not reported
    if (::write(ready.w, "k", 1) != 1) return 1;
    ::pause();
    return 0;
  });
  err.close_w();
  ready.close_w();
  ASSERT_EQ(shm_test::read_to_eof(ready.r, std::chrono::seconds(20), 1), "k");
  EXPECT_TRUE(shm_exists(one));
  ::kill(child, SIGKILL);
  shm_test::wait_child(child);
  EXPECT_TRUE(gone(one));
  EXPECT_TRUE(gone(two));
  const std::string warning = shm_test::read_to_eof(err.r);  // EOF: the tracker exited
  EXPECT_NE(warning.find("resource_tracker: There appear to be 2 leaked shared_memory objects "
                         "to clean up at shutdown:"),
            std::string::npos)
      << warning;
  EXPECT_NE(warning.find("/" + one), std::string::npos) << warning;
  EXPECT_NE(warning.find("/" + two), std::string::npos) << warning;
  EXPECT_EQ(std::count(warning.begin(), warning.end(), '\n'), 1) << warning;
}

TEST(ResourceTracker, AProgramThatUnlinksEverythingGetsNoWarning) {
  shm_test::Pipe err;
  const pid_t child = other_program(err, [&] {
    SharedMemory a(std::nullopt, true, 64);
    a.close();
    a.unlink();
    return detail::tracker_pid() > 0 ? 0 : 1;
  });
  err.close_w();
  EXPECT_EQ(WEXITSTATUS(shm_test::wait_child(child)), 0);
  EXPECT_EQ(shm_test::read_to_eof(err.r), "");
}

TEST(ResourceTracker, ANormalExitWithoutUnlinkIsCleanedUpToo) {
  const std::string name = unique_name("exit");
  shm_test::Pipe err;
  const pid_t child = other_program(err, [&] {
    SharedMemory a(name, true, 64);
    return 0;  // forgot unlink()
  });
  err.close_w();
  EXPECT_EQ(WEXITSTATUS(shm_test::wait_child(child)), 0);
  EXPECT_TRUE(gone(name));
  EXPECT_NE(shm_test::read_to_eof(err.r).find("1 leaked shared_memory objects"), std::string::npos);
}

// A forked child writes to its parent's tracker: what it leaves is removed when the whole tree is
// done (here: when the parent stops its tracker), not when the child exits.
TEST(ResourceTracker, AForkedChildSharesItsParentsTracker) {
  SharedMemory mine(std::nullopt, true, 16);
  const pid_t pid = detail::tracker_pid();
  ASSERT_GT(pid, 0);
  const std::string name = unique_name("shared");
  const int code = shm_test::run_child([&] {
    SharedMemory theirs(name, true, 16);
    return detail::tracker_pid() == -1 && detail::tracker_fd() >= 0 ? 0 : 1;
  });
  ASSERT_EQ(code, 0);
  EXPECT_TRUE(shm_exists(name));  // the tree is still alive
  mine.unlink();
  detail::stop_tracker();  // returns once the tracker has cleaned up and exited
  EXPECT_FALSE(shm_exists(name));
}

TEST(ResourceTracker, ADeadTrackerIsReplacedOnTheNextRegistration) {
  SharedMemory a(std::nullopt, true, 16);
  const pid_t first = detail::tracker_pid();
  ASSERT_GT(first, 0);
  ::kill(first, SIGKILL);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(first), &info, WEXITED | WNOWAIT), 0);
  SharedMemory b(std::nullopt, true, 16);
  const pid_t second = detail::tracker_pid();
  EXPECT_GT(second, 0);
  EXPECT_NE(second, first);
  a.unlink();
  b.unlink();
}

TEST(ResourceTracker, UnregisterWithoutATrackerStartsNone) {
  SharedMemory a(std::nullopt, true, 16, false);
  a.unlink();
  EXPECT_EQ(detail::tracker_pid(), -1);
  EXPECT_EQ(detail::tracker_fd(), -1);
}

TEST(ResourceTracker, RegisteringABadNameIsValueError) {
  EXPECT_THROW(detail::tracker_register(""), concur::ValueError);
  EXPECT_THROW(detail::tracker_register("/a/b"), concur::ValueError);
  EXPECT_THROW(detail::tracker_register(std::string(256, 'x')), concur::ValueError);
  EXPECT_EQ(detail::tracker_pid(), -1);
}

TEST(ResourceTracker, StopServicesStopsIt) {
  SharedMemory a(std::nullopt, true, 16);
  ASSERT_GT(detail::tracker_pid(), 0);
  a.unlink();
  detail::stop_services();
  EXPECT_EQ(detail::tracker_pid(), -1);
  EXPECT_TRUE(concur::testing::children().empty());
}

// ---- with mp::Process: every start method shares the parent's tracker -----------------

namespace {

namespace mp = concur::multiprocessing;

void create_and_leave(std::string name) {
  SharedMemory m(name, true, 64);  // tracked, never unlinked
  if (detail::tracker_pid() != -1 || detail::tracker_fd() < 0) {
    throw concur::RuntimeError("the child did not use its parent's tracker");
  }
}

void nothing() {}

// A child started by `method` creates a segment `name` and leaves it (exit code 0).
void child_creates_and_leaves(const std::string& method, const std::string& name) {
  using namespace std::chrono_literals;
  auto p = mp::get_context(method).Process(mp::fn<&create_and_leave>, name);
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

// Stopping the services is quick (nobody else holds the tracker) and removes what a child
// left in segment `name`.
void expect_stop_quick_and_cleaning(const std::string& name) {
  using namespace std::chrono_literals;
  const auto t0 = std::chrono::steady_clock::now();
  detail::stop_services();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_FALSE(shm_exists(name));
}

class ResourceTrackerAcrossProcesses : public ::testing::TestWithParam<std::string> {};

}  // namespace

// The tracker exists before the child starts: the child writes to it, and what the child leaves is
// removed when the parent's tree is done, not when the child exits.
TEST_P(ResourceTrackerAcrossProcesses, AChildUsesItsParentsTracker) {
  using namespace std::chrono_literals;
  SharedMemory mine(std::nullopt, true, 16);
  const std::string name = unique_name("child_" + GetParam());
  ASSERT_NO_FATAL_FAILURE(child_creates_and_leaves(GetParam(), name));
  EXPECT_TRUE(shm_exists(name));
  mine.unlink();
  expect_stop_quick_and_cleaning(name);
}

// A helper process started before the tracker (the forkserver) must not keep it alive.
TEST_P(ResourceTrackerAcrossProcesses, AChildStartedBeforeTheTrackerDoesNotHoldIt) {
  using namespace std::chrono_literals;
  auto first = mp::get_context(GetParam()).Process(mp::fn<&nothing>);
  first.start();
  ASSERT_TRUE(first.join(20s));
  SharedMemory mine(std::nullopt, true, 16);
  const std::string name = unique_name("late_" + GetParam());
  ASSERT_NO_FATAL_FAILURE(child_creates_and_leaves(GetParam(), name));
  mine.unlink();
  expect_stop_quick_and_cleaning(name);
}

INSTANTIATE_TEST_SUITE_P(Methods, ResourceTrackerAcrossProcesses,
                         ::testing::Values("fork", "spawn", "forkserver"),
                         [](const auto& param_info) { return param_info.param; });

// The tracker is forked while other threads run (and allocate, holding malloc's locks at random
// moments): its child calls only async-signal-safe functions, so it never deadlocks. Each round
// starts a new tracker.
TEST(ResourceTracker, StartsSafelyWhileOtherThreadsAllocate) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&stop] {
      std::size_t sum = 0;
      while (!stop.load()) {
        std::string s(1000, 'x');
        std::vector<std::string> v(10, s);
        sum += v.back().size();
      }
      EXPECT_GT(sum, 0u);
    });
  }
  for (int round = 0; round < 20; ++round) {
    const std::string name = unique_name("mt" + std::to_string(round));
    SharedMemory m(name, true, 64);  // starts a tracker
    ASSERT_GT(detail::tracker_pid(), 0);
    detail::stop_tracker();  // it removes the leftover and exits
    EXPECT_FALSE(shm_exists(name));
  }
  stop = true;
  for (auto& th : threads) th.join();
}

// A thread that forks (its fork handlers take concur's fork-protected mutexes, the process-shared
// objects' mapping cache first) while another thread starts trackers (a fork of its own): neither
// may wait for the other. The tracker's start used to hold a fork-handled mutex across its fork, an
// inverted lock order (found by TSan). A deadlock here ends the test at CTest's timeout.
TEST(ResourceTracker, StartsWhileAnotherThreadForks) {
  // A process-shared object, so that synchronize's fork handler (the mapping cache) exists.
  concur::multiprocessing::Lock lock;
  std::atomic<bool> stop{false};
  std::thread forker([&stop] {
    while (!stop.load()) {
      const pid_t pid = ::fork();
      if (pid == 0) ::_exit(0);
      ASSERT_GT(pid, 0);
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    }
  });
  for (int round = 0; round < 30; ++round) {
    detail::ensure_tracker_running();
    EXPECT_GT(detail::tracker_pid(), 0);
    detail::stop_tracker();
  }
  stop = true;
  forker.join();
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

// Registrations from many threads at once reach the one tracker whole (SEQPACKET records do not
// interleave); what is left at the end is removed.
TEST(ResourceTracker, ConcurrentRegistrationsFromThreads) {
  std::vector<std::thread> threads;
  std::vector<std::string> left(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &left] {
      for (int i = 0; i < 100; ++i) {
        SharedMemory m(std::nullopt, true, 64);
        m.unlink();
      }
      left[static_cast<std::size_t>(t)] = SharedMemory(std::nullopt, true, 64).name();
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& name : left) EXPECT_TRUE(shm_exists(name));
  detail::stop_tracker();
  for (const auto& name : left) EXPECT_FALSE(shm_exists(name)) << name;
}

// The tracker's table is a hash set: tens of thousands of names registered, re-registered and
// unregistered cost little, and exactly the names left at EOF are removed.
TEST(ResourceTracker, ManyRegistrationsAreASet) {
  using namespace std::chrono_literals;
  std::vector<SharedMemory> real;
  for (int i = 0; i < 3; ++i) {
    real.emplace_back(unique_name("real" + std::to_string(i)), true, 16, false);
  }
  const auto t = detail::start_tracker_process(false, "concur-rtracker");
  const auto t0 = std::chrono::steady_clock::now();
  const auto fake = [](int i) { return unique_name("fake" + std::to_string(i)); };
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', fake(i)));
  for (const auto& m : real) ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', m.name()));
  ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', real[0].name()));  // twice: once
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(detail::send_tracker_record(t.fd, 'U', fake(i)));
  ASSERT_TRUE(detail::send_tracker_record(t.fd, 'U', real[1].name()));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', fake(i)));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(detail::send_tracker_record(t.fd, 'U', fake(i)));
  EXPECT_FALSE(detail::send_tracker_record(t.fd, 'R', "a/b"));  // invalid: not sent
  ::close(t.fd);
  detail::reap_bounded(t.pid);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  EXPECT_FALSE(shm_exists(real[0].name()));
  EXPECT_TRUE(shm_exists(real[1].name()));  // unregistered: left alone
  EXPECT_FALSE(shm_exists(real[2].name()));
  real[1].unlink();
}

// Services stopped and started again in another order: the forkserver is registered as a service
// before the tracker, then restarted after it (so it may hold the tracker's fd); stopping
// everything must still be quick and must still clean up.
TEST(ResourceTracker, ServicesRestartedInAnotherOrderStopQuickly) {
  using namespace std::chrono_literals;
  {
    auto first = mp::get_context("forkserver").Process(mp::fn<&nothing>);
    first.start();
    ASSERT_TRUE(first.join(20s));
  }
  detail::stop_services();
  SharedMemory mine(std::nullopt, true, 16);  // the tracker starts: its stopper runs first
  const std::string name = unique_name("restart");
  // A new forkserver, started while the tracker runs.
  ASSERT_NO_FATAL_FAILURE(child_creates_and_leaves("forkserver", name));
  mine.unlink();
  expect_stop_quick_and_cleaning(name);
}

// ---- a creator killed at any moment of its creations leaves nothing ------------------

namespace {

// Every entry of /dev/shm, dot-names included (the harness's own count skips them).
std::set<std::string> dev_shm() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
    out.insert(e.path().filename().string());
  }
  return out;
}

// Creates, writes and unlinks segments until it is killed: generated names, names of its
// own choosing (`prefix` + a counter) and, each round, a creation of `taken` (another
// owner's segment) that must fail. `looping` is set after the first round.
void churn(mp::Event looping, std::string prefix, std::string taken) {
  for (std::uint64_t i = 0;; ++i) {
    SharedMemory a(std::nullopt, true, static_cast<std::int64_t>(4096 * (1 + i % 16)));
    a.buf()[0] = std::byte{1};
    SharedMemory b(prefix + std::to_string(i), true, 65536);
    b.buf()[b.size() - 1] = std::byte{2};
    try {
      SharedMemory c(taken, true, 64);
      throw concur::RuntimeError("created a name that exists: " + taken);
    } catch (const concur::FileExistsError&) {
    }
    a.close();
    a.unlink();
    b.unlink();
    if (i == 0) looping.set();
  }
}

// The same in a child that starts a tracker of its own in its first round (a fork child
// that forgot its parent's): the kill may land while that tracker starts.
void churn_alone(mp::Event looping, std::string prefix, std::string taken) {
  detail::forget_tracker();
  looping.set();
  churn(mp::Event(), std::move(prefix), std::move(taken));
}

class ResourceTrackerKills : public ::testing::TestWithParam<std::string> {};

}  // namespace

// A child that creates and unlinks segments in a loop, SIGKILLed at a random moment, 100
// times: once the tracker has done its work (stop_services() reaps it, bounded), nothing
// the children made is left in /dev/shm, and the other owner's segment that they tried
// to create each round is untouched. With "fork_alone" each child starts its own tracker,
// which cleans up when the child dies (waited for with a bound). When creation was
// shm_open(O_CREAT | O_EXCL) then REGISTER, the kill landed between the two (or while the
// child's own tracker started) in 6 to 19 kills of 100.
TEST_P(ResourceTrackerKills, ACreatorKilledAtRandomMomentsLeavesNothing) {
  using namespace std::chrono_literals;
  const bool alone = GetParam() == "fork_alone";
  const auto& ctx = mp::get_context(alone ? "fork" : GetParam());
  const std::string taken = unique_name("taken");
  SharedMemory theirs(taken, true, 64, false);  // another owner's: no tracker knows it
  theirs.buf()[7] = std::byte{42};
  if (!alone) detail::ensure_tracker_running();  // the children share it
  const auto before = dev_shm();
  std::mt19937 random(14);  // seeded: a failure replays the same kill moments
  std::uniform_int_distribution<int> delay_us(0, 1500);
  constexpr int kKills = 100;
  for (int k = 0; k < kKills; ++k) {
    mp::Event looping;
    const std::string prefix = unique_name("u" + std::to_string(k) + "_");
    auto p = alone ? ctx.Process(mp::fn<&churn_alone>, looping, prefix, taken)
                   : ctx.Process(mp::fn<&churn>, looping, prefix, taken);
    p.start();
    ASSERT_TRUE(looping.wait(20s)) << "kill " << k << ": the child never looped";
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
    p.kill();
    ASSERT_TRUE(p.join(20s));
    ASSERT_EQ(p.exitcode(), -SIGKILL) << "kill " << k << ": the child ended by itself";
  }
  const auto t0 = std::chrono::steady_clock::now();
  detail::stop_services();  // the tracker reads EOF, cleans up and is reaped (<= 5 s)
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  std::set<std::string> left;
  const auto what_is_left = [&] {
    left.clear();
    for (const auto& name : dev_shm()) {
      if (!before.count(name)) left.insert(name);
    }
    return left.empty();
  };
  // Alone, the orphaned trackers clean up by themselves: nothing is created any more, so
  // the first time nothing is left is the end.
  if (alone) concur::testing::eventually(what_is_left, 10s);
  what_is_left();
  std::string names;
  for (const auto& name : left) names += " " + name;
  EXPECT_EQ(left.size(), 0u) << "left after " << kKills << " kills:" << names;
  ASSERT_TRUE(shm_exists(taken));
  EXPECT_EQ(SharedMemory(taken).buf()[7], std::byte{42});
  theirs.unlink();
  for (const auto& name : left) ::shm_unlink(("/" + name).c_str());  // for the leak check
}

INSTANTIATE_TEST_SUITE_P(Methods, ResourceTrackerKills,
                         ::testing::Values("fork", "forkserver", "spawn", "fork_alone"),
                         [](const auto& param_info) { return param_info.param; });

// A creator registers its segment with the inode it made: if the name is since unlinked
// and created again by another owner, the creator's death must not remove the new one.
// (By name alone, the tracker removed it.)
TEST(ResourceTracker, ANameMadeAgainByAnotherOwnerIsLeftAlone) {
  const std::string name = unique_name("again");
  shm_test::Pipe err;
  shm_test::Pipe ready;
  const pid_t child = other_program(err, [&] {
    SharedMemory a(name, true, 4096);
    if (::write(ready.w, "k", 1) != 1) return 1;
    ::pause();
    return 0;
  });
  err.close_w();
  ready.close_w();
  ASSERT_EQ(shm_test::read_to_eof(ready.r, std::chrono::seconds(20), 1), "k");
  ASSERT_EQ(::shm_unlink(("/" + name).c_str()), 0);
  SharedMemory theirs(name, true, 64, false);  // the other owner's, untracked
  theirs.buf()[3] = std::byte{33};
  ::kill(child, SIGKILL);
  shm_test::wait_child(child);
  EXPECT_EQ(shm_test::read_to_eof(err.r), "");  // EOF: the tracker exited; nothing leaked
  ASSERT_TRUE(shm_exists(name));
  EXPECT_EQ(SharedMemory(name).buf()[3], std::byte{33});
  theirs.unlink();
}

// The tracker's rule at EOF, record by record: a registration with an identity removes
// the name only while it is that inode; one without removes whatever regular file has the
// name; a name already gone is not reported. (A creator killed between registering and
// withdrawing after EEXIST leaves the first kind with another owner's name.)
TEST(ResourceTracker, RemovesANameOnlyWhileItIsTheRegisteredInode) {
  const auto id_of = [](const std::string& name) {
    struct stat st {};
    EXPECT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0) << name;
    return detail::SegmentId{static_cast<std::uint64_t>(st.st_dev),
                             static_cast<std::uint64_t>(st.st_ino)};
  };
  SharedMemory same(unique_name("same"), true, 16, false);
  SharedMemory other(unique_name("other"), true, 16, false);
  SharedMemory by_name(unique_name("byname"), true, 16, false);
  SharedMemory dir_owner(unique_name("dir"), true, 16, false);
  const detail::SegmentId right = id_of(same.name());
  detail::SegmentId wrong = id_of(other.name());
  wrong.ino += 1000003;  // another inode of the same filesystem
  const auto t = detail::start_tracker_process(false, "concur-rtracker");
  ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', same.name(), right));
  ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', other.name(), wrong));
  ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', by_name.name()));
  ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', unique_name("never"), right));
  // Unregistering is by (name, identity): the other key stays.
  ASSERT_TRUE(detail::send_tracker_record(t.fd, 'R', dir_owner.name(), id_of(dir_owner.name())));
  ASSERT_TRUE(detail::send_tracker_record(t.fd, 'U', dir_owner.name(), wrong));
  ::close(t.fd);
  detail::reap_bounded(t.pid);
  EXPECT_FALSE(shm_exists(same.name()));
  EXPECT_TRUE(shm_exists(other.name()));
  EXPECT_FALSE(shm_exists(by_name.name()));
  EXPECT_FALSE(shm_exists(dir_owner.name()));
  other.unlink();
}
