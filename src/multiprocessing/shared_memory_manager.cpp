#include "concur/multiprocessing/shared_memory_manager.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "concur/detail/mp_tracker.hpp"
#include "concur/exceptions.hpp"
#include "concur/multiprocessing/errors.hpp"

namespace concur::multiprocessing::managers {

namespace {

// The writer ends of every started manager of this process: a fork child closes them, so
// that no child keeps a manager's server alive past its shutdown().
std::mutex& fds_mutex() {
  static std::mutex m;
  return m;
}
std::vector<int>& manager_fds() {
  static std::vector<int> v;
  return v;
}
void before_fork() noexcept { fds_mutex().lock(); }
void in_parent() noexcept { fds_mutex().unlock(); }
void in_child() noexcept {
  for (int fd : manager_fds()) ::close(fd);
  manager_fds().clear();
  fds_mutex().unlock();
}
[[maybe_unused]] const int g_atfork = ::pthread_atfork(before_fork, in_parent, in_child);

void forget_fd(int fd) {
  std::lock_guard lock(fds_mutex());
  auto& v = manager_fds();
  v.erase(std::remove(v.begin(), v.end(), fd), v.end());
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
  {
    std::lock_guard fds_lock(fds_mutex());
    manager_fds().push_back(server.fd);
  }
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
  try {
    forget_fd(fd_);
  } catch (...) {  // erasing does not allocate
  }
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
    const int err = errno;
    throw std::system_error(err, std::generic_category(),
                            "SharedMemoryManager: send(register " + name + ")");
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
