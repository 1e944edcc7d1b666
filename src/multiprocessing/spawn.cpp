// The spawn start method and the bootstrap shared with forkserver (design 0004 §1).
//
// The parent makes a stream socketpair; the child's end becomes fd 3 of the new program
// (spawn: posix_spawn of /proc/self/exe "--concur-mp-child 3"; forkserver: the server's
// fork). The parent sends one frame: a u64 length with the fds attached (SCM_RIGHTS:
// the lifeline's read end, the inherited service fds, the fds exported while encoding
// the call), then the frame bytes (ChildInfo + the encoded call). The child (main_guard →
// run_child) reads it, becomes the child, sets up its lifeline, answers with its pid
// (the "started" message) and runs the call. EOF instead of that answer means the child
// died first — e.g. a main() without main_guard.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <tuple>

#include "concur/detail/mp_handles.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "process_impl.hpp"

extern char** environ;  // NOLINT

namespace concur::multiprocessing::detail {

namespace {

using Frame =
    std::tuple<int, std::string, std::string, bool, std::vector<int>, std::vector<std::byte>, bool,
               bool, int, std::vector<std::string>, std::uint32_t, Buffer>;

constexpr std::size_t kMaxFds = 250;  // SCM_MAX_FD is 253

void write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_os_error("send");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

bool read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_os_error("recv");
    }
    if (r == 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// Runs the registry call in `request`, letting the function's exceptions through (the
// child runner turns them into the exit code). Same checks as invoke().
void call_request(std::span<const std::byte> request) {
  Reader in(request);
  const auto head = in.take(2);
  if (head[0] != kRequestMagic || head[1] != kCallVersion) {
    throw_bad_input("not an encode_call() request (bad magic or version)");
  }
  const auto name = decode_value<std::string>(in);
  const auto fingerprint = get_trivial<std::uint64_t>(in);
  const RegisteredFunction* f = find_function(name);
  if (f == nullptr) {
    throw ValueError("concur::multiprocessing: no function registered as '" + name +
                     "' in this process");
  }
  if (f->ambiguous) {
    throw ValueError("concur::multiprocessing: the name '" + name +
                     "' was registered for two different functions");
  }
  if (fingerprint != f->args_fingerprint) {
    throw TypeError("concur::multiprocessing: the arguments sent to '" + name +
                    "' are not of its parameter types " + f->args_type);
  }
  Buffer reply;
  f->invoke(in, reply);
}

struct ChildCall {
  const Buffer* call;
  std::span<const int> fds;
};

void run_call(void* arg) {
  auto* c = static_cast<ChildCall*>(arg);
  if (c->call->empty()) return;  // a Process without a target
  FdSource source(c->fds);
  call_request(*c->call);
}

[[noreturn]] void die(const char* what) noexcept {
  const std::string line =
      std::string("concur::multiprocessing: child bootstrap failed: ") + what + ": " +
      std::strerror(errno) +  // NOLINT(concurrency-mt-unsafe): single-threaded child
      "\n";
  (void)!::write(2, line.data(), line.size());
  ::_exit(255);
}

}  // namespace

void send_with_fds(int sock, std::span<const std::byte> data, std::span<const int> fds) {
  if (fds.size() > kMaxFds) {
    throw ValueError("concur::multiprocessing: too many fds to pass to a child (" +
                     std::to_string(fds.size()) + ", at most " + std::to_string(kMaxFds) + ")");
  }
  iovec iov{const_cast<std::byte*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) < data.size()) {
        write_all(sock, data.data() + n, data.size() - static_cast<std::size_t>(n));
      }
      return;
    }
    if (errno != EINTR) throw_os_error("sendmsg");
  }
}

std::size_t recv_with_fds(int sock, std::span<std::byte> data, std::vector<int>& fds) {
  iovec iov{data.data(), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 253)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = -1;
  for (;;) {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno != EINTR) throw_os_error("recvmsg");
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const std::size_t at = fds.size();
      fds.resize(at + count);
      std::memcpy(fds.data() + at, CMSG_DATA(c), count * sizeof(int));
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    for (int fd : fds) ::close(fd);
    fds.clear();
    errno = EMSGSIZE;
    throw_os_error("recvmsg (fds truncated)");
  }
  return static_cast<std::size_t>(n);
}

pid_t spawn_self(const char* flag, int keep) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, keep, 3);
  posix_spawn_file_actions_addclosefrom_np(&fa, 4);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string arg0 = program_argv0();
  std::string arg1 = flag;
  std::string arg2 = "3";
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
  std::vector<char*> env;
  static char marker[] = "CONCUR_MP_CHILD=1";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "CONCUR_MP_CHILD=", 16) != 0) env.push_back(*e);
  }
  env.push_back(marker);
  env.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, env.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    throw_os_error("posix_spawn(/proc/self/exe)");
  }
  return pid;
}

