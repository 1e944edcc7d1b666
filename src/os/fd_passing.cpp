// src/os/fd_passing.cpp: see fd_passing.hpp.
#include "os/fd_passing.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "concur/exceptions.hpp"
#include "os/error.hpp"

namespace concur::os {

void send_all(int sock, std::span<const std::byte> data) {
  const std::byte* p = data.data();
  std::size_t n = data.size();
  while (n > 0) {
    const ssize_t w = checked("send", [&] { return ::send(sock, p, n, MSG_NOSIGNAL); });
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

bool recv_all(int sock, std::span<std::byte> data) {
  std::byte* p = data.data();
  std::size_t n = data.size();
  while (n > 0) {
    const ssize_t r = checked("recv", [&] { return ::recv(sock, p, n, 0); });
    if (r == 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

void send_with_fds(int sock, std::span<const std::byte> data, std::span<const int> fds) {
  if (fds.size() > kMaxPassedFds) {
    throw ValueError("concur: too many fds to pass in one message (" + std::to_string(fds.size()) +
                     ", at most " + std::to_string(kMaxPassedFds) + ")");
  }
  iovec iov{const_cast<std::byte*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  const ssize_t n = checked("sendmsg", [&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); });
  if (static_cast<std::size_t>(n) < data.size())
    send_all(sock, data.subspan(static_cast<std::size_t>(n)));
}

std::size_t recv_with_fds(int sock, std::span<std::byte> data, std::vector<int>& fds) {
  iovec iov{data.data(), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 253)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = checked("recvmsg", [&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); });
  const std::size_t first = fds.size();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const std::size_t at = fds.size();
      fds.resize(at + count);
      std::memcpy(fds.data() + at, CMSG_DATA(c), count * sizeof(int));
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    for (std::size_t i = first; i < fds.size(); ++i) ::close(fds[i]);
    fds.resize(first);
    raise(EMSGSIZE, "recvmsg (fds truncated)");
  }
  return static_cast<std::size_t>(n);
}

}  // namespace concur::os
