// Pipe, Connection, connection::wait (concur/multiprocessing/connection.hpp).
#include "concur/multiprocessing/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/region.hpp"
#include "concur/multiprocessing/detail/ring.hpp"
#include "multiprocessing/handles.hpp"
#include "multiprocessing/socket_connection.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
#include "os/poll.hpp"

namespace concur::multiprocessing {

namespace detail {

namespace {

Ring* ring(void* p) noexcept { return static_cast<Ring*>(p); }

// The OSError family: EBADF a closed handle, EPIPE BrokenPipeError, ...
[[noreturn]] void os_error(int err, const std::string& what) { os::raise(err, what); }

constexpr std::uint8_t kReadable = 1;
constexpr std::uint8_t kWritable = 2;
constexpr std::uint8_t kSecond = 4;

struct TakeBytes {
  Buffer* out;
  std::optional<std::size_t> maxlength;
  bool too_long = false;
};

void take_bytes(void* ctx, std::span<const std::byte> bytes) {
  auto& t = *static_cast<TakeBytes*>(ctx);
  if (t.maxlength && bytes.size() > *t.maxlength) {
    t.too_long = true;
    return;
  }
  t.out->assign(bytes.begin(), bytes.end());
}

struct TakeInto {
  std::span<std::byte> buf;
  std::size_t offset;
  std::size_t size = 0;
};

void take_into(void* ctx, std::span<const std::byte> bytes) {
  auto& t = *static_cast<TakeInto*>(ctx);
  if (bytes.size() > t.buf.size() - t.offset) {
    throw BufferTooShort(Buffer(bytes.begin(), bytes.end()));
  }
  if (!bytes.empty()) std::memcpy(t.buf.data() + t.offset, bytes.data(), bytes.size());
  t.size = bytes.size();
}

/// A Pipe's end: a ring per direction in shared memory, and a socket pair as doorbell and
/// end-of-file detector.
class RingCore final : public ConnectionCore {
 public:
  RingCore(std::shared_ptr<Region> region, int sock, bool readable, bool writable, bool second);
  ~RingCore() override;
  RingCore(const RingCore&) = delete;
  RingCore& operator=(const RingCore&) = delete;

  void send(std::span<const std::byte> prefix, std::span<const std::byte> body) override;
  void recv(void (*take)(void*, std::span<const std::byte>), void* context,
            const RingPlacement* placement) override;
  bool poll(const Timeout& timeout) override;
  void close() noexcept override;
  [[nodiscard]] bool closed() const noexcept override { return sock_.load() < 0; }
  [[nodiscard]] int socket() const noexcept override { return sock_.load(); }
  [[nodiscard]] bool has_data() const noexcept override;
  bool ready_after_poll(short revents) noexcept override;
  void add_poller() noexcept override;
  void remove_poller() noexcept override;
  void encode(Buffer& out) const override;
  static std::shared_ptr<ConnectionCore> decode_ring(Reader& in);

