// Conformance: threading.Event (CHECKLISTS.md 2e). Every item applies; 2e.40's
// textual form is concur's repr() (Python's shape, ": set" / ": unset").
#include <gtest/gtest.h>

#include <atomic>

#include "concur/threading.hpp"
#include "threading/test_util.hpp"

namespace {

using namespace concur_test;
using concur::threading::Event;

// CHECKLISTS 2e.36
TEST(threading_Event, IsSetSetClear) {
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

// CHECKLISTS 2e.37
TEST(threading_Event, NotifyAllWaitersRepeatedly) {
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

// CHECKLISTS 2e.38
TEST(threading_Event, Timeouts) {
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

// CHECKLISTS 2e.39
TEST(threading_Event, SetThenClearStillWakesAll) {
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

// CHECKLISTS 2e.40
TEST(threading_Event, Repr) {
  Event e;
  const std::string unset = e.repr();
  EXPECT_EQ(unset.substr(unset.size() - 8), ": unset>") << unset;
  e.set();
  const std::string set = e.repr();
  EXPECT_EQ(set.substr(set.size() - 6), ": set>") << set;
}

}  // namespace
