// src/os/fd.hpp: file descriptors. Internal.
//
// Rules every call here follows: fds are created close-on-exec atomically (so no child
// started by another thread inherits one by accident); EINTR is retried; close() is never
// retried (Linux has released the fd even when it reports EINTR). Functions named
// *_noexcept return -errno instead of throwing; the others throw the OSError family
// (error.hpp) naming the call.
#pragma once

#include <cstddef>
#include <utility>

namespace concur::os {

/// Owns one file descriptor.
class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

/// close(2) if fd >= 0, not retried on EINTR.
void close_fd(int fd) noexcept;

struct PipeFds {
  Fd read;
  Fd write;
};
/// pipe2(O_CLOEXEC).
PipeFds make_pipe();
struct SocketPair {
  Fd first;
  Fd second;
};
/// socketpair(AF_UNIX, type | SOCK_CLOEXEC).
SocketPair make_socketpair(int type);
/// fcntl(F_DUPFD_CLOEXEC, min).
Fd dup_cloexec(int fd, int min);
/// close_range(first, ~0U): closes every fd >= first. Async-signal-safe (for a child
/// between fork and exec or its own start).
void close_from(int first) noexcept;
/// fcntl(F_GETFD) succeeds.
bool fd_is_open(int fd) noexcept;
/// Sets or clears O_NONBLOCK.
void set_nonblocking(int fd, bool on);
/// fcntl(F_SETPIPE_SZ).
void set_pipe_size(int fd, int size);

/// posix_fallocate(fd, 0, size), EINTR retried: 0 or the error number. Reserves the pages
/// of a tmpfs file now, so that a full tmpfs fails here, not with SIGBUS on first touch.
int fallocate_noexcept(int fd, std::size_t size) noexcept;

/// read(2) once, EINTR retried: bytes read (0 at EOF) or -errno.
long read_noexcept(int fd, void* buf, std::size_t n) noexcept;
/// write(2) once, EINTR retried: bytes written or -errno (SIGPIPE not handled here).
long write_noexcept(int fd, const void* buf, std::size_t n) noexcept;
/// write(2) until all `n` bytes are written or an error: 0 or -errno. Async-signal-safe.
long write_all_noexcept(int fd, const void* buf, std::size_t n) noexcept;
/// Reads until `n` bytes or EOF or an error: bytes read, or -errno. Async-signal-safe.
long read_full_noexcept(int fd, void* buf, std::size_t n) noexcept;

}  // namespace concur::os
