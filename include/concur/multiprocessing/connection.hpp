// concur/multiprocessing/connection.hpp: Python's multiprocessing.Pipe, Connection and
// multiprocessing.connection.wait.
//
//   auto [parent, child] = mp::Pipe<std::string>();
//   mp::Process p([](mp::Connection<std::string> c) { c.send(c.recv() + "!"); }, child);
//   p.start();
//   parent.send("hi");
//   parent.recv();                                  // "hi!"
//   p.join();
//
// Pipe<T>(duplex=true) returns two connected Connection<T>. Each direction is a message
// ring in shared memory (docs/design/0004-multiprocessing.md §7), plus one Unix socket pair
// that the kernel keeps for us: it tells a reader that every copy of the other end is
// closed (end of file, also when the process holding it died), and it is the doorbell that
// wakes poll() and connection::wait(). While messages flow, send and recv make no system
// call. Messages are never merged or split; any size works (a message larger than half the
// ring is streamed through it in chunks).
//
// Blocking: send returns once the message is in the ring; when there is no room (a slow
// reader, or a message larger than the free part of the ring) it waits for the reader, as
// a write to a full OS pipe does. recv waits for a message (poll(timeout) is the timed
// variant).
//
// Values: send/recv carry T through the codec (concur/multiprocessing/codec.hpp; T must be
// Picklable, checked at compile time); send_bytes/recv_bytes carry raw bytes: recv_bytes
// returns a concur::Bytes (concur/bytes.hpp), which send_bytes takes back as it is, like
// any byte span or string. Both travel as messages on the same ring: recv_bytes of a send
// gives the message, T's 8-byte type fingerprint then T's encoding (codec.hpp), and
// send_bytes of those bytes is received by recv as the T.
//
// Errors (Python's):
//   recv/recv_bytes with nothing left and the peer closed     concur::EOFError
//   recv of a message that holds another type than T         concur::TypeError (both named)
//   recv of a malformed message                              concur::ValueError
//   recv_bytes_into into a buffer too small                  BufferTooShort (whole message)
//   any call on a closed Connection                          OSError "handle is closed"
//   send on a read-only / recv, poll on a write-only end     OSError ("...is read-only")
//   send_bytes(buf, offset, size) out of range               ValueError
//   send that must wait for room while the reader end is     OSError (EPIPE)
//   closed everywhere
//
// Differences from Python, deliberate:
//   - typed: Connection<T> sends and receives T (Python's send pickles any object).
//   - poll(timeout) takes a concur::Timeout (default 0: do not wait; concur::forever for
//     None); a negative one is ValueError, where Python's poll(-1) returns at once.
//   - a send that finds room succeeds even when the peer is gone (the message is dropped
//     with the ring); Python raises BrokenPipeError when the OS pipe notices.
//   - a sleeping recv notices a peer that died within 50 ms (one that close()s at once).
//   - no fileno(): wait on connections with connection::wait (their socket is readable only
//     while a poller is registered).
//   - Listener/Client (connections over sockets): concur/multiprocessing/listener.hpp.
//
// Sharing: copies of a Connection are the same end (close() on one closes all copies in
// this process). A child receives one as an argument of its Process (inherited under fork;
// under spawn/forkserver its shared memory and socket travel with the start request). It
// cannot be sent on a Queue or a Connection (RuntimeError: only through inheritance).
//
// Thread safety: a Connection may be used by several threads and processes at once; each
// message is sent and received whole (robust locks per direction, as for queues).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "concur/bytes.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "concur/multiprocessing/queues.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

namespace connection {
template <class T>
class Connection;
}  // namespace connection

namespace detail {

/// The non-template part of a Connection, an interface with two implementations: a
/// Pipe's shared-memory rings (connection.cpp) and a socket of a Listener or Client
/// (socket_connection.cpp, concur/multiprocessing/listener.hpp).
class ConnectionCore {
 public:
  /// As a Queue's (QueueCore::kDefaultBuffer): 4 MiB per direction.
  static constexpr std::size_t kDefaultBuffer = std::size_t{4} << 20;
  static std::pair<std::shared_ptr<ConnectionCore>, std::shared_ptr<ConnectionCore>> pipe(
      bool duplex, std::size_t buffer_bytes);

  ConnectionCore(bool readable, bool writable) noexcept
      : readable_(readable), writable_(writable) {}
  virtual ~ConnectionCore() = default;
  ConnectionCore(const ConnectionCore&) = delete;
  ConnectionCore& operator=(const ConnectionCore&) = delete;

