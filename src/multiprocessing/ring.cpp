// The message ring (see concur/multiprocessing/detail/ring.hpp for the protocol).
#include "concur/multiprocessing/detail/ring.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "os/error.hpp"
#include "os/futex.hpp"
#include "os/spin.hpp"

namespace concur::multiprocessing::detail {

struct RingHeader {
  std::uint32_t magic;
  std::uint32_t maxsize;
  std::uint64_t capacity;
  // Writers' line: the published end, and "a streamed message is open" (from w_start).
  alignas(64) std::atomic<std::uint64_t> tail;
  std::atomic<std::uint64_t> w_start;
  std::atomic<std::uint32_t> w_open;
  // Readers' line: the consumed end, and how many times a writer took chunks back.
  alignas(64) std::atomic<std::uint64_t> head;
  std::atomic<std::uint32_t> retracts;
  // Futex words: bit 0 = "a sleeper is announced", the rest counts notifications.
  alignas(64) std::atomic<std::uint32_t> data_seq;
  std::atomic<std::uint32_t> pollers;
  std::atomic<std::uint32_t> closes;  // Connection ends closed so far (any process)
  alignas(64) std::atomic<std::uint32_t> space_seq;
  alignas(64) std::atomic<std::uint32_t> done;
  std::atomic<std::uint32_t> joiners;
  alignas(64) pthread_mutex_t wlock;
  alignas(64) pthread_mutex_t rlock;
};

namespace {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
static_assert(sizeof(RingHeader) % 64 == 0);

constexpr std::uint32_t kMagic = 0xC0C0'0517;
constexpr std::uint64_t kFirst = 1;
constexpr std::uint64_t kLast = 2;
constexpr std::uint64_t kAbort = 4;
constexpr unsigned kPosBits = 40;
constexpr std::uint64_t kPosMask = (std::uint64_t{1} << kPosBits) - 1;
constexpr std::uint32_t kCountMask = (1U << 24) - 1;
constexpr int kSpin = 600;
constexpr auto kPeerSlice = std::chrono::milliseconds(50);
constexpr auto kStreamSlice = std::chrono::milliseconds(20);
constexpr auto kLockGrace = std::chrono::milliseconds(20);

constexpr std::uint64_t pos_of(std::uint64_t packed) noexcept { return packed & kPosMask; }
constexpr std::uint32_t count_of(std::uint64_t packed) noexcept {
  return static_cast<std::uint32_t>(packed >> kPosBits);
}
constexpr std::uint64_t pack(std::uint64_t pos, std::uint32_t count) noexcept {
  return (pos & kPosMask) | (std::uint64_t{count & kCountMask} << kPosBits);
}
constexpr std::uint64_t used(std::uint64_t head_pos, std::uint64_t tail_pos) noexcept {
  return (tail_pos - head_pos) & kPosMask;
}
constexpr std::uint64_t round8(std::uint64_t n) noexcept { return (n + 7) & ~std::uint64_t{7}; }
constexpr std::uint64_t chunk_bytes(std::uint64_t len) noexcept { return 8 + round8(len); }

[[maybe_unused]] timespec to_timespec(Deadline::Clock::time_point tp) noexcept {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
  timespec ts{};
  if (ns > 0) {
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  }
  return ts;
}

/// A lock attempt gives up at the deadline, but never sooner than kLockGrace from now: a
/// non-blocking put/get waits for another process's put/get in progress, so that it does not
/// report Full/Empty merely because of contention.
Deadline lock_deadline(const Deadline& d) noexcept {
  if (d.is_forever()) return d;
  const auto grace = Deadline::Clock::now() + kLockGrace;
  return Deadline(d.time_point() > grace ? d.time_point() : grace);
}

/// Locks a robust mutex. False on timeout; `recovered` when the previous owner died.
bool lock(pthread_mutex_t* m, const Deadline& d, bool& recovered) {
  int r = 0;
  if (d.is_forever()) {
    r = pthread_mutex_lock(m);
  } else {
#if defined(__SANITIZE_THREAD__)
    // GCC 12's ThreadSanitizer intercepts neither pthread_mutex_clocklock nor the
    // EOWNERDEAD of pthread_mutex_timedlock (it then reports every unlock as of an unlocked
    // mutex): under it, poll trylock, which it models fully.
    for (;;) {
      r = pthread_mutex_trylock(m);
      if (r != EBUSY) break;
      if (d.expired()) {
        r = ETIMEDOUT;
        break;
      }
      const timespec pause{0, 50'000};
      nanosleep(&pause, nullptr);
    }
#else
    const timespec ts = to_timespec(d.time_point());
    r = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
#endif
  }
  if (r == ETIMEDOUT) return false;
  if (r == EOWNERDEAD) {
    pthread_mutex_consistent(m);
    recovered = true;
    return true;
  }
  if (r == ENOTRECOVERABLE) {
    throw concur::RuntimeError("multiprocessing queue: its lock is not recoverable");
  }
  if (r != 0) os::raise(r, "pthread_mutex_lock");
  return true;
}

class Unlock {
 public:
  explicit Unlock(pthread_mutex_t* m) noexcept : m_(m) {}
  ~Unlock() {
    if (m_ != nullptr) pthread_mutex_unlock(m_);
  }
  Unlock(const Unlock&) = delete;
  Unlock& operator=(const Unlock&) = delete;
  void now() noexcept {
    pthread_mutex_unlock(m_);
    m_ = nullptr;
  }

 private:
  pthread_mutex_t* m_;
};

void wake(std::atomic<std::uint32_t>& word) noexcept {
  concur::os::futex_wake(word, INT_MAX, /*shared=*/true);
}

/// After a store that sleepers on `seq` wait for: wakes them if one announced itself, and
/// clears the announcement, so that a stream of stores makes one system call per sleep.
void notify(std::atomic<std::uint32_t>& seq) noexcept {
  std::uint32_t s = seq.load(std::memory_order_seq_cst);
  if ((s & 1U) != 0 && seq.compare_exchange_strong(s, s + 1, std::memory_order_seq_cst)) {
    wake(seq);
  }
}

/// Waits until ready() holds, sleeping on `seq` (see notify). With sock >= 0 the sleep is
/// sliced and a closed peer ends it; the peer is checked before the first sleep too once an
/// end has been closed (`closes`), so that a ping-pong pays no poll(2) per message.
template <class Ready>
RingStatus wait_on(std::atomic<std::uint32_t>& seq, Ready&& ready, const Deadline& d, int sock,
                   const std::atomic<std::uint32_t>* closes = nullptr) {
  if (ready()) return RingStatus::kOk;
  if (d.expired()) return RingStatus::kTimeout;
  if (concur::os::spin_until(ready, kSpin)) return RingStatus::kOk;
  for (;;) {
    std::uint32_t s = seq.load(std::memory_order_relaxed);
    if ((s & 1U) == 0) {
      if (!seq.compare_exchange_strong(s, s | 1U, std::memory_order_seq_cst)) continue;
      s |= 1U;
    }
    if (ready()) return RingStatus::kOk;
    if (sock >= 0 && closes != nullptr && closes->load(std::memory_order_relaxed) != 0 &&
        peer_closed(sock)) {
      return ready() ? RingStatus::kOk : RingStatus::kPeerGone;
    }
    Deadline slice = d;
    if (sock >= 0) {
      const auto end = Deadline::Clock::now() + kPeerSlice;
      if (d.is_forever() || end < d.time_point()) slice = Deadline(end);
    }
    concur::os::futex_wait(seq, s, slice, /*shared=*/true);
    if (ready()) return RingStatus::kOk;
    if (sock >= 0 && peer_closed(sock)) return ready() ? RingStatus::kOk : RingStatus::kPeerGone;
    if (d.expired()) return RingStatus::kTimeout;
  }
}

/// A growable byte buffer that is not zero-filled (the reader's assembly buffer).
class Scratch {
 public:
  /// Room for `n` bytes, keeping the first `keep` (uninitialised beyond them).
  std::byte* reserve(std::size_t n, std::size_t keep = 0) {
    if (n > cap_) {
      std::size_t c = cap_ == 0 ? 4096 : cap_;
      while (c < n) c *= 2;
      std::unique_ptr<std::byte[]> d(new std::byte[c]);
      if (keep != 0) std::memcpy(d.get(), data_.get(), keep);
      data_ = std::move(d);
      cap_ = c;
    }
    return data_.get();
  }
  void release_if_huge() {
    constexpr std::size_t kKeep = std::size_t{64} << 20;
    if (cap_ > kKeep) {
      data_.reset();
      cap_ = 0;
    }
  }

 private:
  std::unique_ptr<std::byte[]> data_;
  std::size_t cap_ = 0;
};

Scratch& scratch() {
  thread_local Scratch b;
  return b;
}

}  // namespace

bool peer_closed(int sock) noexcept {
  if (sock < 0) return false;
  pollfd p{sock, POLLIN, 0};
  const int r = os::retry_eintr([&] { return ::poll(&p, 1, 0); });
  return r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void drain_doorbell(int sock) noexcept {
  char buf[64];
  while (::recv(sock, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

std::size_t Ring::round_capacity(std::size_t requested) {
  if (requested > kMaxCapacity) {
    throw concur::ValueError("multiprocessing queue: a buffer of " + std::to_string(requested) +
                             " bytes is above the limit of " + std::to_string(kMaxCapacity));
  }
  std::size_t c = kMinCapacity;
  while (c < requested) c <<= 1;
  return c;
}

std::size_t Ring::footprint(std::size_t capacity) noexcept { return sizeof(RingHeader) + capacity; }

Ring::Ring(RingHeader* h) noexcept
    : h_(h), data_(reinterpret_cast<std::byte*>(h) + sizeof(RingHeader)), mask_(h->capacity - 1) {}

Ring Ring::create(void* at, std::size_t capacity, std::uint32_t maxsize) {
  if (capacity < kMinCapacity || capacity > kMaxCapacity || (capacity & (capacity - 1)) != 0) {
    throw concur::ValueError("Ring::create: capacity must be a power of two in range");
  }
  if (maxsize > kMaxCount) {
    throw concur::ValueError("multiprocessing queue: maxsize " + std::to_string(maxsize) +
                             " is above the limit of " + std::to_string(kMaxCount));
  }
  auto* h = new (at) RingHeader{};
  h->magic = kMagic;
  h->maxsize = maxsize;
  h->capacity = capacity;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  int r = pthread_mutex_init(&h->wlock, &attr);
  if (r == 0) r = pthread_mutex_init(&h->rlock, &attr);
  pthread_mutexattr_destroy(&attr);
  if (r != 0) os::raise(r, "pthread_mutex_init");
  return Ring(h);
}

Ring Ring::attach(void* at) {
  auto* h = std::launder(static_cast<RingHeader*>(at));
  if (h->magic != kMagic || h->capacity < kMinCapacity || (h->capacity & (h->capacity - 1)) != 0) {
    throw concur::ValueError("multiprocessing queue: the shared region holds no ring");
  }
  return Ring(h);
}

bool Ring::has_data() const noexcept {
  const std::uint64_t hd = h_->head.load(std::memory_order_seq_cst);
  return pos_of(h_->tail.load(std::memory_order_seq_cst)) != pos_of(hd);
}

std::size_t Ring::qsize() const noexcept {
  // Head first: the tail read after it is at least as far, so the difference is >= 0.
  const std::uint64_t hd = h_->head.load(std::memory_order_acquire);
  const std::uint64_t t = h_->tail.load(std::memory_order_acquire);
  return (count_of(t) - count_of(hd)) & kCountMask;
}

Ring::Positions Ring::positions() const noexcept {
  const std::uint64_t hd = h_->head.load(std::memory_order_acquire);
  const std::uint64_t t = h_->tail.load(std::memory_order_acquire);
  return {pos_of(hd), pos_of(t), count_of(hd), count_of(t)};
}

std::uint32_t Ring::maxsize() const noexcept { return h_->maxsize; }

void Ring::add_poller() noexcept { h_->pollers.fetch_add(1, std::memory_order_seq_cst); }
void Ring::remove_poller() noexcept { h_->pollers.fetch_sub(1, std::memory_order_relaxed); }

void Ring::wake_all() noexcept {
  h_->closes.fetch_add(1, std::memory_order_seq_cst);
  h_->data_seq.fetch_add(2, std::memory_order_seq_cst);
  h_->space_seq.fetch_add(2, std::memory_order_seq_cst);
  wake(h_->data_seq);
  wake(h_->space_seq);
}

RingStatus Ring::write(std::span<const std::byte> message, const Deadline& deadline, int sock) {
  return write(std::span<const std::byte>(), message, deadline, sock);
}

RingStatus Ring::write(std::span<const std::byte> prefix, std::span<const std::byte> body,
                       const Deadline& deadline, int sock) {
  RingHeader& h = *h_;
  const std::uint64_t cap = mask_ + 1;
  const std::uint64_t n = prefix.size() + body.size();
  const bool stream = chunk_bytes(n) > cap / 2;
  // Room needed before starting: the whole chunk, or a quarter of the ring to stream.
  const std::uint64_t start_room = stream ? cap / 4 : chunk_bytes(n);
  const std::uint32_t limit = h.maxsize != 0 ? h.maxsize : kCountMask;

  auto fits = [&](std::uint64_t hd, std::uint64_t t, std::uint64_t need, bool count) {
    const std::uint64_t u = used(pos_of(hd), pos_of(t));
    if (u > cap) return false;  // a stale head from before a wrap of the cache
    if (count && ((count_of(t) - count_of(hd)) & kCountMask) >= limit) return false;
    return cap - u >= need;
  };
  // Under the write lock: the cached head first (a lower bound: heads only grow), the
  // shared one when the cache says no. Saves a cache miss per message.
  auto room_locked = [&](std::uint64_t need, bool count) {
    const std::uint64_t t = h.tail.load(std::memory_order_relaxed);
    if (fits(w_head_, t, need, count)) return true;
    w_head_ = h.head.load(std::memory_order_seq_cst);
    return fits(w_head_, t, need, count);
  };
  auto copy_in = [&](std::uint64_t at, const std::byte* src, std::uint64_t len) {
    const std::uint64_t off = at & mask_;
    const std::uint64_t first = len < cap - off ? len : cap - off;
    std::memcpy(data_ + off, src, first);
    if (first < len) std::memcpy(data_, src + first, len - first);
  };
  // Copies bytes [from, from + len) of the message (prefix then body) to position `at`.
  auto copy_message = [&](std::uint64_t at, std::uint64_t from, std::uint64_t len) {
    while (len > 0) {
      const std::byte* src = nullptr;
      std::uint64_t avail = 0;
      if (from < prefix.size()) {
        src = prefix.data() + from;
        avail = prefix.size() - from;
      } else {
        src = body.data() + (from - prefix.size());
        avail = n - from;
      }
      const std::uint64_t k = len < avail ? len : avail;
      copy_in(at, src, k);
      at += k;
      from += k;
      len -= k;
    }
  };
  auto put_header = [&](std::uint64_t at, std::uint64_t len, std::uint64_t flags) {
    const std::uint64_t word = len | (flags << 32);
    std::memcpy(data_ + (at & mask_), &word, sizeof word);
  };
  auto publish = [&](std::uint64_t new_tail) {
    h.tail.store(new_tail, std::memory_order_seq_cst);
    notify(h.data_seq);
    if (sock >= 0 && h.pollers.load(std::memory_order_relaxed) != 0) {
      const char bell = 1;
      (void)::send(sock, &bell, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
  };
  // With the write lock held and a message left open by a writer that died or gave up:
  // when no reader is active (the read lock is free), take its chunks back by moving the
  // tail to where it started (or to the head, if a reader that died had taken part of it).
  auto retract_open_message = [&] {
    int r = pthread_mutex_trylock(&h.rlock);
    if (r == EOWNERDEAD) {
      pthread_mutex_consistent(&h.rlock);
      r = 0;
    }
    if (r != 0) return false;
    const std::uint64_t t = h.tail.load(std::memory_order_relaxed);
    const std::uint64_t hd = h.head.load(std::memory_order_relaxed);
    const std::uint64_t start = h.w_start.load(std::memory_order_relaxed);
    const bool head_before_start = used(pos_of(hd), start) <= used(pos_of(hd), pos_of(t));
    const std::uint64_t back = head_before_start ? start : pos_of(hd);
    h.tail.store(pack(back, count_of(t)), std::memory_order_seq_cst);
    h.retracts.fetch_add(1, std::memory_order_relaxed);  // readers drop their cached tail
    h.w_open.store(0, std::memory_order_relaxed);
    pthread_mutex_unlock(&h.rlock);
    notify(h.space_seq);
    return true;
  };

  bool recovered = false;
  for (;;) {
    if (!lock(&h.wlock, lock_deadline(deadline), recovered)) return RingStatus::kTimeout;
    Unlock unlock(&h.wlock);
    if (h.w_open.load(std::memory_order_relaxed) != 0 && !retract_open_message()) {
      // A writer died (or gave up) inside a streamed message while a reader is reading it:
      // end it with ABORT (the reader consumes what was published, so room comes).
      const RingStatus w = wait_on(
          h.space_seq, [&] { return room_locked(8, false); }, deadline, sock, &h.closes);
      if (w != RingStatus::kOk) return w;
      const std::uint64_t t = h.tail.load(std::memory_order_relaxed);
      put_header(pos_of(t), 0, kAbort);
      h.w_open.store(0, std::memory_order_relaxed);
      publish(pack(pos_of(t) + 8, count_of(t)));
    }
    if (!room_locked(start_room, true)) {
      // Wait for room without the lock, unless a message is open: its writer may be dead,
      // and then the room comes only from the repair done under the lock.
      unlock.now();
      const RingStatus st = wait_on(
          h.space_seq,
          [&] {
            return fits(h.head.load(std::memory_order_seq_cst),
                        h.tail.load(std::memory_order_seq_cst), start_room, true) ||
                   h.w_open.load(std::memory_order_relaxed) != 0;
          },
          deadline, sock, &h.closes);
      if (st != RingStatus::kOk) return st;
      continue;
    }

    std::uint64_t t = h.tail.load(std::memory_order_relaxed);
    if (!stream) {
      put_header(pos_of(t), n, kFirst | kLast);
      copy_message(pos_of(t) + 8, 0, n);
      publish(pack(pos_of(t) + chunk_bytes(n), count_of(t) + 1));
      return RingStatus::kOk;
    }
    // Streamed: chunks of at most half the ring, each published as soon as it is written.
    std::uint64_t done = 0;
    bool first = true;
    const std::uint64_t max_chunk = cap / 2 - 8;
    for (;;) {
      const std::uint64_t left = n - done;
      const std::uint64_t want = chunk_bytes(left < max_chunk ? left : max_chunk);
      const std::uint64_t enough = want < cap / 4 ? want : cap / 4;
      if (!room_locked(enough, false)) {
        const RingStatus w = wait_on(
            h.space_seq, [&] { return room_locked(enough, false); }, deadline, sock, &h.closes);
        if (w != RingStatus::kOk) return w;  // w_open stays set: the message is dropped
      }
      t = h.tail.load(std::memory_order_relaxed);
      const std::uint64_t free_bytes = cap - used(pos_of(w_head_), pos_of(t));
      std::uint64_t len = (free_bytes - 8) & ~std::uint64_t{7};
      if (len > max_chunk) len = max_chunk;
      if (len > left) len = left;
      const bool last = len == left;
      const std::uint64_t flags = (first ? kFirst : 0) | (last ? kLast : 0);
      put_header(pos_of(t), len, flags);
      copy_message(pos_of(t) + 8, done, len);
      if (first) {
        h.w_start.store(pos_of(t), std::memory_order_relaxed);
        h.w_open.store(1, std::memory_order_relaxed);
      }
      done += len;
      first = false;
      publish(pack(pos_of(t) + chunk_bytes(len), count_of(t) + (last ? 1 : 0)));
      if (last) {
        h.w_open.store(0, std::memory_order_relaxed);
        return RingStatus::kOk;
      }
    }
  }
}

RingStatus Ring::read(RingConsumer consume, void* context, const Deadline& deadline, int sock,
                      const RingPlacement* placement) {
  RingHeader& h = *h_;
  const std::uint64_t cap = mask_ + 1;
  auto copy_out = [&](std::uint64_t at, std::uint64_t len, std::byte* dst) {
    const std::uint64_t off = at & mask_;
    const std::uint64_t first = len < cap - off ? len : cap - off;
    std::memcpy(dst, data_ + off, first);
    if (first < len) std::memcpy(dst + first, data_, len - first);
  };
  auto advance = [&](std::uint64_t hd, std::uint64_t len, bool whole) {
    h.head.store(pack(pos_of(hd) + chunk_bytes(len), count_of(hd) + (whole ? 1 : 0)),
                 std::memory_order_seq_cst);
    notify(h.space_seq);
  };
  auto header_at = [&](std::uint64_t hd, std::uint64_t& len, std::uint64_t& flags) {
    std::uint64_t word = 0;
    std::memcpy(&word, data_ + (pos_of(hd) & mask_), sizeof word);
    len = word & 0xFFFF'FFFFU;
    flags = word >> 32;
  };
  // Under the read lock: bytes published after `hd`, from the cached tail first (dropped
  // when a writer took chunks back), the shared tail when the cache shows nothing.
  auto available = [&](std::uint64_t hd) {
    const std::uint32_t rt = h.retracts.load(std::memory_order_relaxed);
    if (rt != r_retracts_) {
      r_retracts_ = rt;
      r_tail_ = hd;
    }
    std::uint64_t a = used(pos_of(hd), pos_of(r_tail_));
    if (a == 0 || a > cap) {
      r_tail_ = h.tail.load(std::memory_order_seq_cst);
      a = used(pos_of(hd), pos_of(r_tail_));
      if (a > cap) a = 0;
    }
    return a;
  };
  // Hands `bytes` to the consumer; the message is consumed whether or not it throws.
  auto deliver = [&](std::span<const std::byte> bytes, std::uint64_t hd, std::uint64_t len) {
    try {
      consume(context, bytes);
    } catch (...) {
      advance(hd, len, true);
      throw;
    }
    advance(hd, len, true);
  };

  for (;;) {
    bool recovered = false;
    if (!lock(&h.rlock, lock_deadline(deadline), recovered)) return RingStatus::kTimeout;
    Unlock unlock(&h.rlock);
    for (;;) {
      std::uint64_t hd = h.head.load(std::memory_order_relaxed);
      if (available(hd) == 0) break;
      std::uint64_t len = 0;
      std::uint64_t flags = 0;
      header_at(hd, len, flags);
      if ((flags & kFirst) == 0) {
        // A continuation, LAST or ABORT chunk whose start is gone (its reader died, or a
        // writer gave up): skip it, counting a LAST as consumed.
        advance(hd, len, (flags & kLast) != 0);
        continue;
      }
      if ((flags & kLast) != 0) {
        const std::uint64_t off = (pos_of(hd) + 8) & mask_;
        if (off + len <= cap) {
          deliver(std::span<const std::byte>(data_ + off, len), hd, len);
        } else {
          std::byte* p = scratch().reserve(len);
          copy_out(pos_of(hd) + 8, len, p);
          deliver(std::span<const std::byte>(p, len), hd, len);
        }
        unlock.now();
        return RingStatus::kOk;
      }
      // The start of a streamed message: collect its chunks, holding the read lock, into
      // the caller's object (placement) or the assembly buffer.
      Scratch& b = scratch();
      std::size_t size = 0;
      std::span<std::byte> dest;
      const bool placed = placement != nullptr && len >= 16;
      bool overflow = false;
      auto append = [&](std::uint64_t at, std::uint64_t n) {
        if (placed && placement->append != nullptr) {
          const std::uint64_t off = at & mask_;
          const std::uint64_t first = n < cap - off ? n : cap - off;
          if (first != 0) placement->append(context, {data_ + off, first});
          if (first < n) placement->append(context, {data_, n - first});
        } else if (placed) {
          if (!overflow && size + n <= dest.size()) {
            if (n != 0) copy_out(at, n, dest.data() + size);
          } else {
            overflow = true;  // more than announced: drop the rest, done() reports it
          }
        } else {
          std::byte* p = b.reserve(size + n, size);
          copy_out(at, n, p + size);
        }
        size += n;
      };
      if (placed) {
        std::uint64_t words[2] = {0, 0};
        copy_out(pos_of(hd) + 8, 16, reinterpret_cast<std::byte*>(words));
        dest = placement->place(context, words[0], words[1]);
        append(pos_of(hd) + 24, len - 16);
      } else {
        append(pos_of(hd) + 8, len);
      }
      advance(hd, len, false);
      bool complete = false;
      bool abandoned = false;
      while (!complete && !abandoned) {
        const auto slice = Deadline(Deadline::Clock::now() + kStreamSlice);
        if (wait_on(
                h.data_seq, [&] { return available(h.head.load(std::memory_order_relaxed)) != 0; },
                slice, -1) != RingStatus::kOk) {
          // Nothing for a while: is the writer still there?
          int r = pthread_mutex_trylock(&h.wlock);
          if (r == EOWNERDEAD) {
            pthread_mutex_consistent(&h.wlock);
            r = 0;
          }
          if (r == 0) {
            if (h.w_open.load(std::memory_order_relaxed) != 0 &&
                available(h.head.load(std::memory_order_relaxed)) == 0) {
              h.w_open.store(0, std::memory_order_relaxed);
              abandoned = true;
            }
            pthread_mutex_unlock(&h.wlock);
          }
          continue;
        }
        hd = h.head.load(std::memory_order_relaxed);
        header_at(hd, len, flags);
        if ((flags & kFirst) != 0) {
          abandoned = true;  // a new message: the old one was given up without ABORT
        } else if ((flags & kAbort) != 0) {
          advance(hd, len, false);
          abandoned = true;
        } else {
          append(pos_of(hd) + 8, len);
          if ((flags & kLast) != 0) {
            complete = true;
          } else {
            advance(hd, len, false);
          }
        }
      }
      if (abandoned) {
        if (placed) placement->dropped(context);
        continue;
      }
      if (placed) {
        advance(hd, len, true);
        placement->done(context, size);  // may throw: the message is consumed
        unlock.now();
        return RingStatus::kOk;
      }
      try {
        deliver(std::span<const std::byte>(b.reserve(size, size), size), hd, len);
      } catch (...) {
        b.release_if_huge();
        throw;
      }
      b.release_if_huge();
      unlock.now();
      return RingStatus::kOk;
    }
    unlock.now();
    const RingStatus st = wait_on(
        h.data_seq, [&] { return has_data(); }, deadline, sock, &h.closes);
    if (st != RingStatus::kOk) return st;
  }
}

void Ring::task_done() {
  std::uint32_t d = h_->done.load(std::memory_order_acquire);
  for (;;) {
    const std::uint32_t put = count_of(h_->tail.load(std::memory_order_acquire));
    if (((put - d) & kCountMask) == 0) {
      throw concur::ValueError("task_done() called too many times");
    }
    if (h_->done.compare_exchange_weak(d, d + 1, std::memory_order_seq_cst)) break;
  }
  if (h_->joiners.load(std::memory_order_seq_cst) != 0) wake(h_->done);
}

bool Ring::join(const Deadline& deadline) {
  auto all_done = [&] {
    const std::uint32_t d = h_->done.load(std::memory_order_seq_cst);
    return ((count_of(h_->tail.load(std::memory_order_seq_cst)) - d) & kCountMask) == 0;
  };
  for (;;) {
    if (all_done()) return true;
    if (deadline.expired()) return false;
    h_->joiners.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t s = h_->done.load(std::memory_order_seq_cst);
    if (!all_done()) concur::os::futex_wait(h_->done, s, deadline, /*shared=*/true);
    h_->joiners.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace concur::multiprocessing::detail
