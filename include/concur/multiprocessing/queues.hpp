// concur/multiprocessing/queues.hpp: Python's multiprocessing.Queue, SimpleQueue and
// JoinableQueue: FIFO queues shared between processes.
//
//   mp::Queue<std::string> q;                    // unbounded (but for its buffer, below)
//   mp::Process p([](mp::Queue<std::string> q) { q.put("hello"); }, q);
//   p.start();
//   std::string s = q.get();                     // "hello"
//   p.join();
//
// A queue is a message ring in shared memory (docs/design/0004-multiprocessing.md §7):
// every process that holds the queue puts and gets directly, with no helper thread and,
// while the stream is busy, no system call. Values cross through the codec
// (concur/multiprocessing/codec.hpp): T must be Picklable, checked at compile time.
//
// Sharing: copies of a Queue are the same queue (a handle). A child process receives one
// as an argument of its Process: under `fork` it inherits it, under `spawn`/`forkserver`
// the queue's shared memory travels with the start request. A queue cannot be put on a
// queue or sent on a Connection: encoding it there throws RuntimeError ("Queue objects
// should only be shared between processes through inheritance"), as in Python.
//
// Blocking and errors (Python's):
//   put(obj, block=true, timeout)  waits for room; queue::Full when the timeout passes, or at
//                                  once when block is false (the timeout is then ignored).
//   get(block=true, timeout)       waits for an item; queue::Empty likewise.
//   put/get on a closed Queue      ValueError("Queue is closed").
//   a value that fails to encode   the encoder's exception, from put itself; the queue is
//                                  unchanged (there is no feeder thread to report it later).
//   get of another type's message  TypeError naming both types (every message carries the
//                                  8-byte fingerprint of its type, codec.hpp); a malformed
//                                  one is ValueError. Either way the message is consumed.
// Timeouts follow concur::Timeout: a negative one is ValueError (Python treats it as 0).
//
// Differences from Python, deliberate:
//   - put is synchronous: the value is in shared memory when put returns. There is no
//     feeder thread, so no flush at exit, no join deadlock of a producer that exits before
//     its items are consumed, and no asynchronous encoding error (what CPython's
//     _TestQueue.test_queue_feeder_donot_stop_onexc checks holds trivially). close() and
//     join_thread() exist for parity:
//     close() makes this process's handle unusable (put/get raise ValueError; empty() raises
//     OSError once this handle has put, as Python's closed reader does); join_thread()
//     returns at once (ValueError before close(), as Python's assertion).
//   - "Unbounded" (maxsize <= 0) means bounded by the buffer (`buffer_bytes`, default 4 MiB,
//     at most 128 MiB): when it is full, put waits for a consumer, and put(block=false)
//     raises Full. Every message takes 8 bytes + its type fingerprint (8 bytes) + its
//     encoded size, rounded up to 8 (an int: 24 bytes, so 174762 of them fit in 4 MiB). A message
//     larger than half the buffer is streamed through it in chunks while the consumer reads: any
//     size works.
//   - qsize() is exact (Python's is approximate and may raise NotImplementedError); full()
//     is qsize() >= maxsize (always false when maxsize <= 0); maxsize is at most 2^24 - 1.
//   - A non-blocking (or short-timeout) put/get may wait up to 20 ms for another process's
//     put/get in progress to finish copying (so that it does not fail merely because of
//     contention).
//   - A get whose deadline passes after a streamed message has started keeps reading it;
//     a put whose deadline passes while streaming drops the message (nothing partial is
//     ever received) and raises Full.
//
// A process killed at any point (holding the queue's locks, in the middle of a message,
// blocked in put or get) never leaves the queue unusable for the others: the locks are
// robust and the next owner repairs the ring (a message cut short is dropped whole, a
// message whose reader died before taking it is received by the next reader).
//
// Thread safety: any number of threads and processes may put and get concurrently.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/ring.hpp"
#include "concur/queue.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

namespace detail {

class Region;

/// The non-template part of every queue: the shared ring and this process's handle state.
class QueueCore {
 public:
  enum class Kind : std::uint8_t { kQueue, kSimple, kJoinable };
  /// 4 MiB: a ring larger than twice a core's L2 cache (1 MiB on the machines measured)
  /// lets a large message stream at about half a memcpy's speed; one the size of L2 keeps
  /// every line in both cores' caches and streams at about a quarter of it (design 0004).
  static constexpr std::size_t kDefaultBuffer = std::size_t{4} << 20;

  QueueCore(Kind kind, long maxsize, std::size_t buffer_bytes);
  QueueCore(Kind kind, std::shared_ptr<Region> region);
  ~QueueCore();
  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

