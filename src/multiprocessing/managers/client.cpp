// The client side of a manager: this thread's connections to servers, requests, tokens
// (concur/multiprocessing/managers/proxy.hpp).
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../handles.hpp"
#include "concur/multiprocessing/managers/proxy.hpp"
#include "concur/multiprocessing/process.hpp"
#include "protocol.hpp"

namespace concur::multiprocessing::managers::detail {

namespace {

// This thread's connections, by server address. After a fork the child's copies are the
// parent's sockets: the child leaves them alone (never closes or reads them) and opens its own.
struct Connections {
  pid_t pid = ::getpid();
  std::map<std::string, Connection<Bytes>> by_address;
};
thread_local Connections tls_connections;

std::map<std::string, Connection<Bytes>>& connections() {
  if (tls_connections.pid != ::getpid()) {
    // Inherited through fork: never used here; kept open until exit (not ours to close).
    static auto* inherited = new std::vector<std::map<std::string, Connection<Bytes>>>();
    inherited->push_back(std::move(tls_connections.by_address));
    tls_connections.by_address.clear();
    tls_connections.pid = ::getpid();
  }
  return tls_connections.by_address;
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
               Request kind, std::uint64_t id, std::string_view name,
               std::span<const std::byte> args, Reply& kind_out) {
  auto& conns = connections();
  const std::string key = address.repr();
  auto it = conns.find(key);
  if (it == conns.end()) {
    connection::ClientOptions options;
    options.authkey = authkey;
    it = conns.emplace(key, connection::Client<Bytes>(address, options)).first;
  }
  Bytes reply;
  try {
    it->second.send_bytes(encode_request(kind, id, name, args));
    reply = it->second.recv_bytes();
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
  return detail::request(token_.address, authkey_, detail::Request::kCall, token_.id, name, args,
                         kind);
}

}  // namespace concur::multiprocessing::managers
