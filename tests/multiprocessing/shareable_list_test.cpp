// ShareableList: implementation checks beyond CPython's
// _test_multiprocessing._TestSharedMemory.test_shared_memory_ShareableList_basics (the conformance
// test): layout, rooms, trailing NULs, corrupt segments, closed segments, crossing.
#include "concur/multiprocessing/shareable_list.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "concur/exceptions.hpp"
#include "support/mp_shm_util.hpp"

namespace mp = concur::multiprocessing;
namespace shm = concur::multiprocessing::shared_memory;
using shm::Item;
using shm::ShareableList;
using shm::SharedMemory;
using shm_test::unique_name;

namespace {
// Unlinks a list's segment at scope exit.
struct Unlink {
  ShareableList& l;
  ~Unlink() {
    try {
      l.shm().unlink();
    } catch (...) {
    }
  }
};
}  // namespace

TEST(ShareableList, LiteralsPickTheItemsPythonWould) {
  ShareableList sl({"s", shm::to_bytes("b"), 1.5, 7, Item{}, false});
  Unlink u{sl};
  EXPECT_EQ(sl[0], Item(std::string("s")));
  EXPECT_EQ(sl[1], Item(shm::to_bytes("b")));
  EXPECT_EQ(sl[2], Item(1.5));
  EXPECT_EQ(sl[3], Item(std::int64_t{7}));
  EXPECT_EQ(sl[4], Item{});
  EXPECT_EQ(sl[5], Item(false));
  ShareableList one({"x"});  // a braced list is always the items, never a name
  Unlink u1{one};
  EXPECT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], Item(std::string("x")));
}

TEST(ShareableList, SegmentSizeFollowsTheDocumentedLayout) {
  // header 16 + offsets 8*(n+1) + per slot 8 (tag) + room
  ShareableList sl({"howdy", "12345678", 1, Item{}});
  Unlink u{sl};
  EXPECT_EQ(sl.shm().size(), 16u + 8 * 5 + (8 + 8) + (8 + 16) + (8 + 8) + (8 + 8));
  ShareableList empty;
  Unlink ue{empty};
  EXPECT_EQ(empty.shm().size(), 24u);
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.begin(), empty.end());
}

TEST(ShareableList, RoomIsEightTimesLengthOverEightPlusOne) {
  ShareableList sl({"12345678", "", Item{}});
  Unlink u{sl};
  sl.set(0, std::string(16, 'a'));  // room 16
  EXPECT_THROW(sl.set(0, std::string(17, 'a')), concur::ValueError);
  sl.set(1, "abcdefgh");  // "" has room 8
  EXPECT_THROW(sl.set(1, "abcdefghi"), concur::ValueError);
  sl.set(2, shm::to_bytes("12345678"));  // a scalar slot has 8
  EXPECT_THROW(sl.set(2, shm::to_bytes("123456789")), concur::ValueError);
  EXPECT_EQ(sl[0], Item(std::string(16, 'a')));
  EXPECT_EQ(sl[1], Item(std::string("abcdefgh")));
  EXPECT_EQ(sl[2], Item(shm::to_bytes("12345678")));
  for (std::size_t i = 0; i < 3; ++i) {  // 8-byte aligned slots
    const auto off = reinterpret_cast<const std::uint64_t*>(sl.shm().buf().data() + 16)[i];
    EXPECT_EQ(off % 8, 0u);
  }
}

TEST(ShareableList, TrailingNulBytesReadBackWhole) {
  const std::string s("ab\0\0", 4);
  ShareableList sl({s, shm::to_bytes(std::string_view("\0\0", 2))});
  Unlink u{sl};
  EXPECT_EQ(sl[0], Item(s));
  EXPECT_EQ(std::get<shm::Bytes>(sl[1]).size(), 2u);
}

TEST(ShareableList, ExtremeScalarsRoundTrip) {
  ShareableList sl({std::numeric_limits<std::int64_t>::min(),
                    std::numeric_limits<double>::infinity(), -0.0,
                    std::numeric_limits<std::int64_t>::max()});
  Unlink u{sl};
  EXPECT_EQ(sl[0], Item(std::numeric_limits<std::int64_t>::min()));
  EXPECT_EQ(sl[1], Item(std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(std::signbit(std::get<double>(sl[2])));
  EXPECT_EQ(sl[-1], Item(std::numeric_limits<std::int64_t>::max()));
}

TEST(ShareableList, EqualityIsTypeStrict) {
  ShareableList sl({1, true, 1.0, "1"});
  Unlink u{sl};
  EXPECT_EQ(sl.count(std::int64_t{1}), 1u);
  EXPECT_EQ(sl.index(true), 1u);
  EXPECT_EQ(sl.index(1.0), 2u);
  EXPECT_EQ(sl.index("1"), 3u);
}

TEST(ShareableList, IndexErrorsSayWhich) {
  ShareableList sl({1, 2});
  Unlink u{sl};
  try {
    (void)sl[2];
    FAIL();
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "ShareableList index out of range");
  }
  try {
    sl.set(-3, 0);
    FAIL();
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "ShareableList assignment index out of range");
  }
  try {
    (void)sl.index("x");
    FAIL();
  } catch (const concur::ValueError& e) {
    EXPECT_STREQ(e.what(), "'x' not in this container");
  }
}

