// src/os/futex.hpp: the wait/wake primitive under every blocking call. Internal.
#pragma once

#include <atomic>
#include <cstdint>

#include "concur/timeout.hpp"

namespace concur::os {

/// Blocks while `word` holds `expected`, until woken, the deadline passes or a
/// spurious wake-up. Returns false only when the deadline passed. `shared`
/// selects a futex usable across processes (the word lives in shared memory).
/// Callers re-check their condition in a loop.
bool futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                const Deadline& deadline, bool shared = false) noexcept;

/// Wakes at most `n` threads blocked on `word` (INT32_MAX for all).
void futex_wake(const std::atomic<std::uint32_t>& word, int n, bool shared = false) noexcept;

/// FUTEX_CMP_REQUEUE: if `from` still holds `expected`, wakes at most `wake`
/// threads blocked on `from` and moves at most `requeue` others to wait on `to`
/// instead (they wake when `to` is woken). Used by threading::Condition to hand
/// a notified waiter straight to the lock's queue (wait morphing).
void futex_requeue(const std::atomic<std::uint32_t>& from, std::uint32_t expected, int wake,
                   int requeue, const std::atomic<std::uint32_t>& to, bool shared = false) noexcept;

/// Names the calling thread as the OS sees it (/proc/self/task/*/comm; at most
/// 15 bytes are kept, as Linux allows).
void set_current_thread_name(const char* name) noexcept;

/// The kernel's id of the calling thread (Python's threading.get_native_id).
std::uint64_t current_native_thread_id() noexcept;

/// Number of CPUs this process may run on (sched_getaffinity), at least 1.
unsigned cpu_count() noexcept;

}  // namespace concur::os
