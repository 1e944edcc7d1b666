// concur/multiprocessing/listener.hpp: Python's multiprocessing.connection.Listener and
// Client: connections over sockets, between unrelated processes or machines, with an HMAC
// handshake.
//
//   namespace mpc = concur::mp::connection;
//   mpc::Listener listener({.address = {"127.0.0.1", 6000}, .authkey = Bytes("secret")});
//   auto conn = listener.accept<std::string>();          // waits for a client
//   conn.send("hello");
//
//   // another process
//   auto c = mpc::Client<std::string>({"127.0.0.1", 6000}, {.authkey = Bytes("secret")});
//   c.recv();                                             // "hello"
//
// Addresses (Python's: a str, or a (host, port) tuple)
//   family    Address                          what
//   AF_UNIX   "/path/to/socket"                a Unix socket file
//   AF_UNIX   std::string("\0name", 5)         a Linux abstract socket (no file); a leading
//             or Address::abstract("name")     '\0', as Python spells it
//   AF_INET   {"127.0.0.1", 6000}              TCP, IPv4; port 0 picks a free one
//   A Listener without an address binds a fresh one: AF_UNIX (the default family, as
//   CPython's on Linux): a socket "listener" in a private directory (mode 0700) made under
//   $TMPDIR or /tmp, both removed by close(); AF_INET: 127.0.0.1 with a free port. No
//   default ever binds all interfaces. address() gives what was bound (the port chosen).
//
// Connections: accept<T>() and Client<T>() return a Connection<T> (connection.hpp) with
// every method of a Pipe's (send, recv, send_bytes, recv_bytes, recv_bytes_into, poll,
// close, connection::wait), over the socket. On the wire each message is a 4-byte
// big-endian length then its bytes (-1 then an 8-byte length from 2 GiB), CPython's
// framing: send_bytes/recv_bytes interoperate with CPython's Connection, and so does the
// handshake with CPython 3.12 and later (3.11 and older answer with HMAC-MD5: refused). send/recv
// carry T through the codec (a type fingerprint then T's encoding).
//
// Authentication (when an authkey is given; docs/design/0006-managers.md §1)
//   CPython 3.12's handshake, mutual: accept() sends "#CHALLENGE#{sha256}" + 40 random
//   bytes, the client answers "{sha256}" + HMAC-SHA256(authkey, challenge), the server
//   checks it in constant time and answers "#WELCOME#" or "#FAILURE#"; then the client
//   challenges the server the same way. Nothing else is read before it succeeds: a frame
//   longer than 256 bytes during the handshake is refused unread. A wrong key is
//   AuthenticationError on both sides; so is a peer that sends anything else (garbage,
//   a legacy HMAC-MD5 answer, nothing within handshake_timeout: "handshake timed out").
//   No authkey: no handshake (CPython's Listener/Client with authkey=None). An empty authkey
//   is a key (the handshake runs). Managers use current_process().authkey() by default;
//   Listener/Client do not (CPython's choice).
//
// Limits: a message longer than max_message (default 64 MiB, each side its own) is
// refused before anything is allocated for it: recv throws OSError (EMSGSIZE) and the
// connection is closed. Memory grows with the bytes that arrive, never with the length a
// peer announces.
//
// What blocks: accept(timeout) waits for a client and its handshake (TimeoutError when the
// timeout passes; the pending client, if any, is dropped); Client(address, {.timeout})
// waits to connect and for the handshake. recv waits for a message (poll(timeout) is the
// timed variant); send waits while the socket buffer is full.
//
// Errors: binding an address in use: OSError (EADDRINUSE); connecting to nothing:
// FileNotFoundError / ConnectionRefusedError; accept on a closed Listener, or a Listener
// closed (by another thread) while accept waits: OSError (EBADF); the peer closed:
// EOFError at a message boundary, OSError (EPROTO) in the middle of a message;
// a bad length prefix (negative, or beyond max_message): OSError (EPROTO / EMSGSIZE) and
// the connection closed.
//
// Differences from Python, deliberate:
//   - accept<T>() and Client<T>() are typed as Pipe<T> is.
//   - accept(timeout), Client(..., {.timeout}) and handshake_timeout (default 10 s) bound
//     every wait; CPython's accept waits forever for a silent client's handshake.
//   - max_message (CPython has no limit and allocates what a peer announces).
//   - only HMAC-SHA256 (CPython also answers legacy HMAC-MD5 challenges).
//   - AF_INET6 and AF_PIPE (Windows) are not provided.
//   - close() of a Connection from another thread does not interrupt a recv blocked on
//     it (the fd is released when that recv returns); a Listener's close() does wake an
//     accept blocked in another thread.
//   - a socket Connection crosses to a child Process (its fd travels with the start
//     request); pass it before reading from it (bytes read ahead stay in this process).
//
// Thread safety: a Listener may be used from several threads (accept, close). A Connection
// sends and receives each message whole from any number of threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>

#include "concur/bytes.hpp"
#include "concur/multiprocessing/connection.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing::connection {

/// The default max_message: the longest message a socket Connection accepts.
inline constexpr std::size_t kDefaultMaxMessage = std::size_t{64} << 20;

/// Python: a Listener/Client address, a str (AF_UNIX) or a (host, port) tuple (AF_INET).
class Address {
 public:
  /// No address (a Listener then picks one).
  Address() = default;
  /// AF_UNIX: a socket path, or an abstract name when `path` starts with '\0'.
  Address(std::string path) : path_(std::move(path)) {}  // NOLINT(google-explicit-constructor)
  Address(const char* path) : path_(path) {}             // NOLINT(google-explicit-constructor)
  /// AF_INET: `host` (a dotted quad or a name) and `port` (0: any free one, for a Listener).
  Address(std::string host, int port) : path_(std::move(host)), port_(port), inet_(true) {}
  /// The abstract AF_UNIX socket `name` ('\0' + name).
  static Address abstract(std::string_view name) { return Address(std::string(1, '\0') += name); }

