// A Connection over a stream socket (socket_connection.hpp).
#include "multiprocessing/socket_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "concur/exceptions.hpp"
#include "multiprocessing/handles.hpp"
#include "os/error.hpp"
#include "os/poll.hpp"
#include "os/socket.hpp"
#include "os/spin.hpp"

namespace concur::multiprocessing::detail {

namespace {

constexpr std::size_t kReadAhead = std::size_t{64} << 10;  // one read(2) takes up to this
constexpr std::size_t kFirstGrowth = std::size_t{1} << 20;
constexpr int kSpin = 100;  // recv(MSG_DONTWAIT) attempts before a blocking recv
constexpr std::uint64_t kShortMax = 0x7fffffff;  // CPython: larger lengths use -1 + 8 bytes

std::uint64_t load_be(const std::byte* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}
void store_be(std::byte* p, std::uint64_t v, std::size_t n) noexcept {
  for (std::size_t i = n; i-- > 0;) {
    p[i] = static_cast<std::byte>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

/// Counts an operation in flight, so that close() from another thread never frees the fd
/// under it: the last operation out closes it.
class SocketCore::Use {
 public:
  Use(SocketCore& c, bool want_read, bool want_write, const char* op) : c_(c) {
    c_.users_.fetch_add(1);
    if (c_.closed_.load()) {
      release();
      os::raise(EBADF, std::string("Connection.") + op + ": handle is closed");
    }
    try {
      c_.check(want_read, want_write, op);
    } catch (...) {
      release();
      throw;
    }
  }
  ~Use() { release(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

 private:
  void release() noexcept {
    if (released_) return;
    released_ = true;
    if (c_.users_.fetch_sub(1) == 1 && c_.closed_.load()) c_.close_fd_once();
  }
  SocketCore& c_;
  bool released_ = false;
};

SocketCore::SocketCore(os::Fd sock, std::size_t max_message)
    : ConnectionCore(true, true), fd_(sock.release()), max_message_(max_message) {}

SocketCore::~SocketCore() { close_fd_once(); }

void SocketCore::close_fd_once() noexcept { os::close_fd(fd_.exchange(-1)); }

void SocketCore::close() noexcept {
  closed_.store(true);
  if (users_.load() == 0) close_fd_once();
}

[[noreturn]] void SocketCore::fail(int err, const std::string& what) {
  close();
  os::raise(err, what);
}

void SocketCore::set_read_limits(Deadline deadline, int wake_fd) noexcept {
  std::lock_guard lock(recv_mu_);
  read_deadline_ = deadline;
  wake_fd_ = wake_fd;
}

void SocketCore::send(std::span<const std::byte> prefix, std::span<const std::byte> body) {
  Use use(*this, false, true, "send");
  const std::uint64_t n = prefix.size() + body.size();
  std::byte header[12];
  std::size_t header_len = 4;
  if (n > kShortMax) {
    store_be(header, 0xffffffffU, 4);
    store_be(header + 4, n, 8);
    header_len = 12;
  } else {
    store_be(header, n, 4);
  }
  std::span<const std::byte> parts[3] = {std::span<const std::byte>(header, header_len), prefix,
                                         body};
  std::lock_guard lock(send_mu_);
  const int fd = fd_.load();
  std::size_t first = 0;
  for (;;) {
    const long r = os::sendv_noexcept(fd, std::span(parts).subspan(first));
    if (r < 0) os::raise(static_cast<int>(-r), "Connection.send");
    auto left = static_cast<std::size_t>(r);
    while (first < 3 && left >= parts[first].size()) left -= parts[first++].size();
    if (first == 3) return;
    parts[first] = parts[first].subspan(left);
  }
}

std::size_t SocketCore::read_some(std::span<std::byte> dst) {
  const int fd = fd_.load();
  if (!read_deadline_.is_forever() || wake_fd_ >= 0) {
    os::PollItem items[2] = {{fd, os::kPollIn, 0}, {wake_fd_, os::kPollIn, 0}};
    const int n = os::poll_until(items, wake_fd_ >= 0 ? 2 : 1, read_deadline_);
    if (n == 0) throw concur::TimeoutError("Connection.recv: timed out");
    if (wake_fd_ >= 0 && items[1].revents != 0) os::raise(EBADF, "Listener: closed");
  }
  // A peer that answers within microseconds (a round trip) is read without sleeping: a
  // wake-up costs tens of µs on an idle virtual CPU. Not when the machine is loaded.
  long r = -EAGAIN;
  (void)os::spin_until(
      [&] {
        r = os::recv_noexcept(fd, dst.data(), dst.size(), true);
        return r != -EAGAIN;
      },
      kSpin);
  if (r == -EAGAIN) r = os::recv_noexcept(fd, dst.data(), dst.size());
  if (r < 0) fail(static_cast<int>(-r), "Connection.recv");
  return static_cast<std::size_t>(r);
}

bool SocketCore::fill(std::size_t n, bool frame_start) {
  if (end_ - pos_ >= n) return true;
  if (in_.size() < kReadAhead) in_.resize(kReadAhead);
  if (pos_ > 0) {  // keep what is left at the front
    std::memmove(in_.data(), in_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  while (end_ < n) {
    const std::size_t got = read_some(std::span(in_).subspan(end_));
    if (got == 0) {
      if (frame_start && end_ == 0) return false;
      fail(EPROTO, "Connection.recv: got end of file during message");
    }
    end_ += got;
  }
  return true;
}

std::span<const std::byte> SocketCore::read_frame(std::optional<std::size_t> maxlength,
                                                  const char* op) {
  const std::string name = std::string("Connection.") + op;
  if (!fill(4, true)) {
    buffered_.store(0);
    throw concur::EOFError(name + ": end of file");
  }
  const std::uint64_t n32 = load_be(in_.data() + pos_, 4);
  pos_ += 4;
  std::uint64_t size = n32;
  if (n32 == 0xffffffffU) {  // -1: an 8-byte length follows
    fill(8, false);
    size = load_be(in_.data() + pos_, 8);
    pos_ += 8;
  } else if (n32 > kShortMax) {
    fail(EPROTO, name + ": bad message length (negative)");
  }
  if (size > max_message_) {
    fail(EMSGSIZE, name + ": a message of " + std::to_string(size) +
                       " bytes exceeds the limit of " + std::to_string(max_message_) +
                       " bytes (max_message)");
  }
  if (maxlength && size > *maxlength) fail(EMSGSIZE, name + ": bad message length");
  const auto len = static_cast<std::size_t>(size);
  if (len <= kReadAhead) {
    fill(len, false);
    const std::span<const std::byte> msg(in_.data() + pos_, len);
    pos_ += len;
    buffered_.store(end_ - pos_);
    return msg;
  }
  // A large message: what was read ahead, then read(2) straight into a buffer that grows
  // with what arrives (never to the announced size at once).
  const std::size_t have = end_ - pos_;
  big_.assign(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
              in_.begin() + static_cast<std::ptrdiff_t>(end_));
  pos_ = end_ = 0;
  buffered_.store(0);
  std::size_t got = have;
  while (got < len) {
    if (big_.size() == got) {
      big_.resize(std::min(len, std::max(kFirstGrowth, 2 * big_.size())));
    }
    const std::size_t r = read_some(std::span(big_).subspan(got));
    if (r == 0) fail(EPROTO, name + ": got end of file during message");
    got += r;
  }
  return {big_.data(), len};
}

void SocketCore::recv(void (*take)(void*, std::span<const std::byte>), void* context,
                      const RingPlacement* /*placement: for rings only*/) {
  Use use(*this, true, false, "recv");
  std::lock_guard lock(recv_mu_);
  take(context, read_frame(std::nullopt, "recv"));
}

Buffer SocketCore::recv_bytes(std::optional<std::size_t> maxlength) {
  Use use(*this, true, false, "recv_bytes");
  std::lock_guard lock(recv_mu_);
  const auto msg = read_frame(maxlength, "recv_bytes");
  return Buffer(msg.begin(), msg.end());
}

bool SocketCore::poll(const Timeout& timeout) {
  Use use(*this, true, false, "poll");
  if (has_data()) return true;
  return os::wait_fd(fd_.load(), os::kPollIn, Deadline(timeout));
}

bool SocketCore::ready_after_poll(short revents) noexcept { return revents != 0 || has_data(); }

void SocketCore::encode(Buffer& out) const {
  const int fd = fd_.load();
  if (closed_.load() || fd < 0) os::raise(EBADF, "Connection: cannot pass a closed connection");
  put_trivial<std::uint8_t>(out, kSocketKind);
  put_trivial<std::uint32_t>(out, export_fd(fd, "Connection"));
  put_trivial<std::uint64_t>(out, max_message_);
}

std::shared_ptr<ConnectionCore> decode_socket(Reader& in) {
  const int borrowed = import_fd(get_trivial<std::uint32_t>(in), "Connection");
  const auto max_message = get_trivial<std::uint64_t>(in);
  os::Fd sock = os::dup_cloexec(borrowed, 3);
  return std::make_shared<SocketCore>(std::move(sock), static_cast<std::size_t>(max_message));
}

}  // namespace concur::multiprocessing::detail
