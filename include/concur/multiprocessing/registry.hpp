// concur/multiprocessing/registry.hpp: functions callable by name from another process.
//
// A function pointer means nothing in another process started with `spawn` (a fresh
// exec of the program, with its own address layout) or on another machine (the cluster
// backend). So functions cross as names, looked up in a registry that every process of
// the program fills in the same way before `main` runs:
//
//   int add(int a, int b) { return a + b; }
//
//   mp::Buffer request = mp::encode_call<&add>(2, 3);          // the submitting process
//   mp::Buffer reply = mp::invoke(request);                    // the worker process
//   int five = mp::decode_result<int>(reply);                  // the submitting process
//
// `encode_call<&add>` registers `add` by itself (a static data member of a class template,
// initialised during static initialisation, so a re-executed copy of the program has it
// too). A function pointer known only at run time (`encode_call(fp, args...)`) is looked
// up by address: it must have been registered, by `CONCUR_REGISTER(add)` at namespace
// scope (name "add"), by `register_function<&add>("name")`, or by some use of
// `encode_call<&add>`. Programs that call by name without linking the function (the
// cluster) need the explicit, readable names.
//
// The worker runs `invoke`: it decodes the name and the arguments, calls the function,
// and encodes its result or the exception it threw (codec.hpp: known types come back as
// themselves, others as RemoteError). `decode_result<R>` returns the value or rethrows.
//
// Closures: a lambda or function object whose type is trivially copyable (or has a cereal
// function) crosses too, with no macro: `encode_call(closure, args...)` registers the pair
// (closure type, argument types) under the closure's mangled type name, through a static
// data member initialised during static initialisation. A re-executed copy of the same
// program runs the same initialisers before `main`, so the name is known there too. The
// name is stable only within one build of one program: for another program (the cluster),
// register a named function instead.
//
// Requirements: parameter types decayed, and the result type, must be Picklable; a
// parameter may not be a non-const lvalue reference (changes would not come back). A
// runtime function pointer passed to `encode_call(fn, args...)` must be registered:
// otherwise ValueError, on the submitting side.
//
// Names: CONCUR_REGISTER(ns::fn) registers "ns::fn" (the text as written); use
// `register_function<&fn>("name")` for another name or an overload
// (`register_function<static_cast<int (*)(int)>(&f)>("f_int")`). Registering one name for
// two different functions makes that name unusable: calls to it fail with ValueError.
//
// Thread safety: registration and lookup may run concurrently from any thread.
//
// Python parity: pickle serialises a function as its qualified name and the unpickler
// imports it by name; a lambda cannot be pickled at all. Here trivially copyable
// closures can, within one build.
#pragma once

#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "concur/multiprocessing/codec.hpp"

