// Popen: spawning (posix_spawn + pidfd_open), waiting (pidfd), communicate (poll).
// The design, and how each hazard of process and pipe code is handled:
// docs/design/0002-subprocess.md.
#include "concur/subprocess/popen.hpp"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <system_error>

#include "concur/exceptions.hpp"
#include "concur/subprocess/exceptions.hpp"
#include "os/child.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
#include "os/poll.hpp"
#include "os/signals.hpp"

extern char** environ;  // NOLINT

namespace concur::subprocess {

using os::Fd;

struct Popen::Impl {
  Args args;
  bool text = false;
  bool leads_group = false;  // start_new_session or process_group == 0
  int pid = -1;
  Fd pidfd;

  mutable std::mutex mu;  // guards returncode, lost (and reaping)
  std::optional<int> returncode;
  bool lost = false;

  // communicate() state, kept across a TimeoutExpired.
  bool comm_started = false;
  bool comm_done = false;
  bool have_out = false, have_err = false;
  std::string input;
  std::size_t input_off = 0;
  std::string out_pre, err_pre;  // data a PipeFile had buffered (already translated)
  std::string out_raw, err_raw;  // raw bytes read by communicate
  bool out_cr = false, err_cr = false;

  explicit Impl(Args a) : args(std::move(a)) {}

  void reap_locked() {
    if (returncode) return;
    int rc = 0;
    const auto state = os::try_reap(pidfd.get(), &rc);
    if (state == os::WaitState::running) return;
    returncode = rc;
    lost = state == os::WaitState::lost;
  }

  // The child `child` has just been spawned: opens its pidfd. posix_spawn has no
  // CLONE_PIDFD (glibc 2.36 has no pidfd_spawn), so the pidfd is opened right after. The
  // child is unreaped, so its pid cannot be reused, unless the application lets the kernel
  // reap it (SIGCHLD ignored / SA_NOCLDWAIT) or a foreign waitpid(-1) did: then pidfd_open
  // fails with ESRCH, or the waitid in reap_locked() says ECHILD (the pidfd does not name a
  // child of ours). Either way the status is lost, reported as returncode 0 +
  // status_lost(), as Python reports 0.
  void adopt(int child) {
    pid = child;
    try {
      pidfd = os::pidfd_open(child);
    } catch (const std::system_error& e) {
      if (e.code().value() != ESRCH) {
        ::kill(child, SIGKILL);
        os::retry_eintr([&] { return ::waitpid(child, nullptr, 0); });
        throw;
      }
      returncode = 0;
      lost = true;
    }
    if (pidfd) reap_locked();  // no other thread knows this Popen yet
  }

  [[nodiscard]] std::optional<std::string> raw(bool out) const {
    if (!(out ? have_out : have_err)) return std::nullopt;
    return out ? out_pre + out_raw : err_pre + err_raw;
  }
};

namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
  os::raise(err, what);  // the OSError family: FileNotFoundError for a missing program
}

void check_no_nul(const std::string& s, const char* what) {
  if (s.find('\0') != std::string::npos)
    throw ValueError(std::string("embedded null byte in ") + what);
}

// Python's universal newlines over a whole buffer, continuing from `last_cr`.
std::string translate(const std::string& raw, bool last_cr) {
  std::string out;
  out.reserve(raw.size());
  for (const char c : raw) {
    if (c == '\r') {
      out += '\n';
      last_cr = true;
    } else {
      if (!(c == '\n' && last_cr)) out += c;
      last_cr = false;
    }
  }
  return out;
}

