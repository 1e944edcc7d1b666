// src/os/terminal.hpp: terminals. Internal.
//
// is_terminal and terminal_columns never throw (a progress bar asks them on every map);
// open_pty throws the OSError family naming the call. Fds are close-on-exec (fd.hpp's rule).
#pragma once

#include "os/fd.hpp"

namespace concur::os {

/// isatty(fd).
bool is_terminal(int fd) noexcept;
/// The terminal's width in columns (TIOCGWINSZ), or 0 when unknown.
int terminal_columns(int fd) noexcept;

struct Pty {
  Fd master;
  Fd slave;
};
/// A new pseudo-terminal pair: posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), grantpt,
/// unlockpt, then the slave opened O_RDWR | O_NOCTTY | O_CLOEXEC (never a controlling
/// terminal).
Pty open_pty();

}  // namespace concur::os
