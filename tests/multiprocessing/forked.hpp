// Test helper: a child made with raw fork(), for tests of process-shared objects that do
// not need mp::Process. The child runs `body` (an int-returning callable: its exit code;
// an exception gives 99) and _exit()s, never returning into gtest. join() waits at most
// a bound, then SIGKILLs; the destructor always reaps (no zombie, no stray process).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <utility>

namespace concur::testing {

class Forked {
 public:
  template <class F>
  explicit Forked(F&& body) {
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      int code = 99;
      try {
        code = std::forward<F>(body)();
      } catch (...) {
        code = 99;
      }
      std::fflush(nullptr);
      ::_exit(code);
    }
  }
  Forked(const Forked&) = delete;
  Forked& operator=(const Forked&) = delete;
  ~Forked() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  void kill(int sig) const noexcept { ::kill(pid_, sig); }
  /// The exit code, or -signal; -1000 when it did not end within `limit` (then killed).
  int join(std::chrono::milliseconds limit = std::chrono::milliseconds(30000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
      }
      if (std::chrono::steady_clock::now() >= end) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        reaped_ = true;
        return -1000;
      }
      timespec ts{0, 1'000'000};
      nanosleep(&ts, nullptr);
    }
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

/// A pipe used as a one-shot signal between a parent and a forked child.
class Signal {
 public:
  Signal() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) fds_[0] = fds_[1] = -1;
  }
  ~Signal() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;
  void post() const noexcept {
    const char c = 1;
    (void)!::write(fds_[1], &c, 1);
  }
  /// True when posted within `limit`.
  [[nodiscard]] bool wait(
      std::chrono::milliseconds limit = std::chrono::milliseconds(30000)) const {
    pollfd p{fds_[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
    char c = 0;
    return ::read(fds_[0], &c, 1) == 1;
  }

 private:
  int fds_[2];
};

}  // namespace concur::testing
