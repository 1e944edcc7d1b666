// Helpers for the shared_memory tests: forked children with a bounded wait, unique names,
// /dev/shm checks, and reading a pipe to EOF with a bound.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <string>

namespace shm_test {

/// A name no other test (or concurrent run) uses: "concur_t<pid>_<tag>".
inline std::string unique_name(const std::string& tag) {
  return "concur_t" + std::to_string(::getpid()) + "_" + tag;
}

inline bool shm_exists(const std::string& name) {
  return std::filesystem::exists("/dev/shm/" + name);
}

/// Forks; the child runs `body` (which returns its exit code; an exception is 99) and
/// _exit()s without running the parent's destructors or atexit handlers.
template <class F>
pid_t fork_child(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 98;
    try {
      code = body();
    } catch (...) {
      code = 99;
    }
    ::_exit(code);
  }
  return pid;
}

/// Waits up to `limit` for `pid` and reaps it; on timeout kills and reaps it. Returns the
/// wait status, or -1 on timeout.
inline int wait_child(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  bool done = true;
  if (pidfd >= 0) {
    struct pollfd p {
      pidfd, POLLIN, 0
    };
    done = ::poll(&p, 1, static_cast<int>(limit.count())) == 1;
    ::close(pidfd);
  }
  if (!done) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return done ? status : -1;
}

/// Runs `body` in a forked child and returns its exit code (-1 if it did not exit normally
/// or took longer than 20 s).
template <class F>
int run_child(F body) {
  const int status = wait_child(fork_child(body));
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Reads `fd` until EOF, `max` bytes or `limit`; returns what was read.
inline std::string read_to_eof(int fd, std::chrono::milliseconds limit = std::chrono::seconds(20),
                               std::size_t max = std::string::npos) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (out.size() < max) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    struct pollfd p {
      fd, POLLIN, 0
    };
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[512];
    const ssize_t n = ::read(fd, buf, std::min(sizeof buf, max - out.size()));
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

/// A pipe whose ends close themselves.
struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      r = fds[0];
      w = fds[1];
    }
  }
  ~Pipe() {
    close_r();
    close_w();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_r() {
    if (r >= 0) ::close(r);
    r = -1;
  }
  void close_w() {
    if (w >= 0) ::close(w);
    w = -1;
  }
};

}  // namespace shm_test
