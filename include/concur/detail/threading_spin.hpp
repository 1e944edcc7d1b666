// concur/detail/threading_spin.hpp: bounded spinning before a futex sleep.
// Internal: users never call these.
//
// A wake-up through the kernel costs a few microseconds on each side; a hand-off
// between two running threads through a cache line costs a few hundred
// nanoseconds. The blocking paths of the threading primitives therefore spin a
// bounded number of times (a few microseconds) before they sleep, and do not
// spin at all on a single-CPU machine, where the thread they wait for cannot
// run while they spin.
#pragma once

namespace concur::detail {

/// A hint to the CPU that the caller is spinning (PAUSE on x86, YIELD on ARM).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

/// How many cpu_relax() rounds a waiter spends before it sleeps: `base` on a
/// machine with several CPUs, 0 on a single CPU (computed once).
int spin_budget(int base) noexcept;

/// At most as many threads spin at once as there are CPUs: beyond that a
/// spinner only takes the CPU from the thread it waits for (8 threads at a
/// Barrier on 2 CPUs). spin_enter() says whether the caller may spin; each
/// true must be paired with spin_exit().
bool spin_enter() noexcept;
void spin_exit() noexcept;

/// Where a thread spins: each kind of wait learns on its own (see SpinHint).
enum class SpinSite { kLock, kCondition, kEvent, kSemaphore, kBarrier, kCount };

/// Adaptive spinning, per thread and per site. A spin that succeeds restores
/// the full budget; one that fails divides it by 4, down to 0 (sleep at once):
/// on a loaded machine the thread being waited for is often not running, and
/// spinning then only delays it. Every 16th wait with a reduced budget probes
/// with the full one, so the budget comes back when the load goes.
struct SpinHint {
  int budget = -1;  // -1: not yet used (full budget)
  unsigned ticks = 0;
};
inline thread_local SpinHint t_spin_hints[static_cast<int>(SpinSite::kCount)];

/// Spins until `ready()` holds or the site's budget (at most `base` rounds) is
/// spent; no spinning when too many threads spin already, or on one CPU.
/// Returns ready()'s last value.
template <class Ready>
bool spin_until(Ready&& ready, int base, SpinSite site) noexcept(noexcept(ready())) {
  const int full = spin_budget(base);
  SpinHint& hint = t_spin_hints[static_cast<int>(site)];
  int budget = hint.budget < 0 ? full : hint.budget;
  if (budget < full && (++hint.ticks & 15U) == 0) budget = full;  // probe
  if (budget == 0 || !spin_enter()) return ready();
  bool done = false;
  for (int i = 0; i < budget && !done; ++i) {
    done = ready();
    if (!done) cpu_relax();
  }
  spin_exit();
  hint.budget = done ? full : budget / 4;
  return done || ready();
}

}  // namespace concur::detail
