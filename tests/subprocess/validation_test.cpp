// Bad input: each a clear exception thrown before anything is spawned (no child, no fd created).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <concur/subprocess.hpp>

#include "support/leak_check.hpp"

namespace sp = concur::subprocess;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

template <class Ex, class Fn>
void expect_rejected_before_spawn(Fn fn, const char* what) {
  const auto fds = concur::testing::open_fds();
  EXPECT_THROW(fn(), Ex) << what;
  EXPECT_TRUE(concur::testing::children().empty()) << what;
  EXPECT_EQ(concur::testing::open_fds(), fds) << what;
}

TEST(OptionsValidation, EmptyArgs) {
  expect_rejected_before_spawn<concur::ValueError>([] { sp::run(std::vector<std::string>{}); },
                                                   "empty list");
  expect_rejected_before_spawn<concur::ValueError>(
      [] { sp::Popen p(std::vector<std::string>{}, {.stdout_ = sp::PIPE}); }, "empty Popen");
}

TEST(OptionsValidation, EmbeddedNul) {
  expect_rejected_before_spawn<concur::ValueError>(
      [] {
        sp::run({"echo", "a\0b"s}, {.capture_output = true});
      },
      "NUL in an argument");
  expect_rejected_before_spawn<concur::ValueError>([] { sp::run("echo\0x"s, {.shell = true}); },
                                                   "NUL in a shell string");
  expect_rejected_before_spawn<concur::ValueError>([] { sp::run({"true"}, {.cwd = "/tmp\0x"s}); },
                                                   "NUL in cwd");
  expect_rejected_before_spawn<concur::ValueError>(
      [] { sp::run({"true"}, {.executable = "/bin/tr\0ue"s}); }, "NUL in executable");
}

TEST(OptionsValidation, NegativeTimeout) {
  expect_rejected_before_spawn<concur::ValueError>([] { sp::run({"true"}, {.timeout = -1s}); },
                                                   "negative run timeout");
  expect_rejected_before_spawn<concur::ValueError>([] { sp::call({"true"}, {.timeout = -1ms}); },
                                                   "negative call timeout");
  sp::Popen p({"true"});
  EXPECT_THROW(p.wait(-1s), concur::ValueError);
  EXPECT_THROW(p.communicate(-1s), concur::ValueError);
  EXPECT_EQ(p.wait(10s), 0);
}

TEST(OptionsValidation, BadPassFds) {
  int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  close(probe);  // `probe` is now a closed fd number
  const auto fds = concur::testing::open_fds();
  try {
    sp::run({"true"}, {.pass_fds = {probe}});
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
  }
  EXPECT_EQ(concur::testing::open_fds(), fds);
  expect_rejected_before_spawn<concur::ValueError>([] { sp::run({"true"}, {.pass_fds = {-5}}); },
                                                   "negative pass_fd");
}

TEST(OptionsValidation, ConflictingRedirects) {
  expect_rejected_before_spawn<concur::ValueError>(
      [] { sp::run({"cat"}, {.stdin_ = sp::DEVNULL, .input = "x"}); }, "input with stdin_");
  expect_rejected_before_spawn<concur::ValueError>(
      [] { sp::run({"true"}, {.stdout_ = sp::DEVNULL, .capture_output = true}); },
      "capture_output with stdout_");
  expect_rejected_before_spawn<concur::ValueError>(
      [] { sp::Popen p({"true"}, {.stdin_ = sp::STDOUT}); }, "STDOUT for stdin_");
  expect_rejected_before_spawn<concur::ValueError>([] { sp::Popen p({"true"}, {.stdout_ = -7}); },
                                                   "redirect below DEVNULL");
  expect_rejected_before_spawn<std::system_error>([] { sp::Popen p({"true"}, {.stdout_ = 987}); },
                                                  "redirect to a closed fd");
  expect_rejected_before_spawn<concur::ValueError>(
      [] { sp::Popen p({"true"}, {.start_new_session = true, .process_group = 0}); },
      "session and group");
  expect_rejected_before_spawn<concur::ValueError>(
      [] {
        sp::Popen p({"true"}, {.env = sp::Environment{{"A=B", "c"}}});
      },
      "'=' in env name");
  expect_rejected_before_spawn<concur::TypeError>([] { sp::call({"true"}, {.input = "x"}); },
                                                  "call with input");
  expect_rejected_before_spawn<concur::ValueError>(
      [] { sp::check_output({"true"}, {.capture_output = true}); }, "check_output capture");
}

TEST(OptionsValidation, CommunicateMisuse) {
  sp::Popen p({"true"}, {.stdout_ = sp::PIPE});
  EXPECT_THROW(p.communicate("x", 10s), concur::ValueError);  // stdin_ is not a pipe
  sp::Popen q({"sh", "-c", "cat; sleep 0.3"}, {.stdin_ = sp::PIPE, .stdout_ = sp::PIPE});
  EXPECT_THROW(q.communicate("x", 10ms), sp::TimeoutExpired);
  EXPECT_THROW(q.communicate("more", 10s), concur::ValueError);  // input after start
  auto [out, err] = q.communicate(10s);
  EXPECT_EQ(out, "x");
  p.wait(10s);
}

}  // namespace
