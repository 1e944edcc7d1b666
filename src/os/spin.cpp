// src/os/spin.cpp: the spin budget (see spin.hpp).
#include "os/spin.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "os/fd.hpp"
#include "os/futex.hpp"

namespace concur::os {

namespace {
const int g_cpus = static_cast<int>(cpu_count());
std::atomic<int> g_spinners{0};
std::atomic<bool> g_spin_ok{true};
std::atomic<std::int64_t> g_next_sample_ns{0};

// Runnable threads on the machine now (/proc/loadavg: "1.0 0.9 0.8 3/345 1234"),
// or -1 when unknown. Opened and closed each time: a library must not keep a
// descriptor the program did not ask for.
int runnable_threads() noexcept {
  const int fd = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  const long n = read_noexcept(fd, buf, sizeof buf - 1);
  close_fd(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* p = buf;
  for (int field = 0; field < 3; ++field) {
    p = std::strchr(p, ' ');
    if (p == nullptr) return -1;
    ++p;
  }
  return std::atoi(p);
}
}  // namespace

int spin_budget(int base) noexcept {
  if (g_cpus <= 1) return 0;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t next = g_next_sample_ns.load(std::memory_order_relaxed);
  if (now >= next &&
      g_next_sample_ns.compare_exchange_strong(next, now + 2'000'000, std::memory_order_relaxed)) {
    const int runnable = runnable_threads();
    g_spin_ok.store(runnable < 0 || runnable <= g_cpus, std::memory_order_relaxed);
  }
  return g_spin_ok.load(std::memory_order_relaxed) ? base : 0;
}

bool spin_enter() noexcept {
  int n = g_spinners.load(std::memory_order_relaxed);
  while (n < g_cpus) {
    if (g_spinners.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void spin_exit() noexcept { g_spinners.fetch_sub(1, std::memory_order_relaxed); }

}  // namespace concur::os
