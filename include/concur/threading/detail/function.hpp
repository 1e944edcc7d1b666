// concur/threading/detail/function.hpp: a move-only `void()` callable (what
// std::move_only_function is in C++23), used to hold a thread's target and its
// bound arguments. Internal.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace concur::threading::detail {

class UniqueFunction {
 public:
  UniqueFunction() noexcept = default;
  UniqueFunction(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)

  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, UniqueFunction> &&
                                              !std::is_same_v<std::decay_t<F>, std::nullptr_t>>>
  UniqueFunction(F&& f)  // NOLINT(google-explicit-constructor)
      : impl_(std::make_unique<Impl<std::decay_t<F>>>(std::forward<F>(f))) {}

  UniqueFunction(UniqueFunction&&) noexcept = default;
  UniqueFunction& operator=(UniqueFunction&&) noexcept = default;

  void operator()() { impl_->call(); }
  explicit operator bool() const noexcept { return impl_ != nullptr; }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct Impl final : Base {
    template <class G>
    explicit Impl(G&& g)  // NOLINT(bugprone-forwarding-reference-overload): only ever made from F
        : f(std::forward<G>(g)) {}
    void call() override { std::invoke(f); }
    F f;
  };
  std::unique_ptr<Base> impl_;
};

/// What bind_target(f, args...) needs: decayed copies of f and args can be made
/// from what was passed (and moved), and the f copy, called as an lvalue with the argument
/// copies as rvalues, is valid (the call bind_target's result makes).
template <class F, class... Args>
concept bindable_target = std::invocable < std::decay_t<F>
&, std::decay_t<Args>&&... > &&std::constructible_from<std::decay_t<F>, F>&&
                                 std::move_constructible<std::decay_t<F>> &&
       (std::constructible_from<std::decay_t<Args>, Args> && ...) &&
       (std::move_constructible<std::decay_t<Args>> && ...);

/// Binds `f` to decayed copies of `args` (as std::thread does): the result,
/// called once, invokes f with the stored arguments moved in, and discards
/// what f returns.
template <class F, class... Args>
UniqueFunction bind_target(F&& f, Args&&... args) {
  return UniqueFunction([fn = std::forward<F>(f), tup = std::tuple<std::decay_t<Args>...>(
                                                      std::forward<Args>(args)...)]() mutable {
    std::apply([&fn](auto&... a) { (void)std::invoke(fn, std::move(a)...); }, tup);
  });
}

}  // namespace concur::threading::detail
