// concur/futures/detail/multi_waiter.hpp: what wait() and as_completed() block on.
// Internal. One MultiWaiter per call; a WaiterNode in each future's list points
// at it. Futures call notify() while holding their own lock, and the waiting
// thread removes its nodes under those locks before the waiter dies, so a
// notify never reaches a destroyed waiter.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "concur/futures/detail/future_state.hpp"

namespace concur::futures::detail {

class MultiWaiter {
 public:
  enum class Mode { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED, AS_COMPLETED };

  MultiWaiter(Mode mode, std::size_t n) : mode_(mode), pending_(n) { finished_.reserve(n); }

  /// A future of the input completed (FINISHED or CANCELLED_AND_NOTIFIED).
  void notify(std::uint32_t index, bool failed) noexcept;
  /// Several at once (those found completed when the wait began).
  void notify_many(const std::vector<std::uint32_t>& indices, bool any_failed) noexcept;
  /// Blocks until the mode's condition holds or the deadline; false on timeout.
  bool wait(const Deadline& deadline);
  /// The indices of the futures that completed since the last take, in order.
  std::vector<std::uint32_t> take_finished();

 private:
  void signal_if_due_locked(bool failed) noexcept;
  Mode mode_;
  std::size_t pending_;
  bool signalled_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::uint32_t> finished_;
};

/// Installs a waiter on every state, reporting the already-completed ones at once.
/// Owns the nodes and removes them again on destruction.
class WaiterInstall {
 public:
  WaiterInstall(MultiWaiter::Mode mode, std::vector<StateBase*> states);
  ~WaiterInstall();
  WaiterInstall(const WaiterInstall&) = delete;
  WaiterInstall& operator=(const WaiterInstall&) = delete;

  MultiWaiter& waiter() noexcept { return waiter_; }
  [[nodiscard]] std::size_t size() const noexcept { return states_.size(); }
  /// Stops listening to one future (as_completed drops what it yielded).
  void forget(std::uint32_t index) noexcept;

 private:
  std::vector<StateBase*> states_;  // the caller keeps them alive
  std::unique_ptr<WaiterNode[]> nodes_;
  MultiWaiter waiter_;
};

/// The positions of the first occurrence of each distinct pointer, in order.
std::vector<std::size_t> first_occurrences(const std::vector<StateBase*>& states);

/// wait(): which of `states` are completed when the call returns.
std::vector<bool> wait_states(std::vector<StateBase*> states, const Deadline& deadline,
                              MultiWaiter::Mode mode);

/// as_completed(): yields indices in completion order (completed ones first).
class AsCompletedCore {
 public:
  AsCompletedCore(std::vector<StateBase*> states, const Deadline& deadline);
  /// The next completed index; nullopt when all were yielded. Throws
  /// TimeoutError("N (of M) futures unfinished") when the deadline passes.
  std::optional<std::uint32_t> next();

 private:
  WaiterInstall install_;
  Deadline deadline_;
  std::vector<std::uint32_t> ready_;
  std::size_t ready_pos_ = 0;
  std::size_t yielded_ = 0;
};

}  // namespace concur::futures::detail
