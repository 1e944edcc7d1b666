// Conformance: CHECKLISTS.md §4e (environment, cwd, executable, spawn errors).
//
// Items that do not apply to C++, and why:
// - 4e.40, second half (an errno encoded in the internal error pipe, malformed error
//   data → SubprocessError): posix_spawn returns the child's errno directly, there
//   is no error pipe to corrupt. The errno → exception mapping is tested.
// - 4e.44, last sentence (a path-like program with shell=True is a TypeError): a
//   std::filesystem::path converts to the string form of Args, which is valid.
// - 4e.46 (unknown keyword → TypeError): an unknown designated initializer is a
//   compile error.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <concur/subprocess.hpp>
#include <fstream>

#include "subprocess/sp_helpers.hpp"

namespace sp = concur::subprocess;
using namespace std::chrono_literals;

namespace {

void write_script(const std::filesystem::path& p, const std::string& body) {
  std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
  chmod(p.c_str(), 0755);
}

// CHECKLISTS 4e.38
TEST(SubprocessEnv, Cwd) {
  sp_test::TempDir dir;
  const auto real = std::filesystem::canonical(dir.path).string();
  EXPECT_EQ(sp::check_output({"pwd"}, {.cwd = dir.path}), real + "\n");
  EXPECT_EQ(sp::check_output({"pwd"}, {.cwd = dir.path.string()}), real + "\n");
  write_script(dir.path / "prog.sh", "echo relative");
  EXPECT_EQ(sp::check_output({"./prog.sh"}, {.cwd = dir.path}), "relative\n");
  EXPECT_EQ(sp::check_output({"ignored"}, {.cwd = dir.path, .executable = "./prog.sh"}),
            "relative\n");
}

// CHECKLISTS 4e.39
TEST(SubprocessEnv, NonexistentCwd) {
  try {
    sp::Popen p({"true"}, {.cwd = "/nonexistent/concur_dir"});
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/concur_dir"), std::string::npos);
  }
}

// CHECKLISTS 4e.40
TEST(SubprocessEnv, BadExecutable) {
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

// CHECKLISTS 4e.41
TEST(SubprocessEnv, EnvReplaces) {
  EXPECT_EQ(sp::check_output({"/usr/bin/env"}, {.env = sp::Environment{{"FRUIT", "orange"}}}),
            "FRUIT=orange\n");
  EXPECT_EQ(sp::check_output({"/usr/bin/env"}, {.env = sp::Environment{}}), "");
  auto r = sp::run({"sh", "-c", "echo $FRUIT"},
                   {.capture_output = true, .env = sp::Environment{{"FRUIT", "apple"}}});
  EXPECT_EQ(r.stdout_, "apple\n");
}

// CHECKLISTS 4e.42
TEST(SubprocessEnv, InvalidEnvAndCmd) {
  using namespace std::string_literals;
  EXPECT_THROW(sp::run({"true"}, {.env = sp::Environment{{"A\0B"s, "1"}}}), concur::ValueError);
  EXPECT_THROW(sp::run({"true"}, {.env = sp::Environment{{"A", "1\0"s}}}), concur::ValueError);
  EXPECT_THROW(sp::run({"true"}, {.env = sp::Environment{{"A=B", "1"}}}), concur::ValueError);
  EXPECT_EQ(sp::check_output({"/usr/bin/env"}, {.env = sp::Environment{{"A", "B=C"}}}), "A=B=C\n");
  EXPECT_THROW(sp::run({"tr\0ue"s}), concur::ValueError);
  EXPECT_THROW(sp::run({"echo", "a\0b"s}), concur::ValueError);
}

// CHECKLISTS 4e.43
TEST(SubprocessEnv, ExecutableTakesPrecedence) {
  EXPECT_EQ(sp::check_output({"display-name", "-c", "echo $0"}, {.executable = "/bin/sh"}),
            "display-name\n");
  EXPECT_EQ(sp::check_output("echo $0", {.shell = true, .executable = "/bin/dash"}), "/bin/dash\n");
  EXPECT_THROW(sp::run({"/bin/true"}, {.executable = "/no/such/prog"}), std::system_error);
}

// CHECKLISTS 4e.44
TEST(SubprocessEnv, ShellStringAndSequence) {
  EXPECT_EQ(
      sp::check_output("echo $FRUIT", {.shell = true, .env = sp::Environment{{"FRUIT", "apple"}}}),
      "apple\n");
  EXPECT_EQ(
      sp::check_output({"echo $FRUIT"}, {.shell = true, .env = sp::Environment{{"FRUIT", "pear"}}}),
      "pear\n");
}

// CHECKLISTS 4e.45
TEST(SubprocessEnv, StringProgramWithoutShell) {
  EXPECT_EQ(sp::call("/bin/true"), 0);
  sp_test::TempDir dir;
  write_script(dir.path / "script", "exit 47");
  EXPECT_EQ(sp::call((dir.path / "script").string()), 47);
  EXPECT_EQ(sp::call(dir.path / "script"), 47);  // path-like
  EXPECT_EQ(sp::check_output({std::filesystem::path("/bin/echo").string(), "x"}), "x\n");
}

}  // namespace
