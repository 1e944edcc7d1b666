// The robust, process-shared pthread mutex under mp::Lock, RLock, Condition, Barrier and
// Value/Array's lock: init, acquire (with a deadline, taking over from a dead owner),
// release, ownership. Declared in concur/multiprocessing/detail/sync.hpp.
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "synchronize_impl.hpp"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace concur::multiprocessing::detail {

namespace {

[[maybe_unused]] timespec to_timespec(const Deadline& deadline) noexcept {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_point().time_since_epoch())
          .count();
  timespec ts{};
  if (ns > 0) {
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  }
  return ts;
}

// Took the mutex from a dead owner: make it usable again and remember why.
void recover(MutexState& m) {
  const int err = pthread_mutex_consistent(&m.mutex);
  if (err != 0) fail(err, "pthread_mutex_consistent");
  store(m.owner_died, 1U);
  store(m.count, 0U);
}

#if defined(__SANITIZE_THREAD__)
// GCC 12's ThreadSanitizer does not intercept pthread_mutex_clocklock (it would then report
// the unlock of a lock it never saw taken): use pthread_mutex_timedlock, whose deadline is
// on CLOCK_REALTIME, converted from the monotonic one on each try.
int timed_lock(pthread_mutex_t& mutex, const Deadline& deadline) noexcept {
  for (;;) {
    const auto left = deadline.remaining();
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const auto end = std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec) +
                     std::min<std::chrono::nanoseconds>(left, std::chrono::seconds(1));
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(end).count());
    ts.tv_nsec = static_cast<long>((end - std::chrono::seconds(ts.tv_sec)).count());
    const int err = pthread_mutex_timedlock(&mutex, &ts);
    // Its timedlock interceptor records a lock only on 0: tell it about EOWNERDEAD too.
    if (err == EOWNERDEAD) {
      __tsan_mutex_pre_lock(&mutex, 0);
      __tsan_mutex_post_lock(&mutex, 0, 0);
    }
    if (err != ETIMEDOUT || deadline.expired()) return err;
  }
}
#else
int timed_lock(pthread_mutex_t& mutex, const Deadline& deadline) noexcept {
  const timespec ts = to_timespec(deadline);
  return pthread_mutex_clocklock(&mutex, CLOCK_MONOTONIC, &ts);
}
#endif

}  // namespace

void mutex_init(MutexState& m, std::uint32_t magic) {
  pthread_mutexattr_t attr;
  int err = pthread_mutexattr_init(&attr);
  if (err != 0) fail(err, "pthread_mutexattr_init");
  err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (err == 0) err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (err == 0) err = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  if (err == 0) err = pthread_mutex_init(&m.mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  if (err != 0) fail(err, "pthread_mutex_init(PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST)");
  m.owner_died = 0;
  m.count = 0;
  store(m.magic, magic);
}

Acquired mutex_acquire(MutexState& m, bool blocking, const Deadline& deadline) {
  int err = pthread_mutex_trylock(&m.mutex);
  if (err == EBUSY && blocking) {
    if (deadline.is_forever()) {
      err = pthread_mutex_lock(&m.mutex);
    } else {
      err = timed_lock(m.mutex, deadline);
    }
  }
  switch (err) {
    case 0:
      return Acquired::kYes;
    case EOWNERDEAD:
      recover(m);
      return Acquired::kYes;
    case EBUSY:
    case ETIMEDOUT:
      return Acquired::kNo;
    case EDEADLK:
      return Acquired::kMine;
    case ENOTRECOVERABLE:
      throw concur::RuntimeError(
          "multiprocessing lock is not recoverable: a holder died and the next one did not "
          "mark it consistent (ENOTRECOVERABLE)");
    default:
      fail(err, "pthread_mutex_lock");
  }
}

bool mutex_is_mine(MutexState& m) noexcept {
  if (owner_tid(m) == 0) return false;
  switch (pthread_mutex_trylock(&m.mutex)) {
    case EDEADLK:
      return true;
    case 0:  // released in the meantime: give it back
      pthread_mutex_unlock(&m.mutex);
      return false;
    case EOWNERDEAD:  // its owner died in the meantime: keep the news for the next holder
      if (pthread_mutex_consistent(&m.mutex) == 0) {
        store(m.owner_died, 1U);
        store(m.count, 0U);
      }
      pthread_mutex_unlock(&m.mutex);
      return false;
    default:
      return false;
  }
}

int mutex_release(MutexState& m) noexcept {
  if (!mutex_is_mine(m)) return EPERM;
  store(m.owner_died, 0U);
  store(m.count, 0U);
  return pthread_mutex_unlock(&m.mutex);
}

bool mutex_locked(const MutexState& m) noexcept { return owner_tid(m) != 0; }

}  // namespace concur::multiprocessing::detail
