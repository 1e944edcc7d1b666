// Internal to src/multiprocessing: the state behind a Process, the process-wide registry,
// and the pieces shared by the three start methods (process.cpp, fork.cpp, spawn.cpp,
// forkserver.cpp, lifeline.cpp, context.cpp).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/context.hpp"
#include "concur/multiprocessing/process.hpp"
#include "concur/timeout.hpp"

namespace concur::threading::detail {
/// Joins every non-daemon concur thread still running (threading._shutdown); thread.cpp.
void join_non_daemon_threads();
}  // namespace concur::threading::detail

namespace concur::multiprocessing::detail {

struct ProcessState {
  mutable std::mutex m;
  std::string name;
  bool daemon = false;
  std::vector<int> identity;  // (1, 2): "Process-1:2"
  std::vector<std::byte> authkey;
  std::optional<StartMethod> method;  // nullopt: the default at start()
  enum class Phase { kInitial, kStarting, kStarted, kClosed };
  Phase phase = Phase::kInitial;
  bool is_current = false;  // the view of the calling process itself
  StartMethod used = StartMethod::fork;
  pid_t pid = 0;
  int pidfd = -1;
  int lifeline_w = -1;  // our end of the child's lifeline
  int status_fd = -1;   // forkserver: the server reports the exit status here
  std::optional<int> exitcode;
  bool lost = false;  // the child was reaped elsewhere: exitcode 0, status lost
};

struct ProcessAccess {
  static const std::shared_ptr<ProcessState>& state(const Process& p) { return p.state_; }
  static Process view(std::shared_ptr<ProcessState> st) { return Process(std::move(st)); }
  static Target* target(Process& p) { return p.target_.get(); }
};

/// What a child needs to know, sent by spawn/forkserver in the bootstrap frame (fork
/// children read it from memory).
struct ChildInfo {
  int parent_pid = 0;
  std::string parent_name;
  std::string name;
  bool daemon = false;
  std::vector<int> identity;
  std::vector<std::byte> authkey;
  bool pdeathsig = false;   // set PR_SET_PDEATHSIG (the creator is the main thread)
  bool check_ppid = false;  // getppid() must be parent_pid (not under forkserver)
  int method = 0;           // StartMethod
  std::vector<std::string> inherited_keys;

  /// The one list of fields, for both ends of the bootstrap (the codec calls it).
  template <class Archive>
  void serialize(Archive& ar) {
    ar(parent_pid, parent_name, name, daemon, identity, authkey, pdeathsig, check_ppid, method,
       inherited_keys);
  }
};

// ---- process-wide state (process.cpp) ----------------------------------------------------

/// The mutex held around fork() and around creating fds that must not reach other
/// children: whatever it guards is consistent in a fork child.
std::mutex& fork_mutex();
/// Adds/removes an fd that fork children close (lifeline write ends, pidfds, status and
/// control sockets). Call with fork_mutex() held.
void track_fd_locked(int fd);
void untrack_fd_locked(int fd);
/// Closes `fd` (if >= 0) and untracks it; sets it to -1.
void close_tracked(int& fd) noexcept;

/// The state of the calling process (current_process()).
ProcessState& current_state();
/// What a child started now by `method` for `st` needs to know: this process as its parent,
/// `st`'s name, daemon flag, identity and authkey. A fork or spawn child is our own child: it
/// sets PR_SET_PDEATHSIG when this is the main thread and checks getppid(); a forkserver
/// child (the server's) does neither.
ChildInfo make_child_info(ProcessState& st, StartMethod method);
/// In a new child (any method): become `info`'s process; the parent is known by `lifeline`.
void become_child(const ChildInfo& info, int lifeline);
/// In a fork child, right after fork (fork_mutex held by this thread): forget the parent's
/// children and close the fds meant for them.
void reset_after_fork_in_child() noexcept;
/// Adds a started child to the registry.
void add_child(std::shared_ptr<ProcessState> st);
/// The atexit work (Python's _exit_function): terminate daemonic children, join the others.
void exit_function() noexcept;
/// The child's end: join non-daemon threads, exit_function, flush stdio, _exit(code).
[[noreturn]] void finish_child(int code) noexcept;
/// Runs `body` as a child's run(): 0, mp::exit's code, or 1 after printing the exception.
int run_guarded(void (*body)(void*), void* arg, const std::string& name) noexcept;

// ---- lifeline.cpp -----------------------------------------------------------------------

/// In a child: the kernel sends SIGKILL when `fd` (the lifeline's read end) loses its
/// writer; PR_SET_PDEATHSIG too if `pdeathsig`; dies at once if the parent is already
/// gone (lifeline hung up, or getppid() != expected_ppid when expected_ppid > 0).
void setup_lifeline(int fd, bool pdeathsig, pid_t expected_ppid) noexcept;
/// Number of threads of this process (entries of /proc/self/task); 0 if unknown.
int thread_count() noexcept;
/// Calls the fork warning hook (once per process by default) if other threads run.
void warn_if_threaded();
/// True if the calling thread is the process's main thread.
bool on_main_thread() noexcept;

// ---- context.cpp ------------------------------------------------------------------------

/// The default method, fixing it if unset.
StartMethod default_method();
/// Sets the method (force) — a child takes the method it was started with.
void force_start_method(StartMethod m) noexcept;
/// main_guard was called in this process (a normal run).
bool main_guard_called() noexcept;
/// argv[0] recorded by main_guard ("concur-child" if unknown).
const char* program_argv0() noexcept;

// ---- fork.cpp / spawn.cpp / forkserver.cpp ----------------------------------------------

void start_fork(Process& self, ProcessState& st);
/// The encoder of `self`'s registered subclass (register_process); TypeError naming the
/// type if it was not registered. Not for a plain Process.
ProcessEncoder process_class_encoder(const Process& self);
/// spawn and forkserver: encode the target (TypeError if it cannot cross) and start.
void start_encoded(Process& self, ProcessState& st, StartMethod method);

/// posix_spawn of /proc/self/exe with {argv0, flag, "3"}: `keep` becomes fd 3, every other
/// fd >= 3 is closed, signals default and unblocked. Returns the pid.
pid_t spawn_self(const char* flag, int keep);
/// The child side of the bootstrap: reads the frame from `fd`, becomes the child, runs
/// the call, exits.
[[noreturn]] void run_child(int fd) noexcept;
/// The forkserver's main loop on control socket `fd`; exits when it reaches EOF.
[[noreturn]] void run_forkserver(int fd) noexcept;
/// Starts the child through the forkserver: sends the bootstrap socket, status socket and
/// stdio; returns the pid and pidfd, the status fd in `status_fd`.
std::pair<pid_t, int> forkserver_request(int boot_child_end, int& status_fd);
/// In a fork child: forget the parent's forkserver (its fds are closed as tracked fds).
void forkserver_forget_in_child() noexcept;
// ---- registry.cpp ------------------------------------------------------------------------

/// Runs the registry call in `request` (made by encode_call), appending the function's
/// encoded result to `reply`; lets every exception through: a malformed request, an
/// unknown name, arguments of other types, and whatever the function throws. `invoke`
/// turns them into an exception reply; a child's runner into its exit code.
void call_request(std::span<const std::byte> request, Buffer& reply);

}  // namespace concur::multiprocessing::detail