// PATH search in the parent (execvp and posix_spawnp differ): the PATH of `env` when
// given (Python's os.get_exec_path(env)), else the parent's; "/bin:/usr/bin" when unset.
// The first regular executable file wins; EACCES if only non-executable ones exist, else
// ENOENT. A name with a '/' is used as it is (relative to the child's cwd).
std::string resolve_program(const std::string& name, const std::optional<Environment>& env) {
  if (name.find('/') != std::string::npos) return name;
  if (name.empty()) throw_errno(ENOENT, "posix_spawn: ''");
  std::string path = "/bin:/usr/bin";
  if (env) {
    const auto it = env->find("PATH");
    if (it != env->end()) path = it->second;
  } else if (const char* p = std::getenv("PATH")) {  // NOLINT(concurrency-mt-unsafe)
    path = p;
  }
  bool eacces = false;
  std::size_t start = 0;
  for (;;) {
    const auto end = path.find(':', start);
    // Built with append(): GCC 12 at -O3 warns (-Wrestrict, a false positive) on
    // `dir + "/" + name` here.
    const std::size_t len = (end == std::string::npos ? path.size() : end) - start;
    std::string candidate;
    candidate.reserve(len + 2 + name.size());
    if (len == 0)
      candidate.push_back('.');
    else
      candidate.append(path, start, len);
    candidate.push_back('/');
    candidate.append(name);
    struct stat sb {};
    if (::stat(candidate.c_str(), &sb) == 0) {
      if (S_ISREG(sb.st_mode)) {
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        eacces = true;
      }
    } else if (errno == EACCES) {
      eacces = true;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  throw_errno(eacces ? EACCES : ENOENT, "posix_spawn: '" + name + "'");
}

// RAII for posix_spawn's two attribute objects.
struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  void check(int rc, const char* what) const {
    if (rc != 0) throw_errno(rc, what);
  }
};
struct SpawnAttr {
  posix_spawnattr_t at;
  SpawnAttr() { posix_spawnattr_init(&at); }
  ~SpawnAttr() { posix_spawnattr_destroy(&at); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

// How the child's fd 0, 1 or 2 is set up.
struct ChildStream {
  enum Kind { inherit, from_fd, devnull, dup_stdout } kind = inherit;
  int fd = -1;  // for `from_fd`: a descriptor >= 3 in the parent
};

constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
constexpr std::size_t kWriteChunk = std::size_t{1024} * 1024;

// ---- The steps of Popen's constructor, in the order it takes them.

// The options, checked: everything that can be wrong is found before any fd exists.
struct CheckedOptions {
  std::string cwd;        // the cwd option as a string ("" when not given)
  std::vector<int> pass;  // pass_fds above 2, sorted, without repeats
  bool close_fds = true;  // Python: pass_fds forces close_fds
};

CheckedOptions check_options(const std::vector<std::string>& list, const PopenOptions& o) {
  if (list.empty()) throw ValueError("args must not be empty");
  for (const auto& a : list) check_no_nul(a, "args");
  if (o.executable) check_no_nul(*o.executable, "executable");
  CheckedOptions c;
  if (o.cwd) {
    c.cwd = o.cwd->string();
    check_no_nul(c.cwd, "cwd");
  }
  if (o.env) {
    for (const auto& [k, v] : *o.env) {
      check_no_nul(k, "env name");
      check_no_nul(v, "env value");
      if (k.find('=') != std::string::npos) throw ValueError("illegal environment variable name");
    }
  }
  if (o.stdin_.is_set() && o.stdin_.value() == STDOUT)
    throw ValueError("STDOUT can only be used for stderr_");
  if (o.stdout_.is_set() && o.stdout_.value() == STDOUT)
    throw ValueError("STDOUT can only be used for stderr_");
  for (const Redirect* r : {&o.stdin_, &o.stdout_, &o.stderr_}) {
    if (!r->is_set()) continue;
    if (r->value() < DEVNULL) throw ValueError("bad redirect: " + std::to_string(r->value()));
    if (r->value() >= 0 && !os::fd_is_open(r->value()))
      throw_errno(EBADF, "redirect to fd " + std::to_string(r->value()));
  }
  if (o.start_new_session && o.process_group)
    throw ValueError("start_new_session and process_group cannot be combined");
  if (o.process_group && *o.process_group < 0) throw ValueError("process_group must be >= 0");
  std::vector<int>& pass = c.pass;
  pass = o.pass_fds;
  for (const int fd : pass) {
    if (fd < 0) throw ValueError("bad value(s) in pass_fds: " + std::to_string(fd));
    if (!os::fd_is_open(fd)) throw_errno(EBADF, "pass_fds: fd " + std::to_string(fd));
  }
  std::sort(pass.begin(), pass.end());
  pass.erase(std::unique(pass.begin(), pass.end()), pass.end());
  pass.erase(std::remove_if(pass.begin(), pass.end(), [](int fd) { return fd < 3; }), pass.end());
  c.close_fds = o.close_fds || !pass.empty();
  return c;
}

// argv, the program and envp, built in the parent: the child runs none of our code
// between fork and exec. Neither copied nor moved: the pointer arrays point into the
// strings.
struct Command {
  Command(const std::vector<std::string>& list, const PopenOptions& o)
      : has_env(o.env.has_value()) {
    if (o.shell) {
      argv = {"/bin/sh", "-c"};
      argv.insert(argv.end(), list.begin(), list.end());
      if (o.executable) argv[0] = *o.executable;
    } else {
      argv = list;
    }
    program = resolve_program(o.executable ? *o.executable : argv[0], o.env);
    argv_ptrs.reserve(argv.size() + 1);
    for (auto& a : argv) argv_ptrs.push_back(a.data());
    argv_ptrs.push_back(nullptr);
    if (o.env) {
      env_strings.reserve(o.env->size());
      for (const auto& [k, v] : *o.env) {
        std::string& e = env_strings.emplace_back();
        e.reserve(k.size() + 1 + v.size());
        e.append(k).append(1, '=').append(v);
      }
      for (auto& e : env_strings) env_ptrs.push_back(e.data());
      env_ptrs.push_back(nullptr);
    }
  }
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  /// The child's environment: the env option, else the parent's.
  char** envp() noexcept { return has_env ? env_ptrs.data() : environ; }

  bool has_env;
  std::vector<std::string> argv;
  std::string program;
  std::vector<char*> argv_ptrs;
  std::vector<std::string> env_strings;
  std::vector<char*> env_ptrs;
};

// The pipes, and what the child's fd 0, 1 and 2 become. Every helper fd is kept >= 3 so
// that no dup2 onto 0/1/2 in the child clobbers a source. Neither copied nor moved:
// `child` names descriptors that `child_end` owns.
struct Streams {
  explicit Streams(const PopenOptions& o) {
    const auto above_std = [](Fd f) {
      if (f.get() >= 3) return f;
      return os::dup_cloexec(f.get(), 3);  // `f` closes its low fd on return
    };
    const Redirect* redirects[3] = {&o.stdin_, &o.stdout_, &o.stderr_};
    for (int i = 0; i < 3; ++i) {
      const Redirect& r = *redirects[i];
      if (!r.is_set()) continue;
      switch (r.value()) {
        case PIPE: {
          auto p = os::make_pipe();
          if (o.pipesize > 0) os::set_pipe_size(p.write.get(), o.pipesize);
          parent_end[i] = above_std(i == 0 ? std::move(p.write) : std::move(p.read));
          child_end[i] = above_std(i == 0 ? std::move(p.read) : std::move(p.write));
          child[i] = {ChildStream::from_fd, child_end[i].get()};
          break;
        }
        case DEVNULL:
          child[i].kind = ChildStream::devnull;
          break;
        case STDOUT:  // stderr only (checked before)
          child[i].kind = ChildStream::dup_stdout;
          break;
        default:
          if (r.value() < 3) {
            child_end[i] = os::dup_cloexec(r.value(), 3);
            child[i] = {ChildStream::from_fd, child_end[i].get()};
          } else {
            child[i] = {ChildStream::from_fd, r.value()};
          }
      }
    }
  }
  Streams(const Streams&) = delete;
  Streams& operator=(const Streams&) = delete;

  Fd parent_end[3];
  Fd child_end[3];  // pipe ends and dups the child takes; closed in the parent after spawn
  ChildStream child[3];
};

// posix_spawn's file actions, which run in the child in this order: fd 0/1/2, pass_fds,
// closing every other fd >= 3, chdir.
void add_file_actions(FileActions& fa, const Streams& streams, const CheckedOptions& c,
                      const PopenOptions& o) {
  for (int i = 0; i < 3; ++i) {
    switch (streams.child[i].kind) {
      case ChildStream::inherit:
        break;
      case ChildStream::from_fd:
        fa.check(posix_spawn_file_actions_adddup2(&fa.fa, streams.child[i].fd, i), "adddup2");
        break;
      case ChildStream::devnull:
        fa.check(posix_spawn_file_actions_addopen(&fa.fa, i, "/dev/null",
                                                  i == 0 ? O_RDONLY : O_WRONLY, 0),
                 "addopen");
        break;
      case ChildStream::dup_stdout:
        fa.check(posix_spawn_file_actions_adddup2(&fa.fa, 1, 2), "adddup2");
        break;
    }
  }
  if (c.close_fds) {
    // dup2(fd, fd) clears FD_CLOEXEC (glibc >= 2.29), so pass_fds survive exec even
    // when close-on-exec in the parent, whose flags stay unchanged (CPython's
    // test_subprocess.POSIXProcessTestCase.test_pass_fds_inheritable).
    for (const int fd : c.pass)
      fa.check(posix_spawn_file_actions_adddup2(&fa.fa, fd, fd), "adddup2");
    int low = 3;
    for (const int fd : c.pass) {
      for (int gap = low; gap < fd; ++gap)
        fa.check(posix_spawn_file_actions_addclose(&fa.fa, gap), "addclose");
      low = fd + 1;
    }
    // close_range(low, ~0U) in the child: one call, not a loop up to RLIMIT_NOFILE.
    fa.check(posix_spawn_file_actions_addclosefrom_np(&fa.fa, low), "addclosefrom_np");
  }
  if (o.cwd) fa.check(posix_spawn_file_actions_addchdir_np(&fa.fa, c.cwd.c_str()), "addchdir_np");
}

// posix_spawn's attributes: an empty signal mask, default dispositions (restore_signals),
// a new session or process group.
void set_attributes(SpawnAttr& attr, const PopenOptions& o) {
  short flags = POSIX_SPAWN_SETSIGMASK;
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr.at, &none);
  if (o.restore_signals) {  // every signal back to SIG_DFL in the child, as Python
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr.at, &all);
    flags |= POSIX_SPAWN_SETSIGDEF;
  }
  if (o.start_new_session) flags |= POSIX_SPAWN_SETSID;
  if (o.process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr.at, *o.process_group);
  }
  posix_spawnattr_setflags(&attr.at, flags);
}

