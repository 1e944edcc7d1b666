// Process, current_process, parent_process, active_children (process.hpp): the state
// machine, the process-wide registry of children, reaping with pidfds, and how a child
// ends. The start methods are in fork.cpp, spawn.cpp and forkserver.cpp.
#include <cxxabi.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <typeinfo>

#include "concur/multiprocessing/codec.hpp"
#include "multiprocessing/tracker.hpp"
#include "os/child.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
#include "os/poll.hpp"
#include "process_impl.hpp"

namespace concur::multiprocessing {
namespace detail {

namespace {

struct Globals {
  std::mutex m;  // = fork_mutex(): children, tracked fds, counter
  std::vector<std::shared_ptr<ProcessState>>* children =
      new std::vector<std::shared_ptr<ProcessState>>();
  std::vector<int> tracked;
  int counter = 0;
  std::shared_ptr<ProcessState> current;
  Process* current_view = nullptr;
  ParentProcess* parent = nullptr;
  std::once_flag atexit_once;
};

Globals& g() {
  // Never destroyed: used by atexit handlers and by daemon threads during exit.
  static Globals* globals = [] {
    auto* gl = new Globals();
    auto st = std::make_shared<ProcessState>();
    st->name = "MainProcess";
    st->is_current = true;
    st->phase = ProcessState::Phase::kStarted;
    st->pid = getpid();
    st->authkey.resize(32);
    std::size_t got = 0;
    while (got < st->authkey.size()) {
      const ssize_t n = getrandom(st->authkey.data() + got, st->authkey.size() - got, 0);
      if (n > 0) got += static_cast<std::size_t>(n);
    }
    gl->current = st;
    gl->current_view = new Process(ProcessAccess::view(st));
    return gl;
  }();
  return *globals;
}

void write_stderr(const std::string& s) noexcept {
  (void)os::write_all_noexcept(2, s.data(), s.size());
}

std::string describe_current_exception() {
  std::string type = "unknown exception";
  std::string what;
  try {
    throw;
  } catch (const std::exception& e) {
    type = demangle(typeid(e).name());
    what = e.what();
  } catch (...) {
    if (const std::type_info* t = abi::__cxa_current_exception_type()) type = demangle(t->name());
  }
  return what.empty() ? type : type + ": " + what;
}

// Reaps `st` if its child ended by `deadline`; returns the exit code or nullopt.
std::optional<int> wait_state(ProcessState& st, const Deadline& deadline) {
  int pidfd = -1;
  {
    std::lock_guard lock(st.m);
    if (st.exitcode || st.phase != ProcessState::Phase::kStarted || st.is_current)
      return st.exitcode;
    pidfd = st.pidfd;
  }
  if (!os::wait_fd(pidfd, os::kPollIn, deadline)) return std::nullopt;
  std::lock_guard lock(st.m);
  if (st.exitcode) return st.exitcode;
  int code = 0;
  if (st.used == StartMethod::forkserver) {
    std::int32_t status = 255;  // the server vanished: the status is lost
    (void)os::read_full_noexcept(st.status_fd, &status, sizeof status);
    code = status;
  } else {
    // Lost: the pidfd is readable (the child ended) but it is no longer our child to reap:
    // the kernel reaped it (SIGCHLD set to SIG_IGN, SA_NOCLDWAIT) or someone's waitpid(-1)
    // did. The status is lost: 0 and status_lost(), as subprocess reports it (CPython's
    // Popen sets returncode 0 on ChildProcessError).
    st.lost = os::reap(pidfd, &code) == os::WaitState::lost;
  }
  st.exitcode = code;
  {
    std::lock_guard glock(g().m);
    for (int* fd : {&st.lifeline_w, &st.status_fd}) {
      if (*fd >= 0) {
        untrack_fd_locked(*fd);
        ::close(*fd);
        *fd = -1;
      }
    }
  }
  return code;
}

void signal_state(ProcessState& st, int sig) {
  std::lock_guard lock(st.m);
  if (st.phase == ProcessState::Phase::kClosed) throw ValueError("process object is closed");
  if (st.is_current) throw ValueError("cannot signal the current process through its Process");
  if (st.phase != ProcessState::Phase::kStarted) throw ValueError("process not started");
  if (st.exitcode) return;
  const int r = os::pidfd_send_signal_noexcept(st.pidfd, sig);
  if (r != 0 && r != -ESRCH) os::raise(-r, "pidfd_send_signal");
}

void release_fds(ProcessState& st) noexcept {
  std::lock_guard glock(g().m);
  for (int* fd : {&st.pidfd, &st.lifeline_w, &st.status_fd}) {
    if (*fd >= 0) {
      untrack_fd_locked(*fd);
      ::close(*fd);
      *fd = -1;
    }
  }
  auto& kids = *g().children;
  kids.erase(
      std::remove_if(kids.begin(), kids.end(), [&](const auto& p) { return p.get() == &st; }),
      kids.end());
}

void check_open(const ProcessState& st) {
  if (st.phase == ProcessState::Phase::kClosed) throw ValueError("process object is closed");
}

}  // namespace

std::mutex& fork_mutex() { return g().m; }

void track_fd_locked(int fd) { g().tracked.push_back(fd); }
void untrack_fd_locked(int fd) {
  auto& t = g().tracked;
  t.erase(std::remove(t.begin(), t.end(), fd), t.end());
}
void close_tracked(int& fd) noexcept {
  if (fd < 0) return;
  {
    std::lock_guard lock(g().m);
    untrack_fd_locked(fd);
  }
  ::close(fd);
  fd = -1;
}

ProcessState& current_state() { return *g().current; }

void reset_after_fork_in_child() noexcept {
  Globals& gl = g();
  for (int fd : gl.tracked) ::close(fd);
  gl.tracked.clear();
  // The parent's list is leaked: its entries belong to the parent.
  using Children = std::vector<std::shared_ptr<ProcessState>>;
  gl.children = new Children();  // NOLINT(bugprone-unhandled-exception-at-new)
  gl.counter = 0;
  forkserver_forget_in_child();
}

ChildInfo make_child_info(ProcessState& st, StartMethod method) {
  ChildInfo info;
  {
    ProcessState& me = current_state();
    std::lock_guard lock(me.m);
    info.parent_pid = static_cast<int>(getpid());
    info.parent_name = me.name;
  }
  {
    std::lock_guard lock(st.m);
    info.name = st.name;
    info.daemon = st.daemon;
    info.identity = st.identity;
    info.authkey = st.authkey;
  }
  const bool our_child = method != StartMethod::forkserver;
  info.pdeathsig = our_child && on_main_thread();
  info.check_ppid = our_child;
  info.method = static_cast<int>(method);
  return info;
}

void become_child(const ChildInfo& info, int lifeline) {
  // A new state and view (the old ones are leaked: after a fork another thread of the
  // parent may have held their mutex).
  Globals& gl = g();
  auto me = std::make_shared<ProcessState>();
  me->name = info.name;
  me->daemon = info.daemon;
  me->identity = info.identity;
  me->authkey = info.authkey;
  me->pid = getpid();
  me->is_current = true;
  me->phase = ProcessState::Phase::kStarted;
  gl.current = me;
  gl.current_view = new Process(ProcessAccess::view(me));
  gl.parent = new ParentProcess(info.parent_pid, info.parent_name, lifeline);
  gl.counter = 0;
  force_start_method(static_cast<StartMethod>(info.method));
}

void add_child(std::shared_ptr<ProcessState> st) {
  Globals& gl = g();
  std::call_once(gl.atexit_once, [] { std::atexit([] { exit_function(); }); });
  std::lock_guard lock(gl.m);
  gl.children->push_back(std::move(st));
}

void exit_function() noexcept {
  try {
    std::vector<std::shared_ptr<ProcessState>> kids;
    {
      std::lock_guard lock(g().m);
      kids = *g().children;
    }
    for (auto& st : kids) {
      bool daemonic = false;
      {
        std::lock_guard lock(st->m);
        daemonic = st->daemon;
      }
      if (daemonic) {
        try {
          signal_state(*st, SIGTERM);
        } catch (...) {
        }
      }
    }
    for (auto& st : kids) {
      try {
        (void)wait_state(*st, Deadline{});
      } catch (...) {
      }
    }
  } catch (...) {
  }
}

void finish_child(int code) noexcept {
  try {
    concur::threading::detail::join_non_daemon_threads();
  } catch (...) {
  }
  exit_function();
  std::fflush(nullptr);
  ::_exit(code);
}

int run_guarded(void (*body)(void*), void* arg, const std::string& name) noexcept {
  try {
    body(arg);
    return 0;
  } catch (const SystemExit& e) {
    if (!e.message().empty()) write_stderr(e.message() + "\n");
    return e.code();
  } catch (...) {
    std::string text;
    try {
      text = "Process " + name + ":\n" + describe_current_exception() + "\n";
    } catch (...) {
      text = "Process: (an exception that could not be described)\n";
    }
    std::fflush(stdout);
    write_stderr(text);
    return 1;
  }
}

}  // namespace detail

using detail::g;
using detail::ProcessState;

// ---- Process ------------------------------------------------------------------------------

namespace detail {
namespace {
thread_local bool rebuild_as_current = false;

struct ProcessClasses {
  std::mutex m;
  std::vector<std::pair<const std::type_info*, ProcessEncoder>> entries;
};
ProcessClasses& process_classes() {
  static auto* classes = new ProcessClasses();  // never destroyed: used during static init
  return *classes;
}
}  // namespace

void rebuild_next_process_as_current(bool on) noexcept { rebuild_as_current = on; }

void add_process_class(const std::type_info& type, ProcessEncoder encode) {
  auto& c = process_classes();
  std::lock_guard lock(c.m);
  for (const auto& [t, e] : c.entries)
    if (*t == type) return;
  c.entries.emplace_back(&type, encode);
}

ProcessEncoder process_class_encoder(const Process& self) {
  const std::type_info& type = typeid(self);
  {
    auto& c = process_classes();
    std::lock_guard lock(c.m);
    for (const auto& [t, e] : c.entries)
      if (*t == type) return e;
  }
  throw TypeError("concur::multiprocessing: a Process subclass (" + demangle(type.name()) +
                  ") runs its run() in the child: under spawn/forkserver the child must "
                  "rebuild the object, so register it with CONCUR_REGISTER_PROCESS(" +
                  demangle(type.name()) +
                  ") and list its fields in concur_fields() (see register_process in "
                  "process.hpp); or use get_context(\"fork\")");
}

}  // namespace detail

Process::Process(ProcessOptions options) {
  if (detail::rebuild_as_current) {
    // A registered subclass rebuilt in its child: its base is the child itself.
    detail::rebuild_as_current = false;
    state_ = g().current;
    view_ = true;
    return;
  }
  state_ = std::make_shared<ProcessState>();
  auto& gl = g();
  ProcessState& me = *gl.current;
  int count = 0;
  {
    std::lock_guard lock(gl.m);
    count = ++gl.counter;
  }
  {
    std::lock_guard lock(me.m);
    state_->identity = me.identity;
    state_->authkey = me.authkey;
    state_->daemon = options.daemon.value_or(me.daemon);
  }
  state_->identity.push_back(count);
  if (options.name.empty()) {
    std::string name = "Process-";
    for (std::size_t i = 0; i < state_->identity.size(); ++i) {
      if (i > 0) name += ':';
      name += std::to_string(state_->identity[i]);
    }
    state_->name = std::move(name);
  } else {
    state_->name = std::move(options.name);
  }
}

Process::Process(StartMethod method, ProcessOptions options, std::unique_ptr<detail::Target> target)
    : Process(std::move(options)) {
  state_->method = method;
  target_ = std::move(target);
}

Process::Process(StartMethod method, ProcessOptions options) : Process(std::move(options)) {
  if (!view_) state_->method = method;
}

Process::Process(const Context& context, ProcessOptions options) : Process(std::move(options)) {
  if (!view_) state_->method = context.method();
}

Process::Process(std::shared_ptr<ProcessState> state) noexcept
    : state_(std::move(state)), view_(true) {}

Process::Process(Process&& other) noexcept
    : state_(std::move(other.state_)), target_(std::move(other.target_)), view_(other.view_) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this == &other) return *this;
  release();
  state_ = std::move(other.state_);
  target_ = std::move(other.target_);
  view_ = other.view_;
  return *this;
}

