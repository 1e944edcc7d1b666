// concur/subprocess/options.hpp: Python's keyword arguments as two option structs,
// used with designated initializers.
//
//   subprocess::Popen p({"cat"}, {.stdin_ = subprocess::PIPE, .stdout_ = subprocess::PIPE,
//                                 .text = true});
//   subprocess::run({"ls", "-l"}, {.capture_output = true, .text = true});
//   subprocess::run("exit 1", {.shell = true, .check = true});
//
// C++ requires designators in declaration order. The order is Python's documented
// signature of subprocess.run(): stdin, input, stdout, stderr, capture_output,
// shell, cwd, timeout, check, text, env, then the other Popen arguments (executable,
// close_fds, pass_fds, start_new_session, process_group, restore_signals,
// pipesize). PopenOptions is the same list without input, capture_output,
// timeout and check.
//
// Validation happens when the options are used, before anything is spawned:
// concur::ValueError for stdin_ together with input, capture_output together with
// stdout_/stderr_, STDOUT for stdin_/stdout_, start_new_session together with
// process_group, a NUL in cwd/env/executable, '=' in an env name, a negative fd
// in pass_fds or below -3 in a redirect; concur::OSError(EBADF) for a pass_fds
// or redirect fd that is not open. A negative timeout throws ValueError where
// the duration is converted (concur::Timeout).
//
// Python parity (not supported, on purpose):
// - bufsize: writes are unbuffered, reads buffered; no option.
// - encoding, errors, universal_newlines: no codecs; `text` only translates
//   newlines (see PipeFile); use `text` for universal_newlines.
// - preexec_fn, user, group, extra_groups, umask: children are started with
//   posix_spawn (vfork-class, so the cost does not grow with the parent's
//   memory), which runs no user code in the child; run `sh -c 'umask 022;
//   exec prog'` instead. startupinfo/creationflags are Windows-only.
// - pass_fds with close_fds=false forces close_fds on (Python also warns).
// - env={} is an empty environment (as in Python); no env inherits the parent's.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "concur/subprocess/redirect.hpp"
#include "concur/timeout.hpp"

namespace concur::subprocess {

/// The environment given to a child (replaces, never extends, the parent's).
using Environment = std::map<std::string, std::string>;

/// Popen's keyword arguments.
struct PopenOptions {
  Redirect stdin_{};                           ///< None, PIPE, DEVNULL or an fd
  Redirect stdout_{};                          ///< None, PIPE, DEVNULL or an fd
  Redirect stderr_{};                          ///< None, PIPE, DEVNULL, STDOUT or an fd
  bool shell = false;                          ///< run args through /bin/sh -c (or `executable`)
  std::optional<std::filesystem::path> cwd{};  ///< chdir in the child before exec
  bool text = false;                           ///< universal newlines on reads (no decoding)
  std::optional<Environment> env{};            ///< replaces the environment
  /// The program to run instead of args[0] (args[0] stays the displayed name);
  /// with shell=true it replaces /bin/sh. Searched on PATH when it has no '/'.
  std::optional<std::string> executable{};
  bool close_fds = true;               ///< close every fd >= 3 in the child except pass_fds
  std::vector<int> pass_fds{};         ///< fds kept open (and made inheritable) in the child
  bool start_new_session = false;      ///< setsid() in the child
  std::optional<int> process_group{};  ///< setpgid(0, n) in the child (0: a new group)
  bool restore_signals = true;         ///< reset every signal to SIG_DFL in the child
  int pipesize = -1;                   ///< F_SETPIPE_SZ for the created pipes (-1: default)
};

/// run()'s keyword arguments (also used by call, check_call, check_output).
struct RunOptions {
  Redirect stdin_{};
  std::optional<std::string> input{};  ///< written to the child's stdin (implies PIPE)
  Redirect stdout_{};
  Redirect stderr_{};
  bool capture_output = false;  ///< stdout_ = stderr_ = PIPE
  bool shell = false;
  std::optional<std::filesystem::path> cwd{};
  Timeout timeout{};   ///< for the whole call; the child is killed when it passes
  bool check = false;  ///< throw CalledProcessError on a non-zero returncode
  bool text = false;
  std::optional<Environment> env{};
  std::optional<std::string> executable{};
  bool close_fds = true;
  std::vector<int> pass_fds{};
  bool start_new_session = false;
  std::optional<int> process_group{};
  bool restore_signals = true;
  int pipesize = -1;
};

}  // namespace concur::subprocess
