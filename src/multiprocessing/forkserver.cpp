// The forkserver start method (design 0004 §1).
//
// The server is this program run again by spawn ("--concur-mp-forkserver 3"), so it is
// single-threaded and its registry is complete. It listens on fd 3, one end of a
// SOCK_SEQPACKET socketpair whose other end only the program holds (no address, nothing
// to authenticate). A request is one message "F" with five fds: the child's bootstrap
// socket, a status socket, and the requester's stdin/stdout/stderr. The server forks; the
// child puts the stdio fds at 0-2 and the bootstrap socket at 3, closes everything else
// and runs the bootstrap as a spawned child would (spawn.cpp, run_child). The server
// sends back on the status socket the child's pid (or -errno) with a pidfd of it, and,
// once it has reaped the child (pidfd poll, waitid(P_PIDFD)), its exit code. EOF on the
// control socket (the program stopped the server or ended) ends the server.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "multiprocessing/handles.hpp"
#include "os/child.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
#include "os/fd_passing.hpp"
#include "process_impl.hpp"

namespace concur::multiprocessing::detail {

namespace {

struct Client {
  std::mutex m;
  int control = -1;
  int server_pidfd = -1;
};
Client& client() {
  static auto* c = new Client();
  return *c;
}

void stop_forkserver() noexcept {
  Client& c = client();
  std::lock_guard lock(c.m);
  if (c.control < 0) return;
  close_tracked(c.control);
  int code = 0;
  (void)os::reap_noexcept(c.server_pidfd, &code);
  close_tracked(c.server_pidfd);
}

// Starts the server if needed; c.m held.
void ensure_server(Client& c) {
  if (c.control >= 0) return;
  int sv[2];
  {
    std::lock_guard lock(fork_mutex());
    os::SocketPair pair = os::make_socketpair(SOCK_SEQPACKET);
    sv[0] = pair.first.release();
    sv[1] = pair.second.release();
    track_fd_locked(sv[0]);
    track_fd_locked(sv[1]);
  }
  pid_t pid = -1;
  try {
    pid = spawn_self("--concur-mp-forkserver", sv[1]);
  } catch (...) {
    close_tracked(sv[0]);
    close_tracked(sv[1]);
    throw;
  }
  close_tracked(sv[1]);
  int pidfd = -1;
  try {
    pidfd = os::pidfd_open_started(pid).release();
  } catch (...) {
    close_tracked(sv[0]);
    throw;
  }
  {
    std::lock_guard lock(fork_mutex());
    track_fd_locked(pidfd);
  }
  c.control = sv[0];
  c.server_pidfd = pidfd;
  add_service_stopper(&stop_forkserver);
}

struct ServerChild {
  int pidfd;
  int status;
};

void send_status(int sock, std::int32_t value, int fd) {
  try {
    const int fds[1] = {fd};
    os::send_with_fds(sock, std::as_bytes(std::span(&value, 1)),
                      fd >= 0 ? std::span<const int>(fds) : std::span<const int>());
  } catch (...) {
    // The requester went away: nothing to tell.
  }
}

}  // namespace

std::pair<pid_t, int> forkserver_request(int boot_child_end, int& status_fd) {
  Client& c = client();
  int st[2];
  {
    std::lock_guard lock(fork_mutex());
    os::SocketPair pair = os::make_socketpair(SOCK_SEQPACKET);
    st[0] = pair.first.release();
    st[1] = pair.second.release();
    track_fd_locked(st[0]);
    track_fd_locked(st[1]);
  }
  try {
    std::lock_guard lock(c.m);
    ensure_server(c);
    const char op = 'F';
    const int fds[5] = {boot_child_end, st[1], 0, 1, 2};
    os::send_with_fds(c.control, std::as_bytes(std::span(&op, 1)), fds);
  } catch (...) {
    close_tracked(st[0]);
    close_tracked(st[1]);
    throw;
  }
  close_tracked(st[1]);
  std::int32_t pid = 0;
  std::vector<int> got;
  std::size_t n = 0;
  try {
    n = os::recv_with_fds(st[0], std::as_writable_bytes(std::span(&pid, 1)), got);
  } catch (...) {
    close_tracked(st[0]);
    throw;
  }
  if (n != sizeof pid || pid <= 0 || got.size() != 1) {
    for (int fd : got) ::close(fd);
    close_tracked(st[0]);
    if (n == sizeof pid && pid < 0) os::raise(-pid, "fork (in the forkserver)");
    throw RuntimeError("concur::multiprocessing: the forkserver did not answer (it died?)");
  }
  status_fd = st[0];
  return {static_cast<pid_t>(pid), got[0]};
}

void forkserver_forget_in_child() noexcept {
  // The fds were closed as tracked fds; the mutex may have been held by another thread.
  Client& c = client();
  c.control = -1;
  c.server_pidfd = -1;
  new (&c.m) std::mutex();
}

void run_forkserver(int ctl) noexcept {
  ::signal(SIGINT, SIG_IGN);  // a ^C is for the program, which then stops the server
  std::vector<ServerChild> kids;
  std::vector<pollfd> pfds;
  for (;;) {
    pfds.clear();
    pfds.push_back({ctl, POLLIN, 0});
    for (const auto& k : kids) pfds.push_back({k.pidfd, POLLIN, 0});
    if (os::retry_eintr([&] { return ::poll(pfds.data(), pfds.size(), -1); }) < 0) ::_exit(1);
    // Reap first: a pidfd ready means that child ended.
    for (std::size_t i = kids.size(); i-- > 0;) {
      if (pfds[i + 1].revents == 0) continue;
      int code = -SIGKILL;  // what it is reported as if it cannot be reaped
      if (os::reap_noexcept(kids[i].pidfd, &code) != 0) code = -SIGKILL;
      send_status(kids[i].status, code, -1);
      ::close(kids[i].status);
      ::close(kids[i].pidfd);
      kids.erase(kids.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (pfds[0].revents == 0) continue;
    char op = 0;
    std::vector<int> fds;
    std::size_t n = 0;
    try {
      n = os::recv_with_fds(ctl, std::as_writable_bytes(std::span(&op, 1)), fds);
    } catch (...) {
      ::_exit(1);
    }
    if (n == 0) break;  // the program closed its end
    if (op != 'F' || fds.size() != 5) {
      for (int fd : fds) ::close(fd);
      continue;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[2], 0);
      ::dup2(fds[3], 1);
      ::dup2(fds[4], 2);
      ::dup2(fds[0], 3);  // replaces the control socket
      os::close_from(4);
      run_child(3);
    }
    if (pid < 0) {
      send_status(fds[1], -errno, -1);
      for (int fd : fds) ::close(fd);
      continue;
    }
    const int pidfd = std::max(os::pidfd_open_noexcept(pid), -1);
    send_status(fds[1], static_cast<std::int32_t>(pid), pidfd);
    ::close(fds[0]);
    ::close(fds[2]);
    ::close(fds[3]);
    ::close(fds[4]);
    kids.push_back({pidfd, fds[1]});
  }
  for (const auto& k : kids) {
    ::close(k.status);
    ::close(k.pidfd);
  }
  ::_exit(0);
}

}  // namespace concur::multiprocessing::detail
