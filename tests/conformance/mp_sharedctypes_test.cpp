// Conformance: Python's multiprocessing.sharedctypes (Value, Array, RawValue, RawArray) across
// processes (CPython's _test_multiprocessing._TestValue and _TestArray).
#include <gtest/gtest.h>

#include <mutex>
#include <numeric>
#include <type_traits>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "support/mp_process_child.hpp"

namespace mp = concur::multiprocessing;
using concur::testing::ProcessChild;
using namespace std::chrono_literals;

namespace {

// _TestValue.codes_values: (typecode, initial value, value the child writes).
//   'i' 25 -> 250, 'd' 3.625 -> -1.0, 'h' -232 -> 234, 'q' 2**33 -> 2**34, 'c' 'x' -> 'y'
template <template <class...> class V>
struct CodesValues {
  V<int> i{25};
  V<double> d{3.625};
  V<short> h{-232};
  V<long long> q{1LL << 33};
  V<char> c{'x'};
};
using Values = CodesValues<mp::Value>;
using RawValues = CodesValues<mp::RawValue>;

template <class V>
void check_codes(V& v) {
  EXPECT_EQ(v.i.value(), 25);
  EXPECT_EQ(v.d.value(), 3.625);
  EXPECT_EQ(v.h.value(), -232);
  EXPECT_EQ(v.q.value(), 1LL << 33);
  EXPECT_EQ(v.c.value(), 'x');
  ProcessChild child([&] {
    v.i.set(250);
    v.d.set(-1.0);
    v.h.set(234);
    v.q.set(1LL << 34);
    v.c.set('y');
    return 0;
  });
  EXPECT_EQ(child.join(), 0);
  EXPECT_EQ(v.i.value(), 250);
  EXPECT_EQ(v.d.value(), -1.0);
  EXPECT_EQ(v.h.value(), 234);
  EXPECT_EQ(v.q.value(), 1LL << 34);
  EXPECT_EQ(v.c.value(), 'y');
}

template <class T>
concept HasLockAccessors = requires(T v) {
  v.get_lock();
  v.get_obj();
};

}  // namespace

// CPython _test_multiprocessing._TestValue.test_value, test_rawvalue: Value for codes i, d, h, q, c
// reads back its initial value; a child's writes are visible to the parent after join().
TEST(Value, CodesInitialValuesAndChildWrites) {
  Values v;
  check_codes(v);
}

// CPython _test_multiprocessing._TestValue.test_value, test_rawvalue: RawValue behaves the same.
TEST(Value, RawValueTheSame) {
  RawValues v;
  check_codes(v);
}

// CPython _test_multiprocessing._TestValue.test_getobj_getlock: the default lock gives
// get_lock()/get_obj(); lock=None also gives a lock (the same default in C++); a supplied lock is
// what get_lock() returns; lock=False (RawValue) has no lock accessors; an invalid lock argument is
// rejected (at compile time here).
TEST(Value, GetLockGetObj) {
  mp::Value<int> v(1);
  EXPECT_TRUE(v.get_lock().acquire());
  v.get_obj() = 5;
  v.get_lock().release();
  EXPECT_EQ(v.value(), 5);
  static_assert(std::is_same_v<decltype(v.get_lock()), mp::RLock&>);
  static_assert(std::is_same_v<decltype(v.get_obj()), int&>);

  mp::RLock rlock;
  mp::Value<int> with_rlock(0, rlock);
  EXPECT_TRUE(with_rlock.get_lock() == rlock);
  mp::Lock lock;
  mp::Value<int, mp::Lock> with_lock(0, lock);
  EXPECT_TRUE(with_lock.get_lock() == lock);

  static_assert(HasLockAccessors<mp::Value<int>>);
  static_assert(!HasLockAccessors<mp::RawValue<int>>);
  static_assert(!std::is_constructible_v<mp::Value<int>, int, mp::Semaphore>);
  static_assert(!std::is_constructible_v<mp::Value<int>, int, int>);
}

// CPython _test_multiprocessing._TestArray.test_array, test_rawarray, test_getobj_getlock_obj:
// Array('i', seq): len, indexing, slicing and slice assignment like a list; a child's in-place
// prefix sum is visible to the parent.
TEST(Array, ListLikeAndChildPrefixSum) {
  const std::vector<int> seq{680, 626, 934, 821, 150, 233, 548, 982, 714, 831};
  mp::Array<int> arr(seq);
  EXPECT_EQ(arr.size(), seq.size());
  EXPECT_EQ(arr.get(3), seq[3]);
  EXPECT_EQ(arr.slice(2, 7), std::vector<int>(seq.begin() + 2, seq.begin() + 7));
  arr.set_slice(4, {0, 0, 0});  // arr[4:7] = [0, 0, 0]
  std::vector<int> expected = seq;
  expected[4] = expected[5] = expected[6] = 0;
  EXPECT_EQ(arr.to_vector(), expected);
  arr.set_slice(4, std::span<const int>(seq.data() + 4, 3));
  EXPECT_EQ(arr.to_vector(), seq);

  ProcessChild child([&] {
    for (std::size_t i = 1; i < arr.size(); ++i) arr[i] += arr[i - 1];
    return 0;
  });
  EXPECT_EQ(child.join(), 0);
  std::vector<int> prefix(seq.size());
  std::partial_sum(seq.begin(), seq.end(), prefix.begin());
  EXPECT_EQ(arr.to_vector(), prefix);
}

