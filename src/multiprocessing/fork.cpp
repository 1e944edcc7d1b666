// The fork start method: fork(), then pidfd_open in the parent (race-free: an unreaped
// child's pid cannot be reused). The child forgets the parent's children, closes the fds
// meant for them, sets up its lifeline and runs the Process's run() in place.
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "os/child.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
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

  std::fflush(nullptr);  // no buffered output written twice
  std::unique_lock lock(fork_mutex());
  os::PipeFds lifeline = os::make_pipe();
  track_fd_locked(lifeline.write.get());
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child: this thread holds fork_mutex (copied locked); nothing else runs here.
    reset_after_fork_in_child();  // closes the lifeline's write end too (tracked)
    lock.unlock();
    const int lifeline_r = lifeline.read.release();
    (void)lifeline.write.release();  // closed already
    become_child(info, lifeline_r);
    setup_lifeline(lifeline_r, info.pdeathsig, info.parent_pid);
    ForkChildArgs args{&self};
    finish_child(run_guarded(&run_self, &args, info.name));
  }
  const int fork_errno = errno;
  lifeline.read.reset();
  if (pid < 0) {
    untrack_fd_locked(lifeline.write.get());
    os::raise(fork_errno, "fork");
  }
  int pidfd = os::pidfd_open_noexcept(pid);
  // ESRCH: the child already ended and was reaped by someone else (SIGCHLD set to SIG_IGN:
  // the kernel; or a foreign waitpid(-1)). It started and ended; its status is lost (as
  // subprocess reports it). The sentinel is then an fd that is readable at once.
  const bool lost = pidfd == -ESRCH;
  if (lost) {
    pidfd = ::eventfd(1, EFD_CLOEXEC);
    if (pidfd < 0) pidfd = -errno;
  }
  if (pidfd < 0) {
    if (!lost) {
      ::kill(pid, SIGKILL);
      os::retry_eintr([&] { return ::waitpid(pid, nullptr, 0); });
    }
    untrack_fd_locked(lifeline.write.get());
    os::raise(-pidfd, lost ? "eventfd" : "pidfd_open");
  }
  track_fd_locked(pidfd);
  lock.unlock();
  std::lock_guard slock(st.m);
  st.pid = pid;
  st.pidfd = pidfd;
  st.lifeline_w = lifeline.write.release();
  st.used = StartMethod::fork;
  st.phase = ProcessState::Phase::kStarted;
  if (lost) {
    st.exitcode = 0;
    st.lost = true;
  }
}

}  // namespace concur::multiprocessing::detail