namespace concur::multiprocessing {

/// Decodes the argument tuple from `args`, calls, and appends the status byte and the
/// result to `reply`. May throw (the caller, `invoke`, encodes the exception).
using Invoker = void (*)(Reader& args, Buffer& reply);

/// One registry entry. Entries live until the program ends; pointers to them stay valid.
struct RegisteredFunction {
  std::string name;
  Invoker invoke = nullptr;
  const void* address = nullptr;       // the function, or null for a closure type
  std::uint64_t args_fingerprint = 0;  // fingerprint of std::tuple<decayed parameters...>
  std::string args_type;               // the demangled tuple type, for messages
  bool ambiguous = false;              // the name was registered for two functions
};

/// The entry registered under `name`, or null.
const RegisteredFunction* find_function(std::string_view name) noexcept;
/// The name a function pointer was registered under; throws ValueError if it was not.
std::string_view function_name(const void* address);

/// Runs a request made by `encode_call` and returns the reply for `decode_result`. Never
/// throws except std::bad_alloc: a malformed request, an unknown name, arguments of
/// other types than the function's, and whatever the function throws all become an
/// exception reply.
Buffer invoke(std::span<const std::byte> request);

namespace detail {

inline constexpr std::byte kRequestMagic{0xC8};
inline constexpr std::byte kReplyMagic{0xC9};
inline constexpr std::byte kCallVersion{1};
inline constexpr std::byte kReplyValue{0};
inline constexpr std::byte kReplyException{1};

/// The address of the function registered as `name` whose parameters (decayed, as a tuple)
/// have `args_fingerprint`: how a function pointer that crossed by name is found again.
/// ValueError when there is none, the name is ambiguous or names a closure; TypeError when
/// the parameter types differ.
const void* function_address(std::string_view name, std::uint64_t args_fingerprint);
std::string_view add_function(std::string_view name, Invoker invoke, const void* address,
                              std::uint64_t args_fingerprint, const char* args_mangled);
void begin_request(Buffer& out, std::string_view name, std::uint64_t args_fingerprint);
/// Checks the reply header; true if a value follows, false if an exception does.
bool read_reply_status(Reader& in);

template <class F>
struct function_traits;
template <class R, class... A>
struct function_traits<R (*)(A...)> {
  using result = R;
  using args = std::tuple<std::decay_t<A>...>;
  static constexpr bool no_mutable_refs =
      ((!std::is_lvalue_reference_v<A> || std::is_const_v<std::remove_reference_t<A>>)&&...);
};
template <class R, class... A>
struct function_traits<R (*)(A...) noexcept> : function_traits<R (*)(A...)> {};

template <class R>
constexpr void check_result() {
  static_assert(std::is_void_v<R> || Picklable<std::decay_t<R>>,
                "concur::multiprocessing: the function's result type cannot cross a process "
                "boundary (see codec.hpp for what can)");
}

template <class R, class Call>
void call_and_encode(Call&& call, Buffer& reply) {
  if constexpr (std::is_void_v<R>) {
    std::forward<Call>(call)();
    reply.push_back(kReplyValue);
  } else {
    std::decay_t<R> result = std::forward<Call>(call)();
    reply.push_back(kReplyValue);
    encode_value(reply, result);
  }
}

template <auto Fn>
void invoke_function(Reader& in, Buffer& reply) {
  using T = function_traits<decltype(Fn)>;
  auto args = decode_value<typename T::args>(in);
  in.expect_end();
  call_and_encode<typename T::result>(
      [&args] {
        return std::apply([](auto&&... a) { return Fn(std::move(a)...); }, std::move(args));
      },
      reply);
}

template <class F, class... Args>
void invoke_callable(Reader& in, Buffer& reply) {
  auto args = decode_value<std::tuple<F, Args...>>(in);
  in.expect_end();
  using R = std::invoke_result_t<F&, Args&&...>;
  call_and_encode<R>(
      [&args] {
        return std::apply([](F& f, auto&&... a) { return std::invoke(f, std::move(a)...); }, args);
      },
      reply);
}

template <class F, class... Args>
std::string_view add_callable() {
  using Tuple = std::tuple<F, Args...>;
  return add_function(std::string("closure:") + typeid(Tuple).name(), &invoke_callable<F, Args...>,
                      nullptr, fingerprint_of<Tuple>(), typeid(Tuple).name());
}

// Initialised during static initialisation in every process of the program (the
// member is odr-used by callable_name, so it is instantiated and given an initialiser).
template <class F, class... Args>
struct CallableRegistration {
  static inline const std::string_view name = add_callable<F, Args...>();
};

}  // namespace detail

/// Registers `Fn` (a function pointer constant) under `name` and returns the stored name.
/// Idempotent for the same function. Call it during static initialisation (the
/// CONCUR_REGISTER macro does) so that every process of the program has it.
template <auto Fn>
std::string_view register_function(std::string_view name) {
  using T = detail::function_traits<decltype(Fn)>;
  static_assert(Picklable<typename T::args>,
                "concur::multiprocessing: a parameter type of this function cannot cross a "
                "process boundary (see codec.hpp for what can)");
  static_assert(T::no_mutable_refs,
                "concur::multiprocessing: a function called in another process cannot take a "
                "non-const lvalue reference (changes would not come back); take it by value");
  detail::check_result<typename T::result>();
  using Args = typename T::args;
  if constexpr (!Picklable<Args> || !T::no_mutable_refs ||
                !(std::is_void_v<typename T::result> ||
                  Picklable<std::decay_t<typename T::result>>)) {
    return {};  // the static_asserts above explain; instantiate nothing more
  } else {
    return detail::add_function(name, &detail::invoke_function<Fn>,
                                reinterpret_cast<const void*>(Fn), detail::fingerprint_of<Args>(),
                                typeid(Args).name());
  }
}

namespace detail {

// "add" from "... nttp_text() [with auto Fn = add; ...]": the function's qualified name
// as the compiler spells it, the same in every build of the same source.
template <auto Fn>
constexpr std::string_view nttp_text() {
  constexpr std::string_view p = __PRETTY_FUNCTION__;
  constexpr std::size_t start = p.find("Fn = ") + 5;
  return p.substr(start, p.find_first_of(";]", start) - start);
}

template <auto Fn>
std::string auto_function_name() {
  return std::string("fn:") + std::string(nttp_text<Fn>()) + ":" + typeid(decltype(Fn)).name();
}

// Like CallableRegistration: odr-used by encode_call<Fn>, so registered during static
// initialisation of every process of the program.
template <auto Fn>
struct FunctionRegistration {
  static inline const std::string_view name = register_function<Fn>(auto_function_name<Fn>());
};

}  // namespace detail

/// The registry name of the closure type F called with arguments of types Args, registered
/// during static initialisation of every process that instantiates this template.
template <class F, class... Args>
std::string_view callable_name() {
  static_assert(Picklable<F>,
                "concur::multiprocessing: this callable cannot cross a process boundary: a "
                "closure must be trivially copyable (captures by value of trivially copyable "
                "types; no std::string or std::function) or have a cereal function");
  static_assert(Picklable<std::tuple<std::decay_t<Args>...>>,
                "concur::multiprocessing: an argument type cannot cross a process boundary");
  using R = std::invoke_result_t<F&, std::decay_t<Args>&&...>;
  detail::check_result<R>();
  if constexpr (!Picklable<F> || !Picklable<std::tuple<std::decay_t<Args>...>> ||
                !(std::is_void_v<R> || Picklable<std::decay_t<R>>)) {
    return {};  // the static_asserts above explain; instantiate nothing more
  } else {
    return detail::CallableRegistration<F, std::decay_t<Args>...>::name;
  }
}

/// A request to call the function `Fn` with `args` (converted to its parameter types).
/// No registration needed: this registers `Fn` during static initialisation under
/// "fn:<qualified name>:<mangled type>" (stable across builds of the same source).
template <auto Fn, class... Args>
Buffer encode_call(Args&&... args) {
  using T = detail::function_traits<decltype(Fn)>;
  using Tuple = typename T::args;
  const std::string_view name = detail::FunctionRegistration<Fn>::name;
  Buffer out;
  detail::begin_request(out, name, detail::fingerprint_of<Tuple>());
  detail::encode_value(out, Tuple(std::forward<Args>(args)...));
  return out;
}

/// A request to call `fn` with `args`: a function pointer (must be registered; ValueError
/// otherwise) or a closure object (registered automatically, see above).
template <class F, class... Args>
Buffer encode_call(const F& fn, Args&&... args) {
  Buffer out;
  if constexpr (std::is_function_v<F>) {
    out = encode_call(&fn, std::forward<Args>(args)...);
  } else if constexpr (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) {
    using Tuple = typename detail::function_traits<F>::args;
    detail::begin_request(out, function_name(reinterpret_cast<const void*>(fn)),
                          detail::fingerprint_of<Tuple>());
    detail::encode_value(out, Tuple(std::forward<Args>(args)...));
  } else {
    using Tuple = std::tuple<F, std::decay_t<Args>...>;
    detail::begin_request(out, callable_name<F, Args...>(), detail::fingerprint_of<Tuple>());
    detail::encode_value(out, Tuple(fn, std::forward<Args>(args)...));
  }
  return out;
}

/// A request to call the function registered as `name` with arguments of exactly the
/// types given (after decay): for callers that do not link the function (the cluster).
/// The worker answers TypeError if they are not the function's parameter types.
template <class... Args>
Buffer encode_call_by_name(std::string_view name, const Args&... args) {
  using Tuple = std::tuple<std::decay_t<Args>...>;
  Buffer out;
  detail::begin_request(out, name, detail::fingerprint_of<Tuple>());
  encode(out, Tuple(args...));
  return out;
}

/// The result carried by an `invoke` reply, or the exception it carries, rethrown.
/// Throws ValueError for a malformed reply. R = void checks for an exception only.
template <class R>
R decode_result(std::span<const std::byte> reply) {
  Reader in(reply);
  if (!detail::read_reply_status(in)) rethrow_decoded(in);
  if constexpr (std::is_void_v<R>) {
    in.expect_end();
  } else {
    R value = decode<R>(in);
    in.expect_end();
    return value;
  }
}

}  // namespace concur::multiprocessing

#define CONCUR_DETAIL_CAT2(a, b) a##b
#define CONCUR_DETAIL_CAT(a, b) CONCUR_DETAIL_CAT2(a, b)

/// Registers the function `fn` under the name `name` (a string), at namespace scope.
#define CONCUR_REGISTER_AS(fn, name)                                                              \
  [[maybe_unused]] static const ::std::string_view CONCUR_DETAIL_CAT(concur_registered_function_, \
                                                                     __COUNTER__) =               \
      ::concur::multiprocessing::register_function<&(fn)>((name))

/// Registers the function `fn` under its name as written ("ns::fn"), at namespace scope.
#define CONCUR_REGISTER(fn) CONCUR_REGISTER_AS(fn, #fn)