  void send_bytes(std::span<const std::byte> message);
  /// Sends the message `prefix` + `body`.
  virtual void send(std::span<const std::byte> prefix, std::span<const std::byte> body) = 0;
  /// Python's send_bytes(buf, offset, size) checks.
  void send_bytes(std::span<const std::byte> buf, std::int64_t offset,
                  std::optional<std::int64_t> size);
  virtual void recv(void (*take)(void*, std::span<const std::byte>), void* context,
                    const RingPlacement* placement = nullptr) = 0;
  virtual Buffer recv_bytes(std::optional<std::size_t> maxlength);
  std::size_t recv_bytes_into(std::span<std::byte> buf, std::size_t offset);
  virtual bool poll(const Timeout& timeout) = 0;
  virtual void close() noexcept = 0;
  [[nodiscard]] virtual bool closed() const noexcept = 0;
  [[nodiscard]] bool readable() const noexcept { return readable_; }
  [[nodiscard]] bool writable() const noexcept { return writable_; }

  // connection::wait: the fd to poll(2), and what its events mean.
  [[nodiscard]] virtual int socket() const noexcept = 0;
  /// True when a recv would not wait, without asking the kernel.
  [[nodiscard]] virtual bool has_data() const noexcept = 0;
  /// After poll(2) reported `revents` on socket(): whether this end is ready (a message
  /// waiting, or end of file).
  virtual bool ready_after_poll(short revents) noexcept = 0;
  virtual void add_poller() noexcept {}
  virtual void remove_poller() noexcept {}

  virtual void encode(Buffer& out) const = 0;
  static std::shared_ptr<ConnectionCore> decode(Reader& in);

 protected:
  void check(bool want_read, bool want_write, const char* op) const;

 private:
  bool readable_;
  bool writable_;
};

/// How Listener, Client and the handshake reach a Connection's core.
struct ConnectionAccess {
  template <class T>
  static connection::Connection<T> make(std::shared_ptr<ConnectionCore> core) {
    return connection::Connection<T>(std::move(core));
  }
  template <class T>
  static ConnectionCore& core(connection::Connection<T>& c) noexcept {
    return *c.core_;
  }
};

}  // namespace detail

namespace connection {

/// Something connection::wait can wait on: a Connection (ready when a message is waiting,
/// or at end of file), or a file descriptor (a socket, a pipe, a Process's sentinel():
/// ready when poll(2) reports it readable or hung up). Borrowed: the fd stays the caller's.
class Waitable {
 public:
  Waitable(int fd) noexcept : fd_(fd) {}  // NOLINT(google-explicit-constructor)
  template <class T>
  Waitable(const Connection<T>& c) noexcept  // NOLINT(google-explicit-constructor)
      : conn_(c.core_) {}

  /// The file descriptor given, or -1 for a connection.
  [[nodiscard]] int fd() const noexcept { return conn_ ? -1 : fd_; }
  [[nodiscard]] bool is_connection() const noexcept { return conn_ != nullptr; }

  friend bool operator==(const Waitable& a, const Waitable& b) noexcept {
    return a.conn_ == b.conn_ && (a.conn_ != nullptr || a.fd_ == b.fd_);
  }

 private:
  friend std::vector<Waitable> wait(const std::vector<Waitable>& objects, Timeout timeout);
  std::shared_ptr<detail::ConnectionCore> conn_;
  int fd_ = -1;
};

/// Python: multiprocessing.connection.wait(object_list, timeout=None). Waits until at least
/// one of `objects` is ready or the timeout passes; returns the ready ones, in the order
/// given (empty on timeout). A connection whose peer is closed counts as ready (its recv
/// raises EOFError). Throws OSError for a closed Connection or an invalid fd, ValueError
/// for a negative timeout (Python returns [] at once).
std::vector<Waitable> wait(const std::vector<Waitable>& objects, Timeout timeout = forever);

/// Python: multiprocessing.connection.Connection. See the file comment.
template <class T>
class Connection {
 public:
  using value_type = T;
  using concur_handle_tag = void;

