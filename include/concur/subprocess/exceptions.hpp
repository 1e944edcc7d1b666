// concur/subprocess/exceptions.hpp: SubprocessError, CalledProcessError, TimeoutExpired.
//
//   SubprocessError      : std::runtime_error   (Python: SubprocessError(Exception))
//   ├── CalledProcessError                      check=true, check_call, check_output
//   └── TimeoutExpired                          a timeout passed
//
// A program that cannot be started is not a SubprocessError: as in Python
// (FileNotFoundError, PermissionError: OSError) it is a std::system_error whose
// code is the errno (std::errc::no_such_file_or_directory, permission_denied, ...)
// and whose what() names the call and the program (or the cwd when chdir failed).
// Bad arguments are concur::ValueError / concur::TypeError, thrown before
// anything is spawned.
//
// Example:
//   try {
//     subprocess::run({"sh", "-c", "echo oops >&2; exit 3"}, {.capture_output = true,
//                                                            .check = true});
//   } catch (const subprocess::CalledProcessError& e) {
//     // e.what() == "Command '['sh', '-c', 'echo oops >&2; exit 3']' returned
//     //              non-zero exit status 3."
//     // e.returncode == 3, *e.stderr_ == "oops\n"
//   }
//
// Python parity:
// - `output` and `stdout` are one value: the data member stdout_, with output()
//   as the alias (Python's primary name is `output`, `stdout` its alias).
// - A stream that was not captured is std::nullopt (Python's None).
// - TimeoutExpired::timeout is in seconds as a double, like Python's float.
// - The messages are Python's, word for word.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "concur/subprocess/args.hpp"

namespace concur::subprocess {

/// The base of this module's exceptions.
class SubprocessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A child exited with a non-zero status (or died from a signal) where success
/// was required. what(): "Command 'CMD' returned non-zero exit status N." or
/// "Command 'CMD' died with <Signals.SIGKILL: 9>." (unknown signal:
/// "died with unknown signal N.").
class CalledProcessError : public SubprocessError {
 public:
  CalledProcessError(int returncode, Args cmd, std::optional<std::string> stdout_data = {},
                     std::optional<std::string> stderr_data = {});

  int returncode;                      ///< exit status, or -signal
  Args cmd;                            ///< the args as given
  std::optional<std::string> stdout_;  ///< captured stdout (Python: output / stdout)
  std::optional<std::string> stderr_;  ///< captured stderr
  /// Python's `output`: the same as stdout_.
  [[nodiscard]] const std::optional<std::string>& output() const noexcept { return stdout_; }
};

/// A timeout passed while waiting for a child. what(): "Command 'CMD' timed out
/// after T seconds". stdout_/stderr_ hold what was read before the timeout, as
/// raw bytes even in text mode (as in Python), or nullopt if not captured.
class TimeoutExpired : public SubprocessError {
 public:
  TimeoutExpired(Args cmd, std::chrono::duration<double> timeout,
                 std::optional<std::string> stdout_data = {},
                 std::optional<std::string> stderr_data = {});

  Args cmd;
  std::chrono::duration<double> timeout;  ///< seconds, as given
  std::optional<std::string> stdout_;
  std::optional<std::string> stderr_;
  [[nodiscard]] const std::optional<std::string>& output() const noexcept { return stdout_; }
};

/// Python's name of a signal ("SIGKILL"), or "" when unknown.
[[nodiscard]] std::string signal_name(int signum);

}  // namespace concur::subprocess
