// concur/detail/bound_call.hpp: a callable bound to its arguments, run here or encoded for
// another process. Internal: the one bound call behind every executor's task
// (futures/executor.hpp) and every Process target (multiprocessing/detail/process_target.hpp).
//
//   BoundCall<F, A...> call(f, a...);   // decayed copies of f and a...
//   call.invoke<Rvalue>(extra...)       // here: f(extra..., std::move(a)...)
//   call.encode()                       // elsewhere: the registry request that makes the same
//                                       // call in another process (registry.hpp's invoke there)
//
// What crosses (call_crosses<F, A...>): a CONCUR_REGISTERed function pointer whose parameters
// can be built from the arguments, or a Picklable callable object (a trivially copyable
// closure, mp::fn<&f>, a type with a cereal function) invocable as an lvalue with the
// arguments as rvalues (what the other side does); the arguments and the result must be
// Picklable. encode() of a call that does not cross throws concur::TypeError naming the
// types, so that a backend chosen at run time (a process pool behind an Executor&) refuses it
// at submit; a backend known at compile time checks call_crosses in a static_assert instead.
#pragma once

#include <functional>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "concur/multiprocessing/registry.hpp"

namespace concur::detail {

template <class F>
struct is_function_pointer
    : std::bool_constant<std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>> {};

template <class T>
constexpr bool result_crosses() {
  return std::is_void_v<T> ||
         (!std::is_reference_v<T> && multiprocessing::Picklable<std::remove_cv_t<T>>);
}

/// True when the call of F with (decayed) arguments A... can be encoded as a registry
/// request and made in another process (see the file comment).
template <class F, class... A>
constexpr bool call_crosses() {
  if constexpr (is_function_pointer<F>::value) {
    using T = multiprocessing::detail::function_traits<F>;
    return multiprocessing::Picklable<typename T::args> && T::no_mutable_refs &&
           result_crosses<typename T::result>() &&
           std::is_constructible_v<typename T::args, const A&...>;  // as encode() builds it
  } else if constexpr (!std::is_invocable_v<F&, A&&...>) {
    return false;  // the other side calls an lvalue copy with rvalue arguments
  } else {
    // encode() copies the callable and the arguments from const lvalues (encode_call).
    return multiprocessing::Picklable<F> && multiprocessing::Picklable<std::tuple<A...>> &&
           std::is_copy_constructible_v<F> && (std::is_copy_constructible_v<A> && ...) &&
           result_crosses<std::invoke_result_t<F&, A&&...>>();
  }
}

/// Throws TypeError: the call of `mangled` (typeid(std::tuple<F, A...>).name()) cannot cross
/// a process boundary; `what` names the thing refused ("this Process's target", "this task").
[[noreturn]] void throw_cannot_cross(const char* what, const char* mangled);

/// A callable and its bound arguments (decayed copies).
template <class F, class... A>
class BoundCall {
 public:
  static constexpr bool kCrosses = call_crosses<F, A...>();

  template <class G, class... B>
  explicit BoundCall(G&& g, B&&... b) : f_(std::forward<G>(g)), args_(std::forward<B>(b)...) {}

  /// Calls the callable here: f(extra..., std::move(a)...), f as an rvalue when Rvalue (an
  /// executor's task, run once) and as an lvalue otherwise (a Process target). The arguments
  /// are moved in: call it once.
  template <bool Rvalue, class... Extra>
  decltype(auto) invoke(Extra&&... extra) {
    return std::apply(
        [&](auto&... a) -> decltype(auto) {
          if constexpr (Rvalue) {
            return std::invoke(std::move(f_), std::forward<Extra>(extra)..., std::move(a)...);
          } else {
            return std::invoke(f_, std::forward<Extra>(extra)..., std::move(a)...);
          }
        },
        args_);
  }

  /// The registry request (registry.hpp) that makes this call in another process; handles
  /// among the arguments export their fds to the current FdSink. Throws TypeError (naming
  /// the types, with `what` as the subject) when the call cannot cross; ValueError for an
  /// unregistered function pointer.
  [[nodiscard]] multiprocessing::Buffer encode(const char* what) const {
    if constexpr (kCrosses) {
      return std::apply([this](const auto&... a) { return multiprocessing::encode_call(f_, a...); },
                        args_);
    } else {
      throw_cannot_cross(what, typeid(std::tuple<F, A...>).name());
    }
  }

 private:
  F f_;
  std::tuple<A...> args_;
};

}  // namespace concur::detail
