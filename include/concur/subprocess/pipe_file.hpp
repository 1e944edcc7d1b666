// concur/subprocess/pipe_file.hpp: the parent's end of a pipe to a child
// (Popen::stdin_, stdout_, stderr_), a small file object.
//
//   subprocess::Popen p({"cat"}, {.stdin_ = subprocess::PIPE, .stdout_ = subprocess::PIPE});
//   p.stdin_.write("one\ntwo\n");
//   p.stdin_.close();                  // the child sees EOF
//   std::string first = p.stdout_.readline();   // "one\n"
//   std::string rest = p.stdout_.read();        // "two\n" (to EOF)
//   p.wait();
//
// State: an empty PipeFile (Python's None: the stream was not piped) or a closed
// one is false in a boolean context; fileno() is -1 then. Reads and writes on
// it throw concur::ValueError ("I/O operation on closed file").
//
// Blocking: write() blocks until every byte is taken by the pipe; read() blocks
// until EOF, read(n) until n bytes or EOF, readline() until a newline or EOF.
// There is no timeout: use Popen::communicate(input, timeout) for bounded I/O.
// All calls retry EINTR.
//
// Errors: a write to a pipe whose reader is gone throws concur::BrokenPipeError
// (a concur::OSError, a std::system_error with errc::broken_pipe) and
// never raises SIGPIPE in the process: SIGPIPE is blocked in the calling thread
// for the write and a SIGPIPE it caused is consumed (sigtimedwait) before the
// thread's mask is restored. The process-wide disposition is never changed.
// Other OS errors are the OSError family (concur/exceptions.hpp) naming the call.
//
// Text mode (Popen's text=true): reads translate "\r\n" and "\r" to "\n"
// (universal newlines, also across read boundaries); writes are unchanged (on
// POSIX Python writes "\n" as "\n"). No decoding happens: bytes are bytes.
//
// Lifetime: owns its descriptor (close-on-exec) and closes it on close() or
// destruction. Movable, not copyable. Not thread-safe (one thread at a time).
//
// Python parity: unbuffered writes (flush() is a no-op), reads are buffered;
// Python's io objects also offer iteration, readlines, seek (unsupported on
// pipes); here read/read(n)/readline/write/close/fileno/closed/flush.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace concur::subprocess {

class Popen;

class PipeFile {
 public:
  /// An empty PipeFile (Python's None).
  PipeFile() noexcept = default;
  /// Adopts `fd` (which should be close-on-exec). `readable`: the parent reads
  /// from it (a child's stdout/stderr) rather than writes (its stdin).
  PipeFile(int fd, bool readable, bool text) noexcept;
  ~PipeFile();
  PipeFile(PipeFile&& other) noexcept;
  PipeFile& operator=(PipeFile&& other) noexcept;
  PipeFile(const PipeFile&) = delete;
  PipeFile& operator=(const PipeFile&) = delete;

  /// True when open.
  explicit operator bool() const noexcept { return fd_ >= 0; }
  [[nodiscard]] bool closed() const noexcept { return fd_ < 0; }
  /// The descriptor, or -1 when empty/closed.
  [[nodiscard]] int fileno() const noexcept { return fd_; }
  [[nodiscard]] bool readable() const noexcept { return readable_; }
  [[nodiscard]] bool text() const noexcept { return text_; }

  /// Writes all of `data`; returns data.size(). Throws ValueError when closed or
  /// not writable, the OSError family (BrokenPipeError when the reader is gone).
  std::size_t write(std::string_view data);
  /// No-op (writes are unbuffered); throws ValueError when closed.
  void flush() const;
  /// Everything up to EOF.
  std::string read();
  /// Up to n bytes (fewer only at EOF).
  std::string read(std::size_t n);
  /// One line including its "\n", or what is left at EOF ("" at EOF).
  std::string readline();
  /// Closes the descriptor (idempotent; never throws).
  void close() noexcept;

 private:
  friend class Popen;
  bool fill();  // reads one chunk into buf_ (translated in text mode); false at EOF
  void check_open(bool want_readable) const;
  std::string take_buffer() noexcept;  // buffered, not yet consumed data

  int fd_ = -1;
  bool readable_ = false;
  bool text_ = false;
  bool eof_ = false;
  bool last_cr_ = false;  // text mode: the last raw byte was '\r'
  std::string buf_;
  std::size_t pos_ = 0;
};

}  // namespace concur::subprocess
