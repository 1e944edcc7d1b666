// Internal to src/multiprocessing: what the process-shared primitives' sources share
// (shared_ref.cpp, robust_mutex.cpp, lock.cpp, rlock.cpp, semaphore.cpp, event.cpp,
// condition.cpp, barrier.cpp): relaxed accesses to the plain words of a shared state,
// the owner of a robust mutex, a new shared block, and the futex calls on shared words.
// The shared-memory layouts themselves are in concur/multiprocessing/detail/sync.hpp.
#pragma once

#include <linux/futex.h>
#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include "concur/multiprocessing/detail/sync.hpp"
#include "concur/timeout.hpp"
#include "os/error.hpp"
#include "os/futex.hpp"
#include "os/spin.hpp"

namespace concur::multiprocessing::detail {

[[noreturn]] inline void fail(int err, const char* call) { os::raise(err, call); }

// The owner's kernel thread id, from the mutex word (0: free, or its owner died).
inline int owner_tid(const MutexState& m) noexcept {
  const int word = __atomic_load_n(&m.mutex.__data.__lock, __ATOMIC_RELAXED);
  return word & FUTEX_TID_MASK;
}

// The plain (non-atomic) words of a shared state, read and written relaxed: another
// process may look at them at any time (repr(), a snapshot).
inline std::uint64_t load(const std::uint64_t& v) noexcept {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}
inline void store(std::uint64_t& v, std::uint64_t x) noexcept {
  __atomic_store_n(&v, x, __ATOMIC_RELAXED);
}
inline std::uint32_t load(const std::uint32_t& v) noexcept {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}
inline void store(std::uint32_t& v, std::uint32_t x) noexcept {
  __atomic_store_n(&v, x, __ATOMIC_RELAXED);
}

// A new shared block of `size` bytes holding one object at offset 0.
inline SharedRef new_block(std::size_t size, const char* what) {
  SharedRef ref;
  ref.region = create_region(size, what);
  ref.offset = 0;
  return ref;
}

// "None" for no owner, else the owner's thread id (the reprs of Lock and RLock).
inline std::string tid_text(int tid) { return tid == 0 ? "None" : std::to_string(tid); }

// The futex helpers take std::atomic<uint32_t>; the words in shared memory are declared so.
inline bool wait_word(std::atomic<std::uint32_t>& w, std::uint32_t expected, const Deadline& d) {
  return concur::os::futex_wait(w, expected, d, /*shared=*/true);
}
inline void wake_word(std::atomic<std::uint32_t>& w, int n) {
  concur::os::futex_wake(w, n, /*shared=*/true);
}

// Spin rounds before a futex sleep on a shared word (os::spin_until: a few microseconds,
// none on one CPU or while the machine is overloaded). A hand-off between two running
// processes through a cache line costs well under a microsecond; through the kernel, tens.
inline constexpr int kSharedSpin = 600;

// Spins (bounded, see os::spin_until) until `w` differs from `seen`; true if it did.
inline bool spin_while_equal(const std::atomic<std::uint32_t>& w, std::uint32_t seen) noexcept {
  return concur::os::spin_until([&] { return w.load(std::memory_order_acquire) != seen; },
                                kSharedSpin);
}

}  // namespace concur::multiprocessing::detail
