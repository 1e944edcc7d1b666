// concur/multiprocessing/managers/proxy.hpp: Python's BaseProxy and Token. A proxy names
// an object that lives in a manager's server process and calls its methods there.
//
//   mp::managers::Proxy<Counter> c = manager.create<Counter>("Counter", 5);
//   c.call<&Counter::add>(2);             // 7, computed in the server
//   c.callmethod<int>("value");           // Python's c._callmethod("value")
//
// Each call is one request and one reply over a connection to the server (§1 of
// docs/design/0006-managers.md), opened by the first call of each thread of each process
// and kept (Python's thread-local connection): calls from several threads do not queue
// behind one another, and a call that blocks in the server (a queue's get) blocks only its
// caller.
//
// Blocking: a call waits for the server's reply (a method that blocks there blocks here).
// Throws: the exception the method threw, as its own type when the codec knows it, else
// RemoteError (codec.hpp); ValueError for a name the registration does not expose, or for
// arguments of other types than the method's; EOFError / ConnectionError when the server is
// gone (never a hang: its end of the socket closes when it dies); AuthenticationError when
// the keys differ; TimeoutError when opening the connection (connect, handshake and, for a local
// server, the shared-memory upgrade) takes more than the proxy's connect_timeout
// (ManagerOptions::connect_timeout of the manager that made it, 30 s by default): a server that
// accepts and never answers is an error, not a hang. A call on an open connection is not bounded: a
// server alive but stuck holds its caller, as in Python.
//
// Crossing: a proxy is Picklable (a Process argument under every start method, an item of a
// DictProxy or a Queue...). As a Process argument it carries its authkey (Python: only
// while spawning); anywhere else it does not, and the process that decodes it uses its own
// current_process().authkey(), as Python.
//
// Differences from Python, deliberate: calls are typed (call<&T::m>, or callmethod<R>
// naming the result type); a proxy does not count references: the objects a manager made
// live until it shuts down (docs/design/0006-managers.md §4).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "concur/bytes.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/listener.hpp"
#include "concur/multiprocessing/managers/registry.hpp"

namespace concur::multiprocessing::managers {

/// How long opening a connection to a server (connect and handshake) may take by default.
inline constexpr std::chrono::milliseconds kDefaultConnectTimeout{30000};

/// Python: multiprocessing.managers.Token: which object of which server.
struct Token {
  std::string typeid_;
  connection::Address address;
  std::uint64_t id = 0;
  friend bool operator==(const Token&, const Token&) = default;

  template <class Archive>
  void save(Archive& ar) const {
    ar(typeid_, address.family() == "AF_INET", address.path(), address.port(), id);
  }
  template <class Archive>
  void load(Archive& ar) {
    bool inet = false;
    std::string path;
    int port = 0;
    ar(typeid_, inet, path, port, id);
    address = inet ? connection::Address(path, port) : connection::Address(path);
  }
};

namespace detail {

enum class Request : std::uint8_t {
  kCall = 1,
  kCreate = 2,
  kShutdown = 3,
  kDummy = 4,
  kNumberOfObjects = 5,
  /// A local client asks for shared-memory rings (design 0006 §6): the reply is raw (an
  /// 8-byte length, then a Connection's handle, its fds attached), not a frame.
  kUpgrade = 6,
};
enum class Reply : std::uint8_t { kReturn = 0, kError = 1, kProxy = 2 };

/// One request on this thread's connection to `address` (opened, when there is none yet,
/// within `connect_timeout`); returns the reply's payload after its kind byte, with the kind
/// in `kind`. An error reply is thrown. A connection that failed is dropped (the next
/// request opens a new one).
Buffer request(const connection::Address& address, const std::optional<Bytes>& authkey,
               std::chrono::milliseconds connect_timeout, Request kind, std::uint64_t id,
               std::string_view name, std::span<const std::byte> args, Reply& kind_out);
/// Whether a proxy being encoded now is a Process argument (it then carries its authkey).
bool encoding_for_process_start() noexcept;
/// current_process().authkey().
Bytes process_authkey();
/// The token a kProxy reply from the server at `address` holds.
Token decode_token(std::span<const std::byte> payload, const connection::Address& address);
/// Closes this thread's connection to `address`, if any (a manager that shut down).
void forget_connection(const connection::Address& address) noexcept;

/// Picklable spellings of an argument: a string literal travels as std::string.
template <class A>
using arg_t = std::conditional_t<std::is_convertible_v<A, const char*> &&
                                     !std::is_same_v<std::decay_t<A>, std::nullptr_t>,
                                 std::string, std::decay_t<A>>;
}  // namespace detail

/// Python: multiprocessing.managers.BaseProxy.
class BaseProxy {
 public:
  BaseProxy() = default;
  /// `connect_timeout` bounds opening this thread's connection to the server (connect and
  /// handshake: TimeoutError after it).
  BaseProxy(Token token, std::optional<Bytes> authkey,
            std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout)
      : token_(std::move(token)), authkey_(std::move(authkey)), connect_timeout_(connect_timeout) {}

