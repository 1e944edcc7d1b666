// src/os/net.hpp: TCP connections. Internal.
#pragma once

#include <string>

#include "concur/timeout.hpp"
#include "os/fd.hpp"

namespace concur::os {

/// A connected TCP socket to host:port (a name or a numeric address; every address
/// getaddrinfo gives is tried in turn), close-on-exec from its creation, left blocking, with
/// TCP_NODELAY set. Blocks until connected or `deadline` passes. Throws the OSError family
/// for the last address's failure (ConnectionRefusedError, ...) and concur::TimeoutError
/// when the deadline passes; the message names "connect to host:port"; an unknown host is
/// an OSError naming getaddrinfo's error.
Fd tcp_connect(const std::string& host, int port, const Deadline& deadline);

}  // namespace concur::os
