#include "concur/multiprocessing/shared_memory_manager.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "multiprocessing/tracker.hpp"
#include "os/error.hpp"

namespace concur::multiprocessing::managers {

namespace {

// The writer ends of every started manager of this process: a fork child closes them, so
// that no child keeps a manager's server alive past its shutdown(). Lock-free slots (a
// mutex here, taken in a prepare handler, would invert with the resource tracker's lock,
// which is held while that fork happens). More than kSlots managers at once: the extra
// ones' fds are not closed in fork children (they still work; a child holding one delays
// that manager's shutdown by up to 5 s).
constexpr std::size_t kSlots = 256;
std::atomic<int> g_fds[kSlots];
[[maybe_unused]] const bool g_fds_init = [] {
  for (auto& slot : g_fds) slot.store(-1);
  return true;
}();
void in_child() noexcept {
  for (auto& slot : g_fds) {
    const int fd = slot.exchange(-1);
    if (fd >= 0) ::close(fd);
  }
}
[[maybe_unused]] const int g_atfork = ::pthread_atfork(nullptr, nullptr, in_child);

void remember_fd(int fd) noexcept {
  for (auto& slot : g_fds) {
    int expected = -1;
    if (slot.compare_exchange_strong(expected, fd)) return;
  }
}

void forget_fd(int fd) noexcept {
  for (auto& slot : g_fds) {
    int expected = fd;
    if (slot.compare_exchange_strong(expected, -1)) return;
  }
}

}  // namespace

namespace {
void check_started(bool started) {
  if (!started) {
    throw concur::ValueError(
        "SharedMemoryManager: start() the manager before making segments with it (and "
        "before shutdown())");
  }
}
}  // namespace

SharedMemoryManager::~SharedMemoryManager() { shutdown(); }

void SharedMemoryManager::start() {
  std::lock_guard lock(mutex_);
  if (state_ == State::started) throw ProcessError("Already started server");
  if (state_ == State::shut_down) throw ProcessError("Manager has shut down");
  const auto server = detail::start_tracker_process(false, "concur-smm");
  remember_fd(server.fd);
  fd_ = server.fd;
  pid_ = server.pid;
  owner_ = ::getpid();
  state_ = State::started;
}

void SharedMemoryManager::shutdown() noexcept {
  std::lock_guard lock(mutex_);
  if (state_ != State::started) return;
  state_ = State::shut_down;
  if (owner_ != ::getpid()) return;  // a fork child's copy: the fd was closed at fork
  forget_fd(fd_);
  ::close(fd_);
  fd_ = -1;
  detail::reap_bounded(pid_);  // the server unlinks everything, then exits
  pid_ = -1;
}

bool SharedMemoryManager::started() const noexcept {
  std::lock_guard lock(mutex_);
  return state_ == State::started && owner_ == ::getpid();
}

pid_t SharedMemoryManager::server_pid() const noexcept {
  std::lock_guard lock(mutex_);
  return state_ == State::started && owner_ == ::getpid() ? pid_ : -1;
}

void SharedMemoryManager::register_name(const std::string& name) {
  std::lock_guard lock(mutex_);
  check_started(state_ == State::started && owner_ == ::getpid());
  if (!detail::send_tracker_record(fd_, 'R', name)) {
    os::raise_errno("SharedMemoryManager: send(register " + name + ")");
  }
}

shared_memory::SharedMemory SharedMemoryManager::SharedMemory(std::int64_t size) {
  check_started(started());
  shared_memory::SharedMemory m(std::nullopt, true, size, false);
  try {
    register_name(m.name());
  } catch (...) {
    m.close();
    try {
      m.unlink();
    } catch (...) {
    }
    throw;
  }
  return m;
}

shared_memory::ShareableList SharedMemoryManager::ShareableList(
    const std::vector<shared_memory::Item>& items) {
  check_started(started());
  shared_memory::ShareableList l(items, std::nullopt, false);
  try {
    register_name(l.shm().name());
  } catch (...) {
    l.shm().close();
    try {
      l.shm().unlink();
    } catch (...) {
    }
    throw;
  }
  return l;
}

}  // namespace concur::multiprocessing::managers
