// MapResult: the range Executor::map returns, chunked and not. Results in order, next() and
// iterators sharing one position (also across chunk boundaries), a throw reported at its
// chunk, a range moved while started, results of type bool (std::vector<bool> chunks), the
// current result of an iterator kept while next() loads a chunk, random-access inputs copied
// a chunk at a time; list() (Python's list(executor.map(...))): every result in one vector,
// the rest after some were taken, the first failure in input order, the timeout; a slab map
// (a thread pool's chunked map whose results take their items' places) copies its inputs at
// map() and holds no reference to the caller's range.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concur/futures.hpp>
#include <deque>
#include <list>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/timing.hpp"

namespace cf = concur::futures;
using namespace std::chrono_literals;

namespace {

int twice(int x) { return 2 * x; }

class MapResultChunks : public ::testing::TestWithParam<long> {};
INSTANTIATE_TEST_SUITE_P(Chunksizes, MapResultChunks, ::testing::Values(1L, 3L, 7L, 100L));

TEST_P(MapResultChunks, ResultsInOrderFromSizedAndUnsizedRanges) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(50);
  std::iota(xs.begin(), xs.end(), 0);
  const std::list<int> ys(xs.begin(), xs.end());  // no random access: element by element
  std::vector<int> got, got_list;
  for (int r : pool.map({.chunksize = GetParam()}, twice, xs)) got.push_back(r);
  for (int r : pool.map({.chunksize = GetParam()}, twice, ys)) got_list.push_back(r);
  std::vector<int> want(xs.size());
  std::transform(xs.begin(), xs.end(), want.begin(), twice);
  EXPECT_EQ(got, want);
  EXPECT_EQ(got_list, want);
}

TEST_P(MapResultChunks, NextAndIteratorShareOnePosition) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(20);
  std::iota(xs.begin(), xs.end(), 0);
  auto r = pool.map({.chunksize = GetParam()}, twice, xs);
  std::vector<int> got;
  auto it = r.begin();
  while (it != std::default_sentinel) {
    got.push_back(*it);
    if (auto v = r.next()) got.push_back(*v);  // every other result through next()
    ++it;
  }
  std::vector<int> want(xs.size());
  std::transform(xs.begin(), xs.end(), want.begin(), twice);
  EXPECT_EQ(got, want);
  EXPECT_EQ(r.next(), std::nullopt);
}

TEST_P(MapResultChunks, ThrowAtItsChunkThenOver) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(30);
  std::iota(xs.begin(), xs.end(), 0);
  auto r = pool.map(
      {.chunksize = GetParam()},
      [](int x) {
        if (x == 17) throw std::domain_error("17");
        return x;
      },
      xs);
  // Every result before the failing call's chunk comes out; then its exception.
  const long first_of_chunk = 17 / GetParam() * GetParam();
  std::vector<int> got;
  EXPECT_THROW(
      {
        for (int v : r) got.push_back(v);
      },
      std::domain_error);
  ASSERT_EQ(static_cast<long>(got.size()), first_of_chunk);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<int>(i));
  EXPECT_EQ(r.next(), std::nullopt);
}

TEST_P(MapResultChunks, MovedWhileStarted) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<std::string> xs;
  for (int i = 0; i < 25; ++i) xs.push_back(std::to_string(i));
  auto a = pool.map(
      {.chunksize = GetParam()}, [](std::string s) { return s + "!"; }, xs);
  std::vector<std::string> got;
  got.push_back(*a.next());
  got.push_back(*a.next());
  auto b = std::move(a);
  for (auto& s : b) got.push_back(std::move(s));
  ASSERT_EQ(got.size(), xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(got[i], xs[i] + "!");
}

TEST_P(MapResultChunks, BoolResults) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(40);
  std::iota(xs.begin(), xs.end(), 0);
  std::vector<bool> got;
  for (bool b : pool.map(
           {.chunksize = GetParam()}, [](int x) { return x % 3 == 0; }, xs))
    got.push_back(b);
  ASSERT_EQ(got.size(), xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(got[i], i % 3 == 0);
}

TEST_P(MapResultChunks, CurrentResultOutlivesANextThatLoadsAChunk) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<std::string> xs;
  for (int i = 0; i < 23; ++i) xs.push_back(std::string(40, static_cast<char>('a' + i)));
  auto r = pool.map(
      {.chunksize = GetParam()}, [](std::string s) { return s; }, xs);
  std::vector<std::string> got;
  for (auto it = r.begin(); it != std::default_sentinel; ++it) {
    const std::string& current = *it;
    auto following = r.next();  // may load the next chunk: `current` stays readable
    got.push_back(current);
    if (following) got.push_back(std::move(*following));
  }
  EXPECT_EQ(got, xs);
}

TEST_P(MapResultChunks, RandomAccessRangesInWholeChunks) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::deque<int> xs(61);  // random access, not contiguous; 61 splits unevenly
  std::iota(xs.begin(), xs.end(), 0);
  std::vector<int> got;
  for (int v : pool.map({.chunksize = GetParam()}, twice, xs)) got.push_back(v);
  ASSERT_EQ(got.size(), xs.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], 2 * xs[i]);
  got.clear();
  for (int v : pool.map({.chunksize = GetParam()}, twice, std::vector<int>{5, 6, 7}))
    got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{10, 12, 14}));
}

