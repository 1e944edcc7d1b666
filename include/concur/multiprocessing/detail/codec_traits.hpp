// concur/multiprocessing/detail/codec_traits.hpp: how the multiprocessing codec classifies a type.
//
// Internal to concur::multiprocessing; users read codec.hpp instead. Every type
// that the codec meets (at the top or nested) falls in exactly one `Kind`, the
// first that matches in this order:
//
//   kind          types                                     wire form
//   kRejected     T*, member pointers, C arrays, string_view,  (compile error)
//                 span, reference_wrapper
//   kHandle       a process-shared object of concur (Queue,    what its concur_encode_handle
//                 Lock, Value, ...: has `concur_handle_tag`)   writes (>= 4 bytes; fds aside,
//                                                               see src/multiprocessing/handles.hpp)
//   kBool         bool                                       1 byte, 0 or 1
//   kTrivial      arithmetic, enums                          raw bytes (memcpy)
//   kString       std::basic_string<char-like>               u64 length + bytes
//   kOptional     std::optional<T>                           u8 0/1 (+ T)
//   kVariant      std::variant<Ts...>                        u32 index + alternative
//   kTuple        std::tuple<Ts...>, std::pair<A, B>         elements in order (u8 0 if empty)
//   kArray        std::array<T, N>                           N elements (u8 0 if N == 0)
//   kSequence     vector, deque, list (push_back)            u64 count + elements
//   kAssociative  map, set, unordered_*, multi*              u64 count + elements
//   kCereal       a class with a cereal serialize/save/load  u64 length + cereal binary
//   kTrivial      any other trivially copyable type          raw bytes (memcpy)
//                 (or trivially copy-constructible and destructible, see below)
//   kUnsupported  anything else                              (compile error)
//
// Every wire form takes at least one byte, so a count read from the input can be
// checked against the bytes left before anything is allocated.
#pragma once

#include <array>
#include <cereal/archives/binary.hpp>
#include <cereal/cereal.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace concur::multiprocessing::detail {

enum class Kind {
  kRejected,
  kHandle,
  kBool,
  kTrivial,
  kString,
  kOptional,
  kVariant,
  kTuple,
  kArray,
  kSequence,
  kAssociative,
  kCereal,
  kUnsupported,
};

template <class T>
struct is_basic_string : std::false_type {};
template <class C, class Tr, class A>
struct is_basic_string<std::basic_string<C, Tr, A>> : std::bool_constant<sizeof(C) == 1> {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_variant : std::false_type {};
template <class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};

template <class T>
struct is_tuple_like : std::false_type {};
template <class... Ts>
struct is_tuple_like<std::tuple<Ts...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
struct is_rejected_class : std::false_type {};
template <class C, class Tr>
struct is_rejected_class<std::basic_string_view<C, Tr>> : std::true_type {};
template <class T, std::size_t N>
struct is_rejected_class<std::span<T, N>> : std::true_type {};
template <class T>
struct is_rejected_class<std::reference_wrapper<T>> : std::true_type {};

template <class T>
concept SequenceContainer = requires(T& c, typename T::value_type&& v) {
  typename T::value_type;
  { c.size() } -> std::convertible_to<std::size_t>;
  c.begin();
  c.end();
  c.push_back(std::move(v));
};

template <class T>
concept AssociativeContainer = requires(T& c, typename T::value_type&& v) {
  typename T::key_type;
  typename T::value_type;
  { c.size() } -> std::convertible_to<std::size_t>;
  c.begin();
  c.end();
  c.insert(std::move(v));
};

// concur's process-shared objects declare `using concur_handle_tag = void;` and provide
// `void concur_encode_handle(Buffer&) const` and `static T concur_decode_handle(Reader&)`.
template <class T>
concept SharedHandle = requires { typename T::concur_handle_tag; };

template <class T>
inline constexpr bool has_cereal_v =
    cereal::traits::is_output_serializable<T, cereal::BinaryOutputArchive>::value&&
        cereal::traits::is_input_serializable<T, cereal::BinaryInputArchive>::value;

