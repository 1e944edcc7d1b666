// Test helper: a raw fork()ed child with a bounded wait (for the queue and connection
// implementation tests, which do not depend on mp::Process).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <utility>

namespace concur_test {

/// Runs `body` in a forked child, which exits with body's int result (or 99 if it threw,
/// after printing what() on stderr). The parent side: wait(limit) returns the wait status,
/// or kills the child and returns -1 when it does not end within `limit`.
class ForkChild {
 public:
  template <class F>
  explicit ForkChild(F&& body) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int code = 99;
      try {
        code = std::forward<F>(body)();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "child: unknown exception\n");
      }
      ::_exit(code);
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }
  ForkChild(const ForkChild&) = delete;
  ForkChild& operator=(const ForkChild&) = delete;
  ~ForkChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(10));
    }
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// The wait status, or -1 (child killed) when it did not end within `limit`.
  int wait(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    if (pid_ <= 0) return status_;
    pollfd p{pidfd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      pid_ = -1;
      status_ = -1;
      return -1;
    }
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  /// True when the child exited with code 0 within `limit`.
  bool ok(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    const int st = wait(limit);
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  void kill_now() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int status_ = 0;
};

}  // namespace concur_test