Process::~Process() { release(); }

void Process::release() noexcept {
  if (!state_ || view_) {
    state_.reset();
    target_.reset();
    return;
  }
  try {
    bool running = false;
    bool daemonic = false;
    {
      std::lock_guard lock(state_->m);
      running = state_->phase == ProcessState::Phase::kStarted && !state_->exitcode;
      daemonic = state_->daemon;
    }
    if (running) {
      if (daemonic) detail::signal_state(*state_, SIGTERM);
      (void)detail::wait_state(*state_, Deadline{});
    }
  } catch (...) {
  }
  detail::release_fds(*state_);
  state_.reset();
  target_.reset();
}

void Process::run() {
  if (target_) target_->run();
}

void Process::start() {
  {
    std::lock_guard lock(state_->m);
    detail::check_open(*state_);
    if (state_->phase != ProcessState::Phase::kInitial || state_->is_current)
      throw RuntimeError("cannot start a process twice");
    state_->phase = ProcessState::Phase::kStarting;
  }
  try {
    start_checked();
  } catch (...) {
    std::lock_guard lock(state_->m);
    if (state_->phase == ProcessState::Phase::kStarting)
      state_->phase = ProcessState::Phase::kInitial;
    throw;
  }
}

void Process::start_checked() {
  {
    ProcessState& me = *g().current;
    std::lock_guard lock(me.m);
    if (me.daemon) throw ValueError("daemonic processes are not allowed to have children");
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe): only main_guard writes it, first thing in main
  if (std::getenv("CONCUR_MP_CHILD") != nullptr) {
    throw RuntimeError(
        "concur::multiprocessing: this process was started by spawn/forkserver, but its main() "
        "did not call concur::mp::main_guard(argc, argv) first thing: a child must not run "
        "the program's main body (Python: the if __name__ == '__main__' guard)");
  }
  (void)active_children();  // reap finished children, as Python's _cleanup()
  const StartMethod method = state_->method.value_or(detail::default_method());
  if (method == StartMethod::fork) {
    detail::start_fork(*this, *state_);
  } else {
    // As CPython's spawn: the program tree's resource tracker runs before a fresh program
    // starts, so that the child (and the forkserver) share it instead of starting their own
    // (whose cleanup at the child's exit would unlink segments the parent still uses).
    detail::ensure_tracker_running();
    detail::start_encoded(*this, *state_, method);
  }
  target_.reset();  // the child has its copy (Python drops target and args at start)
  detail::add_child(state_);
}

