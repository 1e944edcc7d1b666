// Helpers shared by the threading tests (tests/threading and the threading_*
// conformance tests): bounded waiting, timing tolerance, thread groups.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "concur/threading.hpp"
#include "support/leak_check.hpp"
#include "support/timing.hpp"

namespace concur_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// The bound on every blocking call of a test that should not block long.
inline constexpr auto kBound = std::chrono::seconds(10);

using concur::testing::seconds_since;
/// A wait of T was right when it took >= 0.6·T and < 10·T (support/timing.hpp).
using concur::testing::expect_took;

/// Polls `pred` until it holds (at most kBound).
template <class Pred>
bool eventually(Pred pred) {
  return concur::testing::eventually(pred, std::chrono::milliseconds(10000));
}

/// Starts `n` concur Threads running fn(i); joined (bounded) by join_all() or
/// the destructor.
class Bunch {
 public:
  Bunch(int n, std::function<void(int)> fn) {
    for (int i = 0; i < n; ++i) {
      threads_.push_back(std::make_unique<concur::threading::Thread>(fn, i));
      threads_.back()->start();
    }
  }
  ~Bunch() { join_all(); }
  /// Joins every thread; false (and a test failure) if one is still alive after kBound.
  bool join_all() {
    bool ok = true;
    for (auto& t : threads_) {
      if (!t->join(kBound)) {
        ADD_FAILURE() << "a thread did not finish within the bound";
        ok = false;
      }
    }
    return ok;
  }
  int size() const { return static_cast<int>(threads_.size()); }
  concur::threading::Thread& operator[](int i) { return *threads_[static_cast<std::size_t>(i)]; }

 private:
  std::vector<std::unique_ptr<concur::threading::Thread>> threads_;
};

}  // namespace concur_test
