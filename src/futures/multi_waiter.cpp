#include "concur/futures/detail/multi_waiter.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace concur::futures::detail {

void MultiWaiter::notify(std::uint32_t index, bool failed) noexcept {
  std::lock_guard lock(mu_);
  finished_.push_back(index);  // capacity reserved for every input: no allocation
  if (pending_ > 0) --pending_;
  signal_if_due_locked(failed);
}

void MultiWaiter::notify_many(const std::vector<std::uint32_t>& indices, bool any_failed) noexcept {
  if (indices.empty()) return;
  std::lock_guard lock(mu_);
  finished_.insert(finished_.end(), indices.begin(), indices.end());
  pending_ -= std::min(pending_, indices.size());
  signal_if_due_locked(any_failed);
}

void MultiWaiter::signal_if_due_locked(bool failed) noexcept {
  bool signal = false;
  switch (mode_) {
    case Mode::FIRST_COMPLETED:
    case Mode::AS_COMPLETED:
      signal = true;
      break;
    case Mode::FIRST_EXCEPTION:
      signal = failed || pending_ == 0;
      break;
    case Mode::ALL_COMPLETED:
      signal = pending_ == 0;
      break;
  }
  if (signal && !signalled_) {
    signalled_ = true;
    cv_.notify_all();
  }
}

bool MultiWaiter::wait(const Deadline& deadline) {
  std::unique_lock lock(mu_);
  if (deadline.is_forever()) {
    cv_.wait(lock, [&] { return signalled_; });
    return true;
  }
  return cv_.wait_until(lock, deadline.time_point(), [&] { return signalled_; });
}

std::vector<std::uint32_t> MultiWaiter::take_finished() {
  std::lock_guard lock(mu_);
  std::vector<std::uint32_t> out;
  out.swap(finished_);
  finished_.reserve(out.capacity());
  signalled_ = false;
  return out;
}

WaiterInstall::WaiterInstall(MultiWaiter::Mode mode, std::vector<StateBase*> states)
    : states_(std::move(states)),
      nodes_(std::make_unique<WaiterNode[]>(states_.size())),
      waiter_(mode, states_.size()) {
  // Those already completed are reported together, as if they had just completed.
  std::vector<std::uint32_t> completed;
  bool any_failed = false;
  for (std::size_t i = 0; i < states_.size(); ++i) {
    nodes_[i].waiter = &waiter_;
    nodes_[i].index = static_cast<std::uint32_t>(i);
    if (!states_[i]->add_waiter(&nodes_[i])) {
      completed.push_back(static_cast<std::uint32_t>(i));
      any_failed = any_failed || (states_[i]->state() == futures::FutureState::FINISHED &&
                                  states_[i]->has_exception());
      states_[i] = nullptr;  // not installed: nothing to remove later
    }
  }
  waiter_.notify_many(completed, any_failed);
}

WaiterInstall::~WaiterInstall() {
  for (std::size_t i = 0; i < states_.size(); ++i)
    if (states_[i]) states_[i]->remove_waiter(&nodes_[i]);
}

void WaiterInstall::forget(std::uint32_t index) noexcept {
  // Yielded futures are completed: their lists no longer hold our node.
  states_[index] = nullptr;
}

std::vector<std::size_t> first_occurrences(const std::vector<StateBase*>& states) {
  std::vector<std::size_t> out;
  out.reserve(states.size());
  if (states.size() <= 16) {
    for (std::size_t i = 0; i < states.size(); ++i)
      if (std::find(states.begin(), states.begin() + static_cast<std::ptrdiff_t>(i), states[i]) ==
          states.begin() + static_cast<std::ptrdiff_t>(i))
        out.push_back(i);
    return out;
  }
  // Open addressing, linear probing, load factor <= 1/2.
  std::size_t cap = 32;
  while (cap < states.size() * 2) cap <<= 1;
  std::vector<const void*> table(cap, nullptr);
  for (std::size_t i = 0; i < states.size(); ++i) {
    const auto key = reinterpret_cast<std::uintptr_t>(states[i]);
    std::size_t h = static_cast<std::size_t>((key >> 4) * 0x9E3779B97F4A7C15ULL) & (cap - 1);
    for (;;) {
      if (table[h] == nullptr) {
        table[h] = states[i];
        out.push_back(i);
        break;
      }
      if (table[h] == states[i]) break;
      h = (h + 1) & (cap - 1);
    }
  }
  return out;
}

std::vector<bool> wait_states(std::vector<StateBase*> states, const Deadline& deadline,
                              MultiWaiter::Mode mode) {
  std::vector<bool> done(states.size(), false);
  if (states.empty()) return done;
  WaiterInstall install(mode, std::move(states));
  install.waiter().wait(deadline);
  for (std::uint32_t i : install.waiter().take_finished()) done[i] = true;
  return done;
}

AsCompletedCore::AsCompletedCore(std::vector<StateBase*> states, const Deadline& deadline)
    : install_(MultiWaiter::Mode::AS_COMPLETED, std::move(states)), deadline_(deadline) {}

std::optional<std::uint32_t> AsCompletedCore::next() {
  const std::size_t total = install_.size();
  if (ready_pos_ == ready_.size()) {
    if (yielded_ == total) return std::nullopt;
    for (;;) {
      ready_ = install_.waiter().take_finished();
      ready_pos_ = 0;
      if (!ready_.empty()) break;
      if (deadline_.expired() || !install_.waiter().wait(deadline_)) {
        // One last look: what completed by now is yielded, not lost.
        ready_ = install_.waiter().take_finished();
        if (!ready_.empty()) break;
        throw TimeoutError(std::to_string(total - yielded_) + " (of " + std::to_string(total) +
                           ") futures unfinished");
      }
    }
  }
  const std::uint32_t i = ready_[ready_pos_++];
  ++yielded_;
  install_.forget(i);
  return i;
}

}  // namespace concur::futures::detail
