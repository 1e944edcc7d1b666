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

#include "concur/detail/bound_call.hpp"
#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/fn.hpp"
#include "concur/multiprocessing/registry.hpp"

namespace concur::multiprocessing {

namespace detail {

/// True when target F called with decayed arguments A... can be sent to a spawn or
/// forkserver child (as a registry call): the bound call's crossing check.
template <class F, class... A>
constexpr bool target_crosses() {
  return concur::detail::call_crosses<F, A...>();
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

/// A Target holding the bound call every executor's task holds too
/// (concur/detail/bound_call.hpp); the target is called as an lvalue.
template <class F, class... A>
class BoundTarget final : public Target {
 public:
  template <class G, class... B>
  explicit BoundTarget(G&& g, B&&... b) : call_(std::forward<G>(g), std::forward<B>(b)...) {}

  void run() override { (void)call_.template invoke<false>(); }
  [[nodiscard]] Buffer encode() const override {
    return call_.encode(
        "this Process's target or arguments, started by spawn or forkserver "
        "(get_context(\"fork\") takes any target)");
  }

 private:
  concur::detail::BoundCall<F, A...> call_;
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
