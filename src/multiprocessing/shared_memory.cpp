#include "concur/multiprocessing/shared_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <ostream>
#include <random>
#include <utility>

#include "concur/exceptions.hpp"
#include "multiprocessing/tracker.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"

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

// The OSError family: FileExistsError, FileNotFoundError, PermissionError, ...
[[noreturn]] void fail(int err, const std::string& call) { os::raise(err, call); }

// The name with exactly one leading '/'.
std::string slashed(const std::string& name) {
  if (name.empty()) throw concur::ValueError("SharedMemory: the name must not be empty");
  if (name.find('\0') != std::string::npos) {
    throw concur::ValueError("SharedMemory: embedded null character in the name");
  }
  return name.front() == '/' ? name : "/" + name;
}

// The entry of /dev/shm that shm_open(path) means (glibc skips every leading '/').
std::string entry_of(const std::string& path) {
  return path.substr(std::min(path.find_first_not_of('/'), path.size()));
}

multiprocessing::detail::SegmentId id_of(const struct stat& st) noexcept {
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

void reserve(int fd, const std::string& path, std::int64_t size) {
  // Reserve the pages: a full tmpfs fails here, not with SIGBUS on first touch.
  const int err = os::fallocate_noexcept(fd, static_cast<std::size_t>(size));
  if (err != 0) fail(err, "posix_fallocate(" + path + ", " + std::to_string(size) + ")");
}

// Whether /dev/shm takes O_TMPFILE and /proc/thread-self/fd can name what it makes (a
// Linux tmpfs and a mounted /proc: true wherever concur runs, but an old kernel or a
// chroot without /proc fall back to shm_open). Cleared at the first refusal.
std::atomic<bool> g_unnamed{true};

// What a creation made (a generated name may change on EEXIST).
struct Made {
  std::string path;   // with a leading '/'
  std::string entry;  // the file in /dev/shm
  multiprocessing::detail::SegmentId id;
};

// The creation protocol of a tracked segment (see include/src/multiprocessing/tracker.hpp):
// the resource tracker must know a name before it can exist, and must never be told to
// remove a name someone else made. So the segment is made with no name at all
// (open(O_TMPFILE) in /dev/shm: a kill now leaves nothing, the kernel frees the inode
// with the dead process's fd), sized (a kill during posix_fallocate leaves nothing
// either), registered with the tracker as (name, st_dev, st_ino), and only then given
// its name by linkat(/proc/thread-self/fd/N -> /dev/shm/<name>), which is atomic and
// fails with EEXIST if the name exists: the name appears whole and sized (an attacher
// never sees an empty segment), and from that instant the tracker knows it. On EEXIST
// the registration is withdrawn; a creator killed before withdrawing it leaves an entry
// whose identity is not the existing segment's, so the tracker leaves that segment
// alone. Untracked creations take the same path without the registration.
//
// Returns the fd with `s` set (a generated name retried on EEXIST), or -1 if the kernel
// or the mounts cannot do it (g_unnamed is then cleared and nothing was made).
int create_unnamed(Made& s, bool generated, std::int64_t size, bool track) {
  if (!g_unnamed.load(std::memory_order_relaxed)) return -1;
  if (!generated) {
    // A name that exists is FileExistsError without reserving its size first (which
    // could fail with ENOSPC instead). Only a shortcut: linkat below decides.
    struct stat st {};
    if (::fstatat(AT_FDCWD, ("/dev/shm/" + s.entry).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      fail(EEXIST, "shm_open(" + s.path + ")");
    }
  }
  os::Fd fd(::open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    // EISDIR or EINVAL: a kernel without O_TMPFILE; EOPNOTSUPP: a filesystem without it.
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
      g_unnamed.store(false, std::memory_order_relaxed);
      return -1;
    }
    fail(errno, "open(/dev/shm, O_TMPFILE)");
  }
  reserve(fd.get(), s.path, size);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail(errno, "fstat(" + s.path + ")");
  s.id = id_of(st);
  // thread-self, not self: /proc/self/fd is empty once the main thread has exited.
  const std::string from = "/proc/thread-self/fd/" + std::to_string(fd.get());
  for (;;) {
    const std::string to = "/dev/shm/" + s.entry;
    if (track) multiprocessing::detail::tracker_register(s.entry, s.id);
    if (::linkat(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), AT_SYMLINK_FOLLOW) == 0) break;
    const int err = errno;
    if (track) multiprocessing::detail::tracker_unregister(s.entry, s.id);
    if (err == EEXIST && generated) {  // a generated name that exists is retried
      s.path = make_name();
      s.entry = entry_of(s.path);
      continue;
    }
    if (err == ENOENT && ::access(from.c_str(), F_OK) != 0) {  // no /proc
      g_unnamed.store(false, std::memory_order_relaxed);
      return -1;
    }
    fail(err, "shm_open(" + s.path + ")");
  }
  return fd.release();
}

