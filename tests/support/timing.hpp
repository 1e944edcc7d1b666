// Test helpers for timed waits. The rule (CPython's, lock_tests.BaseTestCase.assertTimeout): a wait
// of T is right when it took at least 0.6·T and less than 10·T.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <utility>

namespace concur::testing {

/// The usual T of a timed-wait test.
inline constexpr auto kT = std::chrono::milliseconds(100);

/// Seconds elapsed since `t0`.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// A wait of `t` was right when it `took` >= 0.6·t and < 10·t.
template <class R1, class P1, class R2, class P2>
void expect_took(std::chrono::duration<R1, P1> took, std::chrono::duration<R2, P2> t) {
  EXPECT_GE(took, t * 6 / 10) << "returned too early";
  EXPECT_LT(took, t * 10) << "returned too late";
}
/// The same in seconds.
inline void expect_took(double took, double t) {
  expect_took(std::chrono::duration<double>(took), std::chrono::duration<double>(t));
}

/// `f()` is a wait of `t`: it takes >= 0.6·t and < 10·t.
template <class F>
void expect_takes_about(std::chrono::milliseconds t, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  std::forward<F>(f)();
  expect_took(std::chrono::steady_clock::now() - start, t);
}

/// `f()` does not wait: it returns within `slack` (the test's allowance for scheduling).
template <class F>
void expect_immediate(std::chrono::milliseconds slack, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  std::forward<F>(f)();
  EXPECT_LT(std::chrono::steady_clock::now() - start, slack);
}

}  // namespace concur::testing
