// The client side of a manager: this thread's connections to servers, requests, tokens
// (concur/multiprocessing/managers/proxy.hpp).
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../handles.hpp"
#include "concur/multiprocessing/managers/proxy.hpp"
#include "concur/multiprocessing/process.hpp"
#include "os/fd_passing.hpp"
#include "os/poll.hpp"
#include "protocol.hpp"

namespace concur::multiprocessing::managers::detail {

namespace {

// This thread's connections, by server address. After a fork the child's copies are the
// parent's sockets: the child leaves them alone (never closes or reads them) and opens its own.
// A connection to one server: the authenticated socket, and, for a local server, the
// shared-memory rings it handed over (requests then go there; design 0006 §6).
struct ServerLink {
  Connection<Bytes> socket;
  std::optional<Connection<Bytes>> ring;
  Connection<Bytes>& channel() { return ring ? *ring : socket; }
};

struct Connections {
  pid_t pid = ::getpid();
  std::map<std::string, ServerLink> by_address;
};
thread_local Connections tls_connections;

std::map<std::string, ServerLink>& connections() {
  if (tls_connections.pid != ::getpid()) {
    // Inherited through fork: never used here; kept open until exit (not ours to close).
    static auto* inherited = new std::vector<std::map<std::string, ServerLink>>();
    inherited->push_back(std::move(tls_connections.by_address));
    tls_connections.by_address.clear();
    tls_connections.pid = ::getpid();
  }
  return tls_connections.by_address;
}

// Asks a local server for rings (kUpgrade) and takes them from its raw reply, waiting for
// it until `deadline` (the connect bound: TimeoutError after it).
Connection<Bytes> upgrade(Connection<Bytes>& socket, const Deadline& deadline) {
  auto& core = multiprocessing::detail::ConnectionAccess::core(socket);
  if (core.has_data()) throw ValueError("manager: unexpected bytes before the upgrade");
  const std::byte request{static_cast<std::uint8_t>(Request::kUpgrade)};
  socket.send_bytes(std::span<const std::byte>(&request, 1));
  const int fd = core.socket();
  std::uint64_t n = 0;
  std::vector<int> fds;
  auto close_fds = [&] {
    for (int f : fds) ::close(f);
  };
  try {
    if (!os::wait_fd(fd, os::kPollIn, deadline))
      throw TimeoutError("manager: the server did not answer the upgrade in time");
    auto* head = reinterpret_cast<std::byte*>(&n);
    const std::size_t got = os::recv_with_fds(fd, std::span<std::byte>(head, 8), fds);
    if (got == 0 || !os::recv_all(fd, std::span<std::byte>(head + got, 8 - got)))
      throw EOFError("manager: the server closed the connection during the upgrade");
    if (n > 4096 || fds.empty()) throw ValueError("manager: a malformed upgrade reply");
    Buffer body(n);
    if (!os::recv_all(fd, body)) throw EOFError("manager: the server closed the connection");
    multiprocessing::detail::FdSource source(fds);
    Reader in(body);
    auto ring = decode<Connection<Bytes>>(in);
    close_fds();
    return ring;
  } catch (...) {
    close_fds();
    throw;
  }
}

}  // namespace

bool encoding_for_process_start() noexcept { return multiprocessing::detail::exporting_fds(); }

Bytes process_authkey() { return current_process().authkey(); }

Token decode_token(std::span<const std::byte> payload, const connection::Address& address) {
  Reader in(payload);
  Token t;
  t.typeid_ = decode<std::string>(in);
  t.id = decode<std::uint64_t>(in);
  in.expect_end();
  t.address = address;
  return t;
}

void forget_connection(const connection::Address& address) noexcept {
  try {
    connections().erase(address.repr());
  } catch (...) {
  }
}

Buffer request(const connection::Address& address, const std::optional<Bytes>& authkey,
               std::chrono::milliseconds connect_timeout, Request kind, std::uint64_t id,
               std::string_view name, std::span<const std::byte> args, Reply& kind_out) {
  auto& conns = connections();
  const std::string key = address.repr();
  auto it = conns.find(key);
  if (it == conns.end()) {
    const Deadline deadline{Timeout(connect_timeout)};
    connection::ClientOptions options;
    options.authkey = authkey;
    options.timeout = connect_timeout;  // a server that accepts and never answers: an error
    ServerLink link{connection::Client<Bytes>(address, options), std::nullopt};
    if (address.family() == "AF_UNIX") link.ring.emplace(upgrade(link.socket, deadline));
    it = conns.emplace(key, std::move(link)).first;
  }
  Bytes reply;
  try {
    it->second.channel().send_bytes(encode_request(kind, id, name, args));
    reply = it->second.channel().recv_bytes();
  } catch (...) {
    conns.erase(it);  // a connection that failed mid-request is out of step: drop it
    throw;
  }
  if (reply.size() == 0) throw ValueError("manager: an empty reply");
  const auto k = static_cast<std::uint8_t>(reply.data()[0]);
  const std::span<const std::byte> payload(reply.data() + 1, reply.size() - 1);
  if (k == static_cast<std::uint8_t>(Reply::kError)) rethrow_decoded(payload);
  if (k != static_cast<std::uint8_t>(Reply::kReturn) &&
      k != static_cast<std::uint8_t>(Reply::kProxy))
    throw ValueError("manager: unknown reply kind " + std::to_string(k));
  kind_out = static_cast<Reply>(k);
  return Buffer(payload.begin(), payload.end());
}

}  // namespace concur::multiprocessing::managers::detail

namespace concur::multiprocessing::managers {

Buffer BaseProxy::send(std::string_view name, const Buffer& args, detail::Reply& kind) const {
  return detail::request(token_.address, authkey_, connect_timeout_, detail::Request::kCall,
                         token_.id, name, args, kind);
}

}  // namespace concur::multiprocessing::managers