// Starts the child; returns its pid.
pid_t spawn(Command& cmd, const FileActions& fa, const SpawnAttr& attr, const CheckedOptions& c,
            const PopenOptions& o) {
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, cmd.program.c_str(), &fa.fa, &attr.at, cmd.argv_ptrs.data(), cmd.envp());
  if (rc != 0) {
    // posix_spawn reports one errno for every stage; name the cwd when it is the
    // cwd that cannot be entered (Python's filename = cwd), else the program.
    if (o.cwd && ::access(c.cwd.c_str(), X_OK) != 0) {
      const int err = errno;
      throw_errno(err, "posix_spawn: chdir '" + c.cwd + "'");
    }
    throw_errno(rc, "posix_spawn: '" + (o.executable ? *o.executable : cmd.argv[0]) + "'");
  }
  return pid;
}

}  // namespace

Popen::Popen(Args args, PopenOptions o) {
  const CheckedOptions checked = check_options(args.list(), o);
  Command command(args.list(), o);

  impl_ = std::make_unique<Impl>(std::move(args));
  auto& st = *impl_;
  st.text = o.text;
  st.leads_group = o.start_new_session || (o.process_group && *o.process_group == 0);

  Streams streams(o);
  FileActions fa;
  add_file_actions(fa, streams, checked, o);
  SpawnAttr attr;
  set_attributes(attr, o);
  st.adopt(spawn(command, fa, attr, checked, o));

  stdin_ = PipeFile(streams.parent_end[0].release(), false, o.text);
  stdout_ = PipeFile(streams.parent_end[1].release(), true, o.text);
  stderr_ = PipeFile(streams.parent_end[2].release(), true, o.text);
  // streams.child_end[] close here: the parent keeps no copy of the child's ends (else a
  // read of the child's stdout would never see EOF).
}

