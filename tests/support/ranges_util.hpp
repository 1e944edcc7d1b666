// Ranges for tests of map over endless or generated inputs. Internal to the tests.
//
// Generated(f) is std::views::iota(0) | std::views::transform(f), and Generated(f, n) stops
// after n values, written out because clang 14 (what tools/check_tidy.sh runs) cannot compile
// libstdc++ 12's views. Its iterator calls f once per dereference; the sentinel is a
// separate type, so the range is not sized (as an iota without a bound, or a take_while).
#pragma once

#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>

namespace concur::testing {

template <class F, class T = int>
class Generated {
 public:
  struct sentinel {};
  class iterator {
   public:
    using value_type = std::decay_t<std::invoke_result_t<F&, T>>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const Generated* g, T i) : g_(g), i_(i) {}
    value_type operator*() const { return g_->f_(i_); }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    void operator++(int) { ++i_; }
    friend bool operator==(const iterator& it, sentinel /*unused*/) { return it.at_end(); }

   private:
    [[nodiscard]] bool at_end() const { return g_->stop_ && i_ >= *g_->stop_; }
    const Generated* g_ = nullptr;
    T i_{};
  };

  explicit Generated(F f, std::optional<T> stop = std::nullopt) : f_(std::move(f)), stop_(stop) {}
  [[nodiscard]] iterator begin() const { return iterator(this, T{}); }
  [[nodiscard]] sentinel end() const { return {}; }

 private:
  mutable F f_;
  std::optional<T> stop_;
};

/// 0, 1, 2, ... without end (std::views::iota(T{0})).
template <class T = int>
auto count_up(std::optional<T> stop = std::nullopt) {
  return Generated([](T i) { return i; }, stop);
}

}  // namespace concur::testing
