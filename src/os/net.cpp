// src/os/net.cpp: see net.hpp.
#include "os/net.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>

#include "concur/exceptions.hpp"
#include "os/error.hpp"
#include "os/poll.hpp"

namespace concur::os {
namespace {

// One non-blocking connect attempt to `ai`: the socket, or an errno (ETIMEDOUT when the
// deadline passed).
Fd try_connect(const addrinfo& ai, const Deadline& deadline, int& err) {
  Fd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai.ai_protocol));
  if (!fd) {
    err = errno;
    return {};
  }
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) {
      err = errno;
      return {};
    }
    if (!wait_fd(fd.get(), kPollOut, deadline)) {
      err = ETIMEDOUT;
      return {};
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
    if (so_error != 0) {
      err = so_error;
      return {};
    }
  }
  set_nonblocking(fd.get(), false);
  const int one = 1;
  (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

Fd tcp_connect(const std::string& host, int port, const Deadline& deadline) {
  const std::string what = "connect to " + host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    throw OSError(rc == EAI_SYSTEM ? errno : EHOSTUNREACH,
                  what + ": getaddrinfo: " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);
  int err = EHOSTUNREACH;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    Fd fd = try_connect(*ai, deadline, err);
    if (fd) return fd;
    if (err == ETIMEDOUT && deadline.expired()) break;
  }
  if (err == ETIMEDOUT) throw TimeoutError(what + ": timed out");
  raise(err, what);
}

}  // namespace concur::os
