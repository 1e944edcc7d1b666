// Test helper: a child made with raw fork(), for tests of process-shared objects that do
// not need mp::Process (for a child started through mp::Process, see support/mp_process_child.hpp).
// The child runs `body` (an int-returning callable: its exit code; an exception is printed
// on stderr and gives 99) and _exit()s, never returning into gtest. join() waits on the
// child's pidfd at most a bound, then SIGKILLs; the destructor always kills and reaps a
// child still running (no zombie, no stray process).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <utility>

namespace concur::testing {

class ForkChild {
 public:
  /// join()'s result when the child did not end within the bound (it was then killed).
  static constexpr int kTimedOut = -1000;

  template <class F>
  explicit ForkChild(F&& body) {
    std::fflush(nullptr);
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
      std::fflush(nullptr);
      ::_exit(code);
    }
    if (pid_ > 0) pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }
  ForkChild(const ForkChild&) = delete;
  ForkChild& operator=(const ForkChild&) = delete;
  ~ForkChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      join(std::chrono::seconds(10));
    }
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// Sends `sig` to the child if it has not been reaped yet.
  void kill(int sig = SIGKILL) const noexcept {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  /// The exit code, or -signal; kTimedOut when it did not end within `limit` (then killed).
  /// Once reaped, the same result again.
  int join(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    if (pid_ <= 0) return result_;
    pollfd p{pidfd_, POLLIN, 0};
    int st = 0;
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
      result_ = kTimedOut;
      return result_;
    }
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    result_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return result_;
  }
  /// True when the child exited with code 0 within `limit`.
  bool ok(std::chrono::milliseconds limit = std::chrono::seconds(30)) { return join(limit) == 0; }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int result_ = kTimedOut;
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

/// A forked child runs `take` (it takes a process-shared lock), says so, and stays until it
/// is killed; `meanwhile` runs here while it holds; then the child is SIGKILLed and reaped.
/// A fatal failure if the child does not say so within 30 s (call it inside
/// ASSERT_NO_FATAL_FAILURE).
template <class Take, class Meanwhile>
void kill_while_holding(Take&& take, Meanwhile&& meanwhile) {
  Signal held;
  ForkChild child([&] {
    take();
    held.post();
    pause();
    return 0;
  });
  ASSERT_TRUE(held.wait());
  meanwhile();
  child.kill(SIGKILL);
  EXPECT_EQ(child.join(), -SIGKILL);
}
template <class Take>
void kill_while_holding(Take&& take) {
  kill_while_holding(std::forward<Take>(take), [] {});
}

}  // namespace concur::testing
