// SharedMemory: implementation checks beyond the conformance items (tests/conformance/
// mp_shared_memory_test.cpp): name handling, errors, copies and close, ENOSPC, the handle.
#include "concur/multiprocessing/shared_memory.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "concur/exceptions.hpp"
#include "multiprocessing/tracker.hpp"
#include "support/leak_check.hpp"
#include "support/mp_shm_util.hpp"

namespace mp = concur::multiprocessing;
namespace shm = concur::multiprocessing::shared_memory;
using shm::SharedMemory;
using shm_test::shm_exists;
using shm_test::unique_name;

TEST(SharedMemory, GeneratedNameIsPsmAndEightHexDigits) {
  SharedMemory m(std::nullopt, true, 100);
  const std::string& n = m.name();
  EXPECT_EQ(n.size(), 12u) << n;
  EXPECT_EQ(n.rfind("psm_", 0), 0u) << n;
  EXPECT_EQ(n.find_first_not_of("0123456789abcdef", 4), std::string::npos) << n;
  EXPECT_TRUE(shm_exists(m.name()));
  EXPECT_EQ(m.size(), 100u);
  EXPECT_EQ(m.buf().size(), 100u);
  m.close();
  m.unlink();
  EXPECT_FALSE(shm_exists(m.name()));
}

TEST(SharedMemory, ContentsStartZeroed) {
  SharedMemory m(std::nullopt, true, 3 * 4096 + 7);
  for (std::byte b : m.buf()) ASSERT_EQ(b, std::byte{0});
  m.unlink();
}

TEST(SharedMemory, NameWithOrWithoutLeadingSlashIsTheSameSegment) {
  const std::string name = unique_name("slash");
  SharedMemory a("/" + name, true, 64);
  EXPECT_EQ(a.name(), name);  // never the slash
  SharedMemory b(name);
  SharedMemory c("/" + name);
  b.buf()[3] = std::byte{9};
  EXPECT_EQ(c.buf()[3], std::byte{9});
  EXPECT_EQ(a.buf()[3], std::byte{9});
  a.unlink();
}

TEST(SharedMemory, OptionsWithDesignatedInitialisers) {
  const std::string name = unique_name("opts");
  SharedMemory a({.name = name, .create = true, .size = 128, .track = false});
  EXPECT_FALSE(a.tracked());
  SharedMemory b({.name = name});
  EXPECT_EQ(b.size(), 128u);
  EXPECT_FALSE(b.tracked());
  SharedMemory c({.name = name, .track = true});
  EXPECT_TRUE(c.tracked());
  a.unlink();
}

TEST(SharedMemory, TrackingDefaultsToTheCreatorOnly) {
  SharedMemory a(std::nullopt, true, 16);
  EXPECT_TRUE(a.tracked());
  SharedMemory b(a.name());
  EXPECT_FALSE(b.tracked());
  SharedMemory c(a.name(), false, 0, true);
  EXPECT_TRUE(c.tracked());
  SharedMemory d(std::nullopt, true, 16, false);
  EXPECT_FALSE(d.tracked());
  a.unlink();
  d.unlink();
}

TEST(SharedMemory, BadArgumentsAreValueErrorsThatSayWhy) {
  const auto message = [](auto f) {
    try {
      f();
    } catch (const concur::ValueError& e) {
      return std::string(e.what());
    }
    return std::string("no ValueError");
  };
  EXPECT_NE(message([] { SharedMemory(std::nullopt, true, -1); }).find("'size'"),
            std::string::npos);
  EXPECT_NE(message([] { SharedMemory(std::nullopt, true, 0); }).find("'size'"), std::string::npos);
  EXPECT_NE(message([] { SharedMemory(std::nullopt, false, 10); }).find("'name'"),
            std::string::npos);
  EXPECT_NE(message([] { SharedMemory(std::string("a\0b", 3), true, 10); }).find("null"),
            std::string::npos);
  EXPECT_NE(message([] { SharedMemory(std::string(), true, 10); }).find("empty"),
            std::string::npos);
  EXPECT_NE(message([] { SharedMemory(std::string(), false); }).find("empty"), std::string::npos);
}

TEST(SharedMemory, OsErrorsNameTheCall) {
  try {
    (void)SharedMemory("a/b", true, 10);
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("shm_open(/a/b)"), std::string::npos) << e.what();
  }
  try {
    (void)SharedMemory(std::string(300, 'x'), true, 10);
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {  // glibc says EINVAL for a name over NAME_MAX
    EXPECT_NE(std::string(e.what()).find("shm_open(/xxx"), std::string::npos) << e.what();
  }
  try {
    (void)SharedMemory(unique_name("missing"));
    FAIL() << "expected FileNotFoundError";
  } catch (const concur::FileNotFoundError& e) {
    EXPECT_NE(std::string(e.what()).find("shm_open("), std::string::npos) << e.what();
  }
}

