// concur/multiprocessing/detail/sync.hpp: the shared-memory layouts under multiprocessing's locks,
// semaphores, events, conditions, barriers and shared values.
//
// Internal to concur::multiprocessing. Every object lives at an offset of a
// detail::Region (region.hpp) and starts with a 32-bit magic word naming its kind, so
// that a handle decoded from a wrong or hostile fd is a ValueError, never a misread.
// No pointers inside (each process maps it at its own address): plain integers,
// process-shared pthread mutexes, and 32-bit futex words reached through std::atomic
// (always lock-free, address-free).
//
// SharedRef is what every handle holds: the Region (shared_ptr: copies of an object share
// one mapping) and the offset of the object's state in it.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/region.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing::detail {

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

enum : std::uint32_t {
  kLockMagic = 0x4c4f434b,       // "LOCK"
  kRLockMagic = 0x524c434b,      // "RLCK"
  kSemaphoreMagic = 0x53454d41,  // "SEMA"
  kEventMagic = 0x45564e54,      // "EVNT"
  kConditionMagic = 0x434f4e44,  // "COND"
  kBarrierMagic = 0x42415252,    // "BARR"
  kValueMagic = 0x56414c55,      // "VALU"
  kArrayMagic = 0x41525259,      // "ARRY"
};

/// A robust, process-shared, error-checking pthread mutex with the state Lock and RLock
/// keep beside it. `count` and `owner_died` are written by the owner only.
struct MutexState {
  std::uint32_t magic;
  std::uint32_t owner_died;  // the current owner took it from a dead owner
  std::uint64_t count;       // RLock recursion level (Lock: 1 while held)
  pthread_mutex_t mutex;
};

struct SemaphoreState {
  std::uint32_t magic;
  std::uint32_t bound;  // 0: unbounded; else the BoundedSemaphore's initial value
  std::atomic<std::uint32_t> value;
  std::atomic<std::uint32_t> sleepers;
};

struct EventState {
  std::uint32_t magic;
  std::atomic<std::uint32_t> word;  // number of flag transitions; odd = set
  std::atomic<std::uint32_t> sleepers;
};

struct ConditionState {
  std::uint32_t magic;
  std::atomic<std::uint32_t> seq;  // bumped by every notify; waiters sleep on it
  // Under the condition's lock: threads inside wait() = waiting + tokens.
  std::uint32_t waiting;                // not (yet) chosen by a notify
  std::uint32_t tokens;                 // notifications given and not yet taken by a waiter
  std::atomic<std::uint32_t> sleepers;  // waiters in (or about to enter) a futex sleep on seq
  // Watch slots (under the condition's lock): each waiter holds one of these robust
  // mutexes while inside wait(), so that notify() can see (EOWNERDEAD) a waiter that died
  // there and stop counting it. Waiters beyond kWatchSlots are not watched.
  static constexpr int kWatchSlots = 64;
  std::uint32_t slot_used[kWatchSlots];
  MutexState slots[kWatchSlots];
};

struct BarrierState {
  std::uint32_t magic;
  std::uint32_t parties;
  MutexState lock;       // magic = kLockMagic; guards everything below except gen/sleepers reads
  std::uint32_t count;   // arrived in the current round
  std::uint32_t broken;  // 0/1
  std::atomic<std::uint32_t> gen;  // bumped at the end of every round (pass, break, reset)
  std::atomic<std::uint32_t> sleepers;
  std::int64_t timeout_ns;    // the default wait() timeout; -1 = forever
  std::uint8_t outcome[256];  // outcome[g % 256]: how round g ended (1 passed, 2 broken)
  std::uint32_t action_size;  // bytes of the encoded action request after this struct
  std::uint32_t reserved;
  // Watch slots: a waiting party holds one of these robust mutexes while it waits, so that
  // the others can see it die (trylock answers EOWNERDEAD). Under `lock`: slot_used[i] and
  // slot_gen[i] (the round the holder waits in). Parties beyond kWatchSlots wait unwatched.
  static constexpr int kWatchSlots = 64;
  std::uint32_t slot_used[kWatchSlots];
  std::uint32_t slot_gen[kWatchSlots];
  MutexState slots[kWatchSlots];
};

/// What a handle holds: the region and the offset of its state.
struct SharedRef {
  std::shared_ptr<Region> region;
  std::size_t offset = 0;
  template <class S>
  [[nodiscard]] S& state() const noexcept {
    return *region->at<S>(offset);
  }
  [[nodiscard]] const void* address() const noexcept {
    return static_cast<const std::byte*>(region->data()) + offset;
  }
};

/// A new shared block (Region::create), remembered so that handles to it decoded in this
/// process reuse this mapping.
std::shared_ptr<Region> create_region(std::size_t size, const char* what);
/// The block a handle refers to (as Region::decode writes it): the mapping this process
/// already has of that memfd if any, else a new one (remembered).
std::shared_ptr<Region> decode_region(Reader& in, const char* what);

/// Writes `ref` (fd index in the current FdSink, offset). Outside a sink: RuntimeError
/// "<what> objects should only be shared between processes through inheritance".
void encode_ref(Buffer& out, const SharedRef& ref, const char* what);
/// Reads a reference written by encode_ref and checks that `size` bytes fit at its offset
/// and that the state there starts with `magic` (ValueError otherwise).
SharedRef decode_ref(Reader& in, std::size_t size, std::uint32_t magic, const char* what);

// --- the robust mutex (src/multiprocessing/robust_mutex.cpp) --------------------------

/// Initialises `m` in place: robust, process-shared, error-checking.
void mutex_init(MutexState& m, std::uint32_t magic);
/// Outcome of an acquire attempt.
enum class Acquired { kYes, kNo, kMine };
/// Takes the mutex: at once (blocking = false) or until `deadline`. kMine when the caller
/// already holds it (nothing changed). On EOWNERDEAD: makes it consistent and sets
/// owner_died (success). ENOTRECOVERABLE: RuntimeError.
Acquired mutex_acquire(MutexState& m, bool blocking, const Deadline& deadline);
/// Releases the mutex held by the caller (clears owner_died). Returns an errno: 0, or
/// EPERM when the caller does not hold it.
int mutex_release(MutexState& m) noexcept;
/// True when the caller's thread holds the mutex.
bool mutex_is_mine(MutexState& m) noexcept;
/// True when some thread holds the mutex (a snapshot; a dead owner's mutex reads false).
bool mutex_locked(const MutexState& m) noexcept;

/// Rounds `n` up to a multiple of `a` (a power of two).
constexpr std::size_t align_up(std::size_t n, std::size_t a) noexcept {
  return (n + a - 1) & ~(a - 1);
}

}  // namespace concur::multiprocessing::detail