// CPython _test_multiprocessing._TestArray.test_array, test_rawarray, test_getobj_getlock_obj:
// RawArray behaves the same; the lock options match
// _test_multiprocessing._TestValue.test_getobj_getlock.
TEST(Array, RawArrayAndLockOptions) {
  const std::vector<int> seq{3, 1, 4, 1, 5};
  mp::RawArray<int> raw(seq);
  EXPECT_EQ(raw.size(), 5u);
  EXPECT_EQ(raw.get(-1), 5);
  EXPECT_EQ(std::vector<int>(raw.slice(1, 3).begin(), raw.slice(1, 3).end()),
            (std::vector<int>{1, 4}));
  ProcessChild child([&] {
    for (std::size_t i = 1; i < raw.size(); ++i) raw[i] += raw[i - 1];
    return 0;
  });
  EXPECT_EQ(child.join(), 0);
  EXPECT_EQ(raw.to_vector(), (std::vector<int>{3, 4, 8, 9, 14}));

  static_assert(HasLockAccessors<mp::Array<int>>);
  static_assert(!HasLockAccessors<mp::RawArray<int>>);
  mp::Lock lock;
  mp::Array<int, mp::Lock> with_lock(seq, lock);
  EXPECT_TRUE(with_lock.get_lock() == lock);
  EXPECT_EQ(with_lock.get_obj().size(), 5u);
  static_assert(!std::is_constructible_v<mp::Array<int>, std::size_t, mp::Event>);
}

// CPython _test_multiprocessing._TestArray.test_array_from_size: Array('i', 10) created repeatedly
// starts all zeros every time.
TEST(Array, FromSizeIsZeroFilled) {
  for (int round = 0; round < 50; ++round) {
    mp::Array<int> arr(10);
    for (int x : arr.to_vector()) ASSERT_EQ(x, 0);
    for (auto& x : arr.get_obj()) x = round + 1;  // dirty it before the next one
  }
  for (int round = 0; round < 50; ++round) {
    mp::RawArray<double> raw(10);
    for (double x : raw) ASSERT_EQ(x, 0.0);
    for (auto& x : raw) x = 1.0;
  }
}

// ---- passed as Process arguments under spawn and forkserver (their fds cross) --------------

class SharedCtypesAcrossProcesses : public ::testing::TestWithParam<const char*> {
 protected:
  [[nodiscard]] const mp::Context& ctx() const { return mp::get_context(GetParam()); }
};

// CPython _test_multiprocessing._TestValue.test_value, test_rawvalue: Values (and a RawValue)
// passed to a child: its writes are seen here after join().
TEST_P(SharedCtypesAcrossProcesses, ValuesAsProcessArguments) {
  mp::Value<int> i(25);
  mp::Value<double, mp::Lock> d(3.625, mp::Lock());
  mp::RawValue<char> c('x');
  auto p = ctx().Process(
      [](mp::Value<int> vi, mp::Value<double, mp::Lock> vd, mp::RawValue<char> vc) {
        if (vi.value() != 25 || vd.value() != 3.625 || vc.value() != 'x') mp::exit(2);
        vi.set(250);
        vd.set(-1.0);
        vc.set('y');
      },
      i, d, c);
  p.start();
  ASSERT_TRUE(p.join(30s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(i.value(), 250);
  EXPECT_EQ(d.value(), -1.0);
  EXPECT_EQ(c.value(), 'y');
}

// CPython _test_multiprocessing._TestArray.test_array, test_rawarray, test_getobj_getlock_obj: an
// Array and a RawArray passed to a child: its in-place prefix sums are seen here; the child sees
// the parent's lock as the array's lock.
TEST_P(SharedCtypesAcrossProcesses, ArraysAsProcessArguments) {
  mp::Array<int> arr({1, 2, 3, 4, 5});
  mp::RawArray<long long> raw({10, 20, 30});
  auto p = ctx().Process(
      [](mp::Array<int> a, mp::RawArray<long long> r) {
        std::scoped_lock g(a.get_lock());
        for (std::size_t k = 1; k < a.size(); ++k) a[k] += a[k - 1];
        for (std::size_t k = 1; k < r.size(); ++k) r[k] += r[k - 1];
      },
      arr, raw);
  p.start();
  ASSERT_TRUE(p.join(30s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(arr.to_vector(), (std::vector<int>{1, 3, 6, 10, 15}));
  EXPECT_EQ(raw.to_vector(), (std::vector<long long>{10, 30, 60}));
}

INSTANTIATE_TEST_SUITE_P(Methods, SharedCtypesAcrossProcesses,
                         ::testing::Values("spawn", "forkserver"),
                         [](const auto& p) { return std::string(p.param); });