  void put(std::span<const std::byte> message, bool block, const Timeout& timeout);
  /// put of the message `prefix` + `body`.
  void put(std::span<const std::byte> prefix, std::span<const std::byte> body, bool block,
           const Timeout& timeout);
  /// `take` receives the message bytes (decode them there).
  void get(void (*take)(void*, std::span<const std::byte>), void* context, bool block,
           const Timeout& timeout, const RingPlacement* placement = nullptr);
  [[nodiscard]] std::size_t qsize() const;
  [[nodiscard]] bool empty() const;
  [[nodiscard]] bool full() const;
  [[nodiscard]] long maxsize() const noexcept;
  void close() noexcept;
  void join_thread() const;
  void task_done();
  bool join(const Timeout& timeout);
  void encode(Buffer& out, const char* what) const;
  static std::shared_ptr<QueueCore> decode(Reader& in, Kind kind, const char* what);

 private:
  void check_open(const char* op) const;
  Kind kind_;
  std::shared_ptr<Region> region_;
  void* ring_;  // a Ring, kept opaque here (concur/multiprocessing/detail/ring.hpp)
  std::atomic<bool> closed_{false};
  std::atomic<bool> used_{false};
};

/// A per-thread buffer to encode into, emptied (no allocation per put once warm). Cleared
/// here, out of line: GCC 12 at -O3 warns falsely (-Wstringop-overflow) about an insert into
/// a vector it has just seen cleared.
Buffer& encode_scratch() noexcept;

/// True for types whose encoding is a u64 count then their elements' bytes as they lie in
/// memory (their message: the type fingerprint, the count, the bytes) (std::string, std::vector of
/// arithmetic or other trivially copyable elements): put and send copy those straight from the
/// object to shared memory, with no encoding copy first.
template <class T>
consteval bool flat_wire() {
  if constexpr (kind_of<T>() == Kind::kString) {
    return sizeof(typename T::value_type) == 1;
  } else if constexpr (kind_of<T>() == Kind::kSequence) {
    using E = typename T::value_type;
    return std::is_same_v<T, std::vector<E, typename T::allocator_type>> &&
           kind_of<E>() == Kind::kTrivial;
  } else {
    return false;
  }
}

/// Where a get/recv decodes its message: a whole message is decoded from the ring (or the
/// assembly buffer); a streamed message of a flat_wire type is copied from the ring straight
/// into the value (RingPlacement, concur/multiprocessing/detail/ring.hpp).
template <class T>
struct Receiver {
  std::optional<T> value;
  std::exception_ptr error;

