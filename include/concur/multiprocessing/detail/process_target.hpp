// concur/multiprocessing/detail/process_target.hpp: what a Process runs, held so that it can either
// be called in place (fork) or encoded as a registry call (spawn, forkserver). Internal.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/fn.hpp"
#include "concur/multiprocessing/registry.hpp"

namespace concur::multiprocessing {

namespace detail {

template <class T>
constexpr bool result_crosses() {
  return std::is_void_v<T> || Picklable<std::decay_t<T>>;
}

template <class F>
struct is_function_pointer
    : std::bool_constant<std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>> {};

/// True when target F called with decayed arguments A... can be sent to a spawn or
/// forkserver child (as a registry call).
template <class F, class... A>
constexpr bool target_crosses() {
  if constexpr (is_function_pointer<F>::value) {
    using T = function_traits<F>;
    return Picklable<typename T::args> && T::no_mutable_refs &&
           result_crosses<typename T::result>() &&
           std::is_constructible_v<typename T::args, const A&...>;  // as encode() builds it
  } else {
    // encode() copies the target and the arguments from const lvalues (encode_call).
    return Picklable<F> && Picklable<std::tuple<A...>> && std::is_copy_constructible_v<F> &&
           (std::is_copy_constructible_v<A> && ...) &&
           result_crosses<std::invoke_result_t<F&, A&&...>>();
  }
}

/// A target and its bound arguments (decayed copies).
class Target {
 public:
  virtual ~Target() = default;
  /// Calls the target in this process (fork children), moving the arguments in.
  virtual void run() = 0;
  /// The registry call request (encode_call); handles inside export their fds to the
  /// current FdSink. Throws TypeError when the target or an argument cannot cross.
  [[nodiscard]] virtual Buffer encode() const = 0;
};

[[noreturn]] void throw_target_cannot_cross(const char* target_type);

template <class F, class... A>
class BoundTarget final : public Target {
 public:
  template <class G, class... B>
  explicit BoundTarget(G&& g, B&&... b) : f_(std::forward<G>(g)), args_(std::forward<B>(b)...) {}

  void run() override {
    std::apply([this](auto&... a) { (void)std::invoke(f_, std::move(a)...); }, args_);
  }

  [[nodiscard]] Buffer encode() const override {
    if constexpr (target_crosses<F, A...>()) {
      return std::apply([this](const auto&... a) { return encode_call(f_, a...); }, args_);
    } else {
      throw_target_cannot_cross(typeid(std::tuple<F, A...>).name());
    }
  }

 private:
  F f_;
  std::tuple<A...> args_;
};

// A string literal argument is stored as std::string (a pointer could not cross to a
// spawn/forkserver child) when the target accepts that; otherwise as its decayed type.
template <class A>
using literal_as_string_t = std::conditional_t<
    std::is_array_v<std::remove_reference_t<A>> &&
        std::is_same_v<std::remove_cv_t<std::remove_extent_t<std::remove_reference_t<A>>>, char>,
    std::string, std::decay_t<A>>;

template <class F, class... A>
inline constexpr bool strings_for_literals =
    std::is_invocable_v<std::decay_t<F>&, literal_as_string_t<A>&&...>;

/// The type an argument of type A is stored as, for target F called with all of A...
template <class F, class A, class... All>
using bound_arg_t =
    std::conditional_t<strings_for_literals<F, All...>, literal_as_string_t<A>, std::decay_t<A>>;

/// True when a Process can bind target F to arguments A...: the copies it stores can be
/// made from what was passed, and the stored target, called as an lvalue with the stored
/// arguments as rvalues (what BoundTarget::run does), is valid.
template <class F, class... A>
concept bindable = std::is_invocable_v < std::decay_t<F>
&, bound_arg_t<F, A, A...>&&... > &&std::is_constructible_v<std::decay_t<F>, F> &&
       (std::is_constructible_v<bound_arg_t<F, A, A...>, A> && ...);

/// True when F with arguments A... (as stored) crosses to a spawn/forkserver child.
template <class F, class... A>
constexpr bool bound_target_crosses() {
  return target_crosses<std::decay_t<F>, bound_arg_t<F, A, A...>...>();
}

template <class F, class... A>
std::unique_ptr<Target> make_target(F&& f, A&&... a) {
  return std::make_unique<BoundTarget<std::decay_t<F>, bound_arg_t<F, A, A...>...>>(
      std::forward<F>(f), std::forward<A>(a)...);
}

}  // namespace detail
}  // namespace concur::multiprocessing
