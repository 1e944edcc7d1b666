#include "concur/timeout.hpp"

#include <gtest/gtest.h>

#include <chrono>

using namespace std::chrono_literals;

TEST(Timeout, DefaultIsForever) {
  concur::Timeout t;
  EXPECT_TRUE(t.is_forever());
  EXPECT_TRUE(concur::Timeout(concur::forever).is_forever());
}

TEST(Timeout, AnyDurationConverts) {
  EXPECT_EQ(concur::Timeout(50ms).duration(), 50ms);
  EXPECT_EQ(concur::Timeout(std::chrono::duration<double>(0.5)).duration(), 500ms);
  EXPECT_EQ(concur::Timeout(0s).duration(), 0ns);
}

TEST(Timeout, NegativeIsValueError) {
  EXPECT_THROW(concur::Timeout(-1ms), concur::ValueError);
  EXPECT_THROW(concur::Timeout(std::chrono::duration<double>(-0.1)), concur::ValueError);
}

TEST(Timeout, DeadlineRemainingNeverNegative) {
  concur::Deadline d{concur::Timeout(0ms)};
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.remaining(), 0ns);
  EXPECT_FALSE(concur::Deadline{}.expired());
}
