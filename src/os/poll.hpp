// src/os/poll.hpp: waiting for fds with a deadline. Internal.
#pragma once

#include <cstddef>

#include "concur/timeout.hpp"

namespace concur::os {

/// poll(2) events, the same values as <poll.h> (checked in poll.cpp).
inline constexpr short kPollIn = 0x001;
inline constexpr short kPollOut = 0x004;
inline constexpr short kPollErr = 0x008;
inline constexpr short kPollHup = 0x010;
inline constexpr short kPollNval = 0x020;
/// Layout of struct pollfd (checked in poll.cpp).
struct PollItem {
  int fd;
  short events;
  short revents;
};

/// poll(2) until something is ready or `deadline` passes: the number of ready items, 0
/// on timeout (never before the deadline). EINTR is retried with the time left.
int poll_until(PollItem* items, std::size_t n, const Deadline& deadline);

/// Sleeps until `deadline` (clock_nanosleep on CLOCK_MONOTONIC, TIMER_ABSTIME: EINTR
/// resumes the same absolute wait). Returns at once for a forever deadline.
void sleep_until(const Deadline& deadline) noexcept;

/// poll_until for one fd: true when `events` (or an error or hang-up) is ready on `fd`.
bool wait_fd(int fd, short events, const Deadline& deadline);

}  // namespace concur::os
