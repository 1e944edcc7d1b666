// Conformance: Executor.map's buffersize (Python 3.14), on every executor: ThreadPoolExecutor,
// InterpreterPoolExecutor and ProcessPoolExecutor (the last through Executor::map). Follows
// CPython 3.14's Lib/test/test_concurrent_futures/executor.py (ExecutorTest.test_map_buffersize*);
// each test names the CPython test it follows. Not applicable:
// test_map_buffersize_type_validation (a non-integer buffersize does not compile) and
// test_map_buffersize_without_iterable (map needs at least one range here).
#include <gtest/gtest.h>

#include <atomic>
#include <concur/futures.hpp>
#include <ranges>
#include <string>
#include <vector>

#include "support/ranges_util.hpp"

using namespace std::chrono_literals;
namespace cf = concur::futures;

namespace {

int twice(int x) { return 2 * x; }
int add(int x, int y) { return x + y; }
CONCUR_REGISTER(twice);
CONCUR_REGISTER(add);

// Each check runs on a fresh pool of each kind.
template <class Check>
void on_every_executor(Check check) {
  {
    SCOPED_TRACE("ThreadPoolExecutor");
    cf::ThreadPoolExecutor pool({.max_workers = 2});
    check(pool);
  }
  {
    SCOPED_TRACE("InterpreterPoolExecutor");
    cf::InterpreterPoolExecutor<> pool({.max_workers = 2});
    check(pool);
  }
  {
    SCOPED_TRACE("ProcessPoolExecutor");
    cf::ProcessPoolExecutor pool({.max_workers = 2});
    check(static_cast<cf::Executor&>(pool));
  }
}

template <class R>
std::vector<int> all(R&& results) {
  std::vector<int> out;
  for (int r : results) out.push_back(r);
  return out;
}

}  // namespace

// CPython test_concurrent_futures.executor.ExecutorTest.test_map_buffersize_value_validation
TEST(ExecutorMapBuffersize, ZeroOrNegativeIsValueError) {
  on_every_executor([](auto& pool) {
    std::vector<int> xs{0, 1, 2, 3};
    for (long b : {0L, -1L}) {
      try {
        (void)pool.map({.buffersize = b}, twice, xs);
        ADD_FAILURE() << "no ValueError for " << b;
      } catch (const concur::ValueError& e) {
        EXPECT_STREQ(e.what(), "buffersize must be None or > 0");
      }
    }
  });
}

// CPython test_concurrent_futures.executor.ExecutorTest.test_map_buffersize (and with a
// chunksize, where buffersize counts chunks, as CPython's ProcessPoolExecutor.map)
TEST(ExecutorMapBuffersize, ResultsInOrder) {
  on_every_executor([](auto& pool) {
    std::vector<int> xs{0, 1, 2, 3};
    for (long b : {1L, 2L, 4L, 8L}) {
      EXPECT_EQ(all(pool.map({.timeout = 10s, .buffersize = b}, twice, xs)),
                (std::vector<int>{0, 2, 4, 6}));
      EXPECT_EQ(all(pool.map({.timeout = 10s, .chunksize = 3, .buffersize = b}, twice, xs)),
                (std::vector<int>{0, 2, 4, 6}));
    }
  });
}

// CPython test_concurrent_futures.executor.ExecutorTest.test_map_buffersize_on_multiple_iterables
TEST(ExecutorMapBuffersize, MultipleRanges) {
  on_every_executor([](auto& pool) {
    std::vector<int> xs{0, 1, 2, 3};
    for (long b : {1L, 2L, 4L, 8L})
      EXPECT_EQ(all(pool.map({.timeout = 10s, .buffersize = b}, add, xs, xs)),
                (std::vector<int>{0, 2, 4, 6}));
  });
}

// CPython test_concurrent_futures.executor.ExecutorTest.test_map_buffersize_on_infinite_iterable
TEST(ExecutorMapBuffersize, EndlessRange) {
  on_every_executor([](auto& pool) {
    auto r = pool.map({.timeout = 10s, .buffersize = 2}, twice, concur::testing::count_up<int>());
    EXPECT_EQ(r.next(), 0);
    EXPECT_EQ(r.next(), 2);
    EXPECT_EQ(r.next(), 4);
  });
}

// CPython test_concurrent_futures.executor.ExecutorTest
// .test_map_buffersize_on_multiple_infinite_iterables
TEST(ExecutorMapBuffersize, MultipleEndlessRanges) {
  on_every_executor([](auto& pool) {
    auto r = pool.map({.timeout = 10s, .buffersize = 2}, add, concur::testing::count_up<int>(),
                      concur::testing::count_up<int>());
    EXPECT_EQ(r.next(), 0);
    EXPECT_EQ(r.next(), 2);
    EXPECT_EQ(r.next(), 4);
  });
}

// CPython test_concurrent_futures.executor.ExecutorTest.test_map_buffersize_on_empty_iterable
TEST(ExecutorMapBuffersize, EmptyRange) {
  on_every_executor([](auto& pool) {
    std::vector<int> none;
    auto r = pool.map({.timeout = 10s, .buffersize = 2}, twice, none);
    EXPECT_EQ(r.next(), std::nullopt);
  });
}

// CPython test_concurrent_futures.executor.ExecutorTest.test_map_buffersize_when_buffer_is_full:
// a map never iterated takes only buffersize elements from its input
TEST(ExecutorMapBuffersize, TakesOnlyBuffersizeInputsAhead) {
  on_every_executor([](auto& pool) {
    std::atomic<int> taken{0};
    auto counted = concur::testing::Generated(
        [&taken](int x) {
          ++taken;
          return x;
        },
        std::optional<int>(4));
    {
      auto r = pool.map({.timeout = 10s, .buffersize = 2}, twice, counted);
      (void)r;
    }
    EXPECT_EQ(taken.load(), 2);
  });
}
