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
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "multiprocessing/handles.hpp"
#include "os/child.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
#include "os/fd_passing.hpp"
#include "process_impl.hpp"

extern char** environ;  // NOLINT

namespace concur::multiprocessing::detail {

namespace {

// The frame's bytes: who the child is, and the call it runs. Of the fds sent with the
// frame, the first is the lifeline's read end, then one per info.inherited_keys, then the
// `call_fds` exported while encoding the call.
struct Bootstrap {
  ChildInfo info;
  std::uint32_t call_fds = 0;
  Buffer call;  // an encode_call() request; empty for a Process without a target

  void encode_to(Buffer& out) const {
    encode(out, info);
    encode(out, call_fds);
    encode(out, call);
  }
  static Bootstrap decode_from(Reader& in) {
    Bootstrap b;
    b.info = decode<ChildInfo>(in);
    b.call_fds = decode<std::uint32_t>(in);
    b.call = decode<Buffer>(in);
    in.expect_end();
    return b;
  }
};

struct ChildCall {
  const Buffer* call;
  std::span<const int> fds;
};

void run_call(void* arg) {
  auto* c = static_cast<ChildCall*>(arg);
  if (c->call->empty()) return;  // a Process without a target
  FdSource source(c->fds);
  Buffer reply;
  call_request(*c->call, reply);
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
  if (rc != 0) os::raise(rc, "posix_spawn(/proc/self/exe)");
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
    os::PipeFds pipe = os::make_pipe();
    os::SocketPair pair = os::make_socketpair(SOCK_STREAM);
    lifeline[0] = pipe.read.release();
    lifeline[1] = pipe.write.release();
    boot[0] = pair.first.release();
    boot[1] = pair.second.release();
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
      pidfd = os::pidfd_open_started(pid).release();
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
    (void)os::pidfd_send_signal_noexcept(pidfd, SIGKILL);
    if (method == StartMethod::spawn) {
      int code = 0;
      (void)os::reap_noexcept(pidfd, &code);
    } else {
      std::int32_t code = 0;
      (void)os::read_full_noexcept(status_fd, &code, sizeof code);
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
    Bootstrap{std::move(info), static_cast<std::uint32_t>(call_fds.size()), std::move(call)}
        .encode_to(frame);
    const std::uint64_t length = frame.size();
    os::send_with_fds(boot[0], std::as_bytes(std::span(&length, 1)), fds);
    os::send_all(boot[0], frame);
  } catch (const std::exception& e) {
    fail(std::string("concur::multiprocessing: could not send the bootstrap to the child: ") +
         e.what());
  }
  close_tracked(lifeline[0]);
  std::int32_t child_pid = 0;
  bool started = false;
  try {
    started = os::recv_all(boot[0], std::as_writable_bytes(std::span(&child_pid, 1)));
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
  Bootstrap boot;
  std::vector<int> fds;
  try {
    std::uint64_t length = 0;
    std::size_t got = 0;
    while (got < sizeof length) {
      const std::size_t n = os::recv_with_fds(
          fd, std::span(reinterpret_cast<std::byte*>(&length) + got, sizeof length - got), fds);
      if (n == 0) die("EOF before the bootstrap frame");
      got += n;
    }
    Buffer bytes(length);
    if (!os::recv_all(fd, bytes)) die("EOF in the bootstrap frame");
    Reader in(bytes);
    boot = Bootstrap::decode_from(in);
  } catch (const std::exception& e) {
    errno = 0;
    die(e.what());
  }
  const ChildInfo& info = boot.info;
  if (fds.size() != 1 + info.inherited_keys.size() + boot.call_fds) {
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
    os::send_all(fd, std::as_bytes(std::span(&me, 1)));
  } catch (...) {
    die("answering the parent");
  }
  ::close(fd);
  ChildCall c{&boot.call, std::span<const int>(fds).subspan(1 + info.inherited_keys.size())};
  finish_child(run_guarded(&run_call, &c, info.name));
}

}  // namespace concur::multiprocessing::detail
