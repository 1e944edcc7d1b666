// src/os/socket.hpp: stream sockets (AF_UNIX, AF_INET) for multiprocessing.connection's
// Listener and Client. Internal.
//
// Same rules as fd.hpp: every socket is created close-on-exec atomically (socket,
// accept4 with SOCK_CLOEXEC), EINTR is retried, timed calls recompute the time left, and
// failures throw the OSError family naming the call. Sends use MSG_NOSIGNAL (a peer that
// went away is EPIPE, never SIGPIPE).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "concur/timeout.hpp"
#include "os/fd.hpp"

namespace concur::os {

/// A socket address as the kernel takes it (a struct sockaddr_storage and its length).
struct SockAddr {
  alignas(8) unsigned char storage[128] = {};
  unsigned len = 0;
  [[nodiscard]] int family() const noexcept;
};

/// AF_UNIX address for `path`; a path whose first byte is '\0' names a Linux abstract
/// socket (no file). ValueError when it does not fit sun_path (107 bytes) or is empty.
SockAddr unix_address(std::string_view path);
/// AF_INET address of `host` (a dotted quad or a name, resolved with getaddrinfo for
/// AF_INET only) and `port`. ValueError for a port outside [0, 65535]; OSError(ENOENT-like
/// gaierror) naming getaddrinfo when the name does not resolve.
SockAddr inet_address(const std::string& host, int port);

/// What a SockAddr says: AF_UNIX → `path` (abstract: '\0' first; unnamed: empty), AF_INET →
/// `host` as a dotted quad and `port`.
struct SockName {
  bool is_unix = true;
  std::string path_or_host;
  int port = 0;
};
SockName describe(const SockAddr& a);

/// socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0).
Fd stream_socket(int family);
/// setsockopt(SO_REUSEADDR) for AF_INET, bind(2), listen(2); the socket is then
/// non-blocking (accept_ready's rule).
void bind_listen(int fd, const SockAddr& a, int backlog);
/// getsockname(2).
SockAddr local_address(int fd);
/// accept4(SOCK_CLOEXEC) on a non-blocking listening socket that poll said was readable:
/// the new connection (blocking), and `peer` filled; an empty Fd when none was in fact
/// waiting (another thread took it, or the peer gave up).
Fd accept_ready(int fd, SockAddr& peer);
/// connect(2) bounded by `deadline` (non-blocking connect, then poll for the result; the
/// socket is left blocking). concur::TimeoutError when the deadline passes.
void connect_until(int fd, const SockAddr& a, const Deadline& deadline);
/// TCP_NODELAY (AF_INET only; no-op for AF_UNIX).
void set_nodelay(int fd);

/// mkdtemp(3) of "<$TMPDIR or /tmp>/<prefix>XXXXXX" (mode 0700): the directory made.
std::string make_private_dir(const char* prefix);
/// unlink(2) / rmdir(2), errors ignored (cleanup at close).
void remove_file_noexcept(const std::string& path) noexcept;
void remove_dir_noexcept(const std::string& path) noexcept;

/// sendmsg(2) of `parts` (at most 4; empty ones skipped) gathered, MSG_NOSIGNAL, EINTR retried:
/// bytes sent or -errno.
long sendv_noexcept(int fd, std::span<const std::span<const std::byte>> parts) noexcept;
/// recv(2) once, EINTR retried: bytes read (0 at EOF) or -errno. With `dont_wait`
/// (MSG_DONTWAIT), -EAGAIN when nothing is there.
long recv_noexcept(int fd, void* buf, std::size_t n, bool dont_wait = false) noexcept;

}  // namespace concur::os