  static void whole(void* ctx, std::span<const std::byte> bytes) {
    auto& r = *static_cast<Receiver*>(ctx);
    Reader in(bytes);
    check_message_type<T>(in);
    r.value.emplace(decode<T>(in));
    in.expect_end();
  }
  static std::span<std::byte> place(void* ctx, std::uint64_t fp, std::uint64_t count) noexcept {
    auto& r = *static_cast<Receiver*>(ctx);
    using E = typename T::value_type;
    try {
      if (fp != fingerprint_of<T>()) wrong_message_type(fp, typeid(T).name());
      if (count > r.value.emplace().max_size()) {
        throw_bad_input("a message announces " + std::to_string(count) + " elements");
      }
      try {
        if constexpr (kAppends) {
          r.value->reserve(static_cast<std::size_t>(count));
          r.expected = static_cast<std::size_t>(count);
          return {};  // unused: append() takes the bytes
        } else {
          r.value->resize(static_cast<std::size_t>(count));
        }
      } catch (const std::exception&) {
        throw_bad_input("a message announces " + std::to_string(count) +
                        " elements, more than can be allocated");
      }
      return std::as_writable_bytes(std::span<E>(r.value->data(), r.value->size()));
    } catch (...) {
      r.error = std::current_exception();
      r.value.reset();
      return {};
    }
  }
  /// Strings grow by the ring's bytes as they come (no zero-filled resize first).
  static constexpr bool kAppends = flat_wire<T>() && kind_of<T>() == Kind::kString;
  std::size_t expected = 0;  // kAppends: the length the message announces
  static void append(void* ctx, std::span<const std::byte> bytes) noexcept {
    auto& r = *static_cast<Receiver*>(ctx);
    if constexpr (kAppends) {
      // More than announced: dropped; done() reports the length mismatch.
      if (r.error || !r.value || bytes.size() > r.expected - r.value->size()) return;
      r.value->append(reinterpret_cast<const typename T::value_type*>(bytes.data()), bytes.size());
    }
  }
  static void done(void* ctx, std::uint64_t bytes) {
    auto& r = *static_cast<Receiver*>(ctx);
    if (r.error) std::rethrow_exception(std::exchange(r.error, nullptr));
    const bool short_of_count = kAppends && r.value->size() != r.expected;
    if (short_of_count || bytes != r.value->size() * sizeof(typename T::value_type)) {
      r.value.reset();
      throw_bad_input("a message's length does not match the count it announces");
    }
  }
  static void dropped(void* ctx) noexcept {
    auto& r = *static_cast<Receiver*>(ctx);
    r.value.reset();
    r.error = nullptr;
  }
  /// The placement for T, or null when T is not flat_wire.
  static const RingPlacement* placement() noexcept;
};

/// Calls send(prefix, body) with T's message (its type fingerprint then its encoding, see
/// put_message_type): gathered for flat_wire types, else encoded into the per-thread
/// scratch buffer.
template <class T, class Send>
void with_encoding(const T& obj, Send&& send) {
  if constexpr (flat_wire<T>()) {
    const std::uint64_t head[2] = {fingerprint_of<T>(), obj.size()};
    send(std::as_bytes(std::span(head)), std::as_bytes(std::span(obj.data(), obj.size())));
  } else if constexpr (kind_of<T>() == Kind::kTrivial) {
    // Raw bytes (encode's own form for these): no encoding copy either.
    const std::uint64_t fp = fingerprint_of<T>();
    send(std::as_bytes(std::span(&fp, 1)), std::as_bytes(std::span(&obj, 1)));
  } else {
    Buffer& buf = encode_scratch();
    put_message_type<T>(buf);
    encode(buf, obj);
    send(std::span<const std::byte>(), std::span<const std::byte>(buf));
  }
}

template <class T>
const RingPlacement* Receiver<T>::placement() noexcept {
  if constexpr (flat_wire<T>()) {
    if constexpr (std::is_default_constructible_v<typename T::value_type>) {
      static constexpr RingPlacement p{&Receiver::place, &Receiver::done, &Receiver::dropped,
                                       kAppends ? &Receiver::append : nullptr};
      return &p;
    } else {
      return nullptr;
    }
  } else {
    return nullptr;
  }
}

/// Runs get(whole, context, placement) and returns the value received.
template <class T, class Get>
T receive(Get&& get) {
  Receiver<T> r;
  get(&Receiver<T>::whole, static_cast<void*>(&r), Receiver<T>::placement());
  return std::move(*r.value);
}

}  // namespace detail

/// Python: multiprocessing.Queue(maxsize=0). See the file comment.
template <class T>
class Queue {
 public:
  using value_type = T;
  using concur_handle_tag = void;

  /// A new queue. maxsize <= 0: bounded only by `buffer_bytes` (rounded up to a power of
  /// two, 4 KiB to 128 MiB). Throws ValueError for maxsize >= 2^24 or a buffer above 128 MiB,
  /// concur::OSError if the shared memory cannot be made.
  explicit Queue(long maxsize = 0, std::size_t buffer_bytes = detail::QueueCore::kDefaultBuffer)
      : core_(std::make_shared<detail::QueueCore>(kind(), maxsize, buffer_bytes)) {}

  /// Puts `obj`, waiting for room (block, up to `timeout`); queue::Full if there is none.
  void put(const T& obj, bool block = true, Timeout timeout = forever) {
    detail::with_encoding(
        obj, [&](auto prefix, auto body) { core_->put(prefix, body, block, timeout); });
  }
  /// put(obj, true, timeout).
  void put(const T& obj, Timeout timeout) { put(obj, true, timeout); }
  /// put(obj, false).
  void put_nowait(const T& obj) { put(obj, false); }

  /// Removes and returns the oldest item, waiting for one (block, up to `timeout`);
  /// queue::Empty if there is none.
  T get(bool block = true, Timeout timeout = forever) {
    return detail::receive<T>([&](auto take, void* ctx, auto placement) {
      core_->get(take, ctx, block, timeout, placement);
    });
  }
  /// get(true, timeout).
  T get(Timeout timeout) { return get(true, timeout); }
  /// get(false).
  T get_nowait() { return get(false); }

  /// Items in the queue (exact at the moment it is read).
  [[nodiscard]] std::size_t qsize() const { return core_->qsize(); }
  /// qsize() == 0. OSError ("is closed") after close() of a handle that has put.
  [[nodiscard]] bool empty() const { return core_->empty(); }
  /// qsize() >= maxsize (false when maxsize <= 0).
  [[nodiscard]] bool full() const { return core_->full(); }
  /// This process's handle can no longer put or get (other processes are not affected).
  void close() noexcept { core_->close(); }
  /// Returns at once (put is synchronous); ValueError before close(), as Python's assert.
  void join_thread() const { core_->join_thread(); }
  /// Does nothing: there is no feeder thread to wait for (Python parity).
  void cancel_join_thread() noexcept {}