  [[nodiscard]] const Token& token() const noexcept { return token_; }
  [[nodiscard]] std::chrono::milliseconds connect_timeout() const noexcept {
    return connect_timeout_;
  }

  /// Python: _callmethod(name, args). R is the method's result type (void: none); the
  /// arguments must have the method's parameter types (ValueError naming both otherwise).
  template <class R = void, class... A>
  R callmethod(std::string_view name, A&&... args) const {
    return call_with<R, std::tuple<detail::arg_t<A>...>>(name, std::forward<A>(args)...);
  }

  /// A method whose result stays on the server (method_to_typeid): a proxy of type P to it.
  template <class P, class... A>
  P callmethod_proxy(std::string_view name, A&&... args) const {
    detail::Reply kind{};
    const Buffer reply =
        send(name, dumps(std::tuple<detail::arg_t<A>...>(std::forward<A>(args)...)), kind);
    if (kind != detail::Reply::kProxy)
      throw TypeError("callmethod_proxy: method '" + std::string(name) + "' returns a value");
    return P(detail::decode_token(reply, token_.address), authkey_, connect_timeout_);
  }

  template <class Archive>
  void save(Archive& ar) const {
    const bool with_key = detail::encoding_for_process_start() && authkey_.has_value();
    ar(token_, static_cast<std::int64_t>(connect_timeout_.count()), with_key);
    if (with_key)
      ar(std::string(reinterpret_cast<const char*>(authkey_->data()), authkey_->size()));
  }
  template <class Archive>
  void load(Archive& ar) {
    bool with_key = false;
    std::int64_t connect_ms = 0;
    ar(token_, connect_ms, with_key);
    connect_timeout_ = std::chrono::milliseconds(connect_ms);
    if (with_key) {
      std::string key;
      ar(key);
      authkey_ = Bytes(key);
    } else {
      authkey_ = detail::process_authkey();
    }
  }

 protected:
  template <class R, class Args, class... A>
  R call_with(std::string_view name, A&&... args) const {
    detail::Reply kind{};
    const Buffer reply = send(name, dumps(Args(std::forward<A>(args)...)), kind);
    if (kind == detail::Reply::kProxy) {
      if constexpr (std::is_base_of_v<BaseProxy, R>) {
        return R(detail::decode_token(reply, token_.address), authkey_, connect_timeout_);
      } else {
        throw TypeError("method '" + std::string(name) +
                        "' returns a proxy: call it with callmethod_proxy");
      }
    }
    if constexpr (std::is_void_v<R>) {
      return;
    } else {
      return loads<R>(reply);
    }
  }
  Buffer send(std::string_view name, const Buffer& args, detail::Reply& kind) const;

 private:
  Token token_;
  std::optional<Bytes> authkey_;
  std::chrono::milliseconds connect_timeout_ = kDefaultConnectTimeout;
};

/// A proxy of a T served by a manager, calling T's exposed methods by member pointer:
/// p.call<&T::m>(args...) has m's signature (its arguments converted to m's parameter types,
/// its result decoded as m's result type).
template <class T>
class Proxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;

  template <auto M, class... A>
  auto call(A&&... args) const {
    using Tr = detail::member_traits<decltype(M)>;
    static_assert(std::is_base_of_v<typename Tr::object, T>, "call<&T::m>: a member of T");
    // The name setup gave it, or (in a process that did not run the setup) its identity.
    const std::string& given = detail::method_name_v<M>;
    const std::string name = given.empty() ? detail::method_identity<M>() : given;
    using R = std::decay_t<typename Tr::result>;
    return this->template call_with<R, typename Tr::args>(name, std::forward<A>(args)...);
  }
};

}  // namespace concur::multiprocessing::managers
