// concur/subprocess/redirect.hpp: what a child's stdin, stdout or stderr is.
//
//   {.stdout_ = subprocess::PIPE}     // a new pipe; the parent reads Popen::stdout_
//   {.stderr_ = subprocess::STDOUT}   // stderr goes where stdout goes
//   {.stdin_ = subprocess::DEVNULL}   // /dev/null
//   {.stdout_ = fd}                   // an open file descriptor of the parent (borrowed)
//   {.stdin_ = first.stdout_}         // another Popen's pipe end (a pipeline)
//   {}                                // None: the child inherits the parent's stream
//
// A Redirect never owns a descriptor: the fd (or the PipeFile it was taken from)
// must stay open until the Popen constructor returns. The child gets its own
// copy, so the parent may close its end right after (and must, in a pipeline,
// for EOF and SIGPIPE to propagate).
//
// Python parity: PIPE, STDOUT and DEVNULL are the same integers as in Python
// (-1, -2, -3), so `.stdout_ = -1` means PIPE as in Python. Python file objects
// become their descriptor (PipeFile, or any fd). A number below -3 is a
// concur::ValueError, a number that is not an open fd a concur::OSError(EBADF),
// both raised by Popen before anything is spawned.
#pragma once

namespace concur::subprocess {

class PipeFile;

/// Create a new pipe to the child.
inline constexpr int PIPE = -1;
/// For stderr only: send it where stdout goes.
inline constexpr int STDOUT = -2;
/// Connect the stream to /dev/null.
inline constexpr int DEVNULL = -3;

class Redirect {
 public:
  /// None: the child inherits the parent's stream.
  constexpr Redirect() noexcept = default;
  /// PIPE, STDOUT, DEVNULL, or an open file descriptor (>= 0) of the parent.
  constexpr Redirect(int fd_or_special) noexcept : value_(fd_or_special), set_(true) {}  // NOLINT
  /// `.stdout_ = true` would silently mean fd 1: not allowed.
  Redirect(bool) = delete;
  /// The descriptor of a pipe end (e.g. another Popen's stdout_), for pipelines.
  Redirect(const PipeFile& file);  // NOLINT

  /// True unless this is None (inherit).
  [[nodiscard]] constexpr bool is_set() const noexcept { return set_; }
  /// The fd or special value (meaningless when !is_set()).
  [[nodiscard]] constexpr int value() const noexcept { return value_; }
  [[nodiscard]] constexpr bool is_pipe() const noexcept { return set_ && value_ == PIPE; }

  friend constexpr bool operator==(const Redirect&, const Redirect&) = default;

 private:
  int value_ = 0;
  bool set_ = false;
};

}  // namespace concur::subprocess
