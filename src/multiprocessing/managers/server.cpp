// Server: a registry's objects served over authenticated connections, one thread per
// connection (concur/multiprocessing/managers/base_manager.hpp; design 0006 §4).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../handles.hpp"
#include "../socket_connection.hpp"
#include "concur/multiprocessing/managers/base_manager.hpp"
#include "os/fd_passing.hpp"
#include "os/spin.hpp"
#include "protocol.hpp"

namespace concur::multiprocessing::managers {

using namespace std::chrono_literals;

struct Server::State {
  State(std::shared_ptr<const Registry> r, connection::ListenerOptions options,
        std::optional<Bytes> key)
      : registry(std::move(r)), listener(std::move(options)), authkey(std::move(key)) {}

  struct Object {
    std::shared_ptr<void> ptr;
    const TypeEntry* type = nullptr;
    std::shared_ptr<std::mutex> calls;  // null for a concurrent type
  };

  std::shared_ptr<const Registry> registry;
  // Accepts without a handshake: each connection's thread runs it (authenticate), so a
  // client that connects and stays silent delays no one else's accept.
  connection::Listener listener;
  std::optional<Bytes> authkey;
  mutable std::mutex mu;
  std::unordered_map<std::uint64_t, Object> objects;
  std::uint64_t next_id = 1;
  std::atomic<bool> stop{false};
  int running = 0;  // connection threads (under mu)
  std::condition_variable idle;