  [[nodiscard]] bool empty() const noexcept { return !inet_ && path_.empty(); }
  /// "AF_UNIX" or "AF_INET" (Python's address_type()).
  [[nodiscard]] std::string family() const { return inet_ ? "AF_INET" : "AF_UNIX"; }
  [[nodiscard]] bool is_abstract() const noexcept {
    return !inet_ && !path_.empty() && path_[0] == '\0';
  }
  /// AF_UNIX: the path (or '\0' + abstract name). AF_INET: the host.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const std::string& host() const noexcept { return path_; }
  [[nodiscard]] int port() const noexcept { return port_; }
  /// Python's repr: '/tmp/x', '\x00name', ('127.0.0.1', 6000).
  [[nodiscard]] std::string repr() const;

  friend bool operator==(const Address&, const Address&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Address& a) { return os << a.repr(); }

 private:
  std::string path_;
  int port_ = 0;
  bool inet_ = false;
};

/// Python: Listener(address=None, family=None, backlog=1, authkey=None), plus limits.
struct ListenerOptions {
  Address address{};
  /// "AF_UNIX" or "AF_INET"; empty: the address's, else "AF_UNIX". ValueError otherwise.
  std::string family{};
  int backlog = 1;
  /// The HMAC key; nullopt: no authentication.
  std::optional<Bytes> authkey{};
  std::size_t max_message = kDefaultMaxMessage;
  /// How long one client may take over the handshake.
  Timeout handshake_timeout = std::chrono::seconds(10);
};

/// Python: Client(address, family=None, authkey=None), plus limits.
struct ClientOptions {
  /// Must match the address's family when given. ValueError otherwise.
  std::string family{};
  std::optional<Bytes> authkey{};
  std::size_t max_message = kDefaultMaxMessage;
  /// Bounds connect and handshake together (TimeoutError); default: forever.
  Timeout timeout{};
};

namespace detail {
struct ListenerState;
/// Listener::accept without the type: the connection's core.
std::shared_ptr<multiprocessing::detail::ConnectionCore> accept_core(ListenerState& s,
                                                                     const Timeout& timeout);
std::shared_ptr<multiprocessing::detail::ConnectionCore> client_core(const Address& address,
                                                                     const ClientOptions& opts);
void deliver_challenge(multiprocessing::detail::ConnectionCore& c,
                       std::span<const std::byte> authkey);
void answer_challenge(multiprocessing::detail::ConnectionCore& c,
                      std::span<const std::byte> authkey);
}  // namespace detail

/// Python: multiprocessing.connection.Listener. Binds and listens at construction (OSError
/// when it cannot: EADDRINUSE, a path too long is ValueError); the destructor closes.
/// Movable, not copyable.
class Listener {
 public:
  Listener() : Listener(ListenerOptions{}) {}
  explicit Listener(ListenerOptions options);
  ~Listener();
  Listener(Listener&&) noexcept;
  Listener& operator=(Listener&&) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  /// Waits for a client (at most `timeout`; TimeoutError after it), runs the handshake
  /// when there is an authkey, and returns the connection. AuthenticationError when the
  /// client fails the handshake (the client is dropped; the Listener goes on serving);
  /// OSError (EBADF) when the Listener is closed, also by another thread while waiting.
  template <class T>
  Connection<T> accept(Timeout timeout = forever) {
    return multiprocessing::detail::ConnectionAccess::make<T>(
        detail::accept_core(state(), timeout));
  }
  /// Stops listening; removes the socket file of an AF_UNIX path (and the private directory
  /// of a chosen one). Wakes an accept waiting in another thread. Idempotent.
  void close() noexcept;
  [[nodiscard]] bool closed() const noexcept;
  /// The bound address (Python: address), with the port chosen by the kernel.
  [[nodiscard]] const Address& address() const;
  /// The peer of the last accepted connection (Python: last_accepted): an AF_INET
  /// (host, port), or an AF_UNIX name (usually unnamed: ""); nullopt before any accept.
  [[nodiscard]] std::optional<Address> last_accepted() const;

 private:
  /// The state; ValueError for a moved-from Listener.
  detail::ListenerState& state() const;
  std::unique_ptr<detail::ListenerState> s_;
};

/// Python: multiprocessing.connection.Client(address, family=None, authkey=None). Connects,
/// runs the handshake when there is an authkey, and returns the connection.
/// FileNotFoundError / ConnectionRefusedError when nothing listens; AuthenticationError
/// when the keys differ or the server is not speaking the handshake; TimeoutError after
/// `options.timeout`.
template <class T>
Connection<T> Client(const Address& address, const ClientOptions& options = {}) {
  return multiprocessing::detail::ConnectionAccess::make<T>(detail::client_core(address, options));
}

/// Python: multiprocessing.connection.deliver_challenge(connection, authkey): the server's
/// half of one direction of the handshake (on any Connection, a Pipe's too).
/// AuthenticationError when the answer is wrong (after telling the peer "#FAILURE#").
template <class T>
void deliver_challenge(Connection<T>& c, std::span<const std::byte> authkey) {
  detail::deliver_challenge(multiprocessing::detail::ConnectionAccess::core(c), authkey);
}
/// Python: multiprocessing.connection.answer_challenge(connection, authkey).
/// AuthenticationError when the peer rejects the answer or does not send a challenge.
template <class T>
void answer_challenge(Connection<T>& c, std::span<const std::byte> authkey) {
  detail::answer_challenge(multiprocessing::detail::ConnectionAccess::core(c), authkey);
}

}  // namespace concur::multiprocessing::connection