bool Process::join(Timeout timeout) {
  const Deadline deadline(timeout);
  {
    std::lock_guard lock(state_->m);
    detail::check_open(*state_);
    if (state_->is_current) throw ValueError("can only join a child process");
    if (state_->phase != ProcessState::Phase::kStarted)
      throw ValueError("can only join a started process");
  }
  const bool ended = detail::wait_state(*state_, deadline).has_value();
  if (ended) {
    std::lock_guard lock(g().m);
    auto& kids = *g().children;
    kids.erase(std::remove(kids.begin(), kids.end(), state_), kids.end());
  }
  return ended;
}

bool Process::is_alive() const {
  {
    std::lock_guard lock(state_->m);
    detail::check_open(*state_);
    if (state_->is_current) return true;
    if (state_->phase != ProcessState::Phase::kStarted) return false;
  }
  return !detail::wait_state(*state_, Deadline(Deadline::Clock::now())).has_value();
}

void Process::terminate() { detail::signal_state(*state_, SIGTERM); }
void Process::kill() { detail::signal_state(*state_, SIGKILL); }

void Process::close() {
  bool started = false;
  {
    std::lock_guard lock(state_->m);
    if (state_->phase == ProcessState::Phase::kClosed) return;
    if (state_->is_current) throw ValueError("cannot close the current process");
    if (state_->phase == ProcessState::Phase::kStarting)
      throw ValueError("cannot close a process while it is starting");
    started = state_->phase == ProcessState::Phase::kStarted;
  }
  if (started && !detail::wait_state(*state_, Deadline(Deadline::Clock::now()))) {
    throw ValueError(
        "Cannot close a process while it is still running. You should first call join() or "
        "terminate().");
  }
  detail::release_fds(*state_);
  std::lock_guard lock(state_->m);
  state_->phase = ProcessState::Phase::kClosed;
  target_.reset();
}

