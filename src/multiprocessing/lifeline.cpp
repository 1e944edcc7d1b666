// A child never outlives its parent (design 0004 §2), and the fork warning.
//
// The lifeline is a pipe: the parent holds the only write end, the child the read end.
// The child asks the kernel for a signal when that pipe's last writer goes away: F_SETOWN
// (itself) + F_SETSIG(SIGKILL) + O_ASYNC on the read end. pipe_release() then sends the
// owner the signal (kill_fasync) however the parent ended — no thread in the child, no
// race with a parent that dies early (checked by a poll right after).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>

#include "process_impl.hpp"

namespace concur::multiprocessing {
namespace detail {

namespace {
int g_lifeline = -1;
bool g_pdeathsig = false;

struct WarnHook {
  std::mutex m;
  ForkWarningHook hook;
  std::atomic<bool> warned{false};
};
WarnHook& warn_hook() {
  static auto* w = new WarnHook();
  return *w;
}
}  // namespace

bool on_main_thread() noexcept { return ::gettid() == ::getpid(); }

void setup_lifeline(int fd, bool pdeathsig, pid_t expected_ppid) noexcept {
  g_lifeline = fd;
  g_pdeathsig = pdeathsig;
  ::fcntl(fd, F_SETOWN, ::getpid());
  ::fcntl(fd, F_SETSIG, SIGKILL);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_ASYNC);
  if (pdeathsig) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (expected_ppid > 0 && ::getppid() != expected_ppid) ::_exit(1);  // died before prctl
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0) {
    ::kill(::getpid(), SIGKILL);  // the parent died before F_SETSIG took effect
  }
}

int thread_count() noexcept {
  const int dir = ::open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return 0;
  int count = 0;
  alignas(8) char buf[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct Entry {
        ino64_t ino;
        off64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[1];
      };
      const auto* e = reinterpret_cast<const Entry*>(buf + off);
      if (e->name[0] != '.') ++count;
      off += e->reclen;
    }
  }
  ::close(dir);
  return count;
}

void warn_if_threaded() {
  const int n = thread_count();
  if (n <= 1) return;
  const std::string message = "This process (pid=" + std::to_string(::getpid()) +
                              ") is multi-threaded (" + std::to_string(n) +
                              " threads), use of fork() may lead to deadlocks in the child.";
  ForkWarningHook hook;
  {
    std::lock_guard lock(warn_hook().m);
    hook = warn_hook().hook;
  }
  if (hook) {
    hook(message);
    return;
  }
  if (warn_hook().warned.exchange(true)) return;
  const std::string line = "concur::multiprocessing: DeprecationWarning: " + message + "\n";
  (void)!::write(2, line.data(), line.size());
}

}  // namespace detail

ForkWarningHook set_fork_warning_hook(ForkWarningHook hook) {
  std::lock_guard lock(detail::warn_hook().m);
  ForkWarningHook old = std::move(detail::warn_hook().hook);
  detail::warn_hook().hook = std::move(hook);
  return old;
}

void set_parent_death_signal(int signum) {
  if (signum < 0 || signum >= NSIG) {
    throw ValueError("set_parent_death_signal: " + std::to_string(signum) +
                     " is not a signal number (0 for none)");
  }
  if (detail::g_lifeline < 0) return;
  const int fd = detail::g_lifeline;
  if (signum == 0) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_ASYNC);
  } else {
    ::fcntl(fd, F_SETSIG, signum);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_ASYNC);
  }
  if (detail::g_pdeathsig) ::prctl(PR_SET_PDEATHSIG, signum);
}

}  // namespace concur::multiprocessing
