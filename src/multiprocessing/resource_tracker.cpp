// The resource tracker: see src/multiprocessing/tracker.hpp.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "concur/exceptions.hpp"
#include "multiprocessing/handles.hpp"
#include "multiprocessing/tracker.hpp"
#include "os/child.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
#include "os/poll.hpp"

namespace concur::multiprocessing::detail {

namespace {

constexpr std::size_t kNameMax = 255;          // NAME_MAX of /dev/shm, without the leading '/'
constexpr std::size_t kEntry = 256;            // a table entry: the name and its NUL
constexpr std::size_t kIdBytes = 16;           // a record's identity: st_dev, st_ino (native order)
constexpr std::size_t kHeader = 1 + kIdBytes;  // op, identity; then the name
constexpr int kStopWaitMs = 5000;
constexpr char kShmDir[] = "/dev/shm/";  // glibc's shm_open directory (fixed since 2.34)

// ---------------------------------------------------------------------------------------
// The tracker process. Everything from here to tracker_main's end runs in a child forked
// from a process that may have had threads: async-signal-safe calls only (no malloc, no
// stdio, no exceptions, no locks).

void put_all(int fd, const char* p, std::size_t n) noexcept {
  (void)os::write_all_noexcept(fd, p, n);
}

// Appends to a fixed buffer; keeps the last byte free for a newline.
struct Line {
  char data[4096];
  std::size_t len = 0;
  void add(const char* s, std::size_t n) noexcept {
    const std::size_t room = sizeof(data) - 1 - len;
    if (n > room) n = room;
    std::memcpy(data + len, s, n);
    len += n;
  }
  void add(const char* s) noexcept { add(s, std::strlen(s)); }
  void add_number(unsigned long v) noexcept {
    char digits[24];
    std::size_t i = sizeof(digits);
    do {
      digits[--i] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    add(digits + i, sizeof(digits) - i);
  }
  [[nodiscard]] bool full() const noexcept { return len + 1 >= sizeof(data); }
  void flush(int fd) noexcept {
    data[len++] = '\n';
    put_all(fd, data, len);
    len = 0;
  }
};

bool valid_name(const char* p, std::size_t n) noexcept {
  if (n == 0 || n > kNameMax) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] == '\0' || p[i] == '/') return false;
  }
  return true;
}

std::string_view bare(std::string_view name) noexcept {
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  return name;
}

// The registered segments: an open-addressing hash set (linear probing, tombstones) in an
// anonymous mapping, so that N registrations cost O(N), not O(N^2). A key is the name and
// the identity the segment had when it was registered ({0, 0}: none, by name only). A
// slot is a state byte, the identity and the NUL-terminated name.
struct Table {
  static constexpr std::size_t kSlot = 1 + kIdBytes + kEntry;
  enum : char { kEmpty = 0, kUsed = 1, kDeleted = 2 };
  char* slots = nullptr;
  std::size_t capacity = 0;  // a power of two
  std::size_t count = 0;     // used slots
  std::size_t deleted = 0;   // tombstones

