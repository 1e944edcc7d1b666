// src/os/child.cpp: see child.hpp.
#include "os/child.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "os/error.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace concur::os {

Fd pidfd_open(int pid) {
  const int r = pidfd_open_noexcept(pid);
  if (r < 0) raise(-r, "pidfd_open");
  return Fd(r);
}

int pidfd_open_noexcept(int pid) noexcept {
  const long r = ::syscall(SYS_pidfd_open, pid, 0);
  return r < 0 ? -errno : static_cast<int>(r);
}

Fd pidfd_open_started(int pid) {
  const int r = pidfd_open_noexcept(pid);
  if (r >= 0) return Fd(r);
  ::kill(pid, SIGKILL);
  retry_eintr([&] { return ::waitpid(pid, nullptr, 0); });
  raise(-r, "pidfd_open");
}

int pidfd_send_signal_noexcept(int pidfd, int sig) noexcept {
  const long r = ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0);
  return r == 0 ? 0 : -errno;
}

int kill_group_noexcept(int pgid, int sig) noexcept { return ::kill(-pgid, sig) == 0 ? 0 : -errno; }

namespace {
WaitState wait_pidfd(int pidfd, int options, int* returncode) {
  for (;;) {
    siginfo_t info{};
    const int r = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
                           WEXITED | options);
    if (r == 0) {
      if (info.si_pid == 0) return WaitState::running;
      *returncode = exitcode_from(info.si_code, info.si_status);
      return WaitState::exited;
    }
    if (errno == EINTR) continue;
    if (errno == ECHILD) {
      *returncode = 0;
      return WaitState::lost;
    }
    raise_errno("waitid(P_PIDFD)");
  }
}
}  // namespace

WaitState try_reap(int pidfd, int* returncode) { return wait_pidfd(pidfd, WNOHANG, returncode); }

WaitState reap(int pidfd, int* returncode) { return wait_pidfd(pidfd, 0, returncode); }

int reap_noexcept(int pidfd, int* returncode) noexcept {
  siginfo_t info{};
  const int r = retry_eintr([&] {
    return ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED);
  });
  if (r != 0) return -errno;
  *returncode = exitcode_from(info.si_code, info.si_status);
  return 0;
}

int exitcode_from(int code, int status) noexcept { return code == CLD_EXITED ? status : -status; }

int returncode_from_status(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  if (WIFSTOPPED(status)) return -WSTOPSIG(status);
  return status;
}

}  // namespace concur::os
