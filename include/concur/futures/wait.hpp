// concur/futures/wait.hpp: wait() and as_completed() over many futures.
//
// Both take any range of futures: Future<T> of one type (you get Future<T>
// back), or AnyFuture (you get AnyFuture back) to mix value types; futures may
// come from different executors or from none. A future listed twice counts
// once. Both count a future as completed when it is FINISHED or
// CANCELLED_AND_NOTIFIED (a CANCELLED future an executor has not yet seen is
// not completed yet, as in CPython).
//
//   auto [done, not_done] = wait(futures, 2s, FIRST_COMPLETED);
//   for (auto& f : as_completed(futures, 10s)) use(f.result());
//   wait({AnyFuture(f_int), AnyFuture(f_string)});
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <optional>
#include <ranges>
#include <type_traits>
#include <vector>

#include "concur/futures/detail/multi_waiter.hpp"
#include "concur/futures/future.hpp"

namespace concur::futures {

enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

/// What wait() returns. Python parity: Python returns two sets; these are
/// vectors without duplicates, in the order of the input.
template <class F>
struct DoneAndNotDone {
  std::vector<F> done;
  std::vector<F> not_done;
};

/// A range of futures (Future<T> or AnyFuture): what wait() and as_completed()
/// use of each element (copied out of the range, checked with valid(), known by
/// state_ptr(), reset to an empty handle once yielded).
template <class R>
concept FutureRange = std::ranges::input_range<R> &&
    std::convertible_to<std::ranges::range_value_t<R>, AnyFuture> &&
    std::constructible_from<std::remove_cvref_t<std::ranges::range_value_t<R>>,
                            std::ranges::range_reference_t<R>> &&
    std::constructible_from<std::remove_cvref_t<std::ranges::range_value_t<R>>, std::nullptr_t> &&
    requires(const std::ranges::range_value_t<R>& f) {
  { f.valid() } -> std::convertible_to<bool>;
  { f.state_ptr() } -> std::convertible_to<const concur::futures::detail::StateBase*>;
};

namespace detail {
/// Distinct futures of a range, in first-seen order.
template <class F, class R>
std::vector<F> unique_futures(R&& fs) {
  std::vector<F> all;
  if constexpr (std::ranges::sized_range<R>) all.reserve(std::ranges::size(fs));
  std::vector<concur::futures::detail::StateBase*> states;
  for (auto&& f : fs) {
    if (!f.valid()) throw ValueError("wait/as_completed got an empty future handle");
    states.push_back(f.state_ptr());
    all.push_back(f);
  }
  const std::vector<std::size_t> keep = concur::futures::detail::first_occurrences(states);
  if (keep.size() == all.size()) return all;
  std::vector<F> out;
  out.reserve(keep.size());
  for (std::size_t i : keep) out.push_back(std::move(all[i]));
  return out;
}
template <class F>
std::vector<concur::futures::detail::StateBase*> states_of(const std::vector<F>& fs) {
  std::vector<concur::futures::detail::StateBase*> out;
  out.reserve(fs.size());
  for (const auto& f : fs) out.push_back(f.state_ptr());
  return out;
}
}  // namespace detail

/// Blocks until `return_when` holds or `timeout` passes, then returns which
/// futures are completed. Never throws on timeout (Python parity): what is not
/// completed is in .not_done. FIRST_EXCEPTION returns when a future finishes
/// with an exception, or when all are completed. ValueError for an invalid
/// return_when or a negative timeout.
template <FutureRange R>
auto wait(R&& fs, const Timeout& timeout = {}, ReturnWhen return_when = ALL_COMPLETED) {
  using F = std::remove_cvref_t<std::ranges::range_value_t<R>>;
  using Mode = concur::futures::detail::MultiWaiter::Mode;
  Mode mode;
  switch (return_when) {
    case ReturnWhen::FIRST_COMPLETED:
      mode = Mode::FIRST_COMPLETED;
      break;
    case ReturnWhen::FIRST_EXCEPTION:
      mode = Mode::FIRST_EXCEPTION;
      break;
    case ReturnWhen::ALL_COMPLETED:
      mode = Mode::ALL_COMPLETED;
      break;
    default:
      throw ValueError("Invalid return condition: " +
                       std::to_string(static_cast<int>(return_when)));
  }
  const Deadline deadline(timeout);
  std::vector<F> unique = detail::unique_futures<F>(std::forward<R>(fs));
  const std::vector<bool> done =
      concur::futures::detail::wait_states(detail::states_of(unique), deadline, mode);
  DoneAndNotDone<F> out;
  for (std::size_t i = 0; i < unique.size(); ++i)
    (done[i] ? out.done : out.not_done).push_back(std::move(unique[i]));
  return out;
}

/// Futures of different value types: wait({AnyFuture(a), AnyFuture(b)}).
inline DoneAndNotDone<AnyFuture> wait(std::initializer_list<AnyFuture> fs,
                                      const Timeout& timeout = {},
                                      ReturnWhen return_when = ALL_COMPLETED) {
  return wait(std::vector<AnyFuture>(fs), timeout, return_when);
}

/// The range as_completed() returns: an input range yielding each distinct
/// future once, those already completed first, then in the order they
/// complete. Advancing past the last completed one blocks until the next
/// completes; when the deadline passes first it throws
/// TimeoutError("N (of M) futures unfinished") and the range is over.
/// The range holds the futures not yet yielded (and releases each as it is
/// yielded); its destruction stops listening to the rest.
template <class F>
class AsCompleted {
 public:
  AsCompleted(std::vector<F> fs, const Deadline& deadline)
      : futures_(std::move(fs)),
        core_(std::make_unique<concur::futures::detail::AsCompletedCore>(
            detail::states_of(futures_), deadline)) {}

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = F;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(AsCompleted* r) : r_(r) { advance(); }
    const F& operator*() const { return current_; }
    const F* operator->() const { return &current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return it.r_ == nullptr;
    }

   private:
    void advance() {
      std::optional<std::uint32_t> i;
      try {
        i = r_->core_->next();
      } catch (...) {
        r_ = nullptr;
        throw;
      }
      if (!i) {
        r_ = nullptr;
        current_ = F(nullptr);
        return;
      }
      current_ = std::move(r_->futures_[*i]);
      r_->futures_[*i] = F(nullptr);  // the range no longer holds what it yielded
    }
    AsCompleted* r_ = nullptr;
    F current_{nullptr};
  };

  /// Starts the iteration (blocks for the first completed future).
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::vector<F> futures_;
  std::unique_ptr<concur::futures::detail::AsCompletedCore> core_;
};

/// Yields each future as it completes. The timeout is measured from this call
/// (CPython's documentation; CPython's code starts it at the first next()).
template <FutureRange R>
auto as_completed(R&& fs, const Timeout& timeout = {}) {
  using F = std::remove_cvref_t<std::ranges::range_value_t<R>>;
  const Deadline deadline(timeout);
  return AsCompleted<F>(detail::unique_futures<F>(std::forward<R>(fs)), deadline);
}

inline AsCompleted<AnyFuture> as_completed(std::initializer_list<AnyFuture> fs,
                                           const Timeout& timeout = {}) {
  return as_completed(std::vector<AnyFuture>(fs), timeout);
}

}  // namespace concur::futures