std::optional<int> Process::exitcode() const {
  {
    std::lock_guard lock(state_->m);
    if (state_->phase != ProcessState::Phase::kStarted || state_->is_current)
      return state_->exitcode;
  }
  return detail::wait_state(*state_, Deadline(Deadline::Clock::now()));
}

bool Process::status_lost() const {
  (void)exitcode();  // reap now if it ended
  std::lock_guard lock(state_->m);
  return state_->lost;
}

std::optional<int> Process::pid() const {
  std::lock_guard lock(state_->m);
  detail::check_open(*state_);
  if (state_->is_current) return static_cast<int>(getpid());
  if (state_->phase != ProcessState::Phase::kStarted) return std::nullopt;
  return static_cast<int>(state_->pid);
}

int Process::sentinel() const {
  std::lock_guard lock(state_->m);
  detail::check_open(*state_);
  if (state_->phase != ProcessState::Phase::kStarted || state_->is_current)
    throw ValueError("process not started");
  return state_->pidfd;
}

std::string Process::name() const {
  std::lock_guard lock(state_->m);
  return state_->name;
}
void Process::set_name(std::string name) {
  std::lock_guard lock(state_->m);
  state_->name = std::move(name);
}
bool Process::daemon() const {
  std::lock_guard lock(state_->m);
  return state_->daemon;
}
void Process::set_daemon(bool daemonic) {
  std::lock_guard lock(state_->m);
  if (state_->phase != ProcessState::Phase::kInitial || state_->is_current)
    throw RuntimeError("cannot set the daemon flag of a started process");
  state_->daemon = daemonic;
}
Bytes Process::authkey() const {
  std::lock_guard lock(state_->m);
  return state_->authkey;
}
void Process::set_authkey(Bytes key) {
  std::lock_guard lock(state_->m);
  state_->authkey = std::move(key).vector();
}
std::optional<StartMethod> Process::start_method() const {
  std::lock_guard lock(state_->m);
  return state_->phase == ProcessState::Phase::kInitial ||
                 state_->phase == ProcessState::Phase::kStarting
             ? state_->method
             : std::optional(state_->used);
}