 private:
  std::shared_ptr<Region> region_;
  void* rx_ = nullptr;  // Ring* (concur/multiprocessing/detail/ring.hpp), null when write-only
  void* tx_ = nullptr;  // Ring*, null when read-only
  std::atomic<int> sock_;
  bool second_;  // which ring of the region is rx (duplex: the second end reads ring 0)
};

}  // namespace

std::pair<std::shared_ptr<ConnectionCore>, std::shared_ptr<ConnectionCore>> ConnectionCore::pipe(
    bool duplex, std::size_t buffer_bytes) {
  const std::size_t cap = Ring::round_capacity(buffer_bytes);
  const std::size_t one = Ring::footprint(cap);
  auto region = Region::create(duplex ? 2 * one : one, "Connection");
  Ring::create(region->data(), cap, 0);
  if (duplex) Ring::create(static_cast<std::byte*>(region->data()) + one, cap, 0);
  int sv[2];
  {
    os::SocketPair pair = os::make_socketpair(SOCK_STREAM);
    sv[0] = pair.first.release();
    sv[1] = pair.second.release();
  }
  std::shared_ptr<ConnectionCore> a;
  std::shared_ptr<ConnectionCore> b;
  try {
    if (duplex) {
      a = std::make_shared<RingCore>(region, sv[0], true, true, false);
      b = std::make_shared<RingCore>(region, sv[1], true, true, true);
    } else {
      a = std::make_shared<RingCore>(region, sv[0], true, false, false);
      b = std::make_shared<RingCore>(region, sv[1], false, true, false);
    }
  } catch (...) {
    if (!a) ::close(sv[0]);
    if (!b) ::close(sv[1]);
    throw;
  }
  return {std::move(a), std::move(b)};
}

RingCore::RingCore(std::shared_ptr<Region> region, int sock, bool readable, bool writable,
                   bool second)
    : ConnectionCore(readable, writable), region_(std::move(region)), sock_(sock), second_(second) {
  // Layout: ring 0 (first end → second end), then ring 1 (second → first) when duplex.
  const Ring r0 = Ring::attach(region_->data());
  const std::size_t one = Ring::footprint(r0.capacity());
  const bool duplex = readable && writable;
  if (region_->size() < (duplex ? 2 * one : one)) {
    throw concur::ValueError("Connection: the shared region is truncated");
  }
  auto* base = static_cast<std::byte*>(region_->data());
  if (duplex) {
    const Ring r1 = Ring::attach(base + one);
    rx_ = new Ring(second ? r0 : r1);
    tx_ = new Ring(second ? r1 : r0);
  } else if (readable) {
    rx_ = new Ring(r0);
  } else {
    tx_ = new Ring(r0);
  }
}

RingCore::~RingCore() {
  close();
  delete ring(rx_);
  delete ring(tx_);
}

void ConnectionCore::check(bool want_read, bool want_write, const char* op) const {
  if (closed()) os_error(EBADF, std::string("Connection.") + op + ": handle is closed");
  if (want_read && !readable()) {
    os_error(EBADF, std::string("Connection.") + op + ": connection is write-only");
  }
  if (want_write && !writable()) {
    os_error(EBADF, std::string("Connection.") + op + ": connection is read-only");
  }
}

void ConnectionCore::send_bytes(std::span<const std::byte> message) {
  send(std::span<const std::byte>(), message);
}

void RingCore::send(std::span<const std::byte> prefix, std::span<const std::byte> body) {
  check(false, true, "send");
  const RingStatus st = ring(tx_)->write(prefix, body, Deadline(), sock_);
  if (st == RingStatus::kPeerGone) {
    os_error(EPIPE, "Connection.send: the other end is closed (broken pipe)");
  }
}

void ConnectionCore::send_bytes(std::span<const std::byte> buf, std::int64_t offset,
                                std::optional<std::int64_t> size) {
  check(false, true, "send_bytes");
  const auto n = static_cast<std::int64_t>(buf.size());
  if (offset < 0) throw concur::ValueError("send_bytes: offset is negative");
  if (offset > n) throw concur::ValueError("send_bytes: buffer length < offset");
  const std::int64_t count = size ? *size : n - offset;
  if (count < 0) throw concur::ValueError("send_bytes: size is negative");
  if (offset + count > n) throw concur::ValueError("send_bytes: buffer length < offset + size");
  send_bytes(buf.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(count)));
}

void RingCore::recv(void (*take)(void*, std::span<const std::byte>), void* context,
                    const RingPlacement* placement) {
  check(true, false, "recv");
  const RingStatus st = ring(rx_)->read(take, context, Deadline(), sock_, placement);
  if (st == RingStatus::kPeerGone) throw concur::EOFError("Connection.recv: end of file");
}

Buffer ConnectionCore::recv_bytes(std::optional<std::size_t> maxlength) {
  Buffer out;
  TakeBytes t{&out, maxlength};
  recv(&take_bytes, &t);
  if (t.too_long) {
    close();
    os_error(EMSGSIZE, "Connection.recv_bytes: bad message length");
  }
  return out;
}

std::size_t ConnectionCore::recv_bytes_into(std::span<std::byte> buf, std::size_t offset) {
  check(true, false, "recv_bytes_into");
  if (offset > buf.size()) throw concur::ValueError("recv_bytes_into: offset out of bounds");
  TakeInto t{buf, offset};
  recv(&take_into, &t);
  return t.size;
}

bool RingCore::has_data() const noexcept { return rx_ != nullptr && ring(rx_)->has_data(); }
bool RingCore::ready_after_poll(short revents) noexcept {
  if ((revents & os::kPollIn) != 0) drain_doorbell(socket());
  return has_data() || (revents & (os::kPollHup | os::kPollErr)) != 0;
}
void RingCore::add_poller() noexcept {
  if (rx_ != nullptr) ring(rx_)->add_poller();
}
void RingCore::remove_poller() noexcept {
  if (rx_ != nullptr) ring(rx_)->remove_poller();
}

bool RingCore::poll(const Timeout& timeout) {
  check(true, false, "poll");
  if (has_data()) return true;
  if (peer_closed(sock_)) return true;  // end of file: recv will not block
  const Deadline d(timeout);
  if (d.expired()) return false;
  add_poller();
  struct Unregister {
    RingCore* c;
    ~Unregister() { c->remove_poller(); }
  } unregister{this};
  for (;;) {
    if (has_data()) return true;
    os::PollItem p{sock_, os::kPollIn, 0};
    const int r = os::poll_until(&p, 1, d);
    if (has_data()) return true;
    if (r > 0) {
      if ((p.revents & (os::kPollHup | os::kPollErr)) != 0) return true;
      drain_doorbell(sock_);
    }
    if (d.expired()) return has_data();
  }
}

void RingCore::close() noexcept {
  const int fd = sock_.exchange(-1);
  if (fd < 0) return;
  ::close(fd);
  // Sleepers of this process on either ring re-check (a peer in another process learns of
  // the close through its socket when this was the last copy: wake it too).
  if (rx_ != nullptr) ring(rx_)->wake_all();
  if (tx_ != nullptr) ring(tx_)->wake_all();
}

void RingCore::encode(Buffer& out) const {
  if (sock_.load() < 0) os_error(EBADF, "Connection: cannot pass a closed connection");
  put_trivial<std::uint8_t>(out, kRingKind);
  region_->encode(out, "Connection");
  put_trivial<std::uint32_t>(out, export_fd(sock_, "Connection"));
  const std::uint8_t flags = static_cast<std::uint8_t>(
      (readable() ? kReadable : 0) | (writable() ? kWritable : 0) | (second_ ? kSecond : 0));
  put_trivial<std::uint8_t>(out, flags);
}

std::shared_ptr<ConnectionCore> ConnectionCore::decode(Reader& in) {
  const auto kind = get_trivial<std::uint8_t>(in);
  if (kind == kRingKind) return RingCore::decode_ring(in);
  if (kind == kSocketKind) return decode_socket(in);
  throw concur::ValueError("malformed Connection handle: unknown kind");
}

std::shared_ptr<ConnectionCore> RingCore::decode_ring(Reader& in) {
  auto region = Region::decode(in, "Connection");
  const int borrowed = import_fd(get_trivial<std::uint32_t>(in), "Connection");
  const auto flags = get_trivial<std::uint8_t>(in);
  if ((flags & ~(kReadable | kWritable | kSecond)) != 0 || (flags & (kReadable | kWritable)) == 0) {
    throw concur::ValueError("malformed Connection handle: bad flags");
  }
  const int sock = ::fcntl(borrowed, F_DUPFD_CLOEXEC, 3);
  if (sock < 0) os_error(errno, "fcntl(F_DUPFD_CLOEXEC, Connection)");
  try {
    return std::make_shared<RingCore>(std::move(region), sock, (flags & kReadable) != 0,
                                      (flags & kWritable) != 0, (flags & kSecond) != 0);
  } catch (...) {
    ::close(sock);
    throw;
  }
}

}  // namespace detail