class MapResultList : public ::testing::TestWithParam<long> {};
INSTANTIATE_TEST_SUITE_P(Chunksizes, MapResultList, ::testing::Values(1L, 3L, 7L, 100L));

TEST_P(MapResultList, EveryResultInOrder) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(50);
  std::iota(xs.begin(), xs.end(), 0);
  std::vector<int> want(xs.size());
  std::transform(xs.begin(), xs.end(), want.begin(), twice);
  const long c = GetParam();
  // int -> int (a slab map when chunked), int -> string (chunks of their own), a range
  // without random access, bool results (std::vector<bool>), no input at all.
  EXPECT_EQ(pool.map({.chunksize = c}, twice, xs).list(), want);
  std::vector<std::string> want_strings;
  for (int x : xs) want_strings.push_back(std::to_string(x));
  EXPECT_EQ(pool.map(
                    {.chunksize = c}, [](int x) { return std::to_string(x); }, xs)
                .list(),
            want_strings);
  const std::list<int> ys(xs.begin(), xs.end());
  EXPECT_EQ(pool.map({.chunksize = c}, twice, ys).list(), want);
  const std::vector<bool> odd = pool.map(
                                        {.chunksize = c}, [](int x) { return x % 2 == 1; }, xs)
                                    .list();
  ASSERT_EQ(odd.size(), xs.size());
  for (std::size_t i = 0; i < odd.size(); ++i) EXPECT_EQ(odd[i], i % 2 == 1);
  EXPECT_TRUE(pool.map({.chunksize = c}, twice, std::vector<int>{}).list().empty());
}

TEST_P(MapResultList, TheRestAfterSomeWereTaken) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(30);
  std::iota(xs.begin(), xs.end(), 0);
  auto r = pool.map({.chunksize = GetParam()}, twice, xs);
  EXPECT_EQ(r.next(), 0);
  auto it = r.begin();  // takes the second result
  EXPECT_EQ(*it, 2);
  std::vector<int> want;
  for (int x = 2; x < 30; ++x) want.push_back(2 * x);
  EXPECT_EQ(r.list(), want);
  EXPECT_EQ(r.next(), std::nullopt);
  EXPECT_TRUE(r.list().empty());
}

TEST_P(MapResultList, ThrowsTheFirstFailureInInputOrderThenOver) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(40);
  std::iota(xs.begin(), xs.end(), 0);
  auto r = pool.map(
      {.chunksize = GetParam()},
      [](int x) {
        if (x == 31) throw std::domain_error("31");
        if (x == 12) throw std::domain_error("12");
        return x;
      },
      xs);
  try {
    (void)r.list();
    ADD_FAILURE() << "list() returned";
  } catch (const std::domain_error& e) {
    EXPECT_STREQ(e.what(), "12");
  }
  EXPECT_EQ(r.next(), std::nullopt);
  EXPECT_TRUE(r.list().empty());
}

TEST_P(MapResultList, TimeoutThrowsAndCancelsTheCallsNotStarted) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  std::atomic<bool> release{false};
  std::atomic<int> ran{0};
  std::vector<int> xs(40);
  std::iota(xs.begin(), xs.end(), 0);
  auto r = pool.map(
      {.timeout = concur::testing::kT, .chunksize = GetParam()},
      [&](int x) {
        ++ran;
        // The first call holds the only worker, bounded: a test never hangs.
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (x == 0 && !release && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(1ms);
        return x;
      },
      xs);
  concur::testing::expect_takes_about(concur::testing::kT,
                                      [&] { EXPECT_THROW((void)r.list(), cf::TimeoutError); });
  release = true;
  pool.shutdown(true);
  EXPECT_LE(ran.load(), GetParam());  // the first task's calls ran; the rest were cancelled
  EXPECT_EQ(r.next(), std::nullopt);
}

TEST(MapSlab, InputsAreCopiedAtMapAndTheRangeMayGoAtOnce) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(1000);
  std::iota(xs.begin(), xs.end(), 0);
  auto r = pool.map({.chunksize = 64}, twice, xs);
  std::fill(xs.begin(), xs.end(), -1);  // after map(): the calls see the copies
  xs = std::vector<int>();
  auto t = pool.map({.chunksize = 64}, twice, std::vector<int>(1000, 7));  // a temporary
  std::vector<int> got;
  for (int v : r) got.push_back(v);
  ASSERT_EQ(got.size(), 1000U);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], 2 * static_cast<int>(i));
  EXPECT_EQ(t.list(), std::vector<int>(1000, 14));
}

TEST(MapSlab, ResultsMoveOutItemByItemAndWhole) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<std::string> xs;
  for (int i = 0; i < 77; ++i) xs.push_back(std::string(30, static_cast<char>('a' + i % 26)));
  auto shout = [](std::string s) { return s + "!"; };
  auto r = pool.map({.chunksize = 10}, shout, xs);
  std::vector<std::string> got;
  for (int i = 0; i < 25; ++i) got.push_back(*r.next());  // across two chunk boundaries
  for (auto& s : r.list()) got.push_back(std::move(s));
  ASSERT_EQ(got.size(), xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(got[i], xs[i] + "!");
  EXPECT_EQ(xs[0], std::string(30, 'a'));  // the caller's strings were copied, not moved
}

}  // namespace
