// Implementation tests of Value/Array/RawValue/RawArray (sharedctypes.hpp): layout, bad input,
// handles, robustness of the value's lock, load across processes.
#include "concur/multiprocessing/sharedctypes.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <list>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "multiprocessing/fork_child.hpp"
#include "multiprocessing/handle_crossing.hpp"
#include "multiprocessing/handles.hpp"

namespace mp = concur::multiprocessing;
using concur::testing::cross;
using concur::testing::expect_decode_fails;
using concur::testing::ForkChild;
using concur::testing::kill_while_holding;
using namespace std::chrono_literals;

namespace {

struct Point {
  double x, y;
  int tag;
};

}  // namespace

static_assert(mp::Picklable<mp::Value<int>>);
static_assert(mp::Picklable<mp::Value<double, mp::Lock>>);
static_assert(mp::Picklable<mp::RawValue<char>>);
static_assert(mp::Picklable<mp::Array<int>>);
static_assert(mp::Picklable<mp::RawArray<long long>>);
static_assert(std::ranges::contiguous_range<mp::RawArray<int>>);

TEST(Value, StructsAndAlignment) {
  mp::Value<Point> p(Point{1.5, -2.0, 7});
  EXPECT_EQ(p.value().tag, 7);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&p.get_obj()) % alignof(Point), 0u);
  struct alignas(128) Wide {
    char c;
  };
  mp::Value<Wide> w;
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&w.get_obj()) % 128, 0u);
  mp::Array<std::array<short, 3>> a(4);
  EXPECT_EQ(a.get(3)[2], 0);
}

TEST(Value, TheDefaultLockIsAnRLockInTheSameBlock) {
  mp::Value<int> v(5);
  std::vector<int> fds;
  auto w = cross(v, &fds);
  EXPECT_EQ(fds.size(), 1u);  // value and lock: one fd
  {
    std::scoped_lock g(v.get_lock());
    EXPECT_TRUE(w.get_lock().is_owned());
    v.set(v.value() + 1);  // re-entrant: value()/set() take the RLock again
  }
  EXPECT_EQ(w.value(), 6);
}

TEST(Value, ASuppliedPlainLockMakesNestedAccessADeadlockError) {
  mp::Lock lock;
  mp::Value<int, mp::Lock> v(1, lock);
  EXPECT_TRUE(v.get_lock() == lock);
  std::scoped_lock g(lock);
  EXPECT_THROW((void)v.value(), concur::RuntimeError);  // Python would hang
  v.get_obj() += 1;
  EXPECT_EQ(v.get_obj(), 2);
}

TEST(Value, DecodingAsAnotherTypeIsValueError) {
  mp::RawValue<int> i(1);
  expect_decode_fails<mp::RawValue<double>>(i);
  expect_decode_fails<mp::RawArray<int>>(i);
  mp::Value<int> v(1);
  expect_decode_fails<mp::Value<int, mp::Lock>>(v);  // its lock is an RLock
}

TEST(Value, OnAQueueIsARuntimeErrorNamingInheritance) {
  mp::Value<int> v(1);
  mp::Buffer bytes;
  try {
    mp::encode(bytes, v);
    FAIL();
  } catch (const concur::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("should only be shared between processes through "
                                         "inheritance"),
              std::string::npos);
  }
}

TEST(Value, ASigkilledHolderOfTheValuesLock) {
  mp::Value<long> v(0);
  ASSERT_NO_FATAL_FAILURE(kill_while_holding([&] {
    v.get_lock().acquire();
    v.get_obj() = 41;  // half-way through an update
  }));
  ASSERT_TRUE(v.get_lock().acquire(5s));
  EXPECT_TRUE(v.get_lock().owner_died());
  v.get_obj() = 42;  // repair
  v.get_lock().release();
  EXPECT_EQ(v.value(), 42);  // the lock works normally again
}

TEST(Value, LoadSeveralProcessesIncrementUnderTheLockExactCount) {
  mp::Value<long> v(0);
  constexpr int kProcs = 4;
  constexpr int kIters = 5000;
  std::vector<std::unique_ptr<ForkChild>> kids;
  kids.reserve(kProcs);
  for (int p = 0; p < kProcs; ++p) {
    kids.push_back(std::make_unique<ForkChild>([&] {
      for (int i = 0; i < kIters; ++i) {
        std::scoped_lock g(v.get_lock());
        v.get_obj() += 1;
      }
      return 0;
    }));
  }
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_EQ(v.value(), kProcs * kIters);
}

TEST(Array, IndexingSlicingAndBounds) {
  mp::Array<int> a({0, 1, 2, 3, 4, 5});
  EXPECT_EQ(a.size(), 6u);
  EXPECT_EQ(a.get(-1), 5);
  EXPECT_EQ(a.get(0), 0);
  EXPECT_THROW((void)a.get(6), std::out_of_range);
  EXPECT_THROW((void)a.get(-7), std::out_of_range);
  EXPECT_THROW(a.set(6, 1), std::out_of_range);
  EXPECT_EQ(a.slice(1, 4), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(a.slice(-2, 100), (std::vector<int>{4, 5}));
  EXPECT_EQ(a.slice(4, 2), std::vector<int>{});
  a.set_slice(4, {40, 50});
  EXPECT_THROW(a.set_slice(5, {1, 2}), concur::ValueError);
  EXPECT_EQ(a.to_vector(), (std::vector<int>{0, 1, 2, 3, 40, 50}));
  int sum = 0;
  for (int x : a) sum += x;
  EXPECT_EQ(sum, 96);
}

TEST(Array, FromRangesAndSizes) {
  std::list<short> l{3, 2, 1};
  mp::Array<short> a(l);
  EXPECT_EQ(a.to_vector(), (std::vector<short>{3, 2, 1}));
  mp::Array<int> ten(10);
  EXPECT_EQ(ten.size(), 10u);
  mp::Array<int> one{10};  // the std::vector pitfall, documented
  EXPECT_EQ(one.size(), 1u);
  mp::RawArray<double> r(std::vector<double>{0.5, 1.5});
  EXPECT_EQ(r.get(1), 1.5);
  auto s = r.slice(0, 1);
  s[0] = 9.0;  // a RawArray slice is a view
  EXPECT_EQ(r[0], 9.0);
  mp::Array<int> empty(std::size_t{0});
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(cross(empty).size(), 0u);
}

TEST(Array, ASuppliedLockIsShared) {
  mp::RLock lock;
  mp::Array<int> a(3, lock);
  mp::Value<int> v(0, lock);
  EXPECT_TRUE(a.get_lock() == v.get_lock());
  std::vector<int> fds;
  auto b = cross(a, &fds);
  EXPECT_EQ(fds.size(), 2u);  // the array's block and the lock's
  std::scoped_lock g(b.get_lock());
  EXPECT_TRUE(lock.is_owned());
}

TEST(Array, AChildsWritesAreSeenAfterItExits) {
  mp::Array<int> a(100);
  ForkChild child([&] {
    for (std::size_t i = 0; i < a.size(); ++i) a.set(static_cast<std::ptrdiff_t>(i), int(i) * 2);
    return 0;
  });
  EXPECT_EQ(child.join(), 0);
  const auto v = a.to_vector();
  for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], int(i) * 2);
}
