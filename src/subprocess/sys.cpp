// The system-call wrappers of concur::subprocess (see concur/detail/subprocess_sys.hpp).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <system_error>

#include "concur/detail/subprocess_sys.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace concur::subprocess::detail {

static_assert(kPollIn == POLLIN && kPollOut == POLLOUT && kPollErr == POLLERR &&
              kPollHup == POLLHUP && kPollNval == POLLNVAL);
static_assert(sizeof(PollItem) == sizeof(pollfd) &&
              offsetof(PollItem, fd) == offsetof(pollfd, fd) &&
              offsetof(PollItem, events) == offsetof(pollfd, events) &&
              offsetof(PollItem, revents) == offsetof(pollfd, revents));
static_assert(sizeof(sigset_t) <= 128);

namespace {
[[noreturn]] void throw_errno(int err, const char* call) {
  throw std::system_error(err, std::system_category(), call);
}
}  // namespace

void Fd::reset() noexcept {
  if (fd_ >= 0) close_fd(std::exchange(fd_, -1));
}

void close_fd(int fd) noexcept {
  if (fd >= 0) ::close(fd);  // never retried: on Linux the fd is gone even on EINTR
}

PipeFds make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
  return PipeFds{Fd(fds[0]), Fd(fds[1])};
}

Fd dup_cloexec(int fd, int min) {
  const int r = ::fcntl(fd, F_DUPFD_CLOEXEC, min);
  if (r < 0) throw_errno(errno, "fcntl(F_DUPFD_CLOEXEC)");
  return Fd(r);
}

bool fd_is_open(int fd) noexcept { return fd >= 0 && ::fcntl(fd, F_GETFD) != -1; }

void set_nonblocking(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) throw_errno(errno, "fcntl(F_GETFL)");
  const int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags && ::fcntl(fd, F_SETFL, want) != 0) throw_errno(errno, "fcntl(F_SETFL)");
}

void set_pipe_size(int fd, int size) {
  if (::fcntl(fd, F_SETPIPE_SZ, size) < 0) throw_errno(errno, "fcntl(F_SETPIPE_SZ)");
}

long read_noexcept(int fd, char* buf, std::size_t n) noexcept {
  for (;;) {
    const ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return static_cast<long>(r);
    if (errno != EINTR) return -errno;
  }
}

long write_noexcept(int fd, const char* buf, std::size_t n) noexcept {
  for (;;) {
    const ssize_t r = ::write(fd, buf, n);
    if (r >= 0) return static_cast<long>(r);
    if (errno != EINTR) return -errno;
  }
}

int poll_until(PollItem* items, std::size_t n, const Deadline& deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (!deadline.is_forever()) {
      // Round up so that a poll never returns before the deadline.
      const auto left = deadline.remaining();
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      timeout_ms = static_cast<int>(std::min<long long>(ms, INT_MAX));
    }
    const int r = ::poll(reinterpret_cast<pollfd*>(items), static_cast<nfds_t>(n), timeout_ms);
    if (r > 0) return r;
    if (r == 0) {
      if (deadline.expired()) return 0;
      continue;  // woke early (rounding): wait for what is left
    }
    if (errno != EINTR) throw_errno(errno, "poll");
  }
}

Fd pidfd_open(int pid) {
  const long r = ::syscall(SYS_pidfd_open, pid, 0);
  if (r < 0) throw_errno(errno, "pidfd_open");
  return Fd(static_cast<int>(r));  // pidfds are always close-on-exec
}

int pidfd_send_signal_noexcept(int pidfd, int sig) noexcept {
  const long r = ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0);
  return r == 0 ? 0 : -errno;
}

int kill_group_noexcept(int pgid, int sig) noexcept { return ::kill(-pgid, sig) == 0 ? 0 : -errno; }

WaitState try_reap(int pidfd, int* returncode) {
  for (;;) {
    siginfo_t info{};
    const int r = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
                           WEXITED | WNOHANG);
    if (r == 0) {
      if (info.si_pid == 0) return WaitState::running;
      *returncode = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
      return WaitState::exited;
    }
    if (errno == EINTR) continue;
    if (errno == ECHILD) {
      *returncode = 0;
      return WaitState::lost;
    }
    throw_errno(errno, "waitid(P_PIDFD)");
  }
}

int returncode_from_status(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  if (WIFSTOPPED(status)) return -WSTOPSIG(status);
  return status;
}

SigpipeBlock::SigpipeBlock() noexcept {
  sigset_t pipe_set, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  auto* old = reinterpret_cast<sigset_t*>(old_mask_);
  pthread_sigmask(SIG_BLOCK, &pipe_set, old);
  was_blocked_ = sigismember(old, SIGPIPE) == 1;
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
}

SigpipeBlock::~SigpipeBlock() {
  if (!was_pending_) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
  }
  if (!was_blocked_) pthread_sigmask(SIG_SETMASK, reinterpret_cast<sigset_t*>(old_mask_), nullptr);
}

}  // namespace concur::subprocess::detail
