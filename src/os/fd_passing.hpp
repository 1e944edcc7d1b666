// src/os/fd_passing.hpp: bytes and file descriptors over a Unix socket. Internal.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace concur::os {

/// At most this many fds go in one message (the kernel's SCM_MAX_FD is 253).
inline constexpr std::size_t kMaxPassedFds = 250;

/// Sends `data` with `fds` attached (SCM_RIGHTS) on socket `sock`, the rest of `data`
/// after a short send without fds; MSG_NOSIGNAL. ValueError for more than kMaxPassedFds
/// fds; the OSError family otherwise.
void send_with_fds(int sock, std::span<const std::byte> data, std::span<const int> fds);
/// Receives up to `data.size()` bytes (one recvmsg) and appends the fds that came with
/// them (close-on-exec) to `fds`. Returns the bytes read (0 at EOF). If the kernel
/// truncated the fds, closes those that came and raises OSError(EMSGSIZE).
std::size_t recv_with_fds(int sock, std::span<std::byte> data, std::vector<int>& fds);
/// send(2) of all of `data`, MSG_NOSIGNAL, EINTR retried.
void send_all(int sock, std::span<const std::byte> data);
/// recv(2) until `data` is full: false at EOF before that.
bool recv_all(int sock, std::span<std::byte> data);

}  // namespace concur::os