  char* slot(std::size_t i) const noexcept { return slots + i * kSlot; }
  static const char* name_of(const char* s) noexcept { return s + 1 + kIdBytes; }
  static SegmentId id_of(const char* s) noexcept {
    SegmentId id;
    std::memcpy(&id.dev, s + 1, 8);
    std::memcpy(&id.ino, s + 9, 8);
    return id;
  }
  static std::size_t hash(SegmentId id, const char* p, std::size_t n) noexcept {
    std::uint64_t h = 1469598103934665603ULL;
    const auto mix = [&h](unsigned char c) {
      h ^= c;
      h *= 1099511628211ULL;
    };
    for (std::size_t i = 0; i < n; ++i) mix(static_cast<unsigned char>(p[i]));
    for (int i = 0; i < 64; i += 8) {
      mix(static_cast<unsigned char>(id.dev >> i));
      mix(static_cast<unsigned char>(id.ino >> i));
    }
    return static_cast<std::size_t>(h);
  }
  static bool holds(const char* s, SegmentId id, const char* p, std::size_t n) noexcept {
    const SegmentId mine = id_of(s);
    return s[0] == kUsed && mine.dev == id.dev && mine.ino == id.ino &&
           std::memcmp(name_of(s), p, n) == 0 && name_of(s)[n] == '\0';
  }
  // The slot holding the key, or else the one to insert it into (capacity if full).
  std::size_t probe(SegmentId id, const char* p, std::size_t n, bool& found) const noexcept {
    found = false;
    std::size_t free_slot = capacity;
    for (std::size_t k = 0, i = hash(id, p, n) & (capacity - 1); k < capacity;
         ++k, i = (i + 1) & (capacity - 1)) {
      const char* s = slot(i);
      if (s[0] == kEmpty) return free_slot != capacity ? free_slot : i;
      if (s[0] == kDeleted) {
        if (free_slot == capacity) free_slot = i;
      } else if (holds(s, id, p, n)) {
        found = true;
        return i;
      }
    }
    return free_slot;
  }
  void put(SegmentId id, const char* p, std::size_t n) noexcept {  // the key is not in it
    bool found = false;
    char* s = slot(probe(id, p, n, found));
    if (s[0] == kDeleted) --deleted;
    s[0] = kUsed;
    std::memcpy(s + 1, &id.dev, 8);
    std::memcpy(s + 9, &id.ino, 8);
    std::memcpy(s + 1 + kIdBytes, p, n);
    s[1 + kIdBytes + n] = '\0';
    ++count;
  }
  bool rehash(std::size_t cap) noexcept {
    void* mem =
        ::mmap(nullptr, cap * kSlot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return false;
    char* old = slots;
    const std::size_t old_cap = capacity;
    slots = static_cast<char*>(mem);  // zero-filled: every slot empty
    capacity = cap;
    count = 0;
    deleted = 0;
    for (std::size_t i = 0; i < old_cap; ++i) {
      const char* s = old + i * kSlot;
      if (s[0] == kUsed) put(id_of(s), name_of(s), std::strlen(name_of(s)));
    }
    if (old != nullptr) ::munmap(old, old_cap * kSlot);
    return true;
  }
  void add(SegmentId id, const char* p, std::size_t n) noexcept {
    if (capacity != 0) {
      bool found = false;
      probe(id, p, n, found);
      if (found) return;  // a set: registering twice is once
    }
    if ((count + deleted + 1) * 2 > capacity) {
      // Grow when half full of names; else tombstones fill it: clean up at the same size.
      const std::size_t cap = capacity == 0                ? 64
                              : (count + 1) * 4 > capacity ? capacity * 2
                                                           : capacity;
      if (!rehash(cap) && count + deleted >= capacity) {
        Line line;
        line.add("resource_tracker: out of memory: cannot track /");
        line.add(p, n);
        line.flush(2);
        return;
      }
    }
    put(id, p, n);
  }
  void remove(SegmentId id, const char* p, std::size_t n) noexcept {
    if (capacity == 0) return;
    bool found = false;
    const std::size_t i = probe(id, p, n, found);
    if (!found) return;
    slot(i)[0] = kDeleted;
    --count;
    ++deleted;
  }
  // Calls f(id, name) for every entry.
  template <class F>
  void each(F f) const noexcept {
    for (std::size_t i = 0; i < capacity; ++i) {
      if (slot(i)[0] == kUsed) f(id_of(slot(i)), name_of(slot(i)));
    }
  }
};

// Removes /dev/shm/<name> if it is what was registered: a regular file and, when the
// registration carried an identity, that very inode (the name may since have been
// unlinked and created again by someone else, or never have been published by a creator
// killed first). True if it removed it; a failure other than ENOENT is reported.
bool remove_if_registered(SegmentId id, const char* name) noexcept {
  char path[sizeof kShmDir + kEntry];
  const std::size_t dir = sizeof kShmDir - 1;
  std::memcpy(path, kShmDir, dir);
  std::memcpy(path + dir, name, std::strlen(name) + 1);
  struct stat st {};
  if (::fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
    return false;
  }
  if (id.dev != 0 || id.ino != 0) {
    if (static_cast<std::uint64_t>(st.st_dev) != id.dev ||
        static_cast<std::uint64_t>(st.st_ino) != id.ino) {
      return false;  // not the segment that was registered: another owner's
    }
  }
  if (::unlink(path) == 0) return true;
  if (errno != ENOENT) {
    const int err = errno;
    Line line;
    line.add("resource_tracker: shm_unlink(/");
    line.add(name);
    line.add(") failed: errno ");
    line.add_number(static_cast<unsigned long>(err));
    line.flush(2);
  }
  return false;
}

[[noreturn]] void tracker_main(int rfd, bool warn, const char* comm) noexcept {
  ::setpgid(0, 0);
  ::prctl(PR_SET_NAME, comm, 0, 0, 0);
  // Signals: the parent's handlers are its code, not ours; a Ctrl-C for the program or a
  // SIGTERM for its group must not stop the cleanup.
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sa.sa_handler =
        (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGPIPE) ? SIG_IGN : SIG_DFL;
    ::sigaction(sig, &sa, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // NOLINT(concurrency-mt-unsafe): one thread
  // Last (tests wait for it, and then see everything above done):
  // Hold nothing of the parent's: its pipes must reach EOF when their owners die.
  if (rfd > 3) ::close_range(3, static_cast<unsigned>(rfd - 1), 0);
  ::close_range(static_cast<unsigned>(rfd + 1), ~0U, 0);
  const int nul = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nul >= 0) {
    ::dup2(nul, 0);
    ::dup2(nul, 1);
    if (nul > 2) ::close(nul);
  }

  Table table;
  char buf[kHeader + kNameMax + 1];  // one byte more: a longer record is not a valid one
  for (;;) {
    const ssize_t n = os::retry_eintr([&] { return ::recv(rfd, buf, sizeof buf, 0); });
    if (n < 0) break;   // treated as EOF
    if (n == 0) break;  // every writer end is closed
    if (static_cast<std::size_t>(n) <= kHeader) continue;
    const auto len = static_cast<std::size_t>(n) - kHeader;
    const char* name = buf + kHeader;
    if (!valid_name(name, len)) continue;
    const SegmentId id = Table::id_of(buf);
    if (buf[0] == 'R') table.add(id, name, len);
    if (buf[0] == 'U') table.remove(id, name, len);
  }

  // Remove what is left, then report it. Only a segment still there (and still the one
  // registered) counts: a creator killed before publishing its name leaked nothing.
  if (table.count > 0) {
    Line names;
    std::size_t removed = 0;
    table.each([&names, &removed](SegmentId id, const char* name) {
      if (!remove_if_registered(id, name)) return;
      ++removed;
      if (names.full()) return;
      names.add(" /");
      names.add(name);
    });
    if (warn && removed > 0) {
      Line line;
      line.add("resource_tracker: There appear to be ");
      line.add_number(removed);
      line.add(" leaked shared_memory objects to clean up at shutdown:");
      line.add(names.data, names.len);
      line.flush(2);
    }
  }
  ::_exit(0);
}

// ---------------------------------------------------------------------------------------
// The writers' side.

struct State {
  int fd = -1;         // this process's writer end
  pid_t pid = -1;      // the tracker, when this process started it
  pid_t starter = -1;  // the process that started it (a forked child did not)
};

std::mutex& state_mutex() {
  static std::mutex m;
  return m;
}
State& state() {
  static State s;
  return s;
}

// Serialises the starting of a tracker. It is held across fork() (the tracker is forked),
// so no fork handler may take it: a thread holding a mutex that a handler takes, while its
// own fork runs the other handlers, inverts their lock order (TSan reported it; two threads
// forking at once could deadlock). A forked child gets a fresh one (its holder, if any, is
// a thread that does not exist there).
alignas(std::mutex) unsigned char g_start_storage[sizeof(std::mutex)];
std::mutex& start_mutex() {
  static std::mutex* const m = new (g_start_storage) std::mutex;
  return *m;
}

// state_mutex must not stay locked in a forked child by a thread that does not exist
// there: every fork takes it first. It is never held across a fork of our own.
void before_fork() noexcept { state_mutex().lock(); }
void after_fork_in_parent() noexcept { state_mutex().unlock(); }
void after_fork_in_child() noexcept {
  state_mutex().unlock();
  (void)start_mutex();
  new (g_start_storage) std::mutex;
}
[[maybe_unused]] const int g_atfork =
    ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);

