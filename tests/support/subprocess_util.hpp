// Helpers shared by the subprocess implementation and conformance tests.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace sp_test {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// CPython's tolerance for a timed wait of `t` seconds: >= 0.6 t and < 10 t.
inline bool timing_ok(double elapsed, double t) { return elapsed >= 0.6 * t && elapsed < 10 * t; }

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// A fresh directory under /tmp, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("concur_sp_" + std::to_string(getpid()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

/// An O_RDWR|O_CLOEXEC file in `dir`, closed on destruction.
struct TempFile {
  int fd = -1;
  std::filesystem::path path;
  TempFile(const TempDir& dir, const std::string& name, const std::string& content = "") {
    path = dir.path / name;
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (!content.empty()) {
      [[maybe_unused]] auto n = ::write(fd, content.data(), content.size());
      ::lseek(fd, 0, SEEK_SET);
    }
  }
  ~TempFile() {
    if (fd >= 0) ::close(fd);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

/// Field `n` (1-based, as in proc(5)) of a /proc/<pid>/stat line.
inline long stat_field(const std::string& stat_line, int n) {
  const auto close = stat_line.rfind(')');
  std::istringstream rest(stat_line.substr(close + 2));
  std::string tok;
  for (int i = 3; i <= n; ++i) rest >> tok;
  return std::stol(tok);
}

}  // namespace sp_test
