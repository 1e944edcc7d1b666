// Conformance: subprocess environment, cwd, executable and spawn errors (CPython's
// test_subprocess.ProcessTestCase and POSIXProcessTestCase).
//
// CPython tests that do not apply to C++, and why:
// - test_subprocess.POSIXProcessTestCase.test_exception_bad_executable, second half (an errno
//   encoded in the internal error pipe, malformed error data → SubprocessError): posix_spawn
//   returns the child's errno directly, there is no error pipe to corrupt. The errno → exception
//   mapping is tested.
// - test_subprocess.RunFuncTestCase.test_run_with_pathlike_path, last part (a path-like program
//   with shell=True is a TypeError): a std::filesystem::path converts to the string form of Args,
//   which is valid.
// - test_subprocess.ProcessTestCase.test_invalid_args (unknown keyword → TypeError): an unknown
//   designated initializer is a compile error.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <concur/subprocess.hpp>
#include <fstream>

#include "support/subprocess_util.hpp"

namespace sp = concur::subprocess;
using namespace std::chrono_literals;

namespace {

void write_script(const std::filesystem::path& p, const std::string& body) {
  std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
  chmod(p.c_str(), 0755);
}

// CPython test_subprocess.ProcessTestCase.test_cwd, test_cwd_with_relative_arg,
// test_cwd_with_relative_executable
TEST(PopenEnv, Cwd) {
  sp_test::TempDir dir;
  const auto real = std::filesystem::canonical(dir.path).string();
  EXPECT_EQ(sp::check_output({"pwd"}, {.cwd = dir.path}), real + "\n");
  EXPECT_EQ(sp::check_output({"pwd"}, {.cwd = dir.path.string()}), real + "\n");
  write_script(dir.path / "prog.sh", "echo relative");
  EXPECT_EQ(sp::check_output({"./prog.sh"}, {.cwd = dir.path}), "relative\n");
  EXPECT_EQ(sp::check_output({"ignored"}, {.cwd = dir.path, .executable = "./prog.sh"}),
            "relative\n");
}

// CPython test_subprocess.POSIXProcessTestCase.test_exception_cwd,
// test_subprocess.ProcessTestCase.test_file_not_found_with_bad_cwd
TEST(PopenEnv, NonexistentCwd) {
  try {
    sp::Popen p({"true"}, {.cwd = "/nonexistent/concur_dir"});
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/concur_dir"), std::string::npos);
  }
}

// CPython test_subprocess.POSIXProcessTestCase.test_exception_bad_executable,
// test_exception_bad_args_0, test_subprocess.ProcessTestCase.test_file_not_found_includes_filename,
// test_exception_errpipe_normal, test_exception_errpipe_bad_data
TEST(PopenEnv, BadExecutable) {
  for (const auto& opts : {sp::PopenOptions{}, sp::PopenOptions{.executable = "/no/such/prog"}}) {
    try {
      sp::Popen p({opts.executable ? "true" : "/no/such/prog"}, opts);
      FAIL();
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
      EXPECT_NE(std::string(e.what()).find("'/no/such/prog'"), std::string::npos) << e.what();
    }
  }
  try {
    sp::Popen p({"concur_no_such_program_on_path"});
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("concur_no_such_program_on_path"), std::string::npos);
  }
  // A directory: execve fails with EACCES (Python: PermissionError).
  try {
    sp::Popen p({"/tmp"});
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::permission_denied);
  }
}

// CPython test_subprocess.ProcessTestCase.test_env, test_empty_env, test_one_environment_variable,
// test_subprocess.RunFuncTestCase.test_run_kwargs
TEST(PopenEnv, EnvReplaces) {
  EXPECT_EQ(sp::check_output({"/usr/bin/env"}, {.env = sp::Environment{{"FRUIT", "orange"}}}),
            "FRUIT=orange\n");
  EXPECT_EQ(sp::check_output({"/usr/bin/env"}, {.env = sp::Environment{}}), "");
  auto r = sp::run({"sh", "-c", "echo $FRUIT"},
                   {.capture_output = true, .env = sp::Environment{{"FRUIT", "apple"}}});
  EXPECT_EQ(r.stdout_, "apple\n");
}

// CPython test_subprocess.ProcessTestCase.test_invalid_env, test_invalid_cmd
TEST(PopenEnv, InvalidEnvAndCmd) {
  using namespace std::string_literals;
  EXPECT_THROW(sp::run({"true"}, {.env = sp::Environment{{"A\0B"s, "1"}}}), concur::ValueError);
  EXPECT_THROW(sp::run({"true"}, {.env = sp::Environment{{"A", "1\0"s}}}), concur::ValueError);
  EXPECT_THROW(sp::run({"true"}, {.env = sp::Environment{{"A=B", "1"}}}), concur::ValueError);
  EXPECT_EQ(sp::check_output({"/usr/bin/env"}, {.env = sp::Environment{{"A", "B=C"}}}), "A=B=C\n");
  EXPECT_THROW(sp::run({"tr\0ue"s}), concur::ValueError);
  EXPECT_THROW(sp::run({"echo", "a\0b"s}), concur::ValueError);
}

// CPython test_subprocess.ProcessTestCase.test_executable_takes_precedence,
// test_executable_replaces_shell
TEST(PopenEnv, ExecutableTakesPrecedence) {
  EXPECT_EQ(sp::check_output({"display-name", "-c", "echo $0"}, {.executable = "/bin/sh"}),
            "display-name\n");
  EXPECT_EQ(sp::check_output("echo $0", {.shell = true, .executable = "/bin/dash"}), "/bin/dash\n");
  EXPECT_THROW(sp::run({"/bin/true"}, {.executable = "/no/such/prog"}), std::system_error);
}

// CPython test_subprocess.POSIXProcessTestCase.test_shell_string, test_shell_sequence,
// test_subprocess.RunFuncTestCase.test_run_with_pathlike_path
TEST(PopenEnv, ShellStringAndSequence) {
  EXPECT_EQ(
      sp::check_output("echo $FRUIT", {.shell = true, .env = sp::Environment{{"FRUIT", "apple"}}}),
      "apple\n");
  EXPECT_EQ(
      sp::check_output({"echo $FRUIT"}, {.shell = true, .env = sp::Environment{{"FRUIT", "pear"}}}),
      "pear\n");
}

// CPython test_subprocess.POSIXProcessTestCase.test_args_string, test_call_string,
// test_subprocess.RunFuncTestCase.test_run_with_bytes_path_and_arguments,
// test_run_with_pathlike_path_and_arguments
TEST(PopenEnv, StringProgramWithoutShell) {
  EXPECT_EQ(sp::call("/bin/true"), 0);
  sp_test::TempDir dir;
  write_script(dir.path / "script", "exit 47");
  EXPECT_EQ(sp::call((dir.path / "script").string()), 47);
  EXPECT_EQ(sp::call(dir.path / "script"), 47);  // path-like
  EXPECT_EQ(sp::check_output({std::filesystem::path("/bin/echo").string(), "x"}), "x\n");
}

}  // namespace