[[noreturn]] void fail(int err, const char* call) { os::raise(err, call); }

// Forgets the connection (closing our writer end), and reaps the tracker if ours.
void disconnect_locked(bool reap) noexcept {
  State& s = state();
  if (s.fd >= 0) {
    try {
      set_inherited_fd(kTrackerFdKey, -1);
    } catch (...) {  // erasing allocates nothing; keep stop_tracker noexcept regardless
    }
    ::close(s.fd);
    s.fd = -1;
  }
  if (reap && s.pid > 0 && s.starter == ::getpid()) reap_bounded(s.pid);
  s.pid = -1;
  s.starter = -1;
}

}  // namespace

void reap_bounded(pid_t pid) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStopWaitMs);
  const int pidfd = os::pidfd_open_noexcept(pid);
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) break;  // reaped, or not ours to reap
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      // Some other process still holds a writer end: do not wait for it.
      ::kill(pid, SIGKILL);
      os::retry_eintr([&] { return ::waitpid(pid, &status, 0); });
      break;
    }
    if (pidfd >= 0) {
      (void)os::wait_fd(pidfd, os::kPollIn, Deadline(Timeout(left)));
    } else {
      struct timespec ts {
        0, 1'000'000
      };
      ::nanosleep(&ts, nullptr);
    }
  }
  if (pidfd >= 0) ::close(pidfd);
}

