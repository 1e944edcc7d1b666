// src/os/child.hpp: child processes through pidfds: signalling and reaping. Internal.
//
// concur never calls waitpid(-1) and installs no SIGCHLD handler: each child is waited for
// through its own pidfd (poll it for POLLIN, then waitid(P_PIDFD)), so a library that
// reaps its own children elsewhere in the program is never disturbed, and a pid is never
// signalled after it was reused.
#pragma once

#include "os/fd.hpp"

namespace concur::os {

/// pidfd_open(2) (close-on-exec by nature).
Fd pidfd_open(int pid);
/// pidfd_open(2): the fd or -errno.
int pidfd_open_noexcept(int pid) noexcept;
/// pidfd_open(2) of a child this process has just started and not yet reaped: if it
/// fails, the child is SIGKILLed and reaped (it must not run unwatched), then the error
/// is raised.
Fd pidfd_open_started(int pid);
/// pidfd_send_signal(2): 0 or -errno.
int pidfd_send_signal_noexcept(int pidfd, int sig) noexcept;
/// kill(-pgid, sig): 0 or -errno.
int kill_group_noexcept(int pgid, int sig) noexcept;

enum class WaitState { running, exited, lost };
/// waitid(P_PIDFD, WEXITED | WNOHANG): `exited` with *returncode set (exit status or
/// -signal), `running`, or `lost` when the kernel reaped it (ECHILD: SIGCHLD ignored;
/// *returncode is then 0, as CPython's subprocess reports it).
WaitState try_reap(int pidfd, int* returncode);
/// waitid(P_PIDFD, WEXITED), blocking: `exited` or `lost`, as try_reap.
WaitState reap(int pidfd, int* returncode);
/// waitid(P_PIDFD, WEXITED), blocking, EINTR retried, for async-signal-safe callers:
/// 0 with *returncode set as try_reap does, or -errno (ECHILD: reaped elsewhere).
int reap_noexcept(int pidfd, int* returncode) noexcept;
/// waitid's si_code and si_status as Python's exit code: the status, or -signal.
int exitcode_from(int code, int status) noexcept;
/// A waitpid(2)-style status as Python's returncode: exit status, -signal when killed,
/// -signal when stopped.
int returncode_from_status(int status) noexcept;

}  // namespace concur::os
