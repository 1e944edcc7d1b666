// src/multiprocessing/socket_connection.hpp: a Connection over a stream socket (what
// Listener::accept and Client return). Internal; the public side is
// concur/multiprocessing/listener.hpp, the wire format docs/design/0006-managers.md §1.
//
// Framing, as CPython's multiprocessing.connection: each message is a 4-byte big-endian
// signed length then the bytes; a message of 2 GiB or more is the length -1, then an 8-byte
// big-endian length, then the bytes. A length beyond max_message (or a negative one other
// than -1) is refused before anything is allocated for it: the connection is closed and
// recv throws OSError (EMSGSIZE / EPROTO). The body is read into a buffer that grows as
// bytes arrive (doubling), so a peer that announces 60 MiB and sends nothing holds no
// memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "concur/multiprocessing/connection.hpp"
#include "os/fd.hpp"

namespace concur::multiprocessing::detail {

/// The kinds of Connection handles (the first byte of ConnectionCore::encode).
inline constexpr std::uint8_t kRingKind = 1;
inline constexpr std::uint8_t kSocketKind = 2;

std::shared_ptr<ConnectionCore> decode_socket(Reader& in);

class SocketCore final : public ConnectionCore {
 public:
  SocketCore(os::Fd sock, std::size_t max_message);
  ~SocketCore() override;
  SocketCore(const SocketCore&) = delete;
  SocketCore& operator=(const SocketCore&) = delete;

  void send(std::span<const std::byte> prefix, std::span<const std::byte> body) override;
  void recv(void (*take)(void*, std::span<const std::byte>), void* context,
            const RingPlacement* placement) override;
  Buffer recv_bytes(std::optional<std::size_t> maxlength) override;
  bool poll(const Timeout& timeout) override;
  void close() noexcept override;
  [[nodiscard]] bool closed() const noexcept override { return closed_.load(); }
  [[nodiscard]] int socket() const noexcept override { return fd_.load(); }
  [[nodiscard]] bool has_data() const noexcept override { return buffered_.load() > 0; }
  bool ready_after_poll(short revents) noexcept override;
  void encode(Buffer& out) const override;

  /// While a handshake runs: every read waits at most until `deadline`
  /// (concur::TimeoutError) and stops with OSError(EBADF) when `wake_fd` becomes readable
  /// (the Listener was closed). Deadline() and -1 restore plain blocking reads.
  void set_read_limits(Deadline deadline, int wake_fd) noexcept;

 private:
  class Use;
  /// Reads the next frame (under recv_mu_); the span is valid until the next read.
  std::span<const std::byte> read_frame(std::optional<std::size_t> maxlength, const char* op);
  /// Reads until `n` bytes are buffered; false at end of file before any byte was read.
  bool fill(std::size_t n, bool frame_start);
  /// One read(2) into `dst`, after waiting as set_read_limits says.
  std::size_t read_some(std::span<std::byte> dst);
  [[noreturn]] void fail(int err, const std::string& what);
  void close_fd_once() noexcept;

  std::atomic<int> fd_;
  std::atomic<bool> closed_{false};
  std::atomic<int> users_{0};
  std::size_t max_message_;
  std::mutex send_mu_;
  std::mutex recv_mu_;
  // Under recv_mu_: bytes read ahead [pos_, end_) of in_, and a large message's buffer.
  std::vector<std::byte> in_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::vector<std::byte> big_;
  std::atomic<std::size_t> buffered_{0};  // end_ - pos_, for has_data() from any thread
  Deadline read_deadline_;
  int wake_fd_ = -1;
};

}  // namespace concur::multiprocessing::detail
