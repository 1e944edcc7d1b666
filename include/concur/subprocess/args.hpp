// concur/subprocess/args.hpp: the program and its arguments, as the caller gave them.
//
// Python's `args` is either a sequence (program + arguments) or a string (a shell
// command with shell=True, or a lone program path without it). `Args` keeps that
// distinction, because it shows in messages: Python prints a list as
// `['ls', '-l']` and a string as it is.
//
//   subprocess::run({"ls", "-l"});                     // a list: program "ls", one argument
//   subprocess::run("exit 3", {.shell = true});        // a string for /bin/sh -c
//   subprocess::run(std::vector<std::string>{"true"}); // a list from a vector
//   subprocess::run(std::filesystem::path("/bin/true"));
//
// Python parity:
// - bytes, str and path-like arguments are all std::string (or a path) here.
// - Validation (an empty list, an embedded NUL) happens when the Args is used to
//   start a process, and throws concur::ValueError before anything is spawned.
// - A braced list always means a list, even with one element: {"ls"} is the list
//   ['ls'], "ls" is the string 'ls' (both run the program ls without shell=True).
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace concur::subprocess {

class Args {
 public:
  /// A list: program then arguments, e.g. {"ls", "-l"}.
  Args(std::initializer_list<std::string> list) : list_(list) {}            // NOLINT
  Args(std::vector<std::string> list) noexcept : list_(std::move(list)) {}  // NOLINT
  /// A string: the command for the shell (shell=true) or a program path.
  Args(std::string command) : list_{std::move(command)}, is_string_(true) {}  // NOLINT
  Args(const char* command) : Args(std::string(command)) {}                   // NOLINT
  Args(std::string_view command) : Args(std::string(command)) {}              // NOLINT
  Args(const std::filesystem::path& program) : Args(program.string()) {}      // NOLINT

  /// The elements (a string form holds exactly one).
  [[nodiscard]] const std::vector<std::string>& list() const noexcept { return list_; }
  /// True when built from a single string rather than a list.
  [[nodiscard]] bool is_string() const noexcept { return is_string_; }
  /// Python's str(args): the string itself, or the list's repr `['ls', '-l']`.
  [[nodiscard]] std::string str() const;
  /// Python's repr(args): `'exit 1'` or `['ls', '-l']`.
  [[nodiscard]] std::string repr() const;

  friend bool operator==(const Args&, const Args&) = default;

 private:
  std::vector<std::string> list_;
  bool is_string_ = false;
};

/// Python's repr() of a str: quoted with ' (or " when the text holds ' but no "),
/// with \n, \r, \t, \\ and control bytes escaped; other bytes pass through (UTF-8).
[[nodiscard]] std::string repr_str(std::string_view text);
/// Python's repr() of a bytes object: b'...' with every byte outside 0x20..0x7e
/// escaped (\n, \r, \t, or \xNN).
[[nodiscard]] std::string repr_bytes(std::string_view bytes);

}  // namespace concur::subprocess
