// PipeFile: reads, writes, text mode, closed state, SIGPIPE.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <concur/subprocess.hpp>

namespace sp = concur::subprocess;
using namespace std::chrono_literals;

namespace {

std::pair<sp::PipeFile, sp::PipeFile> make_pipe(bool text = false) {
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  return {sp::PipeFile(fds[0], true, text), sp::PipeFile(fds[1], false, text)};
}

TEST(PipeFile, ReadlineReadN) {
  auto [r, w] = make_pipe();
  w.write("one\ntwo\nthree");
  w.close();
  EXPECT_EQ(r.readline(), "one\n");
  EXPECT_EQ(r.read(2), "tw");
  EXPECT_EQ(r.readline(), "o\n");
  EXPECT_EQ(r.read(100), "three");
  EXPECT_EQ(r.readline(), "");
  EXPECT_EQ(r.read(), "");
}

TEST(PipeFile, TextModeAcrossReadBoundaries) {
  sp::Popen p(
      {"sh", "-c", "printf 'a\\r'; sleep 0.1; printf '\\nb\\r'; sleep 0.1; printf 'c\\r\\n'"},
      {.stdout_ = sp::PIPE, .text = true});
  EXPECT_EQ(p.stdout_.readline(), "a\n");
  EXPECT_EQ(p.stdout_.readline(), "b\n");
  EXPECT_EQ(p.stdout_.readline(), "c\n");
  EXPECT_EQ(p.stdout_.readline(), "");
  EXPECT_EQ(p.wait(10s), 0);
}

TEST(PipeFile, ClosedAndWrongDirection) {
  auto [r, w] = make_pipe();
  EXPECT_THROW(r.write("x"), concur::ValueError);
  EXPECT_THROW(w.read(), concur::ValueError);
  EXPECT_TRUE(r);
  r.close();
  r.close();  // idempotent
  EXPECT_FALSE(r);
  EXPECT_TRUE(r.closed());
  EXPECT_EQ(r.fileno(), -1);
  EXPECT_THROW(r.read(), concur::ValueError);
  EXPECT_THROW(r.readline(), concur::ValueError);
  sp::PipeFile none;
  EXPECT_FALSE(none);
  EXPECT_THROW(none.flush(), concur::ValueError);
  EXPECT_THROW(sp::Redirect{none}, concur::ValueError);
}

TEST(PipeFile, BrokenPipeIsAnExceptionNotASignal) {
  struct sigaction before {};
  sigaction(SIGPIPE, nullptr, &before);
  ASSERT_EQ(before.sa_handler, SIG_DFL);  // a SIGPIPE would kill this test
  auto [r, w] = make_pipe();
  r.close();
  try {
    w.write("x");
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::broken_pipe);
  }
  struct sigaction after {};
  sigaction(SIGPIPE, nullptr, &after);
  EXPECT_EQ(after.sa_handler, SIG_DFL);  // the disposition was not touched
  sigset_t pending, mask;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));  // consumed
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  EXPECT_FALSE(sigismember(&mask, SIGPIPE));  // mask restored
}

TEST(PipeFile, MoveTransfersOwnership) {
  auto [r, w] = make_pipe();
  const int fd = r.fileno();
  sp::PipeFile moved = std::move(r);
  EXPECT_EQ(moved.fileno(), fd);
  EXPECT_FALSE(r);  // NOLINT(bugprone-use-after-move)
  w.write("z");
  w.close();
  EXPECT_EQ(moved.read(), "z");
}

}  // namespace
