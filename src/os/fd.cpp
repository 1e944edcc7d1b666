// src/os/fd.cpp: see fd.hpp.
#include "os/fd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "os/error.hpp"

namespace concur::os {

void Fd::reset() noexcept {
  if (fd_ >= 0) close_fd(std::exchange(fd_, -1));
}

void close_fd(int fd) noexcept {
  if (fd >= 0) ::close(fd);  // never retried: on Linux the fd is gone even on EINTR
}

PipeFds make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) raise_errno("pipe2");
  return PipeFds{Fd(fds[0]), Fd(fds[1])};
}

SocketPair make_socketpair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) raise_errno("socketpair");
  return SocketPair{Fd(fds[0]), Fd(fds[1])};
}

Fd dup_cloexec(int fd, int min) {
  const int r = ::fcntl(fd, F_DUPFD_CLOEXEC, min);
  if (r < 0) raise_errno("fcntl(F_DUPFD_CLOEXEC)");
  return Fd(r);
}

void close_from(int first) noexcept {
  ::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U);
}

bool fd_is_open(int fd) noexcept { return fd >= 0 && ::fcntl(fd, F_GETFD) != -1; }

void set_nonblocking(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) raise_errno("fcntl(F_GETFL)");
  const int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags && ::fcntl(fd, F_SETFL, want) != 0) raise_errno("fcntl(F_SETFL)");
}

void set_pipe_size(int fd, int size) {
  if (::fcntl(fd, F_SETPIPE_SZ, size) < 0) raise_errno("fcntl(F_SETPIPE_SZ)");
}

int fallocate_noexcept(int fd, std::size_t size) noexcept {
  int err = 0;
  do {
    err = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  } while (err == EINTR);
  return err;
}

long read_noexcept(int fd, void* buf, std::size_t n) noexcept {
  const ssize_t r = retry_eintr([&] { return ::read(fd, buf, n); });
  return r >= 0 ? static_cast<long>(r) : -errno;
}

long write_noexcept(int fd, const void* buf, std::size_t n) noexcept {
  const ssize_t r = retry_eintr([&] { return ::write(fd, buf, n); });
  return r >= 0 ? static_cast<long>(r) : -errno;
}

long write_all_noexcept(int fd, const void* buf, std::size_t n) noexcept {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    const long r = write_noexcept(fd, p, n);
    if (r < 0) return r;
    if (r == 0) return -EIO;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return 0;
}

long read_full_noexcept(int fd, void* buf, std::size_t n) noexcept {
  char* p = static_cast<char*>(buf);
  std::size_t got = 0;
  while (got < n) {
    const long r = read_noexcept(fd, p + got, n - got);
    if (r < 0) return r;
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return static_cast<long>(got);
}

}  // namespace concur::os