  Buffer dispatch(std::span<const std::byte> request);
  /// Stops serving: wakes serve_forever's accept (closing the listener) and every
  /// connection thread's poll within 100 ms.
  void request_stop() noexcept {
    stop.store(true);
    listener.close();
  }
  Buffer add_object(std::shared_ptr<void> ptr, const std::string& typeid_);
  /// The mutual HMAC handshake on a fresh connection, bounded by kHandshakeTimeout; false
  /// (the client is dropped) when it fails. Nothing of the client's is decoded before.
  bool authenticate(Connection<Bytes>& conn) noexcept;
  void serve_connection(Connection<Bytes> conn);
};

namespace {
Buffer reply_of(detail::Reply kind) {
  Buffer out;
  out.reserve(64);  // results are appended (and g++ 12 -O3 misreads a 1-byte vector's growth)
  out.push_back(static_cast<std::byte>(kind));
  return out;
}
}  // namespace

Buffer Server::State::add_object(std::shared_ptr<void> ptr, const std::string& typeid_) {
  const TypeEntry* type = registry->find(typeid_);
  if (type == nullptr) throw ValueError("manager: unknown typeid '" + typeid_ + "'");
  std::uint64_t id = 0;
  {
    std::lock_guard lk(mu);
    id = next_id++;
    objects.emplace(id,
                    Object{std::move(ptr), type,
                           type->options.concurrent ? nullptr : std::make_shared<std::mutex>()});
  }
  Buffer out = reply_of(detail::Reply::kProxy);
  encode(out, typeid_);
  encode(out, id);
  return out;
}

Buffer Server::State::dispatch(std::span<const std::byte> bytes) {
  try {
    const detail::ParsedRequest req = detail::parse_request(bytes);
    switch (req.kind) {
      case detail::Request::kCreate: {
        const TypeEntry* type = registry->find(req.name);
        if (type == nullptr) throw ValueError("manager: unknown typeid '" + req.name + "'");
        if (!type->factory)
          throw ValueError("manager: typeid '" + req.name + "' has no callable in this server");
        Reader args(req.args);
        return add_object(type->factory(args), req.name);
      }
      case detail::Request::kCall: {
        Object obj;
        {
          std::lock_guard lk(mu);
          auto it = objects.find(req.id);
          if (it == objects.end())
            throw ValueError("manager: no object with id " + std::to_string(req.id));
          obj = it->second;
        }
        auto m = obj.type->methods.find(req.name);
        if (m == obj.type->methods.end())
          throw ValueError("method '" + req.name + "' of '" + obj.type->typeid_ +
                           "' is not exposed");  // Python: AttributeError through RemoteError
        std::unique_lock<std::mutex> turn;
        if (obj.calls) turn = std::unique_lock(*obj.calls);
        Reader args(req.args);
        if (!m->second.result_typeid.empty()) {
          auto result = m->second.invoke_to_object(obj.ptr.get(), args);
          turn = {};
          return add_object(std::move(result), m->second.result_typeid);
        }
        Buffer out = reply_of(detail::Reply::kReturn);
        m->second.invoke(obj.ptr.get(), args, out);
        return out;
      }
      case detail::Request::kDummy:
        return reply_of(detail::Reply::kReturn);
      case detail::Request::kNumberOfObjects: {
        std::uint64_t n = 0;
        {
          std::lock_guard lk(mu);
          n = objects.size();
        }
        Buffer out = reply_of(detail::Reply::kReturn);
        const Buffer v = dumps(n);
        out.insert(out.end(), v.begin(), v.end());
        return out;
      }
      case detail::Request::kShutdown:
        request_stop();
        return reply_of(detail::Reply::kReturn);
      case detail::Request::kUpgrade:
        break;  // only as the first request of a connection (serve_connection)
    }
    throw ValueError("manager: unknown request");
  } catch (...) {
    Buffer out = reply_of(detail::Reply::kError);
    encode_exception(out, std::current_exception());
    return out;
  }
}

namespace {

// cpu_relax rounds a server thread spins for the next request on its rings (as the rings'
// own readers do, see os/spin.hpp).
constexpr int kRequestSpin = 600;
// Bounds a client's half of the handshake (the Listener's default handshake_timeout).
constexpr auto kHandshakeTimeout = 10s;

// Answers a kUpgrade: a duplex Pipe whose second end goes to the client over the socket
// (its fds attached), the first returned to serve on.
Connection<Bytes> upgrade(Connection<Bytes>& sock) {
  // 1 MiB per direction (not Pipe's 4 MiB default): one such pipe per client connection.
  auto [mine, theirs] = Pipe<Bytes>(true, std::size_t{1} << 20);
  Buffer message(8);
  std::vector<int> fds;
  {
    multiprocessing::detail::FdSink sink;
    encode(message, theirs);
    fds = sink.fds();
    const std::uint64_t n = message.size() - 8;
    std::memcpy(message.data(), &n, 8);
    os::send_with_fds(multiprocessing::detail::ConnectionAccess::core(sock).socket(), message, fds);
  }
  theirs.close();  // the client holds it now: its end of file is the client's
  return std::move(mine);
}

}  // namespace

bool Server::State::authenticate(Connection<Bytes>& conn) noexcept {
  if (!authkey) return true;
  try {
    auto& core = dynamic_cast<multiprocessing::detail::SocketCore&>(
        multiprocessing::detail::ConnectionAccess::core(conn));
    core.set_read_limits(Deadline(kHandshakeTimeout), -1);
    connection::detail::deliver_challenge(core, authkey->span());
    connection::detail::answer_challenge(core, authkey->span());
    core.set_read_limits(Deadline(), -1);
    return true;
  } catch (...) {
    return false;  // a wrong key, garbage, or silence: refused before any request is read
  }
}

void Server::State::serve_connection(Connection<Bytes> conn) {
  if (!authenticate(conn)) {
    conn.close();
    return;
  }
  std::optional<Connection<Bytes>> ring;  // after an upgrade, requests come here
  while (!stop.load()) {
    try {
      Connection<Bytes>& c = ring ? *ring : conn;
      // On rings, spin briefly (load-aware) for the next request before sleeping in poll:
      // a client making calls back to back is answered without a wake-up through the kernel.
      const auto& core = multiprocessing::detail::ConnectionAccess::core(c);
      if (!(ring && os::spin_until([&] { return core.has_data(); }, kRequestSpin)) &&
          !c.poll(100ms))
        continue;
      const Bytes request = c.recv_bytes();
      if (!ring && request.size() == 1 &&
          request.data()[0] == static_cast<std::byte>(detail::Request::kUpgrade)) {
        ring.emplace(upgrade(conn));
        continue;
      }
      c.send_bytes(dispatch(request));
    } catch (...) {
      break;  // the client is gone, or broke the framing: this connection ends, not the server
    }
  }
  if (ring) ring->close();
  conn.close();
}

Server::Server(std::shared_ptr<const Registry> registry, const connection::Address& address,
               std::optional<Bytes> authkey) {
  connection::ListenerOptions options;
  options.address = address;
  options.backlog = 16;
  s_ = std::make_shared<State>(std::move(registry), std::move(options), std::move(authkey));
}

Server::~Server() {
  if (s_) stop();
}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;

const connection::Address& Server::address() const { return s_->listener.address(); }

std::size_t Server::number_of_objects() const {
  std::lock_guard lk(s_->mu);
  return s_->objects.size();
}

void Server::stop() noexcept { s_->request_stop(); }

void Server::serve_forever(std::chrono::milliseconds grace) {
  const std::shared_ptr<State> s = s_;
  while (!s->stop.load()) {
    try {
      // No handshake here: the connection's thread runs it (authenticate).
      Connection<Bytes> conn = s->listener.accept<Bytes>();
      {
        std::lock_guard lk(s->mu);
        ++s->running;
      }
      std::thread([s, c = std::move(conn)]() mutable {
        s->serve_connection(std::move(c));
        std::lock_guard lk(s->mu);
        if (--s->running == 0) s->idle.notify_all();
      }).detach();
    } catch (const std::exception&) {
      if (s->stop.load() || s->listener.closed()) break;
      std::this_thread::sleep_for(10ms);  // a client that failed its handshake, or EMFILE
    }
  }
  s->listener.close();
  std::unique_lock lk(s->mu);
  s->idle.wait_for(lk, grace, [&] { return s->running == 0; });
}

}  // namespace concur::multiprocessing::managers
