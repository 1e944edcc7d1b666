#include "concur/multiprocessing/synchronize.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <system_error>

#include "os/futex.hpp"
#include "multiprocessing/handles.hpp"

namespace concur::multiprocessing {

namespace detail {

namespace {

timespec to_timespec(const Deadline& deadline) noexcept {
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

[[noreturn]] void fail(int err, const char* call) {
  throw std::system_error(err, std::generic_category(), call);
}

// The owner's kernel thread id, from the mutex word (0: free, or its owner died).
int owner_tid(const MutexState& m) noexcept {
  const int word = __atomic_load_n(&m.mutex.__data.__lock, __ATOMIC_RELAXED);
  return word & FUTEX_TID_MASK;
}

std::uint64_t load(const std::uint64_t& v) noexcept {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}
void store(std::uint64_t& v, std::uint64_t x) noexcept {
  __atomic_store_n(&v, x, __ATOMIC_RELAXED);
}
std::uint32_t load(const std::uint32_t& v) noexcept {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}
void store(std::uint32_t& v, std::uint32_t x) noexcept {
  __atomic_store_n(&v, x, __ATOMIC_RELAXED);
}

// Took the mutex from a dead owner: make it usable again and remember why.
void recover(MutexState& m) {
  const int err = pthread_mutex_consistent(&m.mutex);
  if (err != 0) fail(err, "pthread_mutex_consistent");
  store(m.owner_died, 1U);
  store(m.count, 0U);
}

}  // namespace

void encode_ref(Buffer& out, const SharedRef& ref, const char* what) {
  ref.region->encode(out, what);
  put_trivial<std::uint64_t>(out, ref.offset);
}

// One mapping per shared block per process: a handle decoded where its block is already
// mapped (created here, inherited by fork, or decoded before) reuses that mapping. Saves
// mappings, and keeps each pthread mutex at one address per process (ThreadSanitizer, and
// handle equality, see the same lock as the same lock).
namespace {

struct RegionCache {
  std::mutex mutex;
  std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Region>> map;
};

RegionCache& region_cache() {
  static RegionCache* const cache = [] {
    auto* c = new RegionCache;  // never destroyed: used until the process ends
    pthread_atfork([] { region_cache().mutex.lock(); }, [] { region_cache().mutex.unlock(); },
                   [] { region_cache().mutex.unlock(); });
    return c;
  }();
  return *cache;
}

std::pair<dev_t, ino_t> identity(int fd, const char* what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(errno, (std::string("fstat(") + what + ")").c_str());
  return {st.st_dev, st.st_ino};
}

void remember(const std::shared_ptr<Region>& region, std::pair<dev_t, ino_t> key) {
  RegionCache& c = region_cache();
  std::scoped_lock g(c.mutex);
  for (auto it = c.map.begin(); it != c.map.end();) {
    if (it->second.expired())
      it = c.map.erase(it);
    else
      ++it;
  }
  c.map[key] = region;
}

}  // namespace

std::shared_ptr<Region> create_region(std::size_t size, const char* what) {
  auto region = Region::create(size, what);
  remember(region, identity(region->fd(), what));
  return region;
}

std::shared_ptr<Region> decode_region(Reader& in, const char* what) {
  const auto index = get_trivial<std::uint32_t>(in);
  const int fd = import_fd(index, what);
  const auto key = identity(fd, what);
  {
    RegionCache& c = region_cache();
    std::scoped_lock g(c.mutex);
    const auto it = c.map.find(key);
    if (it != c.map.end()) {
      if (auto known = it->second.lock()) return known;
    }
  }
  auto region = Region::attach(fd, what);
  remember(region, key);
  return region;
}

SharedRef decode_ref(Reader& in, std::size_t size, std::uint32_t magic, const char* what) {
  SharedRef ref;
  ref.region = decode_region(in, what);
  const auto offset = get_trivial<std::uint64_t>(in);
  if (offset > ref.region->size() || ref.region->size() - offset < size || offset % 8 != 0) {
    throw concur::ValueError(std::string("malformed ") + what + " handle: offset " +
                             std::to_string(offset) + " outside the shared block of " +
                             std::to_string(ref.region->size()) + " bytes");
  }
  ref.offset = static_cast<std::size_t>(offset);
  const std::uint32_t found = load(*ref.region->at<std::uint32_t>(ref.offset));
  if (found != magic) {
    throw concur::ValueError(std::string("malformed ") + what +
                             " handle: the shared block holds another kind of object");
  }
  return ref;
}

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
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

void sleep_until(const Deadline& deadline) noexcept {
  const timespec ts = to_timespec(deadline);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace detail

namespace {

using detail::Acquired;
using detail::MutexState;
using detail::Region;
using detail::SharedRef;

SharedRef new_block(std::size_t size, const char* what) {
  SharedRef ref;
  ref.region = detail::create_region(size, what);
  ref.offset = 0;
  return ref;
}

std::string tid_text(int tid) { return tid == 0 ? "None" : std::to_string(tid); }

// The futex helpers take std::atomic<uint32_t>; the words in shared memory are declared so.
bool wait_word(std::atomic<std::uint32_t>& w, std::uint32_t expected, const Deadline& d) {
  return concur::os::futex_wait(w, expected, d, /*shared=*/true);
}
void wake_word(std::atomic<std::uint32_t>& w, int n) {
  concur::os::futex_wake(w, n, /*shared=*/true);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Lock

Lock::Lock() : Lock(detail::InRegion{}, detail::create_region(sizeof(MutexState), "Lock"), 0) {}

Lock::Lock(detail::InRegion, std::shared_ptr<Region> region, std::size_t offset) {
  ref_.region = std::move(region);
  ref_.offset = offset;
  detail::mutex_init(*new (ref_.region->at<MutexState>(offset)) MutexState{}, detail::kLockMagic);
}

bool Lock::acquire_until(bool blocking, const Deadline& deadline) {
  MutexState& m = state();
  switch (detail::mutex_acquire(m, blocking, deadline)) {
    case Acquired::kYes:
      return true;
    case Acquired::kNo:
      return false;
    case Acquired::kMine:
      break;
  }
  // The caller holds it and only the owner may release it: no one can give it back.
  if (!blocking) return false;
  if (deadline.is_forever())
    throw concur::RuntimeError(
        "deadlock: this thread already holds this multiprocessing Lock and waits for it "
        "without a timeout (use an RLock to re-enter)");
  detail::sleep_until(deadline);
  return false;
}

bool Lock::acquire(bool blocking) { return acquire_until(blocking, Deadline{}); }
bool Lock::acquire(Timeout timeout) { return acquire_until(true, Deadline(timeout)); }
bool Lock::acquire(bool blocking, Timeout timeout) {
  // Python's multiprocessing rule: without blocking, the timeout is ignored.
  return blocking ? acquire(timeout) : acquire(false);
}

void Lock::release() {
  MutexState& m = state();
#if !defined(__SANITIZE_THREAD__)
  // Fast path: nothing to clear, and a robust mutex refuses (EPERM, unchanged) an unlock by
  // a thread that does not own it. (TSan would report that refused unlock: check first.)
  if (detail::load(m.owner_died) == 0 && pthread_mutex_unlock(&m.mutex) == 0) return;
#endif
  if (detail::mutex_release(m) == 0) return;
  if (!detail::mutex_locked(m))
    throw concur::ValueError("semaphore or lock released too many times (Lock is not locked)");
  throw concur::RuntimeError(
      "cannot release a multiprocessing Lock held by another thread or process (only its "
      "owner may release it)");
}

bool Lock::locked() const noexcept { return detail::mutex_locked(state()); }
bool Lock::is_owned() const noexcept { return detail::mutex_is_mine(state()); }
bool Lock::owner_died() const noexcept {
  return is_owned() && detail::load(state().owner_died) != 0;
}

std::string Lock::repr() const {
  return "<Lock(owner=" + tid_text(detail::owner_tid(state())) + ")>";
}

void Lock::concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "Lock"); }
Lock Lock::concur_decode_handle(Reader& in) {
  return Lock(detail::decode_ref(in, sizeof(MutexState), detail::kLockMagic, "Lock"));
}

// ---------------------------------------------------------------------------------------
// RLock

RLock::RLock() : RLock(detail::InRegion{}, detail::create_region(sizeof(MutexState), "RLock"), 0) {}

RLock::RLock(detail::InRegion, std::shared_ptr<Region> region, std::size_t offset) {
  ref_.region = std::move(region);
  ref_.offset = offset;
  detail::mutex_init(*new (ref_.region->at<MutexState>(offset)) MutexState{}, detail::kRLockMagic);
}

bool RLock::acquire_until(bool blocking, const Deadline& deadline) {
  MutexState& m = state();
  switch (detail::mutex_acquire(m, blocking, deadline)) {
    case Acquired::kYes:
      detail::store(m.count, 1U);
      return true;
    case Acquired::kMine:
      detail::store(m.count, detail::load(m.count) + 1);
      return true;
    case Acquired::kNo:
      break;
  }
  return false;
}

bool RLock::acquire(bool blocking) { return acquire_until(blocking, Deadline{}); }
bool RLock::acquire(Timeout timeout) { return acquire_until(true, Deadline(timeout)); }
bool RLock::acquire(bool blocking, Timeout timeout) {
  return blocking ? acquire(timeout) : acquire(false);
}

void RLock::release() {
  MutexState& m = state();
  if (!detail::mutex_is_mine(m)) throw concur::RuntimeError("cannot release un-acquired lock");
  const std::uint64_t count = detail::load(m.count);
  if (count > 1) {
    detail::store(m.count, count - 1);
    return;
  }
  detail::store(m.owner_died, 0U);
  detail::store(m.count, 0U);
  pthread_mutex_unlock(&m.mutex);  // ours (checked above): cannot fail
}

bool RLock::locked() const noexcept { return detail::mutex_locked(state()); }
bool RLock::is_owned() const noexcept { return detail::mutex_is_mine(state()); }
std::uint64_t RLock::recursion_count() const noexcept {
  return is_owned() ? detail::load(state().count) : 0;
}
bool RLock::owner_died() const noexcept {
  return is_owned() && detail::load(state().owner_died) != 0;
}

std::string RLock::repr() const {
  const int tid = detail::owner_tid(state());
  return "<RLock(" + tid_text(tid) + ", " +
         std::to_string(tid == 0 ? 0 : detail::load(state().count)) + ")>";
}

void RLock::concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "RLock"); }
RLock RLock::concur_decode_handle(Reader& in) {
  return RLock(detail::decode_ref(in, sizeof(MutexState), detail::kRLockMagic, "RLock"));
}

// ---------------------------------------------------------------------------------------
// Semaphore

namespace {
constexpr std::uint32_t kBoundedSemaphoreMagic = 0x4253454d;  // "BSEM"

std::uint32_t checked_value(std::int64_t value) {
  if (value < 0) throw ValueError("semaphore initial value must be >= 0");
  if (value > static_cast<std::int64_t>(UINT32_MAX) - 1)
    throw ValueError("semaphore initial value must be < 2**32 - 1, got " + std::to_string(value));
  return static_cast<std::uint32_t>(value);
}
}  // namespace

Semaphore::Semaphore(std::int64_t value) : Semaphore(value, false) {}

Semaphore::Semaphore(std::int64_t value, bool bounded) {
  const std::uint32_t v = checked_value(value);
  ref_ = new_block(sizeof(detail::SemaphoreState), bounded ? "BoundedSemaphore" : "Semaphore");
  auto* s = new (ref_.region->at<detail::SemaphoreState>(0)) detail::SemaphoreState{};
  s->bound = bounded ? v : 0;
  s->value.store(v, std::memory_order_relaxed);
  s->sleepers.store(0, std::memory_order_relaxed);
  detail::store(s->magic, bounded ? kBoundedSemaphoreMagic : detail::kSemaphoreMagic);
}

namespace {
bool try_take(detail::SemaphoreState& s) noexcept {
  std::uint32_t v = s.value.load(std::memory_order_relaxed);
  while (v != 0) {
    if (s.value.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
      return true;
  }
  return false;
}
}  // namespace

bool Semaphore::acquire_slow(const Deadline& deadline) {
  detail::SemaphoreState& s = state();
  for (;;) {
    if (try_take(s)) return true;
    s.sleepers.fetch_add(1, std::memory_order_seq_cst);
    bool in_time = true;
    if (s.value.load(std::memory_order_seq_cst) == 0) in_time = wait_word(s.value, 0, deadline);
    s.sleepers.fetch_sub(1, std::memory_order_relaxed);
    if (!in_time) return try_take(s);
  }
}

bool Semaphore::acquire(bool blocking) {
  if (try_take(state())) return true;
  return blocking && acquire_slow(Deadline{});
}
bool Semaphore::acquire(Timeout timeout) {
  if (try_take(state())) return true;
  return acquire_slow(Deadline(timeout));
}
bool Semaphore::acquire(bool blocking, Timeout timeout) {
  return blocking ? acquire(timeout) : acquire(false);
}

void Semaphore::release(std::int64_t n) {
  if (n < 1) throw ValueError("n must be one or more");
  detail::SemaphoreState& s = state();
  const bool bounded = detail::load(s.magic) == kBoundedSemaphoreMagic;
  const std::uint64_t limit = bounded ? s.bound : UINT32_MAX - 1;
  std::uint32_t v = s.value.load(std::memory_order_relaxed);
  std::uint32_t next = 0;
  do {
    if (static_cast<std::uint64_t>(v) + static_cast<std::uint64_t>(n) > limit) {
      if (bounded) throw ValueError("semaphore or lock released too many times");
      throw ValueError("semaphore value would exceed 2**32 - 2");
    }
    next = v + static_cast<std::uint32_t>(n);
  } while (!s.value.compare_exchange_weak(v, next, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  if (s.sleepers.load(std::memory_order_seq_cst) != 0)
    wake_word(s.value, n > INT_MAX ? INT_MAX : static_cast<int>(n));
}

std::int64_t Semaphore::get_value() const noexcept {
  return static_cast<std::int64_t>(state().value.load(std::memory_order_relaxed));
}

std::string Semaphore::repr() const {
  const detail::SemaphoreState& s = state();
  if (detail::load(s.magic) == kBoundedSemaphoreMagic)
    return "<BoundedSemaphore(value=" + std::to_string(get_value()) +
           ", maxvalue=" + std::to_string(s.bound) + ")>";
  return "<Semaphore(value=" + std::to_string(get_value()) + ")>";
}

void Semaphore::concur_encode_handle(Buffer& out) const {
  detail::encode_ref(
      out, ref_,
      detail::load(state().magic) == kBoundedSemaphoreMagic ? "BoundedSemaphore" : "Semaphore");
}
Semaphore Semaphore::concur_decode_handle(Reader& in) {
  return Semaphore(
      detail::decode_ref(in, sizeof(detail::SemaphoreState), detail::kSemaphoreMagic, "Semaphore"));
}
BoundedSemaphore BoundedSemaphore::concur_decode_handle(Reader& in) {
  return BoundedSemaphore(detail::decode_ref(in, sizeof(detail::SemaphoreState),
                                             kBoundedSemaphoreMagic, "BoundedSemaphore"));
}

// ---------------------------------------------------------------------------------------
// Event

Event::Event() : ref_(new_block(sizeof(detail::EventState), "Event")) {
  auto* s = new (ref_.region->at<detail::EventState>(0)) detail::EventState{};
  s->word.store(0, std::memory_order_relaxed);
  s->sleepers.store(0, std::memory_order_relaxed);
  detail::store(s->magic, detail::kEventMagic);
}

bool Event::is_set() const noexcept {
  return (state().word.load(std::memory_order_acquire) & 1U) != 0;
}

void Event::set() noexcept {
  detail::EventState& s = state();
  std::uint32_t w = s.word.load(std::memory_order_relaxed);
  while ((w & 1U) == 0) {
    if (s.word.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
      if (s.sleepers.load(std::memory_order_seq_cst) != 0) wake_word(s.word, INT_MAX);
      return;
    }
  }
}

void Event::clear() noexcept {
  detail::EventState& s = state();
  std::uint32_t w = s.word.load(std::memory_order_relaxed);
  while ((w & 1U) != 0) {
    if (s.word.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst,
                                     std::memory_order_relaxed))
      return;
  }
}

bool Event::wait(Timeout timeout) {
  detail::EventState& s = state();
  const std::uint32_t seen = s.word.load(std::memory_order_acquire);
  if (seen & 1U) return true;
  const Deadline deadline(timeout);
  s.sleepers.fetch_add(1, std::memory_order_seq_cst);
  while (s.word.load(std::memory_order_seq_cst) == seen) {
    if (!wait_word(s.word, seen, deadline)) break;
  }
  s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  return s.word.load(std::memory_order_acquire) != seen;
}

std::string Event::repr() const { return is_set() ? "<Event: set>" : "<Event: unset>"; }

void Event::concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "Event"); }
Event Event::concur_decode_handle(Reader& in) {
  return Event(detail::decode_ref(in, sizeof(detail::EventState), detail::kEventMagic, "Event"));
}

// ---------------------------------------------------------------------------------------
// Condition

namespace {
constexpr std::size_t kConditionAt = detail::align_up(sizeof(MutexState), 64);

SharedRef new_condition_state(std::shared_ptr<Region> region, std::size_t offset) {
  SharedRef ref{std::move(region), offset};
  auto* s = new (ref.region->at<detail::ConditionState>(offset)) detail::ConditionState{};
  s->seq.store(0, std::memory_order_relaxed);
  s->waiting = 0;
  s->tokens = 0;
  for (auto& slot : s->slots) detail::mutex_init(slot, detail::kLockMagic);
  detail::store(s->magic, detail::kConditionMagic);
  return ref;
}
}  // namespace

Condition::Condition()
    : Condition(detail::create_region(kConditionAt + sizeof(detail::ConditionState), "Condition")) {
}

Condition::Condition(std::shared_ptr<Region> region)
    : lock_(RLock(detail::InRegion{}, region, 0)),
      ref_(new_condition_state(std::move(region), kConditionAt)) {}

Condition::Condition(Lock lock)
    : Condition(std::move(lock),
                new_condition_state(
                    detail::create_region(sizeof(detail::ConditionState), "Condition"), 0)) {}

Condition::Condition(RLock lock)
    : Condition(std::move(lock),
                new_condition_state(
                    detail::create_region(sizeof(detail::ConditionState), "Condition"), 0)) {}

MutexState& Condition::mutex() const noexcept {
  return std::visit([](const auto& l) -> MutexState& { return l.state(); }, lock_);
}

bool Condition::acquire(bool blocking) {
  return std::visit([&](auto& l) { return l.acquire(blocking); }, lock_);
}
bool Condition::acquire(Timeout timeout) {
  return std::visit([&](auto& l) { return l.acquire(timeout); }, lock_);
}
bool Condition::acquire(bool blocking, Timeout timeout) {
  return std::visit([&](auto& l) { return l.acquire(blocking, timeout); }, lock_);
}
void Condition::release() {
  std::visit([](auto& l) { l.release(); }, lock_);
}
bool Condition::owner_died() const noexcept {
  return std::visit([](const auto& l) { return l.owner_died(); }, lock_);
}

void Condition::check_owned(const char* what) const {
  if (!detail::mutex_is_mine(mutex()))
    throw concur::RuntimeError(std::string("cannot ") + what + " on un-acquired lock");
}

bool Condition::wait(Timeout timeout) {
  check_owned("wait");
  const Deadline deadline(timeout);
  detail::ConditionState& c = state();
  MutexState& m = mutex();
  detail::store(c.waiting, c.waiting + 1);
  // A watch slot held while inside wait(): if this process dies here, notify() sees it.
  int slot = -1;
  for (int i = 0; i < detail::ConditionState::kWatchSlots && slot < 0; ++i) {
    if (c.slot_used[i] != 0) continue;
    const int r = pthread_mutex_trylock(&c.slots[i].mutex);
    if (r == EOWNERDEAD) pthread_mutex_consistent(&c.slots[i].mutex);
    if (r == 0 || r == EOWNERDEAD) {
      c.slot_used[i] = 1;
      slot = i;
    }
  }
  struct LeaveSlot {  // with the lock held again, on every way out
    detail::ConditionState& c;
    int slot;
    ~LeaveSlot() {
      if (slot < 0) return;
      pthread_mutex_unlock(&c.slots[slot].mutex);
      c.slot_used[slot] = 0;
    }
  } leave{c, slot};
  bool in_time = true;
  for (;;) {
    const std::uint32_t seen = c.seq.load(std::memory_order_relaxed);
    // Give the lock up entirely (all RLock levels) and take it back at the same level.
    const std::uint64_t saved = detail::load(m.count);
    const bool died = detail::load(m.owner_died) != 0;
    detail::store(m.owner_died, 0U);
    detail::store(m.count, 0U);
    if (pthread_mutex_unlock(&m.mutex) != 0) {
      // Cannot happen: the caller owns it (checked above).
      throw concur::RuntimeError("Condition.wait: the lock could not be released");
    }
    if (in_time) in_time = wait_word(c.seq, seen, deadline);
    // Take it back with no bound (as Python): the notifier holds it only briefly.
    detail::mutex_acquire(m, true, Deadline{});
    detail::store(m.count, saved);
    if (died) detail::store(m.owner_died, 1U);
    if (c.tokens > 0) {
      detail::store(c.tokens, c.tokens - 1);
      return true;
    }
    if (!in_time) {
      detail::store(c.waiting, c.waiting - 1);
      return false;
    }
    // Woken with no notification left for us (another waiter took it): wait again.
  }
}

void Condition::notify(int n) {
  if (n < 0) throw ValueError("notify(n): n must be >= 0");
  check_owned("notify");
  detail::ConditionState& c = state();
  // Waiters that died inside wait() (their watch slot answers EOWNERDEAD) no longer count,
  // so no notification is spent on them; if one had been notified already, its token
  // goes to a live waiter instead.
  for (int i = 0; i < detail::ConditionState::kWatchSlots; ++i) {
    if (c.slot_used[i] == 0) continue;
    pthread_mutex_t& slot = c.slots[i].mutex;
    const int r = pthread_mutex_trylock(&slot);
    if (r == EBUSY) continue;
    if (r == EOWNERDEAD) pthread_mutex_consistent(&slot);
    if (r == 0 || r == EOWNERDEAD) pthread_mutex_unlock(&slot);
    if (r == EOWNERDEAD) {
      c.slot_used[i] = 0;
      if (c.waiting > 0)
        detail::store(c.waiting, c.waiting - 1);
      else if (c.tokens > 0)
        detail::store(c.tokens, c.tokens - 1);
    }
  }
  const auto t = std::min(static_cast<std::uint32_t>(n), c.waiting);
  if (t == 0) return;
  detail::store(c.waiting, c.waiting - t);
  detail::store(c.tokens, c.tokens + t);
  c.seq.fetch_add(1, std::memory_order_release);
  wake_word(c.seq, t > INT_MAX ? INT_MAX : static_cast<int>(t));
}

void Condition::notify_all() { notify(INT_MAX); }

std::string Condition::repr() const {
  const std::string lock = std::visit([](const auto& l) { return l.repr(); }, lock_);
  return "<Condition(" + lock + ", " + std::to_string(detail::load(state().waiting)) + ")>";
}

void Condition::concur_encode_handle(Buffer& out) const {
  out.push_back(std::byte{static_cast<unsigned char>(lock_.index())});
  std::visit([&](const auto& l) { l.concur_encode_handle(out); }, lock_);
  detail::encode_ref(out, ref_, "Condition");
}

Condition Condition::concur_decode_handle(Reader& in) {
  const auto kind = detail::get_trivial<std::uint8_t>(in);
  std::variant<Lock, RLock> lock;
  if (kind == 0)
    lock = Lock::concur_decode_handle(in);
  else if (kind == 1)
    lock = RLock::concur_decode_handle(in);
  else
    throw ValueError("malformed Condition handle: bad lock kind " + std::to_string(kind));
  auto ref =
      detail::decode_ref(in, sizeof(detail::ConditionState), detail::kConditionMagic, "Condition");
  return Condition(std::move(lock), std::move(ref));
}

// ---------------------------------------------------------------------------------------
// Barrier

namespace {
constexpr std::uint8_t kPassed = 1;
constexpr std::uint8_t kBroken = 2;
constexpr std::size_t kMaxAction = 1 << 20;
}  // namespace

Barrier::Barrier(int parties, Timeout timeout) : Barrier(parties, Buffer{}, timeout) {}

Barrier::Barrier(int parties, const Buffer& action, Timeout timeout) {
  if (parties < 1) throw ValueError("parties must be >= 1");
  if (action.size() > kMaxAction)
    throw ValueError("Barrier action: the encoded callable is larger than 1 MiB");
  ref_ = new_block(sizeof(detail::BarrierState) + action.size(), "Barrier");
  auto* s = new (ref_.region->at<detail::BarrierState>(0)) detail::BarrierState{};
  s->parties = static_cast<std::uint32_t>(parties);
  detail::mutex_init(s->lock, detail::kLockMagic);
  for (auto& slot : s->slots) detail::mutex_init(slot, detail::kLockMagic);
  s->count = 0;
  s->broken = 0;
  s->gen.store(0, std::memory_order_relaxed);
  s->sleepers.store(0, std::memory_order_relaxed);
  s->timeout_ns = timeout.is_forever() ? -1 : timeout.duration().count();
  s->action_size = static_cast<std::uint32_t>(action.size());
  if (!action.empty())
    std::memcpy(ref_.region->at<std::byte>(sizeof(detail::BarrierState)), action.data(),
                action.size());
  detail::store(s->magic, detail::kBarrierMagic);
}

// With the internal lock held: ends the current round for every waiter.
void Barrier::end_round(std::uint8_t outcome) noexcept {
  detail::BarrierState& s = state();
  const std::uint32_t g = s.gen.load(std::memory_order_relaxed);
  s.outcome[g % 256] = outcome;
  detail::store(s.count, 0U);
  s.gen.store(g + 1, std::memory_order_seq_cst);
  if (s.sleepers.load(std::memory_order_seq_cst) != 0) wake_word(s.gen, INT_MAX);
}

void Barrier::lock_internal() {
  detail::BarrierState& s = state();
  detail::mutex_acquire(s.lock, true, Deadline{});
  after_lock();
}

// Between a waiter's sleeps: did a party die holding the internal lock, or while waiting in
// this round (its watch slot answers EOWNERDEAD)? Either breaks the barrier. Skipped when
// the internal lock is busy (the next slice looks again).
void Barrier::probe(int my_slot) {
  detail::BarrierState& s = state();
  if (detail::mutex_acquire(s.lock, false, Deadline{}) != Acquired::kYes) return;
  after_lock();
  for (int i = 0; i < detail::BarrierState::kWatchSlots; ++i) {
    if (i == my_slot || s.slot_used[i] == 0) continue;
    pthread_mutex_t& slot = s.slots[i].mutex;
    const int r = pthread_mutex_trylock(&slot);
    if (r == EOWNERDEAD) {
      pthread_mutex_consistent(&slot);
      pthread_mutex_unlock(&slot);
      s.slot_used[i] = 0;
      if (s.slot_gen[i] == s.gen.load(std::memory_order_relaxed)) {
        detail::store(s.broken, 1U);  // a party of this round died waiting: it can never complete
        end_round(kBroken);
      }
    } else if (r == 0) {
      pthread_mutex_unlock(&slot);  // its holder is leaving (it clears the slot next)
    }
  }
  detail::mutex_release(s.lock);
}

// With the internal lock held: takes a free watch slot for a party waiting in round `gen`.
int Barrier::take_slot(std::uint32_t gen) noexcept {
  detail::BarrierState& s = state();
  for (int i = 0; i < detail::BarrierState::kWatchSlots; ++i) {
    if (s.slot_used[i] != 0) continue;
    const int r = pthread_mutex_trylock(&s.slots[i].mutex);
    if (r == EOWNERDEAD) pthread_mutex_consistent(&s.slots[i].mutex);
    if (r == 0 || r == EOWNERDEAD) {
      s.slot_used[i] = 1;
      s.slot_gen[i] = gen;
      return i;
    }
  }
  return -1;
}

void Barrier::after_lock() noexcept {
  detail::BarrierState& s = state();
  detail::store(s.lock.count, 1U);
  if (detail::load(s.lock.owner_died) != 0) {
    // A party died inside the barrier's critical section: the round cannot complete.
    detail::store(s.lock.owner_died, 0U);
    detail::store(s.broken, 1U);
    end_round(kBroken);
  }
}

int Barrier::wait() {
  const std::int64_t ns = state().timeout_ns;
  return wait_until(ns < 0 ? Deadline{} : Deadline(Timeout(std::chrono::nanoseconds(ns))));
}
int Barrier::wait(Timeout timeout) { return wait_until(Deadline(timeout)); }

int Barrier::wait_until(const Deadline& deadline) {
  detail::BarrierState& s = state();
  lock_internal();
  struct Unlock {
    MutexState& m;
    ~Unlock() { detail::mutex_release(m); }
  } unlock{s.lock};
  if (s.broken) throw BrokenBarrierError("the barrier is broken");
  const int index = static_cast<int>(s.count);
  detail::store(s.count, s.count + 1);
  if (s.count == s.parties) {
    if (s.action_size != 0) {
      const auto* bytes = ref_.region->at<const std::byte>(sizeof(detail::BarrierState));
      try {
        decode_result<void>(invoke(std::span<const std::byte>(bytes, s.action_size)));
      } catch (...) {
        detail::store(s.broken, 1U);
        end_round(kBroken);
        throw;
      }
    }
    end_round(kPassed);
    return index;
  }
  const std::uint32_t mine = s.gen.load(std::memory_order_relaxed);
  const int slot = take_slot(mine);
  detail::mutex_release(s.lock);
  bool in_time = true;
  s.sleepers.fetch_add(1, std::memory_order_seq_cst);
  while (s.gen.load(std::memory_order_seq_cst) == mine) {
    // Sleep in slices: between them, see whether a party died holding the internal lock
    // (running the action, say), which breaks the barrier instead of leaving us waiting.
    const Deadline slice(
        std::min(deadline.time_point(), Deadline::Clock::now() + std::chrono::milliseconds(100)));
    if (!wait_word(s.gen, mine, slice)) {
      if (deadline.expired()) {
        in_time = false;
        break;
      }
      probe(slot);
    }
  }
  s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  if (slot >= 0) pthread_mutex_unlock(&s.slots[slot].mutex);
  lock_internal();
  if (slot >= 0) s.slot_used[slot] = 0;
  if (!in_time && s.gen.load(std::memory_order_relaxed) == mine) {
    detail::store(s.broken, 1U);  // this wait timed out: the barrier breaks for everyone
    end_round(kBroken);
    throw BrokenBarrierError("the barrier wait timed out (the barrier is now broken)");
  }
  if (s.outcome[mine % 256] == kPassed) return index;
  throw BrokenBarrierError("the barrier was broken, aborted or reset while waiting");
}

void Barrier::reset() {
  detail::BarrierState& s = state();
  lock_internal();
  if (s.count > 0) end_round(kBroken);
  detail::store(s.broken, 0U);
  detail::mutex_release(s.lock);
}

void Barrier::abort() {
  detail::BarrierState& s = state();
  lock_internal();
  detail::store(s.broken, 1U);
  end_round(kBroken);
  detail::mutex_release(s.lock);
}

int Barrier::parties() const noexcept { return static_cast<int>(state().parties); }
int Barrier::n_waiting() const noexcept { return static_cast<int>(detail::load(state().count)); }
bool Barrier::broken() const noexcept { return detail::load(state().broken) != 0; }

std::string Barrier::repr() const {
  if (broken()) return "<Barrier: broken>";
  return "<Barrier: waiters=" + std::to_string(n_waiting()) + "/" + std::to_string(parties()) + ">";
}

void Barrier::concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "Barrier"); }
Barrier Barrier::concur_decode_handle(Reader& in) {
  auto ref = detail::decode_ref(in, sizeof(detail::BarrierState), detail::kBarrierMagic, "Barrier");
  const auto& s = ref.state<detail::BarrierState>();
  if (ref.region->size() - ref.offset - sizeof(detail::BarrierState) < s.action_size)
    throw ValueError("malformed Barrier handle: the action does not fit the shared block");
  return Barrier(std::move(ref));
}

}  // namespace concur::multiprocessing
