// Test harness: what a test binary holds of the OS, to check that it leaves
// nothing behind. Used by test_main.cpp after every test binary's run, and by
// tests that want to check a single scenario (e.g. 10,000 runs, same fd count).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace concur::testing {

/// The open file descriptors of this process (from /proc/self/fd).
std::set<int> open_fds();
/// What an fd refers to (readlink of /proc/self/fd/N), for messages.
std::string fd_target(int fd);
/// Child processes of this process, with their state letter ('Z' = zombie).
struct Child {
  pid_t pid;
  char state;
  std::string comm;
};
std::vector<Child> children();
/// Names in /dev/shm.
std::set<std::string> shm_entries();

/// Polls `pred` until it holds or `limit` passes; true if it held.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return pred();
    struct timespec ts {
      0, 1'000'000
    };
    nanosleep(&ts, nullptr);
  }
  return true;
}

}  // namespace concur::testing
