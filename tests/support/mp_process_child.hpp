// Test helper: a child mp::Process started by `fork` running a body that returns its exit
// code (0 = success; anything else is mp::exit(code)), for tests that go through the real
// Process machinery (for a raw fork() child, see tests/multiprocessing/fork_child.hpp). Lambdas may
// capture by reference (a fork child is a copy). join() waits at most a bound, then kills; the
// destructor kills a child still running, then reaps it, so a failed test never hangs or
// leaks a process.
#pragma once

#include <signal.h>

#include <chrono>
#include <utility>

#include "concur/multiprocessing/context.hpp"
#include "concur/multiprocessing/process.hpp"

namespace concur::testing {

class ProcessChild {
 public:
  template <class F>
  explicit ProcessChild(F&& body)
      : p_(multiprocessing::get_context("fork").Process([b = std::forward<F>(body)]() mutable {
          const int code = b();
          if (code != 0) multiprocessing::exit(code);
        })) {
    p_.start();
  }
  ProcessChild(const ProcessChild&) = delete;
  ProcessChild& operator=(const ProcessChild&) = delete;
  ~ProcessChild() {
    if (p_.is_alive()) {
      p_.kill();
      p_.join();
    }
  }
  /// The exit code, or -signal; -1000 when it did not end within `limit` (then killed).
  int join(std::chrono::milliseconds limit = std::chrono::milliseconds(30000)) {
    if (!p_.join(limit)) {
      p_.kill();
      p_.join();
      return -1000;
    }
    return *p_.exitcode();
  }
  void kill(int sig) {
    if (sig == SIGKILL)
      p_.kill();
    else
      p_.terminate();
  }
  multiprocessing::Process& process() { return p_; }

 private:
  multiprocessing::Process p_;
};

}  // namespace concur::testing
