// Test helpers for process pools (mp::Pool, futures::ProcessPoolExecutor).
//
// A pool's tasks run in worker processes that were started before the task was submitted,
// so a task cannot be handed a pipe or a queue (their fds travel only with a process start).
// These tests coordinate with a task through files in a private temporary directory: a task
// says "started" by creating a file, and waits (bounded) for a file the test creates. The
// worker-side functions here are used as mp::fn<&f> (no registration needed).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

#include "concur/multiprocessing/context.hpp"
#include "support/leak_check.hpp"

namespace concur::testing::pool {

using namespace std::chrono_literals;

/// A private directory under the system temporary directory, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "concur-pool-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// The path of `name` inside the directory.
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Creates (or truncates) the file `path`, holding `text`.
/// Creates `path` holding `text`, whole at once: written under another name, then renamed, so
/// that a reader that sees the file sees all of it.
inline void touch(const std::string& path, const std::string& text = "") {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  std::ofstream(tmp, std::ios::trunc) << text;
  std::filesystem::rename(tmp, path);
}

/// Appends `line` and a newline to `path` in one write (O_APPEND: safe from several processes).
inline void append_line(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string s = line + "\n";
  (void)!::write(fd, s.data(), s.size());
  ::close(fd);
}

/// Whether `path` exists.
inline bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// The contents of `path` ("" if missing).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// True once `path` exists, false after `limit`.
inline bool wait_for_file(const std::string& path,
                          std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  return eventually([&] { return exists(path); }, limit);
}

/// Whether the process `pid` is gone (or a zombie: it has ended and only waits to be reaped).
inline bool process_gone(int pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  return all.empty() || (close != std::string::npos && close + 2 < all.size() &&
                         (all[close + 2] == 'Z' || all[close + 2] == 'X'));
}

/// True once every pid in `pids` is gone, false after `limit`.
template <class Pids>
bool all_gone(const Pids& pids, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  return eventually(
      [&] {
        for (int p : pids)
          if (!process_gone(p)) return false;
        return true;
      },
      limit);
}

// Worker-side functions (pass them as mp::fn<&f>).

/// Creates `started` (holding this worker's pid), then waits until `go` exists (at most
/// `limit_ms`); returns the pid. A task that a test stops (or kills) from outside.
inline int start_then_wait(std::string started, std::string go, int limit_ms) {
  touch(started, std::to_string(::getpid()));
  (void)wait_for_file(go, std::chrono::milliseconds(limit_ms));
  return ::getpid();
}

/// This worker's pid (the argument is ignored: for map).
inline int worker_pid(int /*unused*/) { return ::getpid(); }

/// Sleeps `ms` milliseconds in the worker; returns `ms`.
inline int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

/// Kills its own worker with SIGKILL (never returns).
inline int kill_self(int /*unused*/) {
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

/// Writes its pid to `path`, then kills its own worker with SIGKILL.
inline int note_pid_and_kill_self(std::string path) {
  touch(path, std::to_string(::getpid()));
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

/// The test parameter's name ("fork", "spawn", "forkserver").
inline std::string method_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace concur::testing::pool