namespace connection {

std::vector<Waitable> wait(const std::vector<Waitable>& objects, Timeout timeout) {
  const Deadline d(timeout);
  for (const auto& w : objects) {
    if (w.conn_ && w.conn_->closed()) {
      os::raise(EBADF, "connection.wait: a connection is closed");
    }
  }
  for (const auto& w : objects) {
    if (w.conn_) w.conn_->add_poller();
  }
  struct Unregister {
    const std::vector<Waitable>& objects;
    ~Unregister() {
      for (const auto& w : objects) {
        if (w.conn_) w.conn_->remove_poller();
      }
    }
  } unregister{objects};
  std::vector<os::PollItem> fds(objects.size());
  std::vector<Waitable> ready;
  for (;;) {
    bool any_data = false;
    for (std::size_t i = 0; i < objects.size(); ++i) {
      const auto& w = objects[i];
      fds[i] = os::PollItem{w.conn_ ? w.conn_->socket() : w.fd_, os::kPollIn, 0};
      if (w.conn_ && w.conn_->has_data()) any_data = true;
    }
    // Data already in a ring: only look, do not wait.
    (void)os::poll_until(fds.data(), fds.size(), any_data ? Deadline(Deadline::Clock::now()) : d);
    for (std::size_t i = 0; i < objects.size(); ++i) {
      const auto& w = objects[i];
      const short ev = fds[i].revents;
      if ((ev & os::kPollNval) != 0) {
        os::raise(EBADF, "connection.wait: fd " + std::to_string(fds[i].fd) + " is not open");
      }
      if (w.conn_) {
        if (w.conn_->ready_after_poll(ev)) ready.push_back(w);
      } else if (ev != 0) {
        ready.push_back(w);
      }
    }
    if (!ready.empty() || d.expired()) return ready;
  }
}

}  // namespace connection

}  // namespace concur::multiprocessing
