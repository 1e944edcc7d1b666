// concur/multiprocessing/call.hpp: mp::Call, a function and its arguments encoded to run in
// another process: what a pool's `initializer` (and Python's `initargs`) is.
//
//   void init(std::string name, int level);
//   CONCUR_REGISTER(init);
//   mp::Pool pool({.processes = 4, .initializer = {&init, "db", 2}});   // initializer=init,
//                                                                        // initargs=("db", 2)
//   futures::ProcessPoolExecutor ex({.initializer = mp::fn<&init_worker>});
//
// The call is encoded when the Call is made (registry.hpp's encode_call): what cannot cross
// (a closure that is not trivially copyable, an argument that is not Picklable) is a compile
// error; a function pointer that was not registered is ValueError here. Each worker decodes
// and runs it once before its first task; its result is ignored.
//
// Python parity: Python's initializer and initargs are two arguments, checked when the pool
// is made (TypeError "initializer must be a callable"); here they are one value, checked at
// compile time.
#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

#include "concur/detail/bound_call.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/registry.hpp"

namespace concur::multiprocessing {

class Call {
 public:
  /// No call (a pool without an initializer).
  Call() = default;

  /// f(args...) in another process: f is a CONCUR_REGISTERed function pointer, mp::fn<&f>, a
  /// captureless lambda or a trivially copyable closure; args are Picklable (a string
  /// literal is sent as std::string).
  template <class F, class... A>
  requires(!std::same_as<std::decay_t<F>, Call>)
      Call(F&& f, A&&... args)  // NOLINT(google-explicit-constructor): `.initializer = f`
      : request_(encode(std::forward<F>(f), std::forward<A>(args)...)) {}

  /// Whether there is a call.
  explicit operator bool() const noexcept { return !request_.empty(); }
  /// The registry request (registry.hpp): mp::invoke(request()) makes the call.
  [[nodiscard]] const Buffer& request() const noexcept { return request_; }

 private:
  template <class A>
  using stored_t = std::conditional_t<std::is_convertible_v<A, const char*> &&
                                          !std::is_same_v<std::decay_t<A>, std::nullptr_t>,
                                      std::string, std::decay_t<A>>;

  template <class F, class... A>
  static Buffer encode(F&& f, A&&... args) {
    using Bound = concur::detail::BoundCall<std::decay_t<F>, stored_t<A>...>;
    static_assert(Bound::kCrosses,
                  "concur::multiprocessing::Call: this function and its arguments cannot cross "
                  "a process boundary: use a CONCUR_REGISTERed function pointer, mp::fn<&f>, a "
                  "captureless lambda or a trivially copyable closure, with Picklable "
                  "arguments (see codec.hpp)");
    return Bound(std::forward<F>(f), stored_t<A>(std::forward<A>(args))...).encode("this call");
  }

  Buffer request_;
};

}  // namespace concur::multiprocessing
