// concur/multiprocessing/fn.hpp: `mp::fn<&work>`, a function that crosses to another
// process by what it is, not by its address.
//
//   void work(int n);
//   mp::Process p(mp::fn<&work>, 42);   // crosses under every start method
//
// A plain function pointer `&work` is an address: under spawn and forkserver it crosses
// only when registered (CONCUR_REGISTER(work), see registry.hpp). `mp::fn<&work>` names the
// function in its type, so it is an empty, trivially copyable callable that crosses with no
// registration. Python parity: Python pickles a function by its qualified name; fn<&f> is
// the compile-time spelling of that.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

namespace concur::multiprocessing {

/// The function `F` as an empty, trivially copyable callable (see the file comment).
template <auto F>
struct Fn {
  template <class... A>
  requires std::is_invocable_v<decltype(F), A&&...> std::invoke_result_t<decltype(F), A&&...>
  operator()(A&&... a) const { return std::invoke(F, std::forward<A>(a)...); }
};
template <auto F>
inline constexpr Fn<F> fn{};

}  // namespace concur::multiprocessing
