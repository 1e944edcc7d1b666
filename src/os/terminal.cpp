// src/os/terminal.cpp: see terminal.hpp.
#include "os/terminal.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cstdlib>

#include "os/error.hpp"

namespace concur::os {

bool is_terminal(int fd) noexcept { return ::isatty(fd) == 1; }

int terminal_columns(int fd) noexcept {
  winsize ws{};
  if (retry_eintr([&] { return ::ioctl(fd, TIOCGWINSZ, &ws); }) != 0) return 0;
  return ws.ws_col;
}

Pty open_pty() {
  Fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) raise_errno("posix_openpt");
  if (::grantpt(master.get()) != 0) raise_errno("grantpt");
  if (::unlockpt(master.get()) != 0) raise_errno("unlockpt");
  std::array<char, 128> name{};
  if (const int err = ::ptsname_r(master.get(), name.data(), name.size()); err != 0)
    raise(err, "ptsname_r");
  Fd slave(retry_eintr([&] { return ::open(name.data(), O_RDWR | O_NOCTTY | O_CLOEXEC); }));
  if (!slave) raise_errno("open");
  return Pty{std::move(master), std::move(slave)};
}

}  // namespace concur::os
