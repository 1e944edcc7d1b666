// src/os/socket.cpp: see socket.hpp.
#include "os/socket.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "concur/exceptions.hpp"
#include "os/error.hpp"
#include "os/poll.hpp"

namespace concur::os {

static_assert(sizeof(SockAddr::storage) >= sizeof(sockaddr_storage));

int SockAddr::family() const noexcept {
  sockaddr_storage ss{};
  std::memcpy(&ss, storage, sizeof ss);
  return ss.ss_family;
}

namespace {

const sockaddr* raw(const SockAddr& a) noexcept {
  return reinterpret_cast<const sockaddr*>(a.storage);  // NOLINT: the kernel's layout
}
sockaddr* raw(SockAddr& a) noexcept {
  return reinterpret_cast<sockaddr*>(a.storage);  // NOLINT: the kernel's layout
}

}  // namespace

SockAddr unix_address(std::string_view path) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (path.empty()) throw ValueError("AF_UNIX address: empty path");
  if (path.size() >= sizeof un.sun_path) {
    throw ValueError("AF_UNIX path too long (at most " + std::to_string(sizeof un.sun_path - 1) +
                     " bytes)");
  }
  if (path[0] != '\0' && path.find('\0') != std::string_view::npos) {
    throw ValueError("AF_UNIX path: embedded null byte");
  }
  std::memcpy(un.sun_path, path.data(), path.size());
  SockAddr a;
  // An abstract name is exactly its bytes; a path is terminated by its '\0'.
  a.len = static_cast<unsigned>(offsetof(sockaddr_un, sun_path) + path.size() +
                                (path[0] == '\0' ? 0 : 1));
  std::memcpy(a.storage, &un, sizeof un);
  return a;
}

SockAddr inet_address(const std::string& host, int port) {
  if (port < 0 || port > 65535) throw ValueError("port must be 0-65535");
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    const int err = rc == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
    raise(err, "getaddrinfo(" + host + "): " + ::gai_strerror(rc));
  }
  sockaddr_in in{};
  std::memcpy(&in, res->ai_addr, sizeof in);
  ::freeaddrinfo(res);
  in.sin_port = htons(static_cast<std::uint16_t>(port));
  SockAddr a;
  a.len = sizeof in;
  std::memcpy(a.storage, &in, sizeof in);
  return a;
}

SockName describe(const SockAddr& a) {
  SockName n;
  if (a.family() == AF_UNIX) {
    sockaddr_un un{};
    std::memcpy(&un, a.storage, sizeof un);
    const std::size_t base = offsetof(sockaddr_un, sun_path);
    std::size_t len = a.len > base ? a.len - base : 0;
    if (len > 0 && un.sun_path[0] != '\0') len = ::strnlen(un.sun_path, len);
    n.path_or_host.assign(un.sun_path, len);
    return n;
  }
  sockaddr_in in{};
  std::memcpy(&in, a.storage, sizeof in);
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &in.sin_addr, buf, sizeof buf);
  n.is_unix = false;
  n.path_or_host = buf;
  n.port = ntohs(in.sin_port);
  return n;
}

Fd stream_socket(int family) {
  return Fd(checked("socket", [&] { return ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0); }));
}

void bind_listen(int fd, const SockAddr& a, int backlog) {
  if (a.family() == AF_INET) {
    const int one = 1;
    checked("setsockopt(SO_REUSEADDR)",
            [&] { return ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); });
  }
  checked("bind", [&] { return ::bind(fd, raw(a), a.len); });
  checked("listen", [&] { return ::listen(fd, backlog); });
  set_nonblocking(fd, true);  // accept_ready must never block
}

SockAddr local_address(int fd) {
  SockAddr a;
  socklen_t len = sizeof a.storage;
  checked("getsockname", [&] { return ::getsockname(fd, raw(a), &len); });
  a.len = len;
  return a;
}

Fd accept_ready(int fd, SockAddr& peer) {
  for (;;) {
    socklen_t len = sizeof peer.storage;
    const int c = ::accept4(fd, raw(peer), &len, SOCK_CLOEXEC);
    if (c >= 0) {
      peer.len = len;
      return Fd(c);
    }
    // Errors of the new connection (ECONNABORTED, EPROTO...) mean: it is gone, try later.
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == ECONNABORTED || errno == EPROTO) return Fd();
    raise_errno("accept4");
  }
}

void connect_until(int fd, const SockAddr& a, const Deadline& deadline) {
  set_nonblocking(fd, true);
  if (::connect(fd, raw(a), a.len) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) raise_errno("connect");
    // AF_UNIX with a full backlog says EAGAIN: retry until the deadline.
    for (;;) {
      if (!wait_fd(fd, kPollOut, deadline)) throw TimeoutError("connect: timed out");
      int err = 0;
      socklen_t len = sizeof err;
      checked("getsockopt(SO_ERROR)",
              [&] { return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len); });
      if (err == 0 && a.family() == AF_INET) break;
      if (err != 0) raise(err, "connect");
      // AF_UNIX after EAGAIN: try again (writable said the backlog may have room).
      if (::connect(fd, raw(a), a.len) == 0 || errno == EISCONN) break;
      if (errno != EAGAIN && errno != EINTR) raise_errno("connect");
      if (deadline.expired()) throw TimeoutError("connect: timed out");
      sleep_until(Deadline(Deadline::Clock::now() + std::chrono::milliseconds(1)));
    }
  }
  set_nonblocking(fd, false);
}

void set_nodelay(int fd) {
  const int one = 1;
  checked("setsockopt(TCP_NODELAY)",
          [&] { return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); });
}

std::string make_private_dir(const char* prefix) {
  const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): read only
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) raise_errno("mkdtemp(" + templ + ")");
  return templ;
}

void remove_file_noexcept(const std::string& path) noexcept { (void)::unlink(path.c_str()); }
void remove_dir_noexcept(const std::string& path) noexcept { (void)::rmdir(path.c_str()); }

long sendv_noexcept(int fd, std::span<const std::span<const std::byte>> parts) noexcept {
  iovec iov[4];
  std::size_t n = 0;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (n == 4) return -EINVAL;
    iov[n].iov_base = const_cast<std::byte*>(p.data());  // NOLINT: iovec is not const
    iov[n].iov_len = p.size();
    ++n;
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  const long r = retry_eintr([&] { return ::sendmsg(fd, &msg, MSG_NOSIGNAL); });
  return r < 0 ? -errno : r;
}

long recv_noexcept(int fd, void* buf, std::size_t n, bool dont_wait) noexcept {
  const int flags = dont_wait ? MSG_DONTWAIT : 0;
  const long r = retry_eintr([&] { return ::recv(fd, buf, n, flags); });
  return r < 0 ? -errno : r;
}

}  // namespace concur::os
