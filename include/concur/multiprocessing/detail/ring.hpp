// concur/multiprocessing/detail/ring.hpp: the message ring under Queue, SimpleQueue, JoinableQueue
// and Connection. Internal to concur::multiprocessing: users never call these.
//
// A Ring is a header and a power-of-two byte buffer inside a detail::Region (shared memory
// reached by a memfd). It carries whole messages, multi-producer and multi-consumer.
//
// Wire: the ring holds chunks, each `u64 header · payload · padding to 8 bytes`, the header
// being `payload length (32 bits) | flags << 32` with flags FIRST, LAST, ABORT. A message
// that fits in half the ring is one FIRST|LAST chunk; a larger one is streamed as FIRST,
// continuation and LAST chunks while the writer holds the write lock (so chunks of two
// messages never interleave), the reader assembling them while it holds the read lock.
//
// Positions: `tail` (written by writers) and `head` (written by readers) pack a 40-bit byte
// position (wrapping; the buffer offset is position & mask) and a 24-bit count of whole
// messages. A chunk becomes visible to readers only by the release store of `tail` made
// after its bytes are written, so a writer that dies while copying leaves nothing visible;
// the count of a message rises in the same store as its LAST chunk, so qsize (tail count −
// head count) and JoinableQueue's unfinished tasks (tail count − tasks done) stay exact
// whatever dies when.
//
// Locks: one robust, process-shared pthread mutex for writers and one for readers. A
// process killed while holding one hands the next owner EOWNERDEAD; it makes the mutex
// consistent, and the ring is repaired as follows:
//   - a writer that died (or whose deadline passed) inside a streamed message leaves the
//     `w_open` flag and `w_start` (where the message began). The next writer, if no reader
//     is active (it can take the read lock too), takes the chunks back by moving `tail` to
//     `w_start` (to `head` if a dead reader had consumed part of them), and counts it in
//     `retracts` so readers drop their cached tail; if a reader is reading the message, the
//     writer ends it with an ABORT chunk instead. A reader waiting for the rest of a message
//     tries the write lock every 20 ms: if it gets it and the message is still open with
//     nothing more published, it drops what it collected;
//   - a reader that died inside a streamed message left continuation chunks at the head: any
//     reader skips chunks that do not start a message (counting a LAST it skips as consumed);
//   - a reader that died while copying a one-chunk message had not moved `head`: the next
//     reader receives that message.
// A writer dying while copying a one-chunk message published nothing: nothing to repair.
//
// Caches: each process's view keeps the other side's last position it read (a writer the
// head, a reader the tail), used under its lock; positions only grow (but for a retract,
// which readers detect), so a stale value only sends the holder to the shared one. A busy
// stream thus costs about one cache-line transfer per message, not two.
//
// Waiting: spin briefly (threading's adaptive budget), then sleep on a futex word without
// the private flag (`data_seq` for readers, `space_seq` for writers, `done` for join). A
// sleeper sets bit 0 of the word before its last check; the other side, after its store,
// calls futex_wake only when it finds the bit set, and clears it in the same
// compare-exchange: a busy stream makes no system call, and a stream to a sleeping reader
// makes one per sleep, not one per message. Waits happen without the lock, except for a
// writer in the middle of a streamed message (waiting for room) and a reader in the middle
// of one (waiting for chunks).
// Connections pass their socket (`sock`): a blocked wait is sliced (50 ms) and between
// slices (and before the first sleep, once any end was closed: `closes`; no poll(2) per
// message in a ping-pong), the socket is polled for hang-up (every copy of the
// peer's end closed, including by death), which ends the wait with kPeerGone; and writers
// send one byte on it as a doorbell when a reader sleeps in poll()/wait() (`pollers`).
//
// Memory ordering: data bytes → store of tail → load of tail by readers (release/acquire at
// least); readers' store of head → writers' load of head before they overwrite. The
// positions and the futex words are stored and loaded seq_cst (Dekker: the sleeper's CAS of
// the bit then its load of the position, against the notifier's store of the position then
// its load of the word), so either the sleeper sees the new position or the notifier sees
// the sleeper. No standalone fences (ThreadSanitizer does not model them); on x86 a seq_cst
// store is one xchg, the loads plain moves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "concur/timeout.hpp"

