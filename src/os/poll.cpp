// src/os/poll.cpp: see poll.hpp.
#include "os/poll.hpp"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>

#include "os/error.hpp"

namespace concur::os {

static_assert(kPollIn == POLLIN && kPollOut == POLLOUT && kPollErr == POLLERR &&
              kPollHup == POLLHUP && kPollNval == POLLNVAL);
static_assert(sizeof(PollItem) == sizeof(pollfd) &&
              offsetof(PollItem, fd) == offsetof(pollfd, fd) &&
              offsetof(PollItem, events) == offsetof(pollfd, events) &&
              offsetof(PollItem, revents) == offsetof(pollfd, revents));

int poll_until(PollItem* items, std::size_t n, const Deadline& deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (!deadline.is_forever()) {
      // Round up so that a poll never returns before the deadline.
      const auto left = deadline.remaining();
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      timeout_ms = static_cast<int>(std::min<long long>(ms, INT_MAX));
    }
    const int r = ::poll(reinterpret_cast<pollfd*>(items), static_cast<nfds_t>(n), timeout_ms);
    if (r > 0) return r;
    if (r == 0) {
      if (deadline.expired()) return 0;
      continue;  // woke early (rounding): wait for what is left
    }
    if (errno != EINTR) raise_errno("poll");
  }
}

void sleep_until(const Deadline& deadline) noexcept {
  if (deadline.is_forever()) return;
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_point().time_since_epoch())
          .count();
  if (ns <= 0) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

bool wait_fd(int fd, short events, const Deadline& deadline) {
  PollItem item{fd, events, 0};
  return poll_until(&item, 1, deadline) > 0;
}

}  // namespace concur::os
