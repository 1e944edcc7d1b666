// PipeFile: the parent's end of a pipe to a child.
#include "concur/subprocess/pipe_file.hpp"

#include <cerrno>
#include <system_error>
#include <utility>

#include "concur/exceptions.hpp"
#include "concur/subprocess/redirect.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
#include "os/poll.hpp"
#include "os/signals.hpp"

namespace concur::subprocess {

namespace {
constexpr std::size_t kChunk = std::size_t{64} * 1024;

// Universal newlines: "\r\n" and "\r" become "\n". `last_cr` carries a trailing '\r'
// across calls so that a "\r\n" split between two reads still gives one "\n".
void translate_into(std::string& out, const char* data, std::size_t n, bool& last_cr) {
  for (std::size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (c == '\r') {
      out += '\n';
      last_cr = true;
    } else {
      if (!(c == '\n' && last_cr)) out += c;
      last_cr = false;
    }
  }
}
}  // namespace

Redirect::Redirect(const PipeFile& file) : value_(file.fileno()), set_(true) {
  if (file.closed()) throw ValueError("I/O operation on closed file");
}

PipeFile::PipeFile(int fd, bool readable, bool text) noexcept
    : fd_(fd), readable_(readable), text_(text) {}

PipeFile::~PipeFile() { close(); }

PipeFile::PipeFile(PipeFile&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      readable_(o.readable_),
      text_(o.text_),
      eof_(o.eof_),
      last_cr_(o.last_cr_),
      buf_(std::move(o.buf_)),
      pos_(std::exchange(o.pos_, 0)) {}

PipeFile& PipeFile::operator=(PipeFile&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    readable_ = o.readable_;
    text_ = o.text_;
    eof_ = o.eof_;
    last_cr_ = o.last_cr_;
    buf_ = std::move(o.buf_);
    pos_ = std::exchange(o.pos_, 0);
  }
  return *this;
}

void PipeFile::close() noexcept {
  os::close_fd(std::exchange(fd_, -1));
  buf_.clear();
  pos_ = 0;
}

void PipeFile::check_open(bool want_readable) const {
  if (fd_ < 0) throw ValueError("I/O operation on closed file");
  if (want_readable != readable_)
    throw ValueError(want_readable ? "PipeFile not readable" : "PipeFile not writable");
}

void PipeFile::flush() const {
  if (fd_ < 0) throw ValueError("I/O operation on closed file");
}

std::size_t PipeFile::write(std::string_view data) {
  check_open(false);
  os::SigpipeBlock no_sigpipe;
  std::size_t done = 0;
  while (done < data.size()) {
    const long r = os::write_noexcept(fd_, data.data() + done, data.size() - done);
    if (r == -EAGAIN) {  // left non-blocking by a communicate() that timed out
      os::PollItem item{fd_, os::kPollOut, 0};
      os::poll_until(&item, 1, Deadline());
      continue;
    }
    if (r < 0) os::raise(static_cast<int>(-r), "write");
    done += static_cast<std::size_t>(r);
  }
  return done;
}

bool PipeFile::fill() {
  if (eof_) return false;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  char chunk[kChunk];
  const long r = os::read_noexcept(fd_, chunk, sizeof chunk);
  if (r < 0) os::raise(static_cast<int>(-r), "read");
  if (r == 0) {
    eof_ = true;
    return false;
  }
  const auto n = static_cast<std::size_t>(r);
  if (text_)
    translate_into(buf_, chunk, n, last_cr_);
  else
    buf_.append(chunk, n);
  return true;
}

std::string PipeFile::read() {
  check_open(true);
  while (fill()) {
  }
  return take_buffer();
}

std::string PipeFile::read(std::size_t n) {
  check_open(true);
  while (buf_.size() - pos_ < n && fill()) {
  }
  const std::size_t take = std::min(n, buf_.size() - pos_);
  std::string out = buf_.substr(pos_, take);
  pos_ += take;
  return out;
}

std::string PipeFile::readline() {
  check_open(true);
  std::size_t scanned = pos_;
  for (;;) {
    const auto nl = buf_.find('\n', scanned);
    if (nl != std::string::npos) {
      std::string out = buf_.substr(pos_, nl + 1 - pos_);
      pos_ = nl + 1;
      return out;
    }
    scanned = buf_.size() - pos_;  // offset relative to pos_ (fill may compact)
    if (!fill()) return take_buffer();
    scanned += pos_;
  }
}

std::string PipeFile::take_buffer() noexcept {
  std::string out = pos_ == 0 ? std::move(buf_) : buf_.substr(pos_);
  buf_.clear();
  pos_ = 0;
  return out;
}

}  // namespace concur::subprocess
