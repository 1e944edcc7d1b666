// Test helpers for Process tests: a pipe whose write end crosses to a child under every
// start method (a handle: inherited under fork, SCM_RIGHTS under spawn/forkserver), and
// bounded reads on the parent side.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/context.hpp"
#include "multiprocessing/handles.hpp"

namespace concur::testing::proc {

/// An owned fd, closed with the last copy.
class SharedFd {
 public:
  explicit SharedFd(int fd) : fd_(std::make_shared<Owner>(fd)) {}
  [[nodiscard]] int get() const { return fd_->fd; }
  void reset() { fd_.reset(); }

 private:
  struct Owner {
    explicit Owner(int f) : fd(f) {}
    ~Owner() {
      if (fd >= 0) ::close(fd);
    }
    Owner(const Owner&) = delete;
    Owner& operator=(const Owner&) = delete;
    int fd;
  };
  std::shared_ptr<Owner> fd_;
};

/// The write end of a pipe, passable to a Process under any start method.
class WriteEnd {
 public:
  using concur_handle_tag = void;
  explicit WriteEnd(int fd) : fd_(fd) {}
  void write(const std::string& line) const {
    const std::string s = line + "\n";
    (void)!::write(fd_.get(), s.data(), s.size());
  }
  [[nodiscard]] int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }
  void concur_encode_handle(multiprocessing::Buffer& out) const {
    const std::uint32_t index = multiprocessing::detail::export_fd(fd_.get(), "WriteEnd");
    multiprocessing::detail::put_trivial(out, index);
  }
  static WriteEnd concur_decode_handle(multiprocessing::Reader& in) {
    const auto index = multiprocessing::detail::get_trivial<std::uint32_t>(in);
    const int fd = multiprocessing::detail::import_fd(index, "WriteEnd");
    return WriteEnd(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  }

 private:
  SharedFd fd_;
};

/// A pipe: read lines on this side, hand `writer` to children.
class LinePipe {
 public:
  LinePipe() : LinePipe(make()) {}
  WriteEnd writer;

  /// The next line, or nullopt if none came within `timeout` (or EOF).
  std::optional<std::string> read_line(
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{read_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char tmp[512];
      const ssize_t n = ::read(read_.get(), tmp, sizeof tmp);
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }
  /// Closes this side's copy of the write end (so EOF comes once the children close theirs).
  void close_writer() { writer.close(); }

 private:
  static std::pair<int, int> make() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) std::abort();
    return {p[0], p[1]};
  }
  explicit LinePipe(std::pair<int, int> p) : writer(p.second), read_(p.first) {}
  SharedFd read_;
  std::string buf_;
};

/// A one-shot gate: the parent opens it, a child waits for it (bounded). Crosses to a child
/// under every start method (its read end travels).
class ChildGate {
 public:
  using concur_handle_tag = void;
  ChildGate() : ChildGate(make()) {}
  /// Parent side: let every waiter through.
  void open() const {
    for (int i = 0; i < 64; ++i) (void)!::write(write_.get(), "x", 1);
  }
  /// Child side: true once opened, false after `timeout`.
  [[nodiscard]] bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    pollfd p{read_.get(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }
  void concur_encode_handle(multiprocessing::Buffer& out) const {
    const std::uint32_t index = multiprocessing::detail::export_fd(read_.get(), "ChildGate");
    multiprocessing::detail::put_trivial(out, index);
  }
  static ChildGate concur_decode_handle(multiprocessing::Reader& in) {
    const auto index = multiprocessing::detail::get_trivial<std::uint32_t>(in);
    const int fd = multiprocessing::detail::import_fd(index, "ChildGate");
    return ChildGate(std::pair<int, int>{::fcntl(fd, F_DUPFD_CLOEXEC, 3), -1});
  }

 private:
  static std::pair<int, int> make() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) std::abort();
    return {p[0], p[1]};
  }
  explicit ChildGate(std::pair<int, int> p) : read_(p.first), write_(p.second) {}
  SharedFd read_;
  SharedFd write_;
};

/// A test run once per start method (the parameter: "fork", "spawn" or "forkserver").
class StartMethodTest : public ::testing::TestWithParam<std::string> {
 protected:
  const multiprocessing::Context& ctx() const { return multiprocessing::get_context(GetParam()); }
};
/// Names each instance of a StartMethodTest after its method.
inline std::string method_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

/// A child's body: says "up" on `w`, then sleeps until a signal ends it.
inline void say_up_and_sleep(WriteEnd w) {
  w.write("up");
  for (;;) ::pause();
}

}  // namespace concur::testing::proc