TEST(SharedMemory, CreateExistingNameLeavesTheOwnerAlone) {
  const std::string name = unique_name("exists");
  SharedMemory a(name, true, 32);
  a.buf()[0] = std::byte{7};
  EXPECT_THROW(SharedMemory(name, true, 32), concur::FileExistsError);
  EXPECT_TRUE(shm_exists(name));  // the failed creation did not unlink the other's
  EXPECT_EQ(SharedMemory(name).buf()[0], std::byte{7});
  a.unlink();
}

// The existing name is found before the size is reserved: FileExistsError, not ENOSPC.
TEST(SharedMemory, CreateExistingNameIsFileExistsErrorWhateverTheSize) {
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs("/dev/shm", &vfs), 0);
  const auto total =
      static_cast<std::int64_t>(vfs.f_blocks) * static_cast<std::int64_t>(vfs.f_frsize);
  const std::string name = unique_name("exists_big");
  SharedMemory a(name, true, 32);
  EXPECT_THROW(SharedMemory(name, true, total + (1 << 20)), concur::FileExistsError);
  EXPECT_TRUE(shm_exists(name));
  a.unlink();
}

// A created name appears whole: an attacher racing the creation finds no segment or the
// sized one, never an empty one (which used to be visible between shm_open and
// posix_fallocate, and was a ValueError to attach).
TEST(SharedMemory, ACreatedNameAppearsOnlyWithItsSize) {
  constexpr int kRounds = 200;
  constexpr std::int64_t kSize = 1 << 20;  // a long posix_fallocate: a wide window, if any
  const auto name_of = [](int i) { return unique_name("whole" + std::to_string(i)); };
  std::atomic<int> seen{-1};
  std::string failure;
  std::thread attacher([&] {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int i = 0; i < kRounds && failure.empty(); ++i) {
      while (std::chrono::steady_clock::now() < end) {
        try {
          const SharedMemory m(name_of(i));
          if (m.size() != kSize) failure = name_of(i) + ": size " + std::to_string(m.size());
          break;
        } catch (const concur::FileNotFoundError&) {
        } catch (const concur::ValueError& e) {
          failure = e.what();
          break;
        }
      }
      seen = i;
    }
    seen = kRounds;  // done, or stopped at a failure
  });
  for (int i = 0; i < kRounds; ++i) {
    SharedMemory m(name_of(i), true, kSize, false);
    const bool attached = concur::testing::eventually([&] { return seen.load() >= i; },
                                                      std::chrono::milliseconds(20000));
    m.unlink();
    if (!attached) break;
  }
  attacher.join();
  EXPECT_EQ(failure, "");
}

// The unnamed segment is named through /proc/thread-self: /proc/self/fd is empty once the
// main thread has exited, and creating from another thread must still take that path.
namespace {
void* create_after_main_exited(void*) {
  // Wait (bounded) until the main thread is gone: /proc/self/fd then lists nothing.
  const bool gone = concur::testing::eventually([] {
    std::error_code ec;
    auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
    return ec || it == std::filesystem::directory_iterator();
  });
  int code = gone ? 0 : 2;
  try {
    const bool previous = mp::detail::set_unnamed_creation(true);
    SharedMemory m(unique_name("leaderless"), true, 64, false);
    if (!shm_exists(m.name())) code = 3;
    m.unlink();
    if (!previous || !mp::detail::set_unnamed_creation(true)) code = 4;  // it fell back
  } catch (...) {
    code = 5;
  }
  ::_exit(code);
}
}  // namespace

