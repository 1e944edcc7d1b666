// Conformance: threading.Event (CPython's test_threading.EventTests, from Lib/test/lock_tests.py).
// Every test applies; test_repr's textual form is concur's repr() (Python's shape, ": set" / ":
// unset").
#include <gtest/gtest.h>

#include <atomic>

#include "concur/threading.hpp"
#include "support/threading_util.hpp"

namespace {

using namespace concur_test;
using concur::threading::Event;

// CPython test_threading.EventTests.test_is_set
TEST(Event, IsSetSetClear) {
  Event e;
  EXPECT_FALSE(e.is_set());
  e.set();
  EXPECT_TRUE(e.is_set());
  e.set();
  EXPECT_TRUE(e.is_set());
  e.clear();
  EXPECT_FALSE(e.is_set());
  e.clear();
  EXPECT_FALSE(e.is_set());
}

// CPython test_threading.EventTests.test_notify
TEST(Event, NotifyAllWaitersRepeatedly) {
  Event e;
  for (int round = 0; round < 2; ++round) {
    std::atomic<int> started{0}, returned{0}, true_results{0};
    Bunch b(5, [&](int) {
      ++started;
      if (e.wait(kBound)) ++true_results;
      if (e.wait(kBound)) ++true_results;  // set already: at once
      ++returned;
    });
    ASSERT_TRUE(eventually([&] { return started == 5; }));
    Event().wait(30ms);
    EXPECT_EQ(returned.load(), 0);
    e.set();
    b.join_all();
    EXPECT_EQ(true_results.load(), 10);
    e.clear();  // the same works again after clear()
  }
}

// CPython test_threading.EventTests.test_timeout
TEST(Event, Timeouts) {
  Event e;
  auto t0 = Clock::now();
  EXPECT_FALSE(e.wait(0s));
  EXPECT_LT(seconds_since(t0), 0.1);
  t0 = Clock::now();
  EXPECT_FALSE(e.wait(500ms));
  expect_took(seconds_since(t0), 0.5);
  e.set();
  t0 = Clock::now();
  EXPECT_TRUE(e.wait(5s));
  EXPECT_LT(seconds_since(t0), 0.1);
}

// CPython test_threading.EventTests.test_set_and_clear
TEST(Event, SetThenClearStillWakesAll) {
  Event e;
  std::atomic<int> started{0}, true_results{0};
  Bunch b(5, [&](int) {
    ++started;
    if (e.wait(kBound)) ++true_results;
  });
  ASSERT_TRUE(eventually([&] { return started == 5; }));
  Event().wait(100ms);  // let them block in wait() (CPython's test does the same)
  e.set();
  e.clear();
  b.join_all();
  EXPECT_EQ(true_results.load(), 5);
}

// CPython test_threading.EventTests.test_repr
TEST(Event, Repr) {
  Event e;
  const std::string unset = e.repr();
  EXPECT_EQ(unset.substr(unset.size() - 8), ": unset>") << unset;
  e.set();
  const std::string set = e.repr();
  EXPECT_EQ(set.substr(set.size() - 6), ": set>") << set;
}

}  // namespace
