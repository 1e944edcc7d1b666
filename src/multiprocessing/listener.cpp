// Listener, Client, Address (concur/multiprocessing/listener.hpp).
#include "concur/multiprocessing/listener.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "concur/exceptions.hpp"
#include "multiprocessing/socket_connection.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"
#include "os/poll.hpp"
#include "os/socket.hpp"

namespace concur::multiprocessing::connection {

using multiprocessing::detail::ConnectionCore;
using multiprocessing::detail::SocketCore;

std::string Address::repr() const {
  std::string out = "'";
  for (const char ch : path_) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '\'' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += "'";
  if (inet_) return "(" + out + ", " + std::to_string(port_) + ")";
  return out;
}

namespace {

/// Python's _validate_family, and address_type for the default.
std::string family_of(const Address& address, const std::string& family) {
  if (family.empty()) return address.empty() ? "AF_UNIX" : address.family();
  if (family != "AF_UNIX" && family != "AF_INET") {
    throw ValueError("Family " + family + " is not recognized.");
  }
  if (!address.empty() && address.family() != family) {
    throw ValueError("address " + address.repr() + " is not of family " + family);
  }
  return family;
}

os::SockAddr sockaddr_of(const Address& a) {
  if (a.family() == "AF_INET") return os::inet_address(a.host(), a.port());
  return os::unix_address(a.path());
}

Address address_of(const os::SockAddr& a) {
  const os::SockName n = os::describe(a);
  if (n.is_unix) return Address(n.path_or_host);
  return {n.path_or_host, n.port};
}

}  // namespace

namespace detail {

struct ListenerState {
  os::Fd sock;
  os::PipeFds wake;  // readable once closed: wakes every accept of this Listener
  Address address;
  std::string socket_file;  // removed at close (AF_UNIX path)
  std::string private_dir;  // the directory made for a chosen address, removed at close
  std::optional<Bytes> authkey;
  std::size_t max_message = kDefaultMaxMessage;
  Timeout handshake_timeout;

  std::mutex mu;
  std::condition_variable idle;
  int accepting = 0;  // accept calls in flight, under mu
  bool closed = false;
  std::optional<Address> last_accepted;

  void close() noexcept {
    {
      std::unique_lock lock(mu);
      if (closed) return;
      closed = true;
      const char c = 1;
      (void)os::write_noexcept(wake.write.get(), &c, 1);
      idle.wait(lock, [&] { return accepting == 0; });
    }
    sock.reset();
    if (!socket_file.empty()) os::remove_file_noexcept(socket_file);
    if (!private_dir.empty()) os::remove_dir_noexcept(private_dir);
    wake.read.reset();
    wake.write.reset();
  }
};

std::shared_ptr<ConnectionCore> accept_core(ListenerState& s, const Timeout& timeout) {
  const Deadline deadline(timeout);
  {
    std::lock_guard lock(s.mu);
    if (s.closed) os::raise(EBADF, "Listener.accept: the listener is closed");
    ++s.accepting;
  }
  struct Leave {
    ListenerState& s;
    ~Leave() {
      std::lock_guard lock(s.mu);
      if (--s.accepting == 0) s.idle.notify_all();
    }
  } leave{s};
  for (;;) {
    os::PollItem items[2] = {{s.sock.get(), os::kPollIn, 0}, {s.wake.read.get(), os::kPollIn, 0}};
    if (os::poll_until(items, 2, deadline) == 0) {
      throw concur::TimeoutError("Listener.accept: timed out");
    }
    if (items[1].revents != 0) os::raise(EBADF, "Listener.accept: the listener was closed");
    os::SockAddr peer;
    os::Fd conn = os::accept_ready(s.sock.get(), peer);
    if (!conn) continue;  // the client gave up before we took it
    if (peer.family() == AF_INET) os::set_nodelay(conn.get());
    {
      std::lock_guard lock(s.mu);
      s.last_accepted = address_of(peer);
    }
    auto core = std::make_shared<SocketCore>(std::move(conn), s.max_message);
    if (!s.authkey) return core;
    // The handshake: bounded by handshake_timeout and the accept's own deadline, and
    // stopped by close(). Any failure but those two drops the client as unauthenticated.
    const Deadline own(s.handshake_timeout);
    const bool accept_first = deadline.time_point() <= own.time_point();
    core->set_read_limits(accept_first ? deadline : own, s.wake.read.get());
    const auto key = s.authkey->span();
    try {
      deliver_challenge(*core, key);
      answer_challenge(*core, key);
    } catch (const AuthenticationError&) {
      throw;
    } catch (const concur::TimeoutError&) {
      if (accept_first) throw concur::TimeoutError("Listener.accept: timed out in the handshake");
      throw AuthenticationError("the client did not complete the handshake in time");
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(s.mu);
        if (s.closed) os::raise(EBADF, "Listener.accept: the listener was closed");
      }
      throw AuthenticationError(std::string("handshake failed: ") + e.what());
    }
    core->set_read_limits(Deadline(), -1);
    return core;
  }
}

std::shared_ptr<ConnectionCore> client_core(const Address& address, const ClientOptions& opts) {
  if (address.empty()) throw ValueError("Client: an address is required");
  (void)family_of(address, opts.family);
  const Deadline deadline(opts.timeout);
  const os::SockAddr sa = sockaddr_of(address);
  os::Fd sock = os::stream_socket(sa.family());
  os::connect_until(sock.get(), sa, deadline);
  if (sa.family() == AF_INET) os::set_nodelay(sock.get());
  auto core = std::make_shared<SocketCore>(std::move(sock), opts.max_message);
  if (opts.authkey) {
    core->set_read_limits(deadline, -1);
    try {
      answer_challenge(*core, opts.authkey->span());
      deliver_challenge(*core, opts.authkey->span());
    } catch (const AuthenticationError&) {
      throw;
    } catch (const concur::TimeoutError&) {
      throw concur::TimeoutError("Client: timed out in the handshake");
    } catch (const std::exception& e) {
      throw AuthenticationError(std::string("handshake failed: ") + e.what());
    }
    core->set_read_limits(Deadline(), -1);
  }
  return core;
}

}  // namespace detail