Popen::~Popen() { finish(); }

void Popen::finish() noexcept {
  stdin_.close();  // first, so that a child reading stdin sees EOF
  stdout_.close();
  stderr_.close();
  if (!impl_) return;
  auto& st = *impl_;
  try {
    std::lock_guard lock(st.mu);
    st.reap_locked();
    if (!st.returncode) {
      os::pidfd_send_signal_noexcept(st.pidfd.get(), SIGKILL);
      os::PollItem item{st.pidfd.get(), os::kPollIn, 0};
      os::poll_until(&item, 1, Deadline());
      st.reap_locked();
    }
  } catch (...) {  // destructors never throw; nothing better to do
  }
  impl_.reset();
}

Popen::Popen(Popen&& other) noexcept
    : stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      impl_(std::move(other.impl_)) {}

Popen& Popen::operator=(Popen&& other) noexcept {
  if (this != &other) {
    finish();
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
    impl_ = std::move(other.impl_);
  }
  return *this;
}

std::optional<int> Popen::poll() {
  std::lock_guard lock(impl_->mu);
  impl_->reap_locked();
  return impl_->returncode;
}

int Popen::wait(Timeout timeout) {
  auto& st = *impl_;
  const Deadline deadline(timeout);
  for (;;) {
    {
      std::lock_guard lock(st.mu);
      if (st.returncode) return *st.returncode;
    }
    // The pidfd turns readable when the child exits (at once if it already has);
    // another thread may reap it meanwhile, which the locked checks see.
    os::PollItem item{st.pidfd.get(), os::kPollIn, 0};
    const bool ready = os::poll_until(&item, 1, deadline) > 0;
    std::lock_guard lock(st.mu);
    st.reap_locked();
    if (st.returncode) return *st.returncode;
    if (!ready) throw TimeoutExpired(st.args, std::chrono::duration<double>(timeout.duration()));
  }
}

