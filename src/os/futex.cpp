#include "os/futex.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <thread>

namespace concur::os {

namespace {
long futex(const std::atomic<std::uint32_t>& word, int op, std::uint32_t val, const timespec* ts,
           std::uint32_t val3) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(&word), op, val, ts, nullptr,
                 val3);
}
}  // namespace

bool futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                const Deadline& deadline, bool shared) noexcept {
  const int op = FUTEX_WAIT_BITSET | (shared ? 0 : FUTEX_PRIVATE_FLAG);
  timespec ts{};
  const timespec* tsp = nullptr;
  if (!deadline.is_forever()) {
    // steady_clock is CLOCK_MONOTONIC in libstdc++; FUTEX_WAIT_BITSET takes an
    // absolute CLOCK_MONOTONIC time, so EINTR retries need no recomputation.
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        deadline.time_point().time_since_epoch())
                        .count();
    if (ns <= 0) return false;
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  const long r = futex(word, op, expected, tsp, FUTEX_BITSET_MATCH_ANY);
  if (r == -1 && errno == ETIMEDOUT) return false;
  return true;  // woken, EAGAIN (value changed) or EINTR: the caller re-checks
}

void futex_wake(const std::atomic<std::uint32_t>& word, int n, bool shared) noexcept {
  const int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
  futex(word, op, static_cast<std::uint32_t>(n), nullptr, 0);
}

void futex_requeue(const std::atomic<std::uint32_t>& from, std::uint32_t expected, int wake,
                   int requeue, const std::atomic<std::uint32_t>& to, bool shared) noexcept {
  const int op = FUTEX_CMP_REQUEUE | (shared ? 0 : FUTEX_PRIVATE_FLAG);
  // The timeout slot carries the requeue count (val2) for this operation: the kernel's
  // ABI, not a pointer.
  syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(&from), op, wake,
          reinterpret_cast<const timespec*>(  // NOLINT(performance-no-int-to-ptr)
              static_cast<std::uintptr_t>(requeue)),
          reinterpret_cast<const std::uint32_t*>(&to), expected);
}

void set_current_thread_name(const char* name) noexcept {
  char buf[16];
  std::strncpy(buf, name, sizeof buf - 1);
  buf[sizeof buf - 1] = '\0';
  pthread_setname_np(pthread_self(), buf);
}

std::uint64_t current_native_thread_id() noexcept { return static_cast<std::uint64_t>(gettid()); }

unsigned cpu_count() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? hc : 1U;
}

}  // namespace concur::os
