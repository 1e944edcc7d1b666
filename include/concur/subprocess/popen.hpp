// concur/subprocess/popen.hpp: Popen, a child process and the pipes to it.
//
//   subprocess::Popen p({"sh", "-c", "read x; echo got $x; echo err >&2"},
//                       {.stdin_ = subprocess::PIPE, .stdout_ = subprocess::PIPE,
//                        .stderr_ = subprocess::PIPE});
//   auto [out, err] = p.communicate("hello\n", std::chrono::seconds(5));
//   // *out == "got hello\n", *err == "err\n", p.returncode() == 0
//
// Spawning: posix_spawn (glibc's clone(CLONE_VM|CLONE_VFORK): the cost does not
// grow with the parent's memory) then pidfd_open; argv, envp and the fd plan are
// built in the parent; every fd concur creates is close-on-exec from birth
// (pipe2(O_CLOEXEC), F_DUPFD_CLOEXEC); the child closes every fd >= 3 with
// close_range except pass_fds (close_fds=true), gets an empty signal mask and,
// with restore_signals, every signal reset to SIG_DFL. See
// docs/design/0002-subprocess.md.
//
// Errors (all thrown before a child exists, with every fd created so far closed):
// concur::ValueError/TypeError for bad arguments (see options.hpp, args.hpp);
// the OSError family (concur/exceptions.hpp) when the program cannot be started, as in
// Python: concur::FileNotFoundError, PermissionError, ... with what() naming the program,
// or the cwd when the chdir failed.
//
// Waiting: with the child's pidfd (poll + waitid(P_PIDFD)); no SIGCHLD handler is
// installed and no other child is ever reaped. The child is reaped exactly once.
// If the application sets SIGCHLD to SIG_IGN the kernel reaps the child itself;
// then the exit status is lost: returncode becomes 0 (as in Python) and
// status_lost() becomes true.
//
// Thread safety: poll, wait, returncode, status_lost, send_signal, terminate and
// kill may be called from several threads at once: one of them reaps, all see the
// same returncode. The reap and the returncode are guarded by a mutex, so whatever
// the child did before exiting (e.g. writing a file) happens-before any call that
// returns its returncode. communicate and the pipe objects are for one thread at a
// time (as Python's file objects and communicate).
//
// States:
//   | state                | poll()        | returncode()  | signals            |
//   |----------------------|---------------|---------------|--------------------|
//   | running              | nullopt       | nullopt       | delivered          |
//   | exited, not reaped   | reaps: code   | nullopt       | harmless (zombie)  |
//   | reaped               | code          | code          | not sent           |
//
// The environment: without `env` the child gets the parent's `environ` as it is at
// the call; like every posix_spawn/exec user, do not setenv() in another thread
// at the same time (glibc's setenv is not thread-safe against readers).
//
// Lifetime (destructor policy): the destructor closes the parent's pipe ends
// (stdin first, so the child sees EOF), then reaps the child if it has exited;
// if it still runs, it is killed with SIGKILL and reaped. So a Popen never
// leaves a zombie or an orphan it still owned; call wait() or communicate()
// first when the child must finish. (Python warns and reaps later instead.)
// The kill reaches the child only, not its process group.
// Movable (a moved-from Popen may only be destroyed or assigned), not copyable.
//
// Python parity:
// - returncode() is std::nullopt while running (Python's None).
// - communicate returns a struct {stdout_, stderr_} (structured bindings work) with
//   std::nullopt for streams that are not pipes; `input` given when stdin is not a
//   pipe is a ValueError (Python ignores it).
// - After communicate has read everything, calling it again returns the same data.
// - Data already buffered in a PipeFile (a readline before communicate) is kept.
// - TimeoutExpired from communicate carries the output read so far; a later call
//   continues where it stopped and loses nothing.
// - The context-manager form is the destructor (which kills a running child
//   rather than waiting for it).
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "concur/subprocess/args.hpp"
#include "concur/subprocess/options.hpp"
#include "concur/subprocess/pipe_file.hpp"
#include "concur/timeout.hpp"

namespace concur::subprocess {

class Popen;
namespace detail {
/// Internal: what run() needs of a Popen beyond Python's API. Not for users.
struct PopenAccess {
  static void kill_for_timeout(Popen& p);
  static std::optional<std::string> raw_stdout(const Popen& p);
  static std::optional<std::string> raw_stderr(const Popen& p);
};
}  // namespace detail

/// What communicate() returns: std::nullopt for a stream that is not a pipe.
struct CommunicateResult {
  std::optional<std::string> stdout_;
  std::optional<std::string> stderr_;
};

class Popen {
 public:
  /// Starts the child. Throws ValueError/TypeError/the OSError family (see above).
  explicit Popen(Args args, PopenOptions options = {});
  /// The same, for a braced list: makes `Popen p({"true"})` unambiguous.
  explicit Popen(std::initializer_list<std::string> args, PopenOptions options = {})
      : Popen(Args(args), std::move(options)) {}
  /// Closes the pipes; reaps the child, killing it first if it still runs.
  ~Popen();
  Popen(Popen&& other) noexcept;
  Popen& operator=(Popen&& other) noexcept;
  Popen(const Popen&) = delete;
  Popen& operator=(const Popen&) = delete;

  /// The returncode if the child has exited (reaping it), else std::nullopt.
  /// Never blocks.
  std::optional<int> poll();
  /// Blocks until the child exits (at most `timeout`; TimeoutExpired then, the child
  /// keeps running) and returns its returncode: the exit status, or -N after
  /// signal N. Does not read pipes: a child blocked on a full pipe never exits
  /// (use communicate).
  int wait(Timeout timeout = {});
  /// Writes `input` to stdin (then closes it), reads stdout and stderr to EOF, all
  /// at once in this thread with poll(2) (never deadlocks on full pipes), then
  /// waits for the child. Blocks for at most `timeout`; then throws TimeoutExpired
  /// with the output so far and leaves the child running; call again to continue.
  /// A child that stops reading its stdin (EPIPE) is not an error.
  /// Throws ValueError for input when stdin is not a pipe, or input on a
  /// second call.
  CommunicateResult communicate(std::optional<std::string> input = std::nullopt,
                                Timeout timeout = {});
  CommunicateResult communicate(Timeout timeout) { return communicate(std::nullopt, timeout); }

  /// Sends signal `sig` through the pidfd (no pid-reuse race); does nothing once the
  /// child has been reaped. Throws concur::OSError on other failures.
  void send_signal(int sig);
  /// send_signal(SIGTERM).
  void terminate();
  /// send_signal(SIGKILL).
  void kill();

  [[nodiscard]] int pid() const noexcept;
  /// std::nullopt until the child has been reaped by poll/wait/communicate.
  [[nodiscard]] std::optional<int> returncode() const;
  /// The args as given.
  [[nodiscard]] const Args& args() const noexcept;
  /// True when the exit status could not be collected (SIGCHLD ignored).
  [[nodiscard]] bool status_lost() const;

  /// The parent's pipe ends: empty (false) unless the stream was PIPE.
  PipeFile stdin_;
  PipeFile stdout_;
  PipeFile stderr_;

 private:
  friend struct detail::PopenAccess;
  struct Impl;
  void finish() noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace concur::subprocess