Listener::Listener(ListenerOptions options) : s_(std::make_unique<detail::ListenerState>()) {
  auto& s = *s_;
  const std::string family = family_of(options.address, options.family);
  if (options.backlog < 0) throw ValueError("Listener: backlog must be >= 0");
  s.authkey = std::move(options.authkey);
  s.max_message = options.max_message;
  s.handshake_timeout = options.handshake_timeout;
  Address want = std::move(options.address);
  if (want.empty()) {
    if (family == "AF_INET") {
      want = Address("127.0.0.1", 0);  // CPython: ('localhost', 0)
    } else {
      s.private_dir = os::make_private_dir("concur-listener-");
      want = Address(s.private_dir + "/listener");
    }
  }
  try {
    const os::SockAddr sa = sockaddr_of(want);
    s.sock = os::stream_socket(sa.family());
    os::bind_listen(s.sock.get(), sa, options.backlog);
    if (!want.is_abstract() && want.family() == "AF_UNIX") s.socket_file = want.path();
    s.address = want.family() == "AF_UNIX" ? want : address_of(os::local_address(s.sock.get()));
    s.wake = os::make_pipe();
  } catch (...) {
    s.sock.reset();
    if (!s.socket_file.empty()) os::remove_file_noexcept(s.socket_file);
    if (!s.private_dir.empty()) os::remove_dir_noexcept(s.private_dir);
    throw;
  }
}

Listener::~Listener() { close(); }
Listener::Listener(Listener&&) noexcept = default;
Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    close();
    s_ = std::move(o.s_);
  }
  return *this;
}

void Listener::close() noexcept {
  if (s_) s_->close();
}

bool Listener::closed() const noexcept {
  if (!s_) return true;
  std::lock_guard lock(s_->mu);
  return s_->closed;
}

detail::ListenerState& Listener::state() const {
  if (!s_) throw ValueError("Listener: moved from");
  return *s_;
}

const Address& Listener::address() const { return state().address; }

std::optional<Address> Listener::last_accepted() const {
  if (!s_) return std::nullopt;
  std::lock_guard lock(s_->mu);
  return s_->last_accepted;
}

}  // namespace concur::multiprocessing::connection