CommunicateResult Popen::communicate(std::optional<std::string> input, Timeout timeout) {
  auto& st = *impl_;
  const Deadline deadline(timeout);
  if (input && st.comm_started) throw ValueError("Cannot send input after starting communication");
  if (input && !stdin_) throw ValueError("communicate: input given but stdin_ is not a pipe");
  if (!st.comm_started) {
    st.comm_started = true;
    st.have_out = static_cast<bool>(stdout_);
    st.have_err = static_cast<bool>(stderr_);
    if (stdout_) {
      st.out_pre = stdout_.take_buffer();
      st.out_cr = stdout_.last_cr_;
    }
    if (stderr_) {
      st.err_pre = stderr_.take_buffer();
      st.err_cr = stderr_.last_cr_;
    }
    if (stdin_) {
      if (input && !input->empty()) {
        st.input = std::move(*input);
        os::set_nonblocking(stdin_.fileno(), true);
      } else {
        stdin_.close();
      }
    }
  }
  const auto timed_out = [&] {
    return TimeoutExpired(st.args, std::chrono::duration<double>(timeout.duration()), st.raw(true),
                          st.raw(false));
  };
  if (!st.comm_done) {
    // SIGPIPE stays blocked in this thread while it writes (the process-wide disposition is
    // never touched).
    std::optional<os::SigpipeBlock> no_sigpipe;
    if (stdin_) no_sigpipe.emplace();
    char chunk[kReadChunk];
    for (;;) {
      os::PollItem items[3];
      PipeFile* files[3];
      std::string* sinks[3] = {nullptr, &st.out_raw, &st.err_raw};
      std::size_t n = 0;
      int which[3];
      if (stdin_) {
        items[n] = {stdin_.fileno(), os::kPollOut, 0};
        files[n] = &stdin_;
        which[n++] = 0;
      }
      if (stdout_) {
        items[n] = {stdout_.fileno(), os::kPollIn, 0};
        files[n] = &stdout_;
        which[n++] = 1;
      }
      if (stderr_) {
        items[n] = {stderr_.fileno(), os::kPollIn, 0};
        files[n] = &stderr_;
        which[n++] = 2;
      }
      if (n == 0) break;
      if (os::poll_until(items, n, deadline) == 0) throw timed_out();
      for (std::size_t k = 0; k < n; ++k) {
        if (items[k].revents == 0) continue;
        PipeFile& f = *files[k];
        if (which[k] == 0) {
          const std::size_t left = st.input.size() - st.input_off;
          const long r = os::write_noexcept(f.fileno(), st.input.data() + st.input_off,
                                            std::min(left, kWriteChunk));
          if (r >= 0) {
            st.input_off += static_cast<std::size_t>(r);
            if (st.input_off == st.input.size()) {
              f.close();
              st.input.clear();
              st.input.shrink_to_fit();
            }
          } else if (r == -EPIPE) {
            f.close();  // the child stopped reading: not an error
          } else if (r != -EAGAIN) {
            os::raise(static_cast<int>(-r), "write");
          }
        } else {
          const long r = os::read_noexcept(f.fileno(), chunk, sizeof chunk);
          if (r > 0) {
            sinks[which[k]]->append(chunk, static_cast<std::size_t>(r));
          } else if (r == 0) {
            f.close();
          } else if (r != -EAGAIN) {
            os::raise(static_cast<int>(-r), "read");
          }
        }
      }
    }
    st.comm_done = true;
  }
  try {
    wait(Timeout(deadline.remaining()));
  } catch (const TimeoutExpired&) {
    throw timed_out();
  }
  CommunicateResult result;
  if (st.have_out)
    result.stdout_ = st.out_pre + (st.text ? translate(st.out_raw, st.out_cr) : st.out_raw);
  if (st.have_err)
    result.stderr_ = st.err_pre + (st.text ? translate(st.err_raw, st.err_cr) : st.err_raw);
  return result;
}

