// concur/timeout.hpp: the timeout argument every blocking call takes.
//
// A `Timeout` is made implicitly from any std::chrono duration (integral or
// floating, any period), or left out to wait forever:
//
//   fut.result();                          // waits forever
//   fut.result(std::chrono::milliseconds(50));
//   fut.result(std::chrono::duration<double>(0.5));
//   fut.result(concur::forever);
//
// A negative duration throws concur::ValueError("timeout must be non-negative")
// at the call. Python parity: Python treats a negative timeout as zero in some
// places and as an error in others (Lock.acquire); concur rejects it everywhere.
// A zero timeout means "do not block": poll once.
//
// Deadlines are measured on std::chrono::steady_clock (CLOCK_MONOTONIC), so a
// change of the wall clock never shortens or lengthens a wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

#include "concur/exceptions.hpp"

namespace concur {

struct Forever {
  explicit constexpr Forever() = default;
};
/// Pass as a timeout to wait without a bound (the same as leaving it out).
inline constexpr Forever forever{};

class Timeout {
 public:
  using Clock = std::chrono::steady_clock;

  constexpr Timeout() noexcept = default;
  constexpr Timeout(Forever) noexcept {}  // NOLINT(google-explicit-constructor)

  template <class Rep, class Period>
  Timeout(std::chrono::duration<Rep, Period> d)  // NOLINT(google-explicit-constructor)
      : infinite_(false) {
    if (d < std::chrono::duration<Rep, Period>::zero())
      throw ValueError("timeout must be non-negative");
    using Double = std::chrono::duration<double, std::nano>;
    const double ns = std::chrono::duration_cast<Double>(d).count();
    // Far future timeouts (hours of years) are clamped to ~292 years.
    constexpr double kMax = static_cast<double>(std::numeric_limits<std::int64_t>::max()) / 2.0;
    ns_ = std::chrono::nanoseconds(ns >= kMax ? static_cast<std::int64_t>(kMax)
                                              : static_cast<std::int64_t>(ns + 0.999999));
  }

  /// True when no bound was given.
  [[nodiscard]] constexpr bool is_forever() const noexcept { return infinite_; }
  /// The bound; meaningless when is_forever().
  [[nodiscard]] constexpr std::chrono::nanoseconds duration() const noexcept { return ns_; }
  /// The absolute deadline from now (time_point::max() when forever).
  [[nodiscard]] Clock::time_point deadline() const noexcept {
    return infinite_ ? Clock::time_point::max() : Clock::now() + ns_;
  }

 private:
  bool infinite_ = true;
  std::chrono::nanoseconds ns_{0};
};

/// An absolute point on the steady clock, or "never". What a timed call turns
/// its Timeout into once, so that retries after spurious wake-ups (or EINTR)
/// wait only for what is left.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  constexpr Deadline() noexcept = default;  // never
  explicit Deadline(const Timeout& t) noexcept : tp_(t.deadline()) {}
  explicit constexpr Deadline(Clock::time_point tp) noexcept : tp_(tp) {}

  [[nodiscard]] constexpr bool is_forever() const noexcept {
    return tp_ == Clock::time_point::max();
  }
  [[nodiscard]] constexpr Clock::time_point time_point() const noexcept { return tp_; }
  [[nodiscard]] bool expired() const noexcept { return !is_forever() && Clock::now() >= tp_; }
  /// Time left, never negative; nanoseconds::max() when forever.
  [[nodiscard]] std::chrono::nanoseconds remaining() const noexcept {
    if (is_forever()) return std::chrono::nanoseconds::max();
    const auto left = tp_ - Clock::now();
    return left.count() > 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(left)
                            : std::chrono::nanoseconds::zero();
  }

 private:
  Clock::time_point tp_ = Clock::time_point::max();
};

}  // namespace concur