std::string Process::repr() const {
  std::lock_guard lock(state_->m);
  std::string out = "<Process name='" + state_->name + "'";
  if (state_->is_current) {
    out += " parent=None started";
  } else if (state_->phase == ProcessState::Phase::kClosed) {
    out += " closed";
  } else if (state_->phase == ProcessState::Phase::kInitial) {
    out += " initial";
  } else if (state_->exitcode) {
    out += " pid=" + std::to_string(state_->pid) + " exitcode=" + std::to_string(*state_->exitcode);
  } else {
    out += " pid=" + std::to_string(state_->pid) + " started";
  }
  if (state_->daemon) out += " daemon";
  return out + ">";
}

// ---- module functions -----------------------------------------------------------------------

Process& current_process() { return *g().current_view; }

const ParentProcess* parent_process() noexcept { return g().parent; }

bool ParentProcess::is_alive() const {
  return !os::wait_fd(fd_, os::kPollIn, Deadline(Deadline::Clock::now()));
}

bool ParentProcess::join(Timeout timeout) const {
  return os::wait_fd(fd_, os::kPollIn, Deadline(timeout));
}

std::vector<Process> active_children() {
  std::vector<std::shared_ptr<ProcessState>> kids;
  {
    std::lock_guard lock(g().m);
    kids = *g().children;
  }
  std::vector<Process> out;
  std::vector<ProcessState*> ended;
  for (auto& st : kids) {
    if (detail::wait_state(*st, Deadline(Deadline::Clock::now()))) {
      ended.push_back(st.get());
    } else {
      out.push_back(detail::ProcessAccess::view(st));
    }
  }
  if (!ended.empty()) {
    std::lock_guard lock(g().m);
    auto& v = *g().children;
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const auto& p) {
                             return std::find(ended.begin(), ended.end(), p.get()) != ended.end();
                           }),
            v.end());
  }
  return out;
}

int cpu_count() noexcept {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace concur::multiprocessing