TEST(SharedMemory, CreatesUnnamedFromAThreadAfterTheMainThreadExited) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    pthread_t t;
    if (::pthread_create(&t, nullptr, &create_after_main_exited, nullptr) != 0) ::_exit(6);
    // The main thread ends, alone (no unwinding through the test's frames, which
    // pthread_exit would do).
    ::syscall(SYS_exit, 0);
  }
  ASSERT_GT(pid, 0);
  const int status = shm_test::wait_child(pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Where O_TMPFILE or /proc is refused, creation falls back to shm_open(O_CREAT | O_EXCL)
// with the same results.
TEST(SharedMemory, WithoutUnnamedCreationShmOpenDoesTheSame) {
  const bool previous = mp::detail::set_unnamed_creation(false);
  const std::string name = unique_name("named");
  {
    SharedMemory a(name, true, 100);
    EXPECT_TRUE(a.tracked());
    EXPECT_TRUE(shm_exists(name));
    a.buf()[99] = std::byte{4};
    EXPECT_THROW(SharedMemory(name, true, 100), concur::FileExistsError);
    EXPECT_EQ(SharedMemory(name).buf()[99], std::byte{4});
    SharedMemory g(std::nullopt, true, 64);
    EXPECT_TRUE(shm_exists(g.name()));
    g.unlink();
    a.unlink();
    EXPECT_FALSE(shm_exists(name));
  }
  SharedMemory left(name, true, 16);  // left to the tracker
  mp::detail::set_unnamed_creation(previous);
  mp::detail::stop_tracker();
  EXPECT_FALSE(shm_exists(name));
}

// tmpfs allocates on first touch: a full /dev/shm is an error at creation (ENOSPC), not a SIGBUS on
// first touch. Asking for more than the whole filesystem fails at once, without filling it (tmpfs
// refuses a fallocate larger than its size before allocating anything).
TEST(SharedMemory, MoreThanDevShmHoldsIsEnospcAtCreationAndLeavesNothing) {
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs("/dev/shm", &vfs), 0);
  const auto total =
      static_cast<std::int64_t>(vfs.f_blocks) * static_cast<std::int64_t>(vfs.f_frsize);
  ASSERT_GT(total, 0);
  const std::string name = unique_name("enospc");
  try {
    (void)SharedMemory(name, true, total + (1 << 20));
    FAIL() << "expected ENOSPC";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_space_on_device) << e.what();
    EXPECT_NE(std::string(e.what()).find("posix_fallocate(/" + name), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(shm_exists(name));
}

TEST(SharedMemory, CopiesShareOneMappingAndOneClose) {
  SharedMemory a(std::nullopt, true, 64);
  SharedMemory b = a;
  EXPECT_EQ(a.buf().data(), b.buf().data());
  b.close();
  EXPECT_TRUE(a.closed());
  EXPECT_TRUE(a.buf().empty());
  a.close();  // idempotent
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.repr(), "SharedMemory('" + a.name() + "', size=64)");
  a.unlink();  // after close
}

TEST(SharedMemory, UnlinkBeforeCloseKeepsTheMapping) {
  SharedMemory a(std::nullopt, true, 64);
  SharedMemory b(a.name());
  a.unlink();
  EXPECT_FALSE(shm_exists(a.name()));
  b.buf()[1] = std::byte{5};
  EXPECT_EQ(a.buf()[1], std::byte{5});
  EXPECT_THROW(b.unlink(), concur::FileNotFoundError);
  EXPECT_THROW(SharedMemory(a.name()), concur::FileNotFoundError);
}

TEST(SharedMemory, OstreamPrintsTheRepr) {
  const std::string name = unique_name("repr");
  SharedMemory a(name, true, 512);
  std::ostringstream os;
  os << a;
  EXPECT_EQ(os.str(), "SharedMemory('" + name + "', size=512)");
  a.unlink();
}

TEST(SharedMemory, HandleIsTheNameAndDecodingAttaches) {
  static_assert(mp::Picklable<SharedMemory>);
  SharedMemory a(std::nullopt, true, 64);
  const auto bytes = mp::dumps(a);  // no FdSink needed: it crosses by name
  auto b = mp::loads<SharedMemory>(bytes);
  EXPECT_EQ(b.name(), a.name());
  EXPECT_NE(b.buf().data(), a.buf().data());  // a mapping of its own
  EXPECT_FALSE(b.tracked());
  b.buf()[0] = std::byte{1};
  EXPECT_EQ(a.buf()[0], std::byte{1});
  a.unlink();
  EXPECT_THROW((void)mp::loads<SharedMemory>(bytes), concur::FileNotFoundError);
}

TEST(SharedMemory, MalformedHandleIsValueError) {
  mp::Buffer bytes;
  mp::encode(bytes, std::string(300, 'x'));  // a u64 length of 300 then bytes
  mp::Reader in(bytes);
  EXPECT_THROW((void)mp::decode<SharedMemory>(in), concur::ValueError);
}

TEST(SharedMemory, ForkedChildWritesParentSees) {
  SharedMemory a(std::nullopt, true, 64);
  const std::string name = a.name();
  const int code = shm_test::run_child([&] {
    SharedMemory b(name);
    std::memcpy(b.buf().data(), "child", 5);
    b.close();
    return 0;
  });
  ASSERT_EQ(code, 0);
  EXPECT_EQ(std::memcmp(a.buf().data(), "child", 5), 0);
  a.unlink();
}