TrackerProcess start_tracker_process(bool warn, const char* comm) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    fail(errno, "socketpair(resource_tracker)");
  }
  // The tracker's end must not be 0, 1 or 2: those become /dev/null and stderr there.
  if (sv[1] <= 2) {
    const int moved = ::fcntl(sv[1], F_DUPFD_CLOEXEC, 3);
    const int err = errno;
    ::close(sv[1]);
    if (moved < 0) {
      ::close(sv[0]);
      fail(err, "fcntl(resource_tracker)");
    }
    sv[1] = moved;
  }
  // The child starts with every signal blocked: a Ctrl-C or SIGTERM sent before it has
  // set its dispositions stays pending and is then discarded (SIG_IGN), never fatal.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = ::fork();
  if (pid == 0) tracker_main(sv[1], warn, comm);
  const int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid > 0) ::setpgid(pid, pid);  // also done by the child: whichever runs first
  ::close(sv[1]);
  if (pid < 0) {
    ::close(sv[0]);
    fail(err, "fork(resource_tracker)");
  }
  return {sv[0], pid};
}

bool send_tracker_record(int fd, char op, std::string_view name, SegmentId id) noexcept {
  name = bare(name);
  if (!valid_name(name.data(), name.size())) {
    errno = EINVAL;
    return false;
  }
  char buf[kHeader + kNameMax];
  buf[0] = op;
  std::memcpy(buf + 1, &id.dev, 8);
  std::memcpy(buf + 9, &id.ino, 8);
  std::memcpy(buf + kHeader, name.data(), name.size());
  const std::size_t n = kHeader + name.size();
  const ssize_t r = os::retry_eintr([&] { return ::send(fd, buf, n, MSG_NOSIGNAL); });
  return r == static_cast<ssize_t>(n);
}

namespace {

// Takes over a tracker this process just started.
void adopt_locked(const TrackerProcess& t) {
  State& s = state();
  s.fd = t.fd;
  s.pid = t.pid;
  s.starter = ::getpid();
  set_inherited_fd(kTrackerFdKey, t.fd);
  add_service_stopper(&stop_tracker);
}

// This process's writer end: the one it has (forked), the one it inherited (spawned), or
// -1.
int connected_locked() {
  State& s = state();
  if (s.fd >= 0) return s.fd;
  const int inherited = inherited_fd(kTrackerFdKey);
  if (inherited < 0) return -1;
  s.fd = inherited;
  s.pid = -1;
  s.starter = -1;
  add_service_stopper(&stop_tracker);
  return s.fd;
}

// Connects this process to a tracker, starting one if it has none. Called WITHOUT
// state_mutex: the fork that starts the tracker must not hold a mutex a fork handler takes.
void connect() {
  std::lock_guard starting(start_mutex());
  {
    std::lock_guard lock(state_mutex());
    if (connected_locked() >= 0) return;
  }
  const TrackerProcess t = start_tracker_process(true, "concur-rtracker");
  std::lock_guard lock(state_mutex());
  if (state().fd >= 0) {  // cannot happen (starts are serialised); keep the first anyway
    ::close(t.fd);
    reap_bounded(t.pid);
    return;
  }
  adopt_locked(t);
}

}  // namespace

void tracker_register(std::string_view name, SegmentId id) {
  const std::string_view n = bare(name);
  if (!valid_name(n.data(), n.size())) {
    throw concur::ValueError("resource_tracker: cannot track the shared memory name '" +
                             std::string(name) + "' (1 to 255 bytes, no NUL or '/')");
  }
  int err = 0;
  // A second try: the tracker died (killed by hand?), start a new one, as CPython's
  // ensure_running does.
  for (int attempt = 0; attempt < 2; ++attempt) {
    connect();
    std::lock_guard lock(state_mutex());
    const int fd = connected_locked();
    if (fd >= 0 && send_tracker_record(fd, 'R', n, id)) return;
    err = fd >= 0 ? errno : ENOTCONN;
    disconnect_locked(true);
  }
  std::fprintf(stderr,
               "resource_tracker: cannot register /%.*s (%s): it will not be removed if "
               "this program crashes\n",
               static_cast<int>(n.size()), n.data(), std::generic_category().message(err).c_str());
}

void tracker_unregister(std::string_view name, SegmentId id) noexcept {
  const std::string_view n = bare(name);
  if (!valid_name(n.data(), n.size())) return;
  std::lock_guard lock(state_mutex());
  int fd = -1;
  try {
    fd = connected_locked();
  } catch (...) {
    return;
  }
  if (fd >= 0) send_tracker_record(fd, 'U', n, id);
}

void ensure_tracker_running() { connect(); }

pid_t tracker_pid() noexcept {
  std::lock_guard lock(state_mutex());
  const State& s = state();
  return s.starter == ::getpid() ? s.pid : -1;
}

int tracker_fd() noexcept {
  std::lock_guard lock(state_mutex());
  return state().fd;
}

void stop_tracker() noexcept {
  std::lock_guard lock(state_mutex());
  disconnect_locked(true);
}

void forget_tracker() noexcept {
  std::lock_guard lock(state_mutex());
  disconnect_locked(false);
}

}  // namespace concur::multiprocessing::detail
