// Conformance: multiprocessing.shared_memory (CPython's _test_multiprocessing._TestSharedMemory).
// Across processes with fork()ed children; "another program" is a forked child that forgets the
// inherited resource tracker (detail::forget_tracker), as a separate interpreter has its own in
// CPython's tests. IndexError is std::out_of_range; None is Item{} (monostate).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing.hpp"
#include "multiprocessing/tracker.hpp"
#include "support/leak_check.hpp"
#include "support/mp_shm_util.hpp"

namespace {

namespace mp = concur::multiprocessing;
namespace shm = concur::multiprocessing::shared_memory;
using shm::Item;
using shm::ShareableList;
using shm::SharedMemory;
using shm_test::shm_exists;
using shm_test::unique_name;

bool gone(const std::string& name) {
  return concur::testing::eventually([&] { return !shm_exists(name); },
                                     std::chrono::milliseconds(20000));
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_basics; CPython docs,
// SharedMemory: name, size >= requested, buffer length >= size, textual form.
TEST(SharedMemory, Basics) {
  const std::string name = unique_name("basics");
  SharedMemory sms(name, true, 512);
  EXPECT_EQ(sms.name(), name);
  EXPECT_GE(sms.size(), 512u);
  EXPECT_GE(sms.buf().size(), sms.size());
  EXPECT_EQ(sms.repr(), "SharedMemory('" + name + "', size=512)");
  sms.close();
  sms.unlink();
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_basics: a second handle by
// name sees the bytes; a size given on attach is ignored.
TEST(SharedMemory, AttachByNameSeesBytesAndIgnoresSize) {
  SharedMemory sms(std::nullopt, true, 512);
  sms.buf()[0] = std::byte{42};
  std::memcpy(sms.buf().data() + 1, "abc", 3);
  SharedMemory also(sms.name(), false, 5000);
  EXPECT_EQ(also.size(), sms.size());
  EXPECT_EQ(also.buf()[0], std::byte{42});
  EXPECT_EQ(std::memcmp(also.buf().data() + 1, "abc", 3), 0);
  also.close();
  sms.close();
  sms.unlink();
}

// CPython _test_multiprocessing._TestSharedMemory.test_invalid_shared_memory_creation,
// test_shared_memory_basics, test_shared_memory_name_with_embedded_null: size <= 0 on create, no
// name on attach, NUL in the name: ValueError.
TEST(SharedMemory, InvalidCreationIsValueError) {
  EXPECT_THROW(SharedMemory(std::nullopt, true, -2), concur::ValueError);
  EXPECT_THROW(SharedMemory(std::nullopt, true, 0), concur::ValueError);
  EXPECT_THROW(SharedMemory(std::nullopt, true), concur::ValueError);  // no size
  EXPECT_THROW(SharedMemory(std::nullopt, false), concur::ValueError);
  EXPECT_THROW(SharedMemory(std::nullopt, false, 100), concur::ValueError);
  EXPECT_THROW(SharedMemory(std::string("has\0nul", 7), true, 100), concur::ValueError);
  EXPECT_THROW(SharedMemory(std::string("has\0nul", 7)), concur::ValueError);
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_basics: create on an existing
// name: FileExistsError; attach to a missing one: FileNotFoundError.
TEST(SharedMemory, ExistsAndNotFound) {
  const std::string name = unique_name("dup");
  SharedMemory sms(name, true, 64);
  EXPECT_THROW(SharedMemory(name, true, 64), concur::FileExistsError);
  sms.unlink();
  EXPECT_THROW((void)SharedMemory(name), concur::FileNotFoundError);
  EXPECT_THROW(SharedMemory(unique_name("never")), concur::FileNotFoundError);
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_basics; CPython docs,
// SharedMemory.unlink(): the first unlink removes the name, a second raises FileNotFoundError;
// close and unlink in either order.
TEST(SharedMemory, UnlinkTwiceAndEitherOrder) {
  SharedMemory a(std::nullopt, true, 64);
  a.unlink();
  EXPECT_FALSE(shm_exists(a.name()));
  EXPECT_THROW(a.unlink(), concur::FileNotFoundError);
  a.close();
  SharedMemory b(std::nullopt, true, 64);
  b.close();
  b.unlink();
  EXPECT_FALSE(shm_exists(b.name()));
  EXPECT_THROW(b.unlink(), concur::FileNotFoundError);
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_recreate:
// a generated name that collides is retried, not an error.
std::vector<std::string> g_names;
std::string next_name() {
  std::string n = g_names.front();
  g_names.erase(g_names.begin());
  return n;
}
TEST(SharedMemory, GeneratedNameCollisionIsRetried) {
  const std::string taken = unique_name("taken");
  const std::string fresh = unique_name("fresh");
  SharedMemory existing(taken, true, 64);
  g_names = {"/" + taken, "/" + taken, "/" + fresh};
  const auto previous = shm::detail::set_name_source(&next_name);
  SharedMemory m(std::nullopt, true, 64);
  shm::detail::set_name_source(previous);
  EXPECT_EQ(m.name(), fresh);
  EXPECT_TRUE(g_names.empty());
  m.unlink();
  existing.unlink();
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_pickle_unpickle,
// test_shared_memory_pickle_unpickle_dead_object: a serialized handle attaches to the same segment
// (writes visible both ways); once unlinked, deserializing raises FileNotFoundError.
TEST(SharedMemory, PickleUnpickle) {
  SharedMemory sms(std::nullopt, true, 512);
  const auto pickled = mp::dumps(sms);
  auto other = mp::loads<SharedMemory>(pickled);
  EXPECT_EQ(other.name(), sms.name());
  sms.buf()[0] = std::byte{1};
  EXPECT_EQ(other.buf()[0], std::byte{1});
  other.buf()[1] = std::byte{2};
  EXPECT_EQ(sms.buf()[1], std::byte{2});
  other.close();
  sms.close();
  sms.unlink();
  EXPECT_THROW((void)mp::loads<SharedMemory>(pickled), concur::FileNotFoundError);
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_across_processes: a child
// attaching by name, or through a passed handle, writes; the parent sees the data after the child
// is joined.
TEST(SharedMemory, AcrossProcesses) {
  SharedMemory sms(std::nullopt, true, 64);
  const std::string name = sms.name();
  EXPECT_EQ(shm_test::run_child([&] {
              SharedMemory child(name);
              std::memcpy(child.buf().data(), "by name", 7);
              child.close();
              return 0;
            }),
            0);
  EXPECT_EQ(std::memcmp(sms.buf().data(), "by name", 7), 0);
  const auto handle = mp::dumps(sms);  // what a spawned child receives
  EXPECT_EQ(shm_test::run_child([&] {
              auto child = mp::loads<SharedMemory>(handle);
              std::memcpy(child.buf().data() + 8, "by handle", 9);
              return 0;
            }),
            0);
  EXPECT_EQ(std::memcmp(sms.buf().data() + 8, "by handle", 9), 0);
  EXPECT_EQ(shm_test::run_child([&] {  // under fork: the inherited handle itself
              std::memcpy(sms.buf().data() + 20, "inherited", 9);
              return 0;
            }),
            0);
  EXPECT_EQ(std::memcmp(sms.buf().data() + 20, "inherited", 9), 0);
  sms.close();
  sms.unlink();
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_across_processes with
// mp::Process under every start method: the child attaches by name, or receives the SharedMemory
// itself as an argument (by name under spawn/forkserver, the inherited mapping under fork), and
// writes; the parent sees it after join().
void write_by_name(std::string name, std::string text) {
  SharedMemory m(name);
  std::memcpy(m.buf().data(), text.data(), text.size());
  m.close();
}
void write_by_handle(const SharedMemory& m, const std::string& text) {
  std::memcpy(m.buf().data() + 16, text.data(), text.size());
}
void write_list(ShareableList l) { l.set(0, "child"); }

class SharedMemoryAcrossProcesses : public ::testing::TestWithParam<std::string> {};

TEST_P(SharedMemoryAcrossProcesses, ChildWritesParentSeesAfterJoin) {
  using namespace std::chrono_literals;
  const auto& ctx = mp::get_context(GetParam());
  SharedMemory sms(std::nullopt, true, 64);
  auto by_name = ctx.Process(mp::fn<&write_by_name>, sms.name(), std::string("by name"));
  by_name.start();
  ASSERT_TRUE(by_name.join(20s));
  EXPECT_EQ(by_name.exitcode(), 0);
  EXPECT_EQ(std::memcmp(sms.buf().data(), "by name", 7), 0);

  auto by_handle = ctx.Process(mp::fn<&write_by_handle>, sms, std::string("by handle"));
  by_handle.start();
  ASSERT_TRUE(by_handle.join(20s));
  EXPECT_EQ(by_handle.exitcode(), 0);
  EXPECT_EQ(std::memcmp(sms.buf().data() + 16, "by handle", 9), 0);

  auto lambda = ctx.Process(
      [](std::string name) {
        SharedMemory m(name);
        std::memcpy(m.buf().data() + 32, "lambda", 6);
      },
      sms.name());
  lambda.start();
  ASSERT_TRUE(lambda.join(20s));
  EXPECT_EQ(lambda.exitcode(), 0);
  EXPECT_EQ(std::memcmp(sms.buf().data() + 32, "lambda", 6), 0);

  ShareableList sl({"parent", 1});
  auto list = ctx.Process(mp::fn<&write_list>, sl);
  list.start();
  ASSERT_TRUE(list.join(20s));
  EXPECT_EQ(list.exitcode(), 0);
  EXPECT_EQ(sl[0], Item("child"));

  sl.shm().close();
  sl.shm().unlink();
  sms.close();
  sms.unlink();
}

INSTANTIATE_TEST_SUITE_P(Methods, SharedMemoryAcrossProcesses,
                         ::testing::Values("fork", "spawn", "forkserver"),
                         [](const auto& param_info) { return param_info.param; });

// CPython
// _test_multiprocessing._TestSharedMemory.test_shared_memory_cleaned_after_process_termination,
// test_shared_memory_untracking, test_shared_memory_tracking. A creator killed abruptly: its
// tracker removes the segment and warns "1 leaked shared_memory objects".
TEST(SharedMemory, CleanedAfterProcessTermination) {
  const std::string name = unique_name("crash");
  shm_test::Pipe err;
  shm_test::Pipe ready;
  const pid_t child = shm_test::fork_child([&] {
    ::dup2(err.w, 2);
    concur::multiprocessing::detail::forget_tracker();
    SharedMemory sms(name, true, 512);
    if (::write(ready.w, "r", 1) != 1) return 1;
    ::pause();
    return 0;
  });
  err.close_w();
  ready.close_w();
  ASSERT_EQ(shm_test::read_to_eof(ready.r, std::chrono::seconds(20), 1), "r");
  ASSERT_TRUE(shm_exists(name));
  ::kill(child, SIGKILL);
  shm_test::wait_child(child);
  EXPECT_TRUE(gone(name));
  const std::string warning = shm_test::read_to_eof(err.r);
  EXPECT_NE(warning.find("resource_tracker: There appear to be 1 leaked shared_memory objects"),
            std::string::npos)
      << warning;
}

// CPython
// _test_multiprocessing._TestSharedMemory.test_shared_memory_cleaned_after_process_termination,
// test_shared_memory_untracking, test_shared_memory_tracking. Another program attaching with
// track=false and exiting does not delete the segment; with track=true it does, with the warning.
TEST(SharedMemory, UntrackingAndTracking) {
  SharedMemory sms(std::nullopt, true, 64, false);
  const std::string name = sms.name();
  {
    shm_test::Pipe err;
    const pid_t child = shm_test::fork_child([&] {
      ::dup2(err.w, 2);
      concur::multiprocessing::detail::forget_tracker();
      SharedMemory attached(name, false, 0, false);
      return 0;
    });
    err.close_w();
    EXPECT_EQ(WEXITSTATUS(shm_test::wait_child(child)), 0);
    EXPECT_EQ(shm_test::read_to_eof(err.r), "");
    EXPECT_TRUE(shm_exists(name));
  }
  {
    shm_test::Pipe err;
    const pid_t child = shm_test::fork_child([&] {
      ::dup2(err.w, 2);
      concur::multiprocessing::detail::forget_tracker();
      SharedMemory attached(name, false, 0, true);
      return 0;
    });
    err.close_w();
    EXPECT_EQ(WEXITSTATUS(shm_test::wait_child(child)), 0);
    EXPECT_TRUE(gone(name));
    EXPECT_NE(shm_test::read_to_eof(err.r).find("1 leaked shared_memory objects"),
              std::string::npos);
  }
  sms.close();
  EXPECT_THROW(sms.unlink(), concur::FileNotFoundError);
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_ShareableList_basics,
// test_shared_memory_ShareableList_pickling: ShareableList basics.
TEST(ShareableList, Basics) {
  ShareableList sl({"howdy", shm::to_bytes("HoWdY"), -273.154, 100, Item{}, true, 42});
  struct Cleanup {
    ShareableList& l;
    ~Cleanup() {
      try {
        l.shm().unlink();
      } catch (...) {
      }
    }
  } cleanup{sl};

  // repr shows the name and the items
  EXPECT_NE(sl.repr().find(sl.shm().name()), std::string::npos);
  EXPECT_NE(sl.repr().find("['howdy', b'HoWdY', -273.154, 100, None, True, 42]"), std::string::npos)
      << sl.repr();

  // out of range get and set: IndexError
  EXPECT_THROW((void)sl[7], std::out_of_range);
  EXPECT_THROW(sl.set(7, 2), std::out_of_range);
  EXPECT_THROW((void)sl[-8], std::out_of_range);

  sl.set(0, "howdy");  // same type, same value
  EXPECT_EQ(sl.size(), 7u);

  // index and count
  EXPECT_THROW((void)sl.index("100"), concur::ValueError);
  EXPECT_EQ(sl.index(100), 3u);

  // indexing, negative indexing, iteration
  EXPECT_EQ(sl[0], Item("howdy"));
  EXPECT_EQ(sl[-2], Item(true));
  const std::vector<Item> expected{"howdy", shm::to_bytes("HoWdY"), -273.154, 100, Item{}, true,
                                   42};
  EXPECT_EQ(std::vector<Item>(sl.begin(), sl.end()), expected);
  EXPECT_EQ(sl.items(), expected);

  // modifying, changing type
  sl.set(3, 42);
  EXPECT_EQ(sl[3], Item(42));
  sl.set(4, "some");  // None -> str
  EXPECT_EQ(sl[4], Item("some"));
  EXPECT_THROW(
      {
        try {
          sl.set(4, "far too many");
        } catch (const concur::ValueError& e) {
          EXPECT_NE(std::string(e.what()).find("exceeds available storage"), std::string::npos);
          throw;
        }
      },
      concur::ValueError);
  EXPECT_EQ(sl[4], Item("some"));
  sl.set(0, "encod\xc3\xa9s");  // exactly 8 bytes of UTF-8 fit
  EXPECT_EQ(sl[0], Item("encod\xc3\xa9s"));
  EXPECT_EQ(sl[1], Item(shm::to_bytes("HoWdY")));                     // no spillage
  EXPECT_THROW(sl.set(0, "encod\xc3\xa9\x65s"), concur::ValueError);  // 9 bytes
  EXPECT_EQ(sl[0], Item("encod\xc3\xa9s"));
  EXPECT_EQ(sl[1], Item(shm::to_bytes("HoWdY")));
  EXPECT_THROW(sl.set(1, shm::to_bytes("123456789")), concur::ValueError);
  EXPECT_EQ(sl[1], Item(shm::to_bytes("HoWdY")));

  EXPECT_EQ(sl.count(42), 2u);
  EXPECT_EQ(sl.count(shm::to_bytes("HoWdY")), 1u);
  EXPECT_EQ(sl.count(shm::to_bytes("adios")), 0u);

  // copying into a new name: an independent segment
  const std::string dup_name = unique_name("sl_dup");
  ShareableList copy(sl.items(), dup_name);
  EXPECT_NE(copy.shm().name(), sl.shm().name());
  EXPECT_EQ(copy.shm().name(), dup_name);
  EXPECT_EQ(copy.items(), sl.items());
  copy.set(-1, 77);
  EXPECT_EQ(copy[-1], Item(77));
  EXPECT_NE(sl[-1], Item(77));
  copy.shm().close();
  copy.shm().unlink();

  // attaching by name shares the data
  ShareableList tethered(sl.shm().name());
  EXPECT_EQ(tethered.shm().name(), sl.shm().name());
  tethered.set(-1, 880);
  EXPECT_EQ(sl[-1], Item(880));
  tethered.shm().close();
  sl.shm().close();

  // an empty list
  ShareableList empty_sl;
  EXPECT_EQ(empty_sl.size(), 0u);
  EXPECT_EQ(empty_sl.count("any"), 0u);
  EXPECT_THROW((void)empty_sl.index(Item{}), concur::ValueError);
  empty_sl.shm().close();
  empty_sl.shm().unlink();
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_ShareableList_basics,
// test_shared_memory_ShareableList_pickling (_pickling): a serialized ShareableList attaches to the
// same data.
TEST(ShareableList, Pickling) {
  ShareableList sl({"a", 1});
  const auto pickled = mp::dumps(sl);
  auto other = mp::loads<ShareableList>(pickled);
  EXPECT_EQ(other.shm().name(), sl.shm().name());
  EXPECT_EQ(other.items(), sl.items());
  sl.set(1, 2);
  EXPECT_EQ(other[1], Item(2));
  other.shm().close();
  sl.shm().close();
  sl.shm().unlink();
  EXPECT_THROW((void)mp::loads<ShareableList>(pickled), concur::FileNotFoundError);
}

// CPython _test_multiprocessing._TestSharedMemory.test_shared_memory_SharedMemoryManager_basics,
// test_shared_memory_SharedMemoryServer_ignores_sigint: SharedMemoryManager — creating before
// start() is ValueError; what it made is unlinked at shutdown() and at scope exit (attaching then:
// FileNotFoundError); its server ignores SIGINT.
TEST(SharedMemoryManager, Basics) {
  namespace mgr = concur::multiprocessing::managers;
  std::string a;
  std::string b;
  {
    mgr::SharedMemoryManager smm;
    EXPECT_THROW((void)smm.SharedMemory(10), concur::ValueError);
    smm.start();
    auto m = smm.SharedMemory(1024);
    auto sl = smm.ShareableList({1, "two", 3.0});
    a = m.name();
    b = sl.shm().name();
    EXPECT_EQ(SharedMemory(a).size(), 1024u);
    EXPECT_EQ(ShareableList(b)[1], Item("two"));
    smm.shutdown();
    EXPECT_THROW((void)SharedMemory(a), concur::FileNotFoundError);
    EXPECT_THROW((void)ShareableList(b), concur::FileNotFoundError);
  }
  {
    mgr::SharedMemoryManager smm;
    smm.start();
    a = smm.SharedMemory(64).name();
    b = smm.ShareableList({}).shm().name();
    EXPECT_TRUE(shm_exists(a));
  }  // scope exit
  EXPECT_THROW((void)SharedMemory(a), concur::FileNotFoundError);
  EXPECT_THROW((void)ShareableList(b), concur::FileNotFoundError);
}

TEST(SharedMemoryManager, ServerIgnoresSigint) {
  namespace mgr = concur::multiprocessing::managers;
  mgr::SharedMemoryManager smm;
  smm.start();
  auto m = smm.SharedMemory(64);
  ASSERT_EQ(::kill(smm.server_pid(), SIGINT), 0);
  auto later = smm.SharedMemory(64);  // the server still takes names
  smm.shutdown();                     // and still unlinks them all
  EXPECT_FALSE(shm_exists(m.name()));
  EXPECT_FALSE(shm_exists(later.name()));
}

}  // namespace
