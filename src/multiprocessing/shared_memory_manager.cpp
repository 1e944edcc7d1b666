#include "concur/multiprocessing/shared_memory_manager.hpp"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "concur/multiprocessing/managers/base_manager.hpp"
#include "concur/multiprocessing/process.hpp"
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

void check_usable(bool usable) {
  if (!usable) {
    throw concur::ValueError(
        "SharedMemoryManager: start() or connect() the manager before making segments with "
        "it (and before shutdown())");
  }
}

// The segment's identity as this machine's /dev/shm holds it; nullopt when there is no
// such regular file (or the name could not be one).
std::optional<multiprocessing::detail::SegmentId> identity_of(const std::string& name) {
  const std::string bare = !name.empty() && name[0] == '/' ? name.substr(1) : name;
  if (bare.empty() || bare.size() > 255 ||
      bare.find_first_of(std::string("/\0", 2)) != std::string::npos)
    return std::nullopt;
  struct stat st {};
  if (::stat(("/dev/shm/" + bare).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return multiprocessing::detail::SegmentId{static_cast<std::uint64_t>(st.st_dev),
                                            static_cast<std::uint64_t>(st.st_ino)};
}

// What a started manager serves as "SharedMemoryServer": the names it will unlink, handed
// to its concur-smm server process as they come. After close() (the owner's shutdown) it
// takes nothing more: connection threads may outlive the shutdown by a moment.
class SegmentBook {
 public:
  explicit SegmentBook(int fd) : fd_(fd) {}

  // A segment of this machine made by a connected process (or by the owner).
  void track_segment(std::string name, std::uint64_t dev, std::uint64_t ino) {
    const auto id = identity_of(name);
    if (!id || id->dev != dev || id->ino != ino) {
      throw concur::FileNotFoundError(
          "SharedMemoryManager: no segment '" + name +
          "' of that identity in this machine's /dev/shm (a manager keeps segments of its own "
          "machine)");
    }
    std::lock_guard lock(mu_);
    if (closed_) throw concur::ValueError("SharedMemoryManager: the manager has shut down");
    if (!multiprocessing::detail::send_tracker_record(fd_, 'R', name, *id)) {
      os::raise_errno("SharedMemoryManager: send(register " + name + ")");
    }
    names_.push_back(std::move(name));
  }
  std::vector<std::string> list_segments() const {
    std::lock_guard lock(mu_);
    return names_;
  }
  void close() noexcept {
    std::lock_guard lock(mu_);
    closed_ = true;
  }

 private:
  mutable std::mutex mu_;
  int fd_;
  bool closed_ = false;
  std::vector<std::string> names_;
};

managers::Methods<SegmentBook> book_methods() {
  return managers::Methods<SegmentBook>()
      .def<&SegmentBook::track_segment>("track_segment")
      .def<&SegmentBook::list_segments>("list_segments");
}
void book_setup(Registry& r) { r.register_<SegmentBook>("SharedMemoryServer", book_methods()); }

connection::Address fresh_abstract_address() {
  std::random_device rd;
  const std::uint64_t token = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char text[64];
  const int n = std::snprintf(text, sizeof text, "concur-smm-%d-%016llx",
                              static_cast<int>(::getpid()), static_cast<unsigned long long>(token));
  return connection::Address(std::string(1, '\0') + std::string(text, static_cast<std::size_t>(n)));
}

}  // namespace

struct SharedMemoryManager::Owner {
  int fd = -1;
  pid_t pid = -1;
  std::shared_ptr<SegmentBook> book;
  std::optional<Server> server;
  std::thread thread;
};

struct SharedMemoryManager::Remote {
  explicit Remote(const SharedMemoryManagerOptions& o)
      : manager(
            setup<&book_setup>,
            {.address = o.address, .authkey = o.authkey, .connect_timeout = o.connect_timeout}) {}
  BaseManager manager;
  std::optional<Proxy<SegmentBook>> book;
};

SharedMemoryManager::SharedMemoryManager() = default;
SharedMemoryManager::SharedMemoryManager(SharedMemoryManagerOptions options)
    : options_(std::move(options)) {}

SharedMemoryManager::~SharedMemoryManager() { shutdown(); }

void SharedMemoryManager::start() {
  std::lock_guard lock(mutex_);
  if (state_ == State::started || state_ == State::connected)
    throw ProcessError("Already started server");
  if (state_ == State::shut_down) throw ProcessError("Manager has shut down");
  auto own = std::make_unique<Owner>();
  const auto tracker = multiprocessing::detail::start_tracker_process(false, "concur-smm");
  remember_fd(tracker.fd);
  own->fd = tracker.fd;
  own->pid = tracker.pid;
  own->book = std::make_shared<SegmentBook>(tracker.fd);
  try {
    auto registry = std::make_shared<Registry>();
    registry->register_<SegmentBook>("SharedMemoryServer", [book = own->book] { return book; },
                                     book_methods(), {.concurrent = true});
    own->server.emplace(registry,
                        options_.address.empty() ? fresh_abstract_address() : options_.address,
                        options_.authkey ? options_.authkey : current_process().authkey());
    own->thread = std::thread([server = &*own->server] {
      try {
        server->serve_forever(std::chrono::seconds(1));
      } catch (...) {
        // serving stops; the segments are still unlinked at shutdown
      }
    });
  } catch (...) {
    own->server.reset();
    forget_fd(tracker.fd);
    ::close(tracker.fd);
    multiprocessing::detail::reap_bounded(tracker.pid);
    throw;
  }
  own_ = std::move(own);
  owner_ = ::getpid();
  state_ = State::started;
}

void SharedMemoryManager::connect() {
  std::lock_guard lock(mutex_);
  if (state_ == State::started || state_ == State::connected)
    throw ProcessError("Already started server");
  if (state_ == State::shut_down) throw ProcessError("Manager has shut down");
  if (options_.address.empty())
    throw concur::ValueError("SharedMemoryManager.connect: an address is required");
  auto remote = std::make_unique<Remote>(options_);
  remote->manager.connect();
  remote->book.emplace(remote->manager.create<Proxy<SegmentBook>>("SharedMemoryServer"));
  remote_ = std::move(remote);
  owner_ = ::getpid();
  state_ = State::connected;
}

void SharedMemoryManager::shutdown() noexcept {
  std::unique_ptr<Owner> own;
  std::unique_ptr<Remote> remote;
  {
    std::lock_guard lock(mutex_);
    if (state_ != State::started && state_ != State::connected) return;
    state_ = State::shut_down;
    if (owner_ != ::getpid()) {
      // A fork child's copy: the tracker fd was closed at fork; the thread and the
      // listener are the parent's (joining or closing them here would wait forever).
      (void)own_.release();
      (void)remote_.release();
      return;
    }
    own = std::move(own_);
    remote = std::move(remote_);
  }
  remote.reset();  // a connected manager forgets its connection; the owner keeps the segments
  if (!own) return;
  own->server->stop();
  if (own->thread.joinable()) own->thread.join();
  own->book->close();  // a request still in flight now fails instead of using a closed fd
  own->server.reset();
  forget_fd(own->fd);
  ::close(own->fd);
  multiprocessing::detail::reap_bounded(own->pid);  // the server unlinks everything, then exits
}

bool SharedMemoryManager::usable() const noexcept {
  return (state_ == State::started || state_ == State::connected) && owner_ == ::getpid();
}

bool SharedMemoryManager::started() const noexcept {
  std::lock_guard lock(mutex_);
  return usable();
}

pid_t SharedMemoryManager::server_pid() const noexcept {
  std::lock_guard lock(mutex_);
  return state_ == State::started && owner_ == ::getpid() ? own_->pid : -1;
}

connection::Address SharedMemoryManager::address() const {
  std::lock_guard lock(mutex_);
  if (state_ == State::started && owner_ == ::getpid()) return own_->server->address();
  return options_.address;
}

std::vector<std::string> SharedMemoryManager::list_segments() const {
  std::lock_guard lock(mutex_);
  check_usable(usable());
  if (own_) return own_->book->list_segments();
  return remote_->book->call<&SegmentBook::list_segments>();
}

bool SharedMemoryManager::owns() const noexcept {
  std::lock_guard lock(mutex_);
  return own_ != nullptr;
}

void SharedMemoryManager::adopt(const std::string& name, bool tracked_here) {
  const auto id = identity_of(name);
  if (!id) throw concur::FileNotFoundError("SharedMemoryManager: segment '" + name + "' vanished");
  {
    std::lock_guard lock(mutex_);
    check_usable(usable());
    if (own_) {
      own_->book->track_segment(name, id->dev, id->ino);
    } else {
      remote_->book->call<&SegmentBook::track_segment>(name, id->dev, id->ino);
    }
  }
  // The manager holds it now: this process's own tracker lets it go.
  if (tracked_here) multiprocessing::detail::tracker_unregister(name, *id);
}

shared_memory::SharedMemory SharedMemoryManager::SharedMemory(std::int64_t size) {
  check_usable(started());
  // The owner's segments are untracked (its concur-smm server is their only cleaner); a
  // connected process's are tracked by its own tracker until the manager has them, so a
  // crash in between loses nothing.
  const bool remote = !owns();
  shared_memory::SharedMemory m(std::nullopt, true, size, remote);
  try {
    adopt(m.name(), remote);
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
  check_usable(started());
  const bool remote = !owns();
  shared_memory::ShareableList l(items, std::nullopt, remote);
  try {
    adopt(l.shm().name(), remote);
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
