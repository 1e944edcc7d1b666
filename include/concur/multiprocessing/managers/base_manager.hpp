// concur/multiprocessing/managers/base_manager.hpp: Python's BaseManager and Server: a
// process that owns objects and serves their methods to other processes and machines.
//
//   void setup(mp::managers::Registry& r) {                  // what the server serves
//     auto tasks = std::make_shared<mp::managers::SharedQueue<int>>();
//     r.register_<mp::managers::SharedQueue<int>>(
//         "get_task_queue", [tasks] { return tasks; }, mp::managers::queue_methods<int>());
//   }
//
//   // master                                               // worker (another program)
//   mp::managers::BaseManager m(mp::managers::setup<&setup>, {
//       .address = {"127.0.0.1", 5000}, .authkey = Bytes("abc")});
//   m.start();                                              m.connect();
//   auto q = m.create<mp::managers::QueueProxy<int>>("get_task_queue");
//   q.put(7);                                               q.get();   // 7
//
// setup<&f>: f (a `void(Registry&)` function) registers the typeids; it runs in the server
// process under every start method (it is named at compile time, as mp::fn<&f> is) and in
// this process (for the method names of its proxies). The factories it registers may be
// closures: they are made and called in the server.
//
// start() starts the server as a daemonic child of the manager's context (default: the
// default start method) that never outlives this process, and waits until it listens
// (Python's start(); `initializer` runs first in the server). connect() checks a running
// server at `address` instead (Python's connect()). create<P>(typeid, args...) makes an
// object on the server and returns a proxy P to it (Python's manager.<typeid>(*args)).
// shutdown() (also at scope end) stops a server this manager started and waits for it
// (shutdown_timeout, then SIGTERM, then SIGKILL); a connected manager only forgets it.
// get_server() returns a Server that serves in the calling process: serve_forever() until
// a client calls shutdown or stop() is called (Python's get_server().serve_forever()).
//
// Addresses: empty (the default) is a fresh Unix socket in a private directory; a TCP
// address is served on that address only (never all interfaces unless asked: "0.0.0.0").
// authkey: nullopt (the default) is current_process().authkey(), inherited by children,
// as in Python. Every connection is authenticated (HMAC-SHA256, both ways) before a byte of
// a request is read; requests and replies are codec bytes and registered names only.
//
// Throws: start() twice, or create() before start()/connect(): ProcessError ("Manager has
// not been started" / "already started"); connect() with no server there:
// ConnectionRefusedError / FileNotFoundError; a wrong key: AuthenticationError; an unknown
// typeid: ValueError (from the server).
//
// Differences from Python, deliberate: typed proxies (create<P>); registration through a
// setup function named at compile time, not class attributes; objects live until the
// server shuts down (no reference counting, docs/design/0006-managers.md §4); the server
// process's exit code after a clean shutdown is 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "concur/bytes.hpp"
#include "concur/multiprocessing/call.hpp"
#include "concur/multiprocessing/context.hpp"
#include "concur/multiprocessing/fn.hpp"
#include "concur/multiprocessing/listener.hpp"
#include "concur/multiprocessing/managers/proxy.hpp"
#include "concur/multiprocessing/managers/registry.hpp"
#include "concur/multiprocessing/process.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing::managers {

struct ManagerOptions {
  /// Where the server listens (start) or is (connect). Empty: a fresh Unix socket.
  connection::Address address{};
  /// nullopt: current_process().authkey().
  std::optional<Bytes> authkey{};
  /// The context start() starts the server with; nullopt: the default one.
  std::optional<Context> ctx{};
  /// How long shutdown() waits for the server before it terminates it.
  std::chrono::milliseconds shutdown_timeout{1000};
  /// Bounds opening a connection to the server, by this manager and by the proxies it makes
  /// (carried with them to other processes): connect plus the handshake. After it:
  /// TimeoutError (a server that accepts and never answers is an error, not a hang).
  std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout;
};

/// Serves a Registry's objects at an address, in the calling process.
class Server {
 public:
  /// Listens at `address` (empty: a fresh Unix socket) with `authkey` (nullopt: none).
  Server(std::shared_ptr<const Registry> registry, const connection::Address& address,
         std::optional<Bytes> authkey);
  ~Server();
  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Serves until a client's shutdown request or stop(); one thread per connection. Returns
  /// once no connection thread is running a call, or after `grace` (threads blocked in a
  /// call are left to finish it, detached).
  void serve_forever(std::chrono::milliseconds grace = std::chrono::milliseconds(1000));
  /// Makes serve_forever return (from any thread). Idempotent.
  void stop() noexcept;
  [[nodiscard]] const connection::Address& address() const;
  /// Objects made so far (Python: number_of_objects()).
  [[nodiscard]] std::size_t number_of_objects() const;