  /// Copies share the queue.
  friend bool operator==(const Queue& a, const Queue& b) noexcept { return a.core_ == b.core_; }

  // Crossing to a child process (src/multiprocessing/handles.hpp).
  void concur_encode_handle(Buffer& out) const { core_->encode(out, "Queue"); }
  static Queue concur_decode_handle(Reader& in) {
    return Queue(detail::QueueCore::decode(in, kind(), "Queue"));
  }

 protected:
  explicit Queue(std::shared_ptr<detail::QueueCore> core) noexcept : core_(std::move(core)) {}
  static constexpr detail::QueueCore::Kind kind() noexcept {
    return detail::QueueCore::Kind::kQueue;
  }
  std::shared_ptr<detail::QueueCore> core_;
};

/// Python: multiprocessing.JoinableQueue(maxsize=0): a Queue whose consumers report each
/// item done, so that a producer can wait for all of them.
///
///   mp::JoinableQueue<int> q;
///   ... consumers: auto x = q.get(); work(x); q.task_done();
///   q.join();  // every item put has been marked done
template <class T>
class JoinableQueue : public Queue<T> {
 public:
  using concur_handle_tag = void;
  explicit JoinableQueue(long maxsize = 0,
                         std::size_t buffer_bytes = detail::QueueCore::kDefaultBuffer)
      : Queue<T>(std::make_shared<detail::QueueCore>(detail::QueueCore::Kind::kJoinable, maxsize,
                                                     buffer_bytes)) {}

  /// One item taken by get() is done. ValueError("task_done() called too many times") when
  /// every item put is already done.
  void task_done() { this->core_->task_done(); }
  /// Waits until every item put (by any process) has been marked done.
  void join() { this->core_->join(forever); }
  /// As join(), up to `timeout`: false if items are still not done (Python has no timeout).
  bool join(Timeout timeout) { return this->core_->join(timeout); }

  void concur_encode_handle(Buffer& out) const { this->core_->encode(out, "JoinableQueue"); }
  static JoinableQueue concur_decode_handle(Reader& in) {
    return JoinableQueue(
        detail::QueueCore::decode(in, detail::QueueCore::Kind::kJoinable, "JoinableQueue"));
  }

 private:
  explicit JoinableQueue(std::shared_ptr<detail::QueueCore> core) noexcept
      : Queue<T>(std::move(core)) {}
};

/// Python: multiprocessing.SimpleQueue(): put, get, empty, close. Same ring as Queue, no
/// maxsize. After close() every call raises OSError ("is closed"); closing twice is fine.
template <class T>
class SimpleQueue {
 public:
  using value_type = T;
  using concur_handle_tag = void;

  explicit SimpleQueue(std::size_t buffer_bytes = detail::QueueCore::kDefaultBuffer)
      : core_(std::make_shared<detail::QueueCore>(detail::QueueCore::Kind::kSimple, 0,
                                                  buffer_bytes)) {}

  /// Puts `obj`, waiting while the buffer is full.
  void put(const T& obj) {
    detail::with_encoding(obj,
                          [&](auto prefix, auto body) { core_->put(prefix, body, true, forever); });
  }
  /// Removes and returns the oldest item, waiting for one.
  T get() { return get(forever); }
  /// As get(), up to `timeout`: queue::Empty if none came (Python's get has no timeout).
  T get(Timeout timeout) {
    return detail::receive<T>([&](auto take, void* ctx, auto placement) {
      core_->get(take, ctx, true, timeout, placement);
    });
  }
  [[nodiscard]] bool empty() const { return core_->empty(); }
  void close() noexcept { core_->close(); }

  friend bool operator==(const SimpleQueue& a, const SimpleQueue& b) noexcept {
    return a.core_ == b.core_;
  }
  void concur_encode_handle(Buffer& out) const { core_->encode(out, "SimpleQueue"); }
  static SimpleQueue concur_decode_handle(Reader& in) {
    return SimpleQueue(
        detail::QueueCore::decode(in, detail::QueueCore::Kind::kSimple, "SimpleQueue"));
  }

 private:
  explicit SimpleQueue(std::shared_ptr<detail::QueueCore> core) noexcept : core_(std::move(core)) {}
  std::shared_ptr<detail::QueueCore> core_;
};

}  // namespace concur::multiprocessing
