// src/os/signals.cpp: see signals.hpp.
#include "os/signals.hpp"

#include <signal.h>
#include <time.h>

#include <cerrno>

namespace concur::os {

static_assert(sizeof(sigset_t) <= 128);

SigpipeBlock::SigpipeBlock() noexcept {
  sigset_t pipe_set, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  auto* old = reinterpret_cast<sigset_t*>(old_mask_);
  pthread_sigmask(SIG_BLOCK, &pipe_set, old);
  was_blocked_ = sigismember(old, SIGPIPE) == 1;
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
}

SigpipeBlock::~SigpipeBlock() {
  if (!was_pending_) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
  }
  if (!was_blocked_) pthread_sigmask(SIG_SETMASK, reinterpret_cast<sigset_t*>(old_mask_), nullptr);
}

}  // namespace concur::os
