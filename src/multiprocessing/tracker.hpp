// src/multiprocessing/tracker.hpp: the resource tracker (Python's
// multiprocessing.resource_tracker), which removes the named shared memory segments a
// program leaves behind when it dies, however it dies.
//
// Internal to concur::multiprocessing; shared_memory::SharedMemory is its user.
//
// One tracker process per program tree. It is started, on the first tracked creation, by
// fork() from the process that needs it; the child is connected to it by an
// AF_UNIX/SOCK_SEQPACKET socket pair (records keep their boundaries, concurrent writers
// never interleave, and a writer whose tracker died gets EPIPE, not SIGPIPE:
// MSG_NOSIGNAL). From its first instruction the tracker calls only async-signal-safe
// functions (safe even when the parent had threads): it closes every fd except its end
// of the socket and stderr (fds 0 and 1 become /dev/null), ignores SIGINT, SIGTERM,
// SIGHUP and SIGPIPE, moves to its own process group (a killpg of the program's group does
// not take it down), and names itself "concur-rtracker". It then reads records
//
//     op (1 byte)  st_dev (8)  st_ino (8)  name (1..255 bytes, no NUL or '/')
//     'R' REGISTER / 'U' UNREGISTER; the identity {0, 0} means "whatever has that name"
//
// into a table in an anonymous mapping, keyed by (name, identity): a set (registering
// twice is once; unregistering removes that key only). When every writer end is closed
// (every process of the tree exited or was killed) it reads EOF and removes each entry
// still registered that is there: /dev/shm/<name> a regular file and, when the entry has
// an identity, that very inode (fstatat, then unlink). A name that is gone, or that now
// holds another inode (unlinked and created again by someone else, or never published
// by a creator killed first), is left alone and not reported. It then writes to stderr
//
//     resource_tracker: There appear to be N leaked shared_memory objects to clean up at
//     shutdown: /psm_a /psm_b
//
// (Python's wording; N counts what it removed) and exits. Nothing is written when
// nothing leaked.
//
// Sharing: the writer end is registered with set_inherited_fd("resource_tracker", fd), so
// every child process (every start method) writes to the same tracker; under fork the
// child simply inherits the fd. A process that needs a tracker first uses the one it
// inherited and starts its own only when it has none. Unrelated programs started by
// exec (subprocess) do not get the fd (it is O_CLOEXEC).
//
// Lifetime: stop_tracker() (registered with add_service_stopper; the test harness calls
// stop_services()) closes this process's writer end and, in the process that started the
// tracker, waits up to 5 s for it to exit and reaps it (then SIGKILL + reap: some other
// process still held the pipe). At a normal exit nothing is needed: the writer end closes
// with the process, the tracker cleans up and exits and, orphaned, is reaped by init. It
// cannot exit before the starting process has closed its own writer end, so it is never
// left a zombie of a live process, unless it is killed (it is then reaped by the next
// registration, which starts a new one, or by stop_tracker()).
//
// No window (the creation protocol, in src/multiprocessing/shared_memory.cpp): a tracked
// creation makes its segment unnamed (open(O_TMPFILE) in /dev/shm), sizes it, registers
// (name, its st_dev and st_ino) and only then gives it its name (linkat, which fails with
// EEXIST if the name exists). A creator killed at any point leaves either nothing named
// (the kernel frees the unnamed inode) or a name the tracker knows, and the identity
// keeps the tracker from removing a segment of the same name that the creator did not
// make (the FileExistsError case, even when the creator is killed before unregistering).
// What is left: (1) the tracker's check and its unlink are two calls; a third party
// that removes and re-creates that name in the microseconds between them loses its new
// segment. (2) Inode numbers of tmpfs are not reused until its 32-bit counter wraps (or
// never, with inode64); a name re-created with the very inode number a dead creator had
// after 2^32 creations in between would be removed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>

namespace concur::multiprocessing::detail {

/// The key of the tracker's writer end among the inherited fds (handles.hpp).
inline constexpr std::string_view kTrackerFdKey = "resource_tracker";

/// What a segment was when it was registered: its st_dev and st_ino. {0, 0}: none (the
/// tracker removes whatever regular file has the name).
struct SegmentId {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
};

/// Registers `name` (with or without its leading '/') and `id` with this program tree's
/// tracker, starting the tracker if this process has none. Throws std::system_error
/// naming the call when the tracker cannot be started (socketpair, fork); ValueError for
/// a name the tracker cannot hold. A tracker that died is restarted once (its
/// registrations are lost); a send that still fails is reported on stderr, not thrown.
void tracker_register(std::string_view name, SegmentId id = {});
/// Unregisters (`name`, `id`) if this process is connected to a tracker (never starts
/// one). Errors are ignored: the tracker then tries an unlink that finds nothing.
void tracker_unregister(std::string_view name, SegmentId id = {}) noexcept;
/// Starts the tracker now if this process has none (a Process start may call this so that
/// children share the parent's tracker, as CPython's spawn does).
void ensure_tracker_running();
/// The tracker's pid if this process started it and has not stopped it, else -1.
pid_t tracker_pid() noexcept;
/// The writer end this process uses, or -1.
int tracker_fd() noexcept;
/// Closes this process's writer end and reaps the tracker if this process started it
/// (bounded wait, then SIGKILL). Idempotent; the next tracked creation starts a new one.
void stop_tracker() noexcept;
// ---- The machinery, also used by SharedMemoryManager's server (the same process code:
// a manager's server is a tracker whose writer end only the manager holds, and which
// does not warn: unlinking at EOF is its job). ------------------------------------------

/// A tracker process and the writer end of its socket (O_CLOEXEC; owned by the caller).
struct TrackerProcess {
  int fd;
  pid_t pid;
};
/// Forks a tracker process (see above) named `comm` (<= 15 bytes); `warn`: whether it
/// reports what it removes at EOF. Throws std::system_error naming socketpair or fork.
TrackerProcess start_tracker_process(bool warn, const char* comm);
/// Sends one record ('R' register, 'U' unregister, with the segment's identity); false
/// (errno set) if the tracker is gone or the name invalid (EINVAL). Never raises SIGPIPE.
bool send_tracker_record(int fd, char op, std::string_view name, SegmentId id = {}) noexcept;
/// Waits up to 5 s for the child `pid` to exit and reaps it; then SIGKILL and reap.
void reap_bounded(pid_t pid) noexcept;

/// Test hook: whether SharedMemory creates through O_TMPFILE and linkat (the protocol
/// above; the default) or falls back to shm_open(O_CREAT | O_EXCL) then registration, as
/// where the kernel or the mounts refuse O_TMPFILE or /proc. Returns the previous value.
bool set_unnamed_creation(bool enabled) noexcept;

/// For a forked child that must act as a separate program (tests): closes its copy of the
/// inherited writer end and forgets the tracker without waiting for it, so that its next
/// tracked creation starts a tracker of its own.
void forget_tracker() noexcept;

}  // namespace concur::multiprocessing::detail
