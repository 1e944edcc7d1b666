// concur/detail/subprocess_sys.hpp: the thin wrappers over the system calls that
// concur::subprocess makes (all defined in src/subprocess/sys.cpp). Not for users.
//
// Rules every wrapper follows (no fd leaks into a child, no call cut short by a signal):
// fds are created close-on-exec atomically; EINTR is retried, timed calls recompute the
// time left from a monotonic Deadline; close() is never retried. Functions named
// *_noexcept return -errno instead of throwing; the others throw std::system_error naming
// the call.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "concur/timeout.hpp"

namespace concur::subprocess::detail {

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

/// close(2), not retried on EINTR (Linux has released the fd already).
void close_fd(int fd) noexcept;

struct PipeFds {
  Fd read;
  Fd write;
};
/// pipe2(O_CLOEXEC).
PipeFds make_pipe();
/// fcntl(F_DUPFD_CLOEXEC, min).
Fd dup_cloexec(int fd, int min);
/// fcntl(F_GETFD) succeeds.
bool fd_is_open(int fd) noexcept;
/// Sets or clears O_NONBLOCK.
void set_nonblocking(int fd, bool on);
/// fcntl(F_SETPIPE_SZ).
void set_pipe_size(int fd, int size);

/// read(2) once, EINTR retried: bytes read (0 at EOF) or -errno.
long read_noexcept(int fd, char* buf, std::size_t n) noexcept;
/// write(2) once, EINTR retried: bytes written or -errno (SIGPIPE not handled here).
long write_noexcept(int fd, const char* buf, std::size_t n) noexcept;

/// poll(2) events, the same values as <poll.h> (checked in sys.cpp).
inline constexpr short kPollIn = 0x001;
inline constexpr short kPollOut = 0x004;
inline constexpr short kPollErr = 0x008;
inline constexpr short kPollHup = 0x010;
inline constexpr short kPollNval = 0x020;
/// Layout of struct pollfd (checked in sys.cpp).
struct PollItem {
  int fd;
  short events;
  short revents;
};
/// poll(2) until something is ready or `deadline` passes: the number of ready
/// items, 0 on timeout. EINTR is retried with the time left.
int poll_until(PollItem* items, std::size_t n, const Deadline& deadline);

/// pidfd_open(2).
Fd pidfd_open(int pid);
/// pidfd_send_signal(2): 0 or -errno.
int pidfd_send_signal_noexcept(int pidfd, int sig) noexcept;
/// kill(-pgid, sig): 0 or -errno.
int kill_group_noexcept(int pgid, int sig) noexcept;

enum class WaitState { running, exited, lost };
/// waitid(P_PIDFD, WEXITED | WNOHANG): `exited` with *returncode set (exit status or
/// -signal), `running`, or `lost` when the kernel reaped it (ECHILD: SIGCHLD ignored).
WaitState try_reap(int pidfd, int* returncode);
/// A waitpid(2)-style status as Python's returncode: exit status, -signal when
/// killed, -signal when stopped.
int returncode_from_status(int status) noexcept;

/// Blocks SIGPIPE in the calling thread for its lifetime; on destruction consumes
/// a SIGPIPE raised meanwhile (sigtimedwait, zero timeout) unless one was already
/// pending before, then restores the thread's mask. The process-wide disposition is
/// never touched.
class SigpipeBlock {
 public:
  SigpipeBlock() noexcept;
  ~SigpipeBlock();
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  alignas(8) unsigned char old_mask_[128];
  bool was_pending_ = false;
  bool was_blocked_ = false;
};

}  // namespace concur::subprocess::detail
