// Conformance: subprocess streams, text mode and redirection (CPython's
// test_subprocess.ProcessTestCase and POSIXProcessTestCase).
//
// CPython tests that do not apply to C++, and why:
// - test_subprocess.ProcessTestCase.test_universal_newlines_communicate_encodings (encoding=,
//   errors=): concur has no codecs; std::string carries bytes and text=true only translates
//   newlines (documented in options.hpp).
// - test_subprocess.POSIXProcessTestCase.test_select_unbuffered (bufsize): there is no bufsize
//   option; PipeFile writes are unbuffered and reads buffered, and a wrong type is a compile error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <concur/subprocess.hpp>

#include "support/leak_check.hpp"
#include "support/subprocess_util.hpp"

namespace sp = concur::subprocess;
using namespace std::chrono_literals;

namespace {

// CPython test_subprocess.ProcessTestCase.test_universal_newlines_and_text,
// test_universal_newlines_communicate and its variants
TEST(PopenStreams, UniversalNewlines) {
  const sp::Args cmd{"sh", "-c", "cat; printf 'line2\\nline3\\r\\nline4\\rline5\\r\\nline6'"};
  auto r = sp::run(cmd, {.input = "line1\n", .capture_output = true, .text = true});
  EXPECT_EQ(r.stdout_, "line1\nline2\nline3\nline4\nline5\nline6");

  sp::Popen p(cmd, {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE, .text = true});
  p.stdin_.write("line1\n");
  p.stdin_.close();
  EXPECT_EQ(p.stdout_.readline(), "line1\n");
  EXPECT_EQ(p.stdout_.readline(), "line2\n");
  EXPECT_EQ(p.stdout_.readline(), "line3\n");
  EXPECT_EQ(p.stdout_.read(), "line4\nline5\nline6");
  EXPECT_EQ(p.wait(10s), 0);

  // Bytes mode keeps everything.
  auto raw = sp::run({"printf", "a\\r\\nb"}, {.capture_output = true});
  EXPECT_EQ(raw.stdout_, "a\r\nb");
}

// CPython test_subprocess.ProcessTestCase.test_stdout_stderr_pipe, test_stdout_stderr_file,
// test_stderr_redirect_with_no_stdout_redirect
TEST(PopenStreams, StderrToStdout) {
  auto r = sp::run({"sh", "-c", "printf apple; printf orange >&2"},
                   {.stdout_ = sp::PIPE, .stderr_ = sp::STDOUT});
  EXPECT_EQ(r.stdout_, "appleorange");
  EXPECT_EQ(r.stderr_, std::nullopt);

  sp_test::TempDir dir;
  sp_test::TempFile f(dir, "out");
  sp::run({"sh", "-c", "printf apple; printf orange >&2"}, {.stdout_ = f.fd, .stderr_ = f.fd});
  EXPECT_EQ(sp_test::slurp(f.path), "appleorange");

  // stderr=STDOUT with stdout inherited: the child's stderr is the parent's stdout.
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const std::string cmd = "x=$(readlink /proc/$$/fd/2); echo $x >&" + std::to_string(fds[1]);
  sp::Popen p({"sh", "-c", cmd}, {.stderr_ = sp::STDOUT, .pass_fds = {fds[1]}});
  close(fds[1]);
  sp::PipeFile rd(fds[0], true, false);
  EXPECT_EQ(rd.read(), concur::testing::fd_target(1) + "\n");
  EXPECT_EQ(p.wait(10s), 0);
}

// CPython test_subprocess.ProcessTestCase.test_stdout_devnull, test_stderr_devnull,
// test_stdin_devnull
TEST(PopenStreams, Devnull) {
  sp::Popen p({"sh", "-c", "head -c 10485760 /dev/zero; head -c 10485760 /dev/zero >&2"},
              {.stdout_ = sp::DEVNULL, .stderr_ = sp::DEVNULL});
  EXPECT_FALSE(p.stdout_);
  EXPECT_FALSE(p.stderr_);
  EXPECT_EQ(p.wait(20s), 0);
  auto r = sp::run({"cat"}, {.stdin_ = sp::DEVNULL, .capture_output = true, .timeout = 10s});
  EXPECT_EQ(r.stdout_, "");
  EXPECT_EQ(r.returncode, 0);
}

// CPython test_subprocess.ProcessTestCase.test_stdin_filedes, test_stdout_fileobj (and the other
// *_filedes/*_fileobj tests), test_stdout_filedes_of_stdout
TEST(PopenStreams, FileDescriptors) {
  sp_test::TempDir dir;
  sp_test::TempFile in(dir, "in", "pear");
  sp_test::TempFile out(dir, "out");
  sp_test::TempFile err(dir, "err");
  auto r = sp::run({"sh", "-c", "cat; echo oops >&2"},
                   {.stdin_ = in.fd, .stdout_ = out.fd, .stderr_ = err.fd});
  EXPECT_EQ(r.returncode, 0);
  EXPECT_EQ(sp_test::slurp(out.path), "pear");
  EXPECT_EQ(sp_test::slurp(err.path), "oops\n");

  // stdout_=1 is the parent's own stdout.
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const std::string cmd = "x=$(readlink /proc/$$/fd/1); echo $x >&" + std::to_string(fds[1]);
  sp::run({"sh", "-c", cmd}, {.stdout_ = 1, .pass_fds = {fds[1]}});
  close(fds[1]);
  sp::PipeFile rd(fds[0], true, false);
  EXPECT_EQ(rd.read(), concur::testing::fd_target(1) + "\n");
}

// Replaces the parent's fds 0, 1, 2 for the scope of a test and restores them.
struct StdFdsSwap {
  int saved[3];
  StdFdsSwap() {
    for (int i = 0; i < 3; ++i) saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
  }
  ~StdFdsSwap() {
    for (int i = 0; i < 3; ++i) {
      dup2(saved[i], i);
      close(saved[i]);
    }
  }
};

// CPython test_subprocess.POSIXProcessTestCase.test_close_fd_0 (and the other test_close_fd_*),
// test_swap_fds, test_swap_std_fds_with_one_closed
TEST(PopenStreams, ParentStdFdsClosed) {
  for (int closed_mask = 1; closed_mask < 8; ++closed_mask) {
    std::optional<std::string> out, err;
    {
      StdFdsSwap swap;
      for (int i = 0; i < 3; ++i)
        if (closed_mask & (1 << i)) close(i);
      sp::Popen p({"sh", "-c", "cat; echo err >&2"},
                  {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE, .stderr_ = sp::PIPE});
      auto res = p.communicate("in", 10s);
      out = res.stdout_;
      err = res.stderr_;
    }
    EXPECT_EQ(out, "in") << "closed mask " << closed_mask;
    EXPECT_EQ(err, "err\n") << "closed mask " << closed_mask;
  }
}

// CPython test_subprocess.POSIXProcessTestCase.test_swap_fds (permutations).
TEST(PopenStreams, SwappedStdFds) {
  sp_test::TempDir dir;
  const int perms[][3] = {{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}, {1, 0, 2}, {0, 2, 1}};
  for (const auto& perm : perms) {
    sp_test::TempFile files[3] = {{dir, "f0", "c0"}, {dir, "f1", "c1"}, {dir, "f2", "c2"}};
    {
      StdFdsSwap swap;
      for (int i = 0; i < 3; ++i) dup2(files[i].fd, i);  // parent fd i is file i
      // The child's stdin/stdout/stderr are the parent's fds perm[0..2].
      sp::run({"sh", "-c", "cat; echo err >&2"},
              {.stdin_ = perm[0], .stdout_ = perm[1], .stderr_ = perm[2], .timeout = 10s});
    }
    const std::string tag =
        std::to_string(perm[0]) + std::to_string(perm[1]) + std::to_string(perm[2]);
    EXPECT_EQ(sp_test::slurp(files[perm[1]].path), "c" + std::to_string(perm[0])) << tag;
    EXPECT_EQ(sp_test::slurp(files[perm[2]].path), "err\n") << tag;
  }
}

// CPython test_subprocess.ProcessTestCase.test_pipesizes
TEST(PopenStreams, Pipesize) {
  sp::Popen p({"cat"},
              {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE, .stderr_ = sp::PIPE, .pipesize = 8192});
  EXPECT_EQ(fcntl(p.stdin_.fileno(), F_GETPIPE_SZ), 8192);
  EXPECT_EQ(fcntl(p.stdout_.fileno(), F_GETPIPE_SZ), 8192);
  EXPECT_EQ(fcntl(p.stderr_.fileno(), F_GETPIPE_SZ), 8192);
  p.communicate(10s);
}

// CPython test_subprocess.POSIXProcessTestCase.test_stdout_stdin_are_single_inout_fd (and the other
// *_are_single_inout_fd)
TEST(PopenStreams, OneFdForTwoStreams) {
  sp_test::TempDir dir;
  sp_test::TempFile f(dir, "io", "data");
  EXPECT_EQ(
      sp::run({"sh", "-c", "cat >/dev/null; echo x"}, {.stdin_ = f.fd, .stdout_ = f.fd}).returncode,
      0);
  EXPECT_EQ(
      sp::run({"sh", "-c", "echo x; echo y >&2"}, {.stdout_ = f.fd, .stderr_ = f.fd}).returncode,
      0);
  EXPECT_EQ(sp::run({"sh", "-c", "echo y >&2"}, {.stdin_ = f.fd, .stderr_ = f.fd}).returncode, 0);
}

}  // namespace
