// The fork start method: fork(), then pidfd_open in the parent (race-free: an unreaped
// child's pid cannot be reused). The child forgets the parent's children, closes the fds
// meant for them, sets up its lifeline and runs the Process's run() in place.
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
  os::Fd pidfd_owner;
  try {
    pidfd_owner = os::pidfd_open_started(pid);
  } catch (...) {
    untrack_fd_locked(lifeline.write.get());
    throw;
  }
  const int pidfd = pidfd_owner.release();
  track_fd_locked(pidfd);
  lock.unlock();
  std::lock_guard slock(st.m);
  st.pid = pid;
  st.pidfd = pidfd;
  st.lifeline_w = lifeline.write.release();
  st.used = StartMethod::fork;
  st.phase = ProcessState::Phase::kStarted;
}

}  // namespace concur::multiprocessing::detail
