// src/os/spin.hpp: bounded spinning before a futex sleep. Internal.
//
// A wake-up through the kernel costs a few microseconds on each side (tens on
// an idle virtual machine); a hand-off between two running threads through a
// cache line costs a few hundred nanoseconds. The blocking paths of the
// threading primitives therefore spin a bounded number of times (a few
// microseconds) before they sleep, but not when the thread they wait for is
// unlikely to be running: on a single CPU, or while the machine is overloaded.
#pragma once

namespace concur::os {

/// A hint to the CPU that the caller is spinning (PAUSE on x86, YIELD on ARM).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

/// How many cpu_relax() rounds a waiter spends before it sleeps: `base`, or 0
/// on a single CPU and while the machine is overloaded. Overloaded means more
/// runnable threads than CPUs (the "running" field of /proc/loadavg, sampled
/// at most every 2 ms by whichever waiter finds the sample stale): then the
/// thread being waited for is likely not running, and spinning only delays
/// it (a Condition ping-pong measured 0.7 us with spinning on an idle machine,
/// 20 us with spinning while other builds kept the 2 CPUs busy, 5 us without).
int spin_budget(int base) noexcept;

/// At most as many threads spin at once as there are CPUs: beyond that a
/// spinner only takes the CPU from the thread it waits for (8 threads at a
/// Barrier on 2 CPUs). spin_enter() says whether the caller may spin; each
/// true must be paired with spin_exit().
bool spin_enter() noexcept;
void spin_exit() noexcept;

/// Spins until `ready()` holds or `base` rounds are spent (none when spinning
/// is off, see spin_budget, or when too many threads spin already); returns
/// ready()'s last value.
template <class Ready>
bool spin_until(Ready&& ready, int base) noexcept(noexcept(ready())) {
  const int budget = spin_budget(base);
  if (budget == 0 || !spin_enter()) return ready();
  bool done = false;
  for (int i = 0; i < budget && !done; ++i) {
    done = ready();
    if (!done) cpu_relax();
  }
  spin_exit();
  return done || ready();
}

}  // namespace concur::os
