// concur/multiprocessing/exception_registry.hpp: a program's own exception types, crossing
// process (and machine) boundaries as themselves.
//
//   struct QuotaExceeded : std::runtime_error { using std::runtime_error::runtime_error; };
//   CONCUR_REGISTER_EXCEPTION(QuotaExceeded);     // at namespace scope, in every program
//
//   // raised in a worker process (a process pool, a distributed worker), caught here:
//   catch (const QuotaExceeded& e) { e.what(); }   // the worker's what()
//
// The codec (codec.hpp) rebuilds std's and concur's exception types by itself; any other
// type comes back as mp::RemoteError, unless it is registered here: it then crosses as its
// registered name and its what(), and the reading process builds it again as E(what()) when
// it registered that name too (else: RemoteError carrying the name, the message and the
// pid). The dynamic type must be exactly E (a subclass of a registered type crosses as
// that subclass's registration, or as RemoteError). E must derive from std::exception and be
// constructible from a std::string. Registering one name twice (for different types) or
// one type under two names throws ValueError at static initialisation.
//
// Python parity: pickle re-raises any importable exception class as itself; here the
// registration plays the part of the import.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>

namespace concur::multiprocessing {

namespace detail {
using ExceptionFactory = std::exception_ptr (*)(const std::string& what);
std::string_view add_exception(std::string_view name, const std::type_info& type,
                               ExceptionFactory make);
/// The name `type` was registered under (empty if none).
std::string registered_exception_name(const std::type_info& type);
/// The exception registered as `name`, built from `what` (null if the name is unknown).
std::exception_ptr make_registered_exception(const std::string& name, const std::string& what);
}  // namespace detail

/// Registers the exception type E under `name`; returns the name.
template <class E>
std::string_view register_exception(std::string_view name) {
  static_assert(std::is_base_of_v<std::exception, E>,
                "register_exception: E must derive from std::exception");
  static_assert(std::is_constructible_v<E, std::string>,
                "register_exception: E must be constructible from a std::string (its what())");
  return detail::add_exception(
      name, typeid(E), +[](const std::string& what) { return std::make_exception_ptr(E(what)); });
}

}  // namespace concur::multiprocessing

#define CONCUR_DETAIL_EXC_CAT2(a, b) a##b
#define CONCUR_DETAIL_EXC_CAT(a, b) CONCUR_DETAIL_EXC_CAT2(a, b)
/// Registers the exception type `E` under `name`, at namespace scope.
#define CONCUR_REGISTER_EXCEPTION_AS(E, name)                             \
  [[maybe_unused]] static const ::std::string_view CONCUR_DETAIL_EXC_CAT( \
      concur_registered_exception_, __COUNTER__) =                        \
      ::concur::multiprocessing::register_exception<E>((name))
/// Registers the exception type `E` under its name as written ("ns::E").
#define CONCUR_REGISTER_EXCEPTION(E) CONCUR_REGISTER_EXCEPTION_AS(E, #E)
