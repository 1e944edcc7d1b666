// concur/multiprocessing/managers/registry.hpp: what a manager serves. Python's
// BaseManager.register(typeid, callable, proxytype, exposed, method_to_typeid), typed.
//
//   struct Counter {
//     int n = 0;
//     int add(int k) { return n += k; }
//     int value() const { return n; }
//   };
//   void setup(mp::managers::Registry& r) {
//     r.register_<Counter>("Counter", [](int start) { return Counter{start}; },
//                          mp::managers::Methods<Counter>()
//                              .def<&Counter::add>("add")
//                              .def<&Counter::value>("value"));
//   }
//
// A registration names a type (`typeid`), how the server makes one (the factory: a callable
// returning T, or std::shared_ptr<T> to serve an object that already exists, as the
// seed's `get_task_queue` does; its parameters are the arguments of create()), and the
// methods a proxy may call (Python's `exposed`), each a member function given as a
// template argument, so that the server knows its argument and result types. A call by
// any other name is refused by the server (AttributeError-like ValueError); nothing is
// ever run from bytes but these registered names.
//
// `def<&T::m>(name, typeid)`: the method's result stays on the server as a new object of
// that typeid, and the caller gets a proxy to it (Python's method_to_typeid).
//
// Calls on one object are serialised by a mutex of its own (CPython's server runs them in
// one thread per connection under the GIL); a type whose methods block waiting for one
// another (a queue whose get waits for a put) registers with {.concurrent = true} and
// synchronises itself.
//
// Differences from Python, deliberate: `exposed` is required (C++ has no list of public
// methods to default to); the proxy type is chosen by the caller of create<P>() rather
// than at registration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/registry.hpp"

namespace concur::multiprocessing::managers {

namespace detail {

template <class M>
struct member_traits;
template <class R, class C, class... A>
struct member_traits<R (C::*)(A...)> {
  using result = R;
  using object = C;
  using args = std::tuple<std::decay_t<A>...>;
};
template <class R, class C, class... A>
struct member_traits<R (C::*)(A...) const> : member_traits<R (C::*)(A...)> {};
template <class R, class C, class... A>
struct member_traits<R (C::*)(A...) noexcept> : member_traits<R (C::*)(A...)> {};
template <class R, class C, class... A>
struct member_traits<R (C::*)(A...) const noexcept> : member_traits<R (C::*)(A...)> {};

template <class F>
struct callable_traits : callable_traits<decltype(&F::operator())> {};
template <class R, class... A>
struct callable_traits<R (*)(A...)> {
  using result = R;
  using args = std::tuple<std::decay_t<A>...>;
};
template <class R, class C, class... A>
struct callable_traits<R (C::*)(A...)> : callable_traits<R (*)(A...)> {};
template <class R, class C, class... A>
struct callable_traits<R (C::*)(A...) const> : callable_traits<R (*)(A...)> {};

template <class T>
struct is_shared_ptr : std::false_type {};
template <class T>
struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};

/// The wire name of member function M: set by Methods::def, read by Proxy::call<M>.
template <auto M>
inline std::string method_name_v;

/// The name under which Methods::def also files member function M, the same in every
/// process of a program (and of any program built from the same declaration): how
/// Proxy::call<M> names M in a process that never ran the manager's setup (a child that
/// received the proxy under spawn, say).
template <auto M>
std::string method_identity() {
  return std::string("\x01") + std::string(multiprocessing::detail::nttp_text<M>());
}

/// The result of a call as a server object: a shared_ptr is served as it is (the same
/// object each time), a value is moved into a new one.
template <class R>
std::shared_ptr<void> as_object(R&& r) {
  if constexpr (is_shared_ptr<std::decay_t<R>>::value) {
    return std::static_pointer_cast<void>(std::forward<R>(r));
  } else {
    return std::make_shared<std::decay_t<R>>(std::forward<R>(r));
  }
}

}  // namespace detail

/// Decodes a call's arguments from `args` (dumps of their tuple), calls, and appends the
/// result (dumps of it; nothing for void) to `out`.
using MethodInvoker = void (*)(void* object, Reader& args, Buffer& out);
/// The same call, its result kept on the server as an object (method_to_typeid).
using ObjectInvoker = std::shared_ptr<void> (*)(void* object, Reader& args);

struct MethodEntry {
  MethodInvoker invoke = nullptr;
  ObjectInvoker invoke_to_object = nullptr;
  std::string result_typeid;  // non-empty: method_to_typeid
};

namespace detail {
template <class Args>
Args decode_args(Reader& in) {
  Args args = loads<Args>(in.take(in.remaining()));
  return args;
}
template <class T, auto M>
void invoke_method(void* object, Reader& in, Buffer& out) {
  using Tr = member_traits<decltype(M)>;
  auto args = decode_args<typename Tr::args>(in);
  auto* self = static_cast<T*>(object);  // the registered type; M may be a base's member
  if constexpr (std::is_void_v<typename Tr::result>) {
    std::apply([&](auto&... a) { (self->*M)(std::move(a)...); }, args);
  } else {
    auto r = std::apply([&](auto&... a) { return (self->*M)(std::move(a)...); }, args);
    Buffer b = dumps<std::decay_t<typename Tr::result>>(r);
    out.insert(out.end(), b.begin(), b.end());
  }
}
template <class T, auto M>
std::shared_ptr<void> invoke_to_object(void* object, Reader& in) {
  using Tr = member_traits<decltype(M)>;
  auto args = decode_args<typename Tr::args>(in);
  auto* self = static_cast<T*>(object);
  return as_object(std::apply([&](auto&... a) { return (self->*M)(std::move(a)...); }, args));
}
}  // namespace detail

