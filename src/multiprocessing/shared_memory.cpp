#include "concur/multiprocessing/shared_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <ostream>
#include <random>
#include <system_error>

#include "concur/detail/mp_tracker.hpp"
#include "concur/exceptions.hpp"

namespace concur::multiprocessing::shared_memory {

namespace {

constexpr std::size_t kNameMax = 255;

std::atomic<detail::NameSource> g_name_source{nullptr};

std::string random_name() {
  std::uint32_t bits = 0;
  if (::getrandom(&bits, sizeof bits, 0) != static_cast<ssize_t>(sizeof bits)) {
    std::random_device rd;
    bits = rd();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "/psm_";
  for (int shift = 28; shift >= 0; shift -= 4) name += kHex[(bits >> shift) & 0xFu];
  return name;
}

std::string make_name() {
  const detail::NameSource source = g_name_source.load();
  return source != nullptr ? source() : random_name();
}

[[noreturn]] void fail(int err, const std::string& call) {
  if (err == EEXIST) throw concur::FileExistsError(call);
  if (err == ENOENT) throw concur::FileNotFoundError(call);
  throw std::system_error(err, std::generic_category(), call);
}

// The name with exactly one leading '/'.
std::string slashed(const std::string& name) {
  if (name.empty()) throw concur::ValueError("SharedMemory: the name must not be empty");
  if (name.find('\0') != std::string::npos) {
    throw concur::ValueError("SharedMemory: embedded null character in the name");
  }
  return name.front() == '/' ? name : "/" + name;
}

}  // namespace

struct SharedMemory::State {
  std::string path;  // with the leading '/'
  std::string name;  // without
  std::size_t size = 0;
  bool tracked = false;
  mutable std::mutex mutex;
  int fd = -1;
  std::byte* data = nullptr;
  std::size_t mapped = 0;

  ~State() { close(); }
  void close() noexcept {
    std::lock_guard lock(mutex);
    if (data != nullptr) ::munmap(data, mapped);
    if (fd >= 0) ::close(fd);
    data = nullptr;
    fd = -1;
  }
};

SharedMemory::SharedMemory(const Options& o) : SharedMemory(o.name, o.create, o.size, o.track) {}

SharedMemory::SharedMemory(std::optional<std::string> name, bool create, std::int64_t size,
                           std::optional<bool> track)
    : state_(std::make_shared<State>()) {
  if (size < 0) throw concur::ValueError("SharedMemory: 'size' must be a positive integer");
  if (create && size == 0) {
    throw concur::ValueError("SharedMemory: 'size' must be a positive number different from zero");
  }
  if (!name && !create) {
    throw concur::ValueError("SharedMemory: 'name' can only be None if create=True");
  }
  State& s = *state_;
  const int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  if (name) {
    s.path = slashed(*name);
    s.fd = ::shm_open(s.path.c_str(), flags, 0600);
    if (s.fd < 0) fail(errno, "shm_open(" + s.path + ")");
  } else {
    for (;;) {  // a generated name that exists is retried, never an error
      s.path = make_name();
      s.fd = ::shm_open(s.path.c_str(), flags, 0600);
      if (s.fd >= 0) break;
      if (errno != EEXIST) fail(errno, "shm_open(" + s.path + ")");
    }
  }
  s.name = s.path.substr(1);
  const bool do_track = track.value_or(create);
  try {
    if (do_track) {
      if (s.path.size() - 1 > kNameMax) fail(ENAMETOOLONG, "shm_open(" + s.path + ")");
      multiprocessing::detail::tracker_register(s.path);
      s.tracked = true;
    }
    if (create) {
      // Reserve the pages: a full tmpfs fails here, not with SIGBUS on first touch.
      int err = 0;
      do {
        err = ::posix_fallocate(s.fd, 0, static_cast<off_t>(size));
      } while (err == EINTR);
      if (err != 0) {
        fail(err, "posix_fallocate(" + s.path + ", " + std::to_string(size) + ")");
      }
      s.size = static_cast<std::size_t>(size);
    } else {
      struct stat st {};
      if (::fstat(s.fd, &st) != 0) fail(errno, "fstat(" + s.path + ")");
      if (st.st_size <= 0) {
        throw concur::ValueError("SharedMemory: cannot map the empty segment '" + s.name + "'");
      }
      s.size = static_cast<std::size_t>(st.st_size);
    }
    void* p = ::mmap(nullptr, s.size, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
    if (p == MAP_FAILED) fail(errno, "mmap(" + s.path + ")");
    s.data = static_cast<std::byte*>(p);
    s.mapped = s.size;
  } catch (...) {
    if (create) ::shm_unlink(s.path.c_str());
    if (s.tracked) multiprocessing::detail::tracker_unregister(s.path);
    throw;  // ~State closes the fd
  }
}

const std::string& SharedMemory::name() const noexcept { return state_->name; }

std::size_t SharedMemory::size() const noexcept { return state_->size; }

std::span<std::byte> SharedMemory::buf() const noexcept {
  std::lock_guard lock(state_->mutex);
  return {state_->data, state_->data == nullptr ? 0 : state_->size};
}

bool SharedMemory::closed() const noexcept {
  std::lock_guard lock(state_->mutex);
  return state_->data == nullptr;
}

bool SharedMemory::tracked() const noexcept { return state_->tracked; }

void SharedMemory::close() noexcept { state_->close(); }

void SharedMemory::unlink() {
  const int r = ::shm_unlink(state_->path.c_str());
  const int err = errno;
  // The name is gone either way: the tracker must not try to remove it (or, worse, a
  // later segment that reuses it).
  multiprocessing::detail::tracker_unregister(state_->path);
  if (r != 0) fail(err, "shm_unlink(" + state_->path + ")");
}

std::string SharedMemory::repr() const {
  return "SharedMemory('" + state_->name + "', size=" + std::to_string(state_->size) + ")";
}

std::ostream& operator<<(std::ostream& os, const SharedMemory& m) { return os << m.repr(); }

void SharedMemory::concur_encode_handle(Buffer& out) const {
  multiprocessing::detail::put_trivial<std::uint64_t>(out, state_->name.size());
  multiprocessing::detail::put_bytes(out, state_->name.data(), state_->name.size());
}

SharedMemory SharedMemory::concur_decode_handle(Reader& in) {
  const auto n = multiprocessing::detail::get_trivial<std::uint64_t>(in);
  if (n == 0 || n > kNameMax) {
    throw concur::ValueError("malformed SharedMemory handle: a name of " + std::to_string(n) +
                             " bytes");
  }
  const auto bytes = in.take(static_cast<std::size_t>(n));
  std::string name(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return SharedMemory(std::move(name), false);
}

namespace detail {
NameSource set_name_source(NameSource source) noexcept { return g_name_source.exchange(source); }
}  // namespace detail

}  // namespace concur::multiprocessing::shared_memory
