// The fork start method: fork(), then pidfd_open in the parent (race-free: an unreaped
// child's pid cannot be reused). The child forgets the parent's children, closes the fds
// meant for them, sets up its lifeline and runs the Process's run() in place.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "process_impl.hpp"

namespace concur::multiprocessing::detail {

namespace {

struct ForkChildArgs {
  Process* self;
};

void run_self(void* arg) { static_cast<ForkChildArgs*>(arg)->self->run(); }

}  // namespace

void start_fork(Process& self, ProcessState& st) {
  warn_if_threaded();
  const ChildInfo info = make_child_info(st, StartMethod::fork);

  int lifeline[2] = {-1, -1};
  std::fflush(nullptr);  // no buffered output written twice
  std::unique_lock lock(fork_mutex());
  if (::pipe2(lifeline, O_CLOEXEC) != 0) throw_os_error("pipe2");
  track_fd_locked(lifeline[1]);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child: this thread holds fork_mutex (copied locked); nothing else runs here.
    reset_after_fork_in_child();  // closes lifeline[1] too (tracked)
    lock.unlock();
    become_child(info, lifeline[0]);
    setup_lifeline(lifeline[0], info.pdeathsig, info.parent_pid);
    ForkChildArgs args{&self};
    finish_child(run_guarded(&run_self, &args, info.name));
  }
  const int fork_errno = errno;
  ::close(lifeline[0]);
  if (pid < 0) {
    untrack_fd_locked(lifeline[1]);
    ::close(lifeline[1]);
    errno = fork_errno;
    throw_os_error("fork");
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  // ESRCH: the child already ended and was reaped by someone else (SIGCHLD set to SIG_IGN:
  // the kernel; or a foreign waitpid(-1)). It started and ended; its status is lost (as
  // subprocess reports it). The sentinel is then an fd that is readable at once.
  const bool lost = pidfd < 0 && errno == ESRCH;
  if (lost) pidfd = ::eventfd(1, EFD_CLOEXEC);
  if (pidfd < 0) {
    const int e = errno;
    if (!lost) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    untrack_fd_locked(lifeline[1]);
    ::close(lifeline[1]);
    errno = e;
    throw_os_error(lost ? "eventfd" : "pidfd_open");
  }
  track_fd_locked(pidfd);
  lock.unlock();
  std::lock_guard slock(st.m);
  st.pid = pid;
  st.pidfd = pidfd;
  st.lifeline_w = lifeline[1];
  st.used = StartMethod::fork;
  st.phase = ProcessState::Phase::kStarted;
  if (lost) {
    st.exitcode = 0;
    st.lost = true;
  }
}

}  // namespace concur::multiprocessing::detail