// Trivially copyable, or at least trivially copy-constructible and destructible: GCC 12
// calls a closure that captures a `const` variable not trivially copyable (its assignment
// is deleted), though copying its bytes is exactly what its copy constructor does.
template <class T>
inline constexpr bool bitwise_copyable_v = std::is_trivially_copyable_v<T> ||
                                           (std::is_trivially_copy_constructible_v<T> &&
                                            std::is_trivially_destructible_v<T>);

// NOLINTBEGIN(bugprone-branch-clone): kTrivial twice on purpose, the order decides.
template <class T>
consteval Kind kind_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_reference_v<U> || std::is_pointer_v<U> || std::is_member_pointer_v<U> ||
                std::is_array_v<U> || std::is_function_v<U> || std::is_void_v<U> ||
                is_rejected_class<U>::value) {
    return Kind::kRejected;
  } else if constexpr (SharedHandle<U>) {
    return Kind::kHandle;
  } else if constexpr (std::is_same_v<U, bool>) {
    return Kind::kBool;
  } else if constexpr (std::is_arithmetic_v<U> || std::is_enum_v<U>) {
    return Kind::kTrivial;
  } else if constexpr (is_basic_string<U>::value) {
    return Kind::kString;
  } else if constexpr (is_optional<U>::value) {
    return Kind::kOptional;
  } else if constexpr (is_variant<U>::value) {
    return Kind::kVariant;
  } else if constexpr (is_tuple_like<U>::value) {
    return Kind::kTuple;
  } else if constexpr (is_std_array<U>::value) {
    return Kind::kArray;
  } else if constexpr (AssociativeContainer<U>) {
    return Kind::kAssociative;
  } else if constexpr (SequenceContainer<U>) {
    return Kind::kSequence;
  } else if constexpr (std::is_class_v<U> && has_cereal_v<U>) {
    return Kind::kCereal;
  } else if constexpr (bitwise_copyable_v<U>) {
    return Kind::kTrivial;
  } else {
    return Kind::kUnsupported;
  }
}
// NOLINTEND(bugprone-branch-clone)

// A map's value_type is pair<const K, V>: decode it as pair<K, V>.
template <class T>
struct decodable {
  using type = std::remove_cv_t<T>;
};
template <class K, class V>
struct decodable<std::pair<const K, V>> {
  using type = std::pair<K, V>;
};
template <class T>
using decodable_t = typename decodable<T>::type;

template <class T>
consteval bool picklable();

template <class Tuple>
struct all_picklable;
template <template <class...> class L, class... Ts>
struct all_picklable<L<Ts...>> : std::bool_constant<(picklable<Ts>() && ...)> {};
template <class T, std::size_t N>
struct all_picklable<std::array<T, N>> : std::bool_constant<picklable<T>()> {};

template <class T>
consteval bool picklable() {
  using U = std::remove_cv_t<T>;
  constexpr Kind k = kind_of<U>();
  if constexpr (k == Kind::kRejected || k == Kind::kUnsupported) {
    return false;
  } else if constexpr (k == Kind::kOptional) {
    return picklable<typename U::value_type>();
  } else if constexpr (k == Kind::kVariant || k == Kind::kTuple || k == Kind::kArray) {
    return all_picklable<U>::value;
  } else if constexpr (k == Kind::kSequence || k == Kind::kAssociative) {
    return picklable<decodable_t<typename U::value_type>>();
  } else {
    return true;
  }
}

// The fewest bytes any value of T takes on the wire (always >= 1).
template <class T>
consteval std::size_t min_wire_size() {
  using U = std::remove_cv_t<T>;
  constexpr Kind k = kind_of<U>();
  if constexpr (k == Kind::kBool || k == Kind::kOptional || k == Kind::kTuple ||
                k == Kind::kArray) {
    return 1;  // a tag byte; for tuples and arrays conservative (an empty one takes 1 byte)
  } else if constexpr (k == Kind::kTrivial) {
    return sizeof(U);
  } else if constexpr (k == Kind::kVariant || k == Kind::kHandle) {
    return 4;
  } else {
    return 8;  // strings, containers, cereal payloads: a u64 length first
  }
}

}  // namespace concur::multiprocessing::detail