  struct State;

 private:
  std::shared_ptr<State> s_;
};

namespace detail {
/// The server process's entry: runs `setup`, then `initializer`, listens, reports its
/// address (or the exception) on `ready`, serves until shut down.
void run_server(SetupFn setup, Buffer initializer, bool inet, const std::string& path, int port,
                std::optional<Bytes> authkey, Connection<Bytes> ready);
template <SetupFn F>
void server_main(Buffer initializer, bool inet, const std::string& path, int port,
                 std::optional<Bytes> authkey, Connection<Bytes> ready) {
  run_server(F, std::move(initializer), inet, path, port, std::move(authkey), std::move(ready));
}
/// Starts the server process of setup F.
using StartFn = Process (*)(const Context& ctx, Buffer initializer,
                            const connection::Address& address, std::optional<Bytes> authkey,
                            Connection<Bytes> ready);
template <SetupFn F>
Process start_server(const Context& ctx, Buffer initializer, const connection::Address& address,
                     std::optional<Bytes> authkey, Connection<Bytes> ready) {
  Process p =
      ctx.Process(ProcessOptions{.name = "ManagerServer", .daemon = true}, fn<&server_main<F>>,
                  std::move(initializer), address.family() == "AF_INET", address.path(),
                  address.port(), std::move(authkey), std::move(ready));
  p.start();
  return p;
}
}  // namespace detail

/// The setup function of a manager, named at compile time: setup<&f>.
template <SetupFn F>
struct Setup {};
template <SetupFn F>
inline constexpr Setup<F> setup{};

/// Python: multiprocessing.managers.BaseManager.
class BaseManager {
 public:
  template <SetupFn F>
  explicit BaseManager(Setup<F> /*setup*/, ManagerOptions options = {})
      : BaseManager(F, &detail::start_server<F>, std::move(options)) {}
  /// shutdown().
  ~BaseManager();
  BaseManager(const BaseManager&) = delete;
  BaseManager& operator=(const BaseManager&) = delete;

  /// Starts the server process and waits (at most 30 s) until it listens. `initializer`
  /// runs in the server before it serves (Python: start(initializer, initargs)).
  void start(const Call& initializer = {});
  /// Uses the server already running at address() (Python: connect()).
  void connect();
  /// Stops a server this manager started (Python: shutdown()); idempotent.
  void shutdown() noexcept;
  /// A server of this manager's registry at its address, to serve from this process.
  [[nodiscard]] Server get_server() const;

  /// Makes an object of `typeid_` on the server (its factory called with args) and
  /// returns a proxy P to it (Python: manager.<typeid>(*args)).
  template <class P = BaseProxy, class... A>
  P create(std::string_view typeid_, A&&... args) {
    const Buffer a = dumps(std::tuple<detail::arg_t<A>...>(std::forward<A>(args)...));
    return P(create_token(typeid_, a), authkey_, connect_timeout_);
  }

  /// The server's address (with the port or socket path it chose, once started).
  [[nodiscard]] const connection::Address& address() const noexcept { return address_; }
  [[nodiscard]] const Registry& registry() const noexcept { return *registry_; }
  /// The server process this manager started (Python: _process), or null.
  [[nodiscard]] Process* process() noexcept { return process_ ? &*process_ : nullptr; }
  /// Python: number_of_objects() (a debugging aid).
  [[nodiscard]] std::size_t number_of_objects() const;

 private:
  BaseManager(SetupFn setup_fn, detail::StartFn start_fn, ManagerOptions options);
  Token create_token(std::string_view typeid_, const Buffer& args);
  void check_ready() const;

  SetupFn setup_;
  detail::StartFn start_;
  std::shared_ptr<Registry> registry_;
  connection::Address address_;
  std::optional<Bytes> authkey_;
  std::optional<Context> ctx_;
  std::chrono::milliseconds shutdown_timeout_;
  std::chrono::milliseconds connect_timeout_;
  std::optional<Process> process_;
  enum class State { kInitial, kStarted, kConnected, kShutdown } state_ = State::kInitial;
};

}  // namespace concur::multiprocessing::managers