void Popen::send_signal(int sig) {
  auto& st = *impl_;
  std::lock_guard lock(st.mu);
  st.reap_locked();
  if (st.returncode) return;  // reaped: send nothing (4c.27)
  const int r = os::pidfd_send_signal_noexcept(st.pidfd.get(), sig);
  if (r != 0 && r != -ESRCH) os::raise(-r, "pidfd_send_signal");
}

void Popen::terminate() { send_signal(SIGTERM); }
void Popen::kill() { send_signal(SIGKILL); }

int Popen::pid() const noexcept { return impl_ ? impl_->pid : -1; }

std::optional<int> Popen::returncode() const {
  std::lock_guard lock(impl_->mu);
  return impl_->returncode;
}

const Args& Popen::args() const noexcept { return impl_->args; }

bool Popen::status_lost() const {
  std::lock_guard lock(impl_->mu);
  return impl_->lost;
}

namespace detail {

void PopenAccess::kill_for_timeout(Popen& p) {
  auto& st = *p.impl_;
  {
    std::lock_guard lock(st.mu);
    // While the leader is unreaped its pid cannot name another process group.
    if (st.leads_group && !st.returncode) os::kill_group_noexcept(st.pid, SIGKILL);
  }
  p.kill();
}

std::optional<std::string> PopenAccess::raw_stdout(const Popen& p) { return p.impl_->raw(true); }
std::optional<std::string> PopenAccess::raw_stderr(const Popen& p) { return p.impl_->raw(false); }

}  // namespace detail

}  // namespace concur::subprocess