  /// Sends `obj` (encoded by the codec) as one message; waits while the ring is full.
  void send(const T& obj) {
    detail::with_encoding(obj, [&](auto prefix, auto body) { core_->send(prefix, body); });
  }
  /// Waits for the next message and decodes it as T. EOFError when nothing is left and the
  /// peer is closed; TypeError (naming both types) if the message holds another type;
  /// ValueError if it is malformed (shorter than a type fingerprint: send_bytes of other
  /// bytes, say). The message is consumed either way.
  T recv() {
    return detail::receive<T>(
        [&](auto take, void* ctx, auto placement) { core_->recv(take, ctx, placement); });
  }

  /// Python's send_bytes(buf, offset, size): sends bytes [offset, offset + size) of `buf`
  /// (size omitted: to the end) as one message, without copying them first. `buf` is any
  /// contiguous range of std::byte: a concur::Bytes (what recv_bytes returns, so
  /// `b.send_bytes(a.recv_bytes())` forwards a message), a std::vector<std::byte>, a
  /// SharedMemory's buf(), a std::span. ValueError for a negative offset or size, or a
  /// range beyond `buf`.
  void send_bytes(std::span<const std::byte> buf, std::int64_t offset = 0,
                  std::optional<std::int64_t> size = std::nullopt) {
    core_->send_bytes(buf, offset, size);
  }
  /// The same for the bytes of a string (std::string, a literal, a std::string_view);
  /// offset and size count bytes.
  void send_bytes(std::string_view s, std::int64_t offset = 0,
                  std::optional<std::int64_t> size = std::nullopt) {
    core_->send_bytes(std::as_bytes(std::span(s.data(), s.size())), offset, size);
  }
  /// The next message's bytes (`.str()` / `.string_view()` for text). With `maxlength`, a
  /// longer message raises OSError and closes the connection (Python's "bad message
  /// length").
  Bytes recv_bytes(std::optional<std::size_t> maxlength = std::nullopt) {
    return core_->recv_bytes(maxlength);
  }
  /// Reads the next message into `buf` at byte `offset`; returns its size. `buf` is any
  /// writable contiguous range of std::byte (a concur::Bytes sized beforehand, as Python's
  /// bytearray, a std::vector<std::byte>, a SharedMemory's buf()). ValueError if offset >
  /// buf.size(); BufferTooShort (holding the whole message as Bytes, which is consumed) if
  /// it does not fit.
  std::size_t recv_bytes_into(std::span<std::byte> buf, std::size_t offset = 0) {
    return core_->recv_bytes_into(buf, offset);
  }
  /// Whether a message (or end of file) is waiting, waiting up to `timeout` for one.
  bool poll(Timeout timeout = std::chrono::seconds(0)) { return core_->poll(timeout); }

  /// Closes this end (every copy in this process). Idempotent.
  void close() noexcept { core_->close(); }
  [[nodiscard]] bool closed() const noexcept { return core_->closed(); }
  [[nodiscard]] bool readable() const noexcept { return core_->readable(); }
  [[nodiscard]] bool writable() const noexcept { return core_->writable(); }

  friend bool operator==(const Connection& a, const Connection& b) noexcept {
    return a.core_ == b.core_;
  }
  friend bool operator==(const Waitable& w, const Connection& c) noexcept {
    return w == Waitable(c);
  }

  void concur_encode_handle(Buffer& out) const { core_->encode(out); }
  static Connection concur_decode_handle(Reader& in) {
    return Connection(detail::ConnectionCore::decode(in));
  }

 private:
  template <class U>
  friend std::pair<Connection<U>, Connection<U>> Pipe(bool, std::size_t);
  friend class Waitable;
  friend struct detail::ConnectionAccess;
  explicit Connection(std::shared_ptr<detail::ConnectionCore> core) noexcept
      : core_(std::move(core)) {}
  std::shared_ptr<detail::ConnectionCore> core_;
};

/// Python: multiprocessing.Pipe(duplex=True). Two connected ends. With duplex false the
/// first end can only receive and the second only send. `buffer_bytes`: the ring of each
/// direction (default 4 MiB, as a Queue's: a large message streams at cache speed;
/// rounded up to a power of two, at most 128 MiB).
template <class T>
std::pair<Connection<T>, Connection<T>> Pipe(
    bool duplex = true, std::size_t buffer_bytes = detail::ConnectionCore::kDefaultBuffer) {
  auto [a, b] = detail::ConnectionCore::pipe(duplex, buffer_bytes);
  return {Connection<T>(std::move(a)), Connection<T>(std::move(b))};
}

}  // namespace connection

using connection::Connection;
using connection::Pipe;

}  // namespace concur::multiprocessing
