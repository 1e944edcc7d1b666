// concur/futures/state.hpp: the states a Future goes through, as CPython names them
// (concurrent.futures._base: PENDING, RUNNING, CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED).
//
//   PENDING ──set_running_or_notify_cancel──▶ RUNNING ──set_result/set_exception──▶ FINISHED
//      │                                                                 ▲
//      └──cancel──▶ CANCELLED ──set_running_or_notify_cancel──▶ CANCELLED_AND_NOTIFIED
//      └──────────────────────set_result/set_exception (by hand)─────────┘
//
// Future<T>::state_now() (see future.hpp) reports one of these, as CPython's `_state`
// attribute does.
#pragma once

#include <cstdint>

namespace concur::futures {

/// Python's future states (concurrent.futures._base), as an enum.
enum class FutureState : std::uint8_t {
  PENDING = 0,
  RUNNING = 1,
  CANCELLED = 2,
  CANCELLED_AND_NOTIFIED = 3,
  FINISHED = 4,
};

}  // namespace concur::futures