TEST(ShareableList, ReprIsPythons) {
  // Python: repr(["it's", b'a\nb', -273.154, 100, None, True, 2.0, False, 'q\'"',
  //               b'\xff\x00', 'é'])
  const std::string name = unique_name("slrepr");
  ShareableList sl({"it's", shm::to_bytes("a\nb"), -273.154, 100, Item{}, true, 2.0, false, "q'\"",
                    shm::to_bytes(std::string_view("\xff\0", 2)), "\xc3\xa9"},
                   name);
  Unlink u{sl};
  EXPECT_EQ(sl.repr(),
            "ShareableList([\"it's\", b'a\\nb', -273.154, 100, None, True, 2.0, False, "
            "'q\\'\"', b'\\xff\\x00', '\xc3\xa9'], name='" +
                name + "')");
  std::ostringstream os;
  os << sl;
  EXPECT_EQ(os.str(), sl.repr());
}

TEST(ShareableList, AttachingToSomethingElseIsValueError) {
  SharedMemory other(std::nullopt, true, 64);
  std::memcpy(other.buf().data(), "not a list", 10);
  EXPECT_THROW(ShareableList(other.name()), concur::ValueError);
  std::memcpy(other.buf().data(), "CONCSL01", 8);
  reinterpret_cast<std::uint64_t*>(other.buf().data())[1] = 1000;  // too many slots
  EXPECT_THROW(ShareableList{other}, concur::ValueError);
  reinterpret_cast<std::uint64_t*>(other.buf().data())[1] = 1;
  reinterpret_cast<std::uint64_t*>(other.buf().data())[2] = 32;  // offsets[0] = 16 + 16
  reinterpret_cast<std::uint64_t*>(other.buf().data())[3] = 40;  // a slot smaller than 16
  EXPECT_THROW(ShareableList{other}, concur::ValueError);
  reinterpret_cast<std::uint64_t*>(other.buf().data())[3] = 48;
  ShareableList ok{other};
  EXPECT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0], Item{});  // zeroed tag: None
  other.unlink();
  EXPECT_THROW(ShareableList(unique_name("nolist")), concur::FileNotFoundError);
}

TEST(ShareableList, AfterCloseEveryAccessIsValueError) {
  ShareableList sl({1});
  Unlink u{sl};
  sl.shm().close();
  EXPECT_THROW((void)sl.size(), concur::ValueError);
  EXPECT_THROW((void)sl[0], concur::ValueError);
  EXPECT_THROW(sl.set(0, 1), concur::ValueError);
  EXPECT_THROW((void)sl.items(), concur::ValueError);
}

TEST(ShareableList, CrossesByNameAndDecodingAttaches) {
  static_assert(mp::Picklable<ShareableList>);
  ShareableList sl({1, "two"});
  const auto bytes = mp::dumps(sl);
  auto other = mp::loads<ShareableList>(bytes);
  EXPECT_EQ(other.shm().name(), sl.shm().name());
  other.set(0, 10);
  EXPECT_EQ(sl[0], Item(std::int64_t{10}));
  sl.shm().unlink();
  EXPECT_THROW((void)mp::loads<ShareableList>(bytes), concur::FileNotFoundError);
}

TEST(ShareableList, AForkedChildChangesTypesTheParentSees) {
  ShareableList sl({Item{}, 0, "abcdefg"});
  Unlink u{sl};
  const std::string name = sl.shm().name();
  ASSERT_EQ(shm_test::run_child([&] {
              ShareableList child(name);
              child.set(0, "now str");
              child.set(1, 2.5);
              child.set(-1, shm::to_bytes("bytes"));
              return 0;
            }),
            0);
  EXPECT_EQ(sl.items(), (std::vector<Item>{"now str", 2.5, shm::to_bytes("bytes")}));
}