void start_encoded(Process& self, ProcessState& st, StartMethod method) {
  if (!main_guard_called()) {
    throw RuntimeError(std::string("concur::multiprocessing: the ") +
                       std::string(to_string(method)) +
                       " start method runs this program again, so main() must begin with "
                       "concur::mp::main_guard(argc, argv) (or use CONCUR_MAIN), as Python's "
                       "if __name__ == '__main__' guard; or use get_context(\"fork\")");
  }
  Target* target = ProcessAccess::target(self);
  // A subclass's run() uses the object itself: it crosses as its registered fields
  // (register_process; TypeError here if it was not registered).
  const ProcessEncoder encode_object =
      typeid(self) == typeid(Process) ? nullptr : process_class_encoder(self);
  ChildInfo info = make_child_info(st, method);

  // Encode first: a target that cannot cross fails here, before any process exists.
  Buffer call;
  std::vector<int> call_fds;
  if (target != nullptr || encode_object != nullptr) {
    FdSink sink;
    if (encode_object != nullptr) {
      encode_object(self, call);
    } else {
      call = target->encode();
    }
    call_fds = sink.fds();
  }
  std::vector<int> fds;
  const auto inherited = inherited_fds();
  for (const auto& [key, fd] : inherited) info.inherited_keys.push_back(key);

  int lifeline[2] = {-1, -1};
  int boot[2] = {-1, -1};
  {
    std::lock_guard lock(fork_mutex());
    if (::pipe2(lifeline, O_CLOEXEC) != 0) throw_os_error("pipe2");
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, boot) != 0) {
      const int e = errno;
      ::close(lifeline[0]);
      ::close(lifeline[1]);
      errno = e;
      throw_os_error("socketpair");
    }
    for (int fd : {lifeline[0], lifeline[1], boot[0], boot[1]}) track_fd_locked(fd);
  }
  pid_t pid = -1;
  int pidfd = -1;
  int status_fd = -1;
  auto cleanup = [&]() noexcept {
    for (int* fd : {&lifeline[0], &lifeline[1], &boot[0], &boot[1], &status_fd}) close_tracked(*fd);
  };
  try {
    if (method == StartMethod::spawn) {
      pid = spawn_self("--concur-mp-child", boot[1]);
      pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      if (pidfd < 0) {
        const int e = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        errno = e;
        throw_os_error("pidfd_open");
      }
      close_tracked(boot[1]);
    } else {
      std::tie(pid, pidfd) = forkserver_request(boot[1], status_fd);
      close_tracked(boot[1]);
    }
    {
      std::lock_guard lock(fork_mutex());
      track_fd_locked(pidfd);
    }
  } catch (...) {
    cleanup();
    throw;
  }
  // From here a child exists: on failure, kill and reap it.
  auto fail = [&](const std::string& why) {
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    if (method == StartMethod::spawn) {
      siginfo_t info_{};
      ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info_, WEXITED);
    } else {
      std::int32_t code = 0;
      (void)::recv(status_fd, &code, sizeof code, 0);
    }
    close_tracked(pidfd);
    cleanup();
    throw RuntimeError(why);
  };
  try {
    fds.push_back(lifeline[0]);
    for (const auto& [key, fd] : inherited) fds.push_back(fd);
    fds.insert(fds.end(), call_fds.begin(), call_fds.end());
    Buffer frame;
    encode(frame, Frame(info.parent_pid, info.parent_name, info.name, info.daemon, info.identity,
                        info.authkey, info.pdeathsig, info.check_ppid, info.method,
                        info.inherited_keys, static_cast<std::uint32_t>(call_fds.size()), call));
    const std::uint64_t length = frame.size();
    send_with_fds(boot[0], std::as_bytes(std::span(&length, 1)), fds);
    write_all(boot[0], frame.data(), frame.size());
  } catch (const std::exception& e) {
    fail(std::string("concur::multiprocessing: could not send the bootstrap to the child: ") +
         e.what());
  }
  close_tracked(lifeline[0]);
  std::int32_t child_pid = 0;
  bool started = false;
  try {
    started = read_all(boot[0], &child_pid, sizeof child_pid);
  } catch (...) {
  }
  if (!started) {
    fail("concur::multiprocessing: the child (" + std::string(to_string(method)) +
         ") died before it started: does main() begin with concur::mp::main_guard(argc, "
         "argv)? (see its stderr)");
  }
  close_tracked(boot[0]);
  std::lock_guard slock(st.m);
  st.pid = pid;
  st.pidfd = pidfd;
  st.lifeline_w = lifeline[1];
  st.status_fd = status_fd;
  st.used = method;
  st.phase = ProcessState::Phase::kStarted;
}

void run_child(int fd) noexcept {
  Frame frame;
  std::vector<int> fds;
  try {
    std::uint64_t length = 0;
    std::size_t got = 0;
    while (got < sizeof length) {
      const std::size_t n = recv_with_fds(
          fd, std::span(reinterpret_cast<std::byte*>(&length) + got, sizeof length - got), fds);
      if (n == 0) die("EOF before the bootstrap frame");
      got += n;
    }
    Buffer bytes(length);
    if (!read_all(fd, bytes.data(), bytes.size())) die("EOF in the bootstrap frame");
    Reader in(bytes);
    frame = decode<Frame>(in);
  } catch (const std::exception& e) {
    errno = 0;
    die(e.what());
  }
  ChildInfo info;
  std::uint32_t n_call_fds = 0;
  Buffer call;
  std::tie(info.parent_pid, info.parent_name, info.name, info.daemon, info.identity, info.authkey,
           info.pdeathsig, info.check_ppid, info.method, info.inherited_keys, n_call_fds, call) =
      std::move(frame);
  if (fds.size() != 1 + info.inherited_keys.size() + n_call_fds) {
    errno = EPROTO;
    die("wrong number of fds");
  }
  try {
    become_child(info, fds[0]);
    for (std::size_t i = 0; i < info.inherited_keys.size(); ++i)
      set_inherited_fd(info.inherited_keys[i], fds[1 + i]);
  } catch (...) {
    errno = ENOMEM;
    die("setting up");
  }
  setup_lifeline(fds[0], info.pdeathsig, info.check_ppid ? info.parent_pid : 0);
  const std::int32_t me = static_cast<std::int32_t>(::getpid());
  try {
    write_all(fd, &me, sizeof me);
  } catch (...) {
    die("answering the parent");
  }
  ::close(fd);
  ChildCall c{&call, std::span<const int>(fds).subspan(1 + info.inherited_keys.size())};
  finish_child(run_guarded(&run_call, &c, info.name));
}

}  // namespace concur::multiprocessing::detail