/// Python's `exposed` (and `method_to_typeid`) for T: the methods a proxy may call, by name.
template <class T>
class Methods {
 public:
  /// Exposes member function M (of T, or a base of T) under `name`. With `result_typeid`,
  /// its result stays on the server as an object of that typeid (Python's method_to_typeid).
  template <auto M>
  Methods&& def(std::string name, std::string result_typeid = {}) && {
    using Tr = detail::member_traits<decltype(M)>;
    static_assert(std::is_base_of_v<typename Tr::object, T>, "def<&T::m>: a member of T");
    static_assert(Picklable<typename Tr::args>,
                  "def<&T::m>: an argument type cannot cross a process boundary (codec.hpp)");
    if constexpr (!std::is_void_v<typename Tr::result> &&
                  !Picklable<std::decay_t<typename Tr::result>>) {
      if (result_typeid.empty())
        throw TypeError("Methods::def(\"" + name +
                        "\"): the result type cannot cross a process boundary; give a result "
                        "typeid to keep it on the server (method_to_typeid)");
    }
    detail::method_name_v<M> = name;
    MethodEntry e;
    if constexpr (std::is_void_v<typename Tr::result>) {
      e.invoke = &detail::invoke_method<T, M>;
    } else {
      if constexpr (Picklable<std::decay_t<typename Tr::result>>)
        e.invoke = &detail::invoke_method<T, M>;
      e.invoke_to_object = &detail::invoke_to_object<T, M>;
    }
    e.result_typeid = std::move(result_typeid);
    entries_.emplace(detail::method_identity<M>(), e);
    entries_.emplace(std::move(name), e);
    return std::move(*this);
  }

  [[nodiscard]] const std::map<std::string, MethodEntry, std::less<>>& entries() const noexcept {
    return entries_;
  }

 private:
  std::map<std::string, MethodEntry, std::less<>> entries_;
};

struct TypeOptions {
  /// The type synchronises itself: calls on one object may run at once (blocking queues,
  /// locks, events). Default: calls on one object take turns.
  bool concurrent = false;
};

/// One registered typeid.
struct TypeEntry {
  std::string typeid_;
  /// Makes an object from the encoded factory arguments; null for a registration made only
  /// to call an existing server (Python's register(typeid) without a callable).
  std::function<std::shared_ptr<void>(Reader& args)> factory;
  std::map<std::string, MethodEntry, std::less<>> methods;
  TypeOptions options;
};

/// The typeids a manager serves. Filled by the manager's setup function, in the server
/// (and in every process that makes proxies, for the method names).
class Registry {
 public:
  /// Python: register(typeid, callable, exposed=..., method_to_typeid=...). `factory`
  /// returns T or std::shared_ptr<T>; its parameters are create()'s arguments. ValueError
  /// when `typeid_` is registered already.
  template <class T, class Factory>
  void register_(std::string typeid_, Factory factory, const Methods<T>& methods,
                 TypeOptions options = {}) {
    using Tr = detail::callable_traits<std::decay_t<Factory>>;
    using R = std::decay_t<typename Tr::result>;
    static_assert(std::is_same_v<R, T> || std::is_same_v<R, std::shared_ptr<T>>,
                  "register_<T>: the factory returns T or std::shared_ptr<T>");
    static_assert(Picklable<typename Tr::args>,
                  "register_<T>: a factory parameter cannot cross a process boundary");
    TypeEntry e;
    e.typeid_ = std::move(typeid_);
    e.factory = [f = std::move(factory)](Reader& in) mutable -> std::shared_ptr<void> {
      auto args = detail::decode_args<typename Tr::args>(in);
      return detail::as_object(std::apply([&](auto&... a) { return f(std::move(a)...); }, args));
    };
    e.methods = methods.entries();
    e.options = options;
    add(std::move(e));
  }
  /// A typeid this process only calls (the server made it elsewhere): its method names.
  template <class T>
  void register_(std::string typeid_, const Methods<T>& methods, TypeOptions options = {}) {
    TypeEntry e;
    e.typeid_ = std::move(typeid_);
    e.methods = methods.entries();
    e.options = options;
    add(std::move(e));
  }

  /// The entry of `typeid_`, or null.
  [[nodiscard]] const TypeEntry* find(std::string_view typeid_) const;
  [[nodiscard]] std::vector<std::string> typeids() const;

 private:
  void add(TypeEntry e);
  std::map<std::string, std::shared_ptr<TypeEntry>, std::less<>> types_;
};

/// The setup function of a manager: registers what it serves. It runs in the server
/// process (under every start method) and in each process that makes the manager.
using SetupFn = void (*)(Registry&);

}  // namespace concur::multiprocessing::managers