namespace concur::multiprocessing::detail {

struct RingHeader;

/// What a blocking ring call ended with.
enum class RingStatus {
  kOk,        ///< done
  kTimeout,   ///< the deadline passed (a put found no room, a get found no message)
  kPeerGone,  ///< the socket's peer has closed every copy (connections only)
};

/// Receives a whole message (valid only during the call). May throw: the message is then
/// consumed anyway and the exception propagates.
using RingConsumer = void (*)(void* context, std::span<const std::byte> message);

/// Optional, for messages whose encoding is a u64 type fingerprint, a u64 count, then flat
/// bytes (strings, vectors of trivially copyable elements): a streamed message is copied
/// from the ring straight into the object instead of being assembled first (one copy less
/// for large messages).
///   place(context, w0, w1)      the message's first 16 bytes as two words: returns where
///                               the bytes after them go (their expected size), or an empty
///                               span after a failure it keeps for done(). Must not throw.
///   done(context, bytes)        the message is complete (and consumed): `bytes` came after
///                               the first 16; may throw (a size mismatch, a kept failure).
///   dropped(context)            the message was dropped (its writer died or gave up).
///   append(context, bytes)      optional: when set, the bytes after the first 16 are handed
///                               over piece by piece as they leave the ring (place()'s span
///                               is then not used), so that the object can grow by them
///                               without being sized, and zero-filled, first. Must not throw.
struct RingPlacement {
  std::span<std::byte> (*place)(void* context, std::uint64_t w0, std::uint64_t w1) noexcept;
  void (*done)(void* context, std::uint64_t bytes);
  void (*dropped)(void* context) noexcept;
  void (*append)(void* context, std::span<const std::byte> bytes) noexcept = nullptr;
};

class Ring {
 public:
  static constexpr std::size_t kMinCapacity = 4096;
  static constexpr std::size_t kMaxCapacity = std::size_t{1} << 27;
  static constexpr std::uint32_t kMaxCount = (1U << 24) - 1;

  /// `requested` rounded up to a power of two in [kMinCapacity, kMaxCapacity] (ValueError
  /// above).
  static std::size_t round_capacity(std::size_t requested);
  /// Bytes a ring of `capacity` (already rounded) takes in a region: header + buffer,
  /// a multiple of 64.
  static std::size_t footprint(std::size_t capacity) noexcept;
  /// Constructs a ring at `at` (64-byte aligned, zeroed, footprint(capacity) bytes).
  /// `maxsize` 0 = no bound but the bytes; at most kMaxCount.
  static Ring create(void* at, std::size_t capacity, std::uint32_t maxsize);
  /// A view of the ring constructed at `at` by another process (or this one).
  static Ring attach(void* at);

  Ring() noexcept = default;

  /// Appends one message. Waits (until `deadline`) for the message count to be below
  /// maxsize and for room. kTimeout: nothing was sent (a streamed message cut by the
  /// deadline is dropped whole). kPeerGone (sock >= 0): the reader end is closed everywhere.
  RingStatus write(std::span<const std::byte> message, const Deadline& deadline, int sock = -1);
  /// As write(message), the message being `prefix` followed by `body` (gathered: no copy to
  /// join them first).
  RingStatus write(std::span<const std::byte> prefix, std::span<const std::byte> body,
                   const Deadline& deadline, int sock = -1);
  /// Removes the next message and hands it to `consume`. Waits until `deadline` for one to
  /// start; once a streamed message has started it is read to its end. kPeerGone: no
  /// message and the writer end is closed everywhere.
  RingStatus read(RingConsumer consume, void* context, const Deadline& deadline, int sock = -1,
                  const RingPlacement* placement = nullptr);

  /// True when a chunk is published and not yet consumed (a message, or the start of one).
  [[nodiscard]] bool has_data() const noexcept;
  /// Whole messages in the ring (exact while nobody puts or gets).
  [[nodiscard]] std::size_t qsize() const noexcept;
  [[nodiscard]] std::uint32_t maxsize() const noexcept;
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  /// JoinableQueue: one task done. Throws ValueError when every message put is done.
  void task_done();
  /// JoinableQueue: waits until every message put has been marked done; false on timeout.
  bool join(const Deadline& deadline);

  /// For tests and diagnostics: (head, tail) byte positions and message counts.
  struct Positions {
    std::uint64_t head_pos, tail_pos;
    std::uint32_t head_count, tail_count;
  };
  [[nodiscard]] Positions positions() const noexcept;

  /// Readers sleeping in poll()/wait() register here so writers ring the doorbell.
  void add_poller() noexcept;
  void remove_poller() noexcept;
  /// After a Connection end was closed: counts it (sleepers then check their peer before
  /// they sleep) and wakes every sleeper, so that they re-check their peer.
  void wake_all() noexcept;

 private:
  explicit Ring(RingHeader* h) noexcept;
  RingHeader* h_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t mask_ = 0;
  // This process's caches of the other side's position (lower bounds, so a stale value
  // only sends the holder to the shared one); each is used under its lock only.
  std::uint64_t w_head_ = 0;      // under the write lock
  std::uint64_t r_tail_ = 0;      // under the read lock
  std::uint32_t r_retracts_ = 0;  // under the read lock: the ring's retract count seen
};

/// True when every copy of `sock`'s peer is closed (POLLHUP); false for sock < 0.
bool peer_closed(int sock) noexcept;
/// Reads and drops pending doorbell bytes on `sock` (non-blocking).
void drain_doorbell(int sock) noexcept;

}  // namespace concur::multiprocessing::detail