// The same without O_TMPFILE (see g_unnamed): shm_open(O_CREAT | O_EXCL), then the
// registration. A creator killed between the two leaks its segment.
int create_named(Made& s, bool generated, std::int64_t size, bool track) {
  os::Fd fd;
  for (;;) {
    fd = os::Fd(::shm_open(s.path.c_str(), O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600));
    if (fd.get() >= 0) break;
    if (errno != EEXIST || !generated) fail(errno, "shm_open(" + s.path + ")");
    s.path = make_name();
    s.entry = entry_of(s.path);
  }
  try {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail(errno, "fstat(" + s.path + ")");
    s.id = id_of(st);
    if (track) multiprocessing::detail::tracker_register(s.entry, s.id);
    reserve(fd.get(), s.path, size);
  } catch (...) {
    ::shm_unlink(s.path.c_str());
    if (track) multiprocessing::detail::tracker_unregister(s.entry, s.id);
    throw;
  }
  return fd.release();
}

// Checks a name to create before anything is made, with shm_open's errors.
void check_creatable(const std::string& path, const std::string& entry) {
  if (entry.empty() || entry.find('/') != std::string::npos) {
    fail(EINVAL, "shm_open(" + path + ")");
  }
  if (entry.size() > kNameMax) fail(ENAMETOOLONG, "shm_open(" + path + ")");
}

}  // namespace

struct SharedMemory::State {
  std::string path;                       // as given, with a leading '/'
  std::string name;                       // path without its first '/' (name())
  multiprocessing::detail::SegmentId id;  // what the name meant when created or attached
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
  const bool do_track = track.value_or(create);
  s.path = name ? slashed(*name) : make_name();
  if (create) {
    Made made{s.path, entry_of(s.path), {}};
    check_creatable(made.path, made.entry);
    s.fd = create_unnamed(made, !name, size, do_track);
    if (s.fd < 0) s.fd = create_named(made, !name, size, do_track);
    s.path = std::move(made.path);
    s.id = made.id;
    s.tracked = do_track;
    s.size = static_cast<std::size_t>(size);
  } else {
    s.fd = ::shm_open(s.path.c_str(), O_RDWR | O_CLOEXEC, 0600);
    if (s.fd < 0) fail(errno, "shm_open(" + s.path + ")");
    struct stat st {};
    if (::fstat(s.fd, &st) != 0) fail(errno, "fstat(" + s.path + ")");
    if (st.st_size <= 0) {
      throw concur::ValueError("SharedMemory: cannot map the empty segment '" + s.path.substr(1) +
                               "'");
    }
    s.size = static_cast<std::size_t>(st.st_size);
    s.id = id_of(st);
    if (do_track) {
      multiprocessing::detail::tracker_register(entry_of(s.path), s.id);
      s.tracked = true;
    }
  }
  s.name = s.path.substr(1);
  void* p = ::mmap(nullptr, s.size, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    if (create) {
      // Ours since the link a moment ago, unless someone unlinked and re-made it since.
      struct stat st {};
      if (::fstatat(AT_FDCWD, ("/dev/shm/" + entry_of(s.path)).c_str(), &st, AT_SYMLINK_NOFOLLOW) ==
              0 &&
          id_of(st).dev == s.id.dev && id_of(st).ino == s.id.ino) {
        ::shm_unlink(s.path.c_str());
      }
    }
    if (s.tracked) multiprocessing::detail::tracker_unregister(entry_of(s.path), s.id);
    fail(err, "mmap(" + s.path + ")");  // ~State closes the fd
  }
  s.data = static_cast<std::byte*>(p);
  s.mapped = s.size;
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
  // The name is gone either way: the tracker need not try to remove it (and would not
  // remove a later segment that reuses it: another identity).
  multiprocessing::detail::tracker_unregister(entry_of(state_->path), state_->id);
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

namespace concur::multiprocessing::detail {
bool set_unnamed_creation(bool enabled) noexcept {
  return shared_memory::g_unnamed.exchange(enabled);
}
}  // namespace concur::multiprocessing::detail
