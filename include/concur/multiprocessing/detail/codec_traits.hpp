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
//                                                               see
//                                                               src/multiprocessing/handles.hpp)
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
//                 (templates over the archive: the codec uses
//                 its own archives, CerealOutputArchive below)
//   kTrivial      any other trivially copyable type          raw bytes (memcpy)
//                 (or trivially copy-constructible and destructible, see below)
//   kUnsupported  anything else                              (compile error)
//
// Every wire form takes at least one byte, so a count read from the input can be
// checked against the bytes left before anything is allocated.
#pragma once

#include <array>
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
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace concur::multiprocessing::detail {

// --- cereal archives -----------------------------------------------------------------
//
// The codec's own pair of cereal archives. Their bytes are exactly those of cereal's
// BinaryOutputArchive (arithmetic values raw, a size tag as cereal's u64 size_type), but
// they write to a Buffer and read a bounded span directly (no iostream), and the input
// archive does not trust the input:
//   - every read is bounds-checked (ValueError "truncated");
//   - a size tag (cereal reads one before it resizes a string, vector, map, ...) larger than
//     the bytes left is a ValueError before anything is allocated: every element takes at
//     least one byte, so no container can be made larger than the input allows. (The output
//     archive refuses to write a container whose elements encode to no bytes at all, an
//     empty class say, with more elements than bytes after its size: what encodes decodes.)
//   - a bool byte other than 0 or 1 is a ValueError;
//   - a std::map / set / unordered_map / unordered_set whose encoding repeats a key is a
//     ValueError (cereal's own load would keep one value and drop the other silently).

[[noreturn]] void cereal_truncated(std::size_t need, std::size_t at, std::size_t left);
[[noreturn]] void cereal_size_too_large(std::uint64_t n, std::size_t at, std::size_t left);
[[noreturn]] void cereal_bad_bool(unsigned value, std::size_t at);
[[noreturn]] void cereal_duplicate_key(const char* container);
/// Checks, after a save, that no size tag announces more elements than bytes follow it.
void cereal_check_sizes(const std::vector<std::pair<std::size_t, std::uint64_t>>& tags,
                        std::size_t end);

// In their own namespace: argument-dependent lookup finds their save/load functions there,
// and a `detail::load` elsewhere in concur is not hidden by them.
namespace archive {

class CerealOutputArchive
    : public cereal::OutputArchive<CerealOutputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit CerealOutputArchive(std::vector<std::byte>& out) : OutputArchive(this), out_(out) {}
  ~CerealOutputArchive() noexcept = default;
  CerealOutputArchive(const CerealOutputArchive&) = delete;
  CerealOutputArchive& operator=(const CerealOutputArchive&) = delete;

  void saveBinary(const void* data, std::size_t size) {
    const auto* b = static_cast<const std::byte*>(data);
    out_.insert(out_.end(), b, b + size);
  }
  /// A size tag of `n` elements was just written.
  void note_size(std::uint64_t n) {
    if (n != 0) tags_.emplace_back(out_.size(), n);
  }
  /// Throws ValueError if a size tag announces more elements than bytes follow it.
  void finish() const {
    if (!tags_.empty()) cereal_check_sizes(tags_, out_.size());
  }

 private:
  std::vector<std::byte>& out_;
  std::vector<std::pair<std::size_t, std::uint64_t>> tags_;  // (end of the tag, count)
};

class CerealInputArchive
    : public cereal::InputArchive<CerealInputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit CerealInputArchive(std::span<const std::byte> in) : InputArchive(this), in_(in) {}
  ~CerealInputArchive() noexcept = default;
  CerealInputArchive(const CerealInputArchive&) = delete;
  CerealInputArchive& operator=(const CerealInputArchive&) = delete;

  void loadBinary(void* data, std::size_t size) {
    if (size > remaining()) cereal_truncated(size, pos_, remaining());
    if (size != 0) std::memcpy(data, in_.data() + pos_, size);
    pos_ += size;
  }
  /// Throws ValueError unless `n` elements (one byte each at least) fit in what is left.
  void check_size(std::uint64_t n, std::size_t at) const {
    if (n > remaining()) cereal_size_too_large(n, at, remaining());
  }
  [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }
  [[nodiscard]] std::size_t position() const noexcept { return pos_; }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

// Found by argument-dependent lookup through the archive types.
template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(CerealOutputArchive& ar,
                                                                    const T& t) {
  ar.saveBinary(std::addressof(t), sizeof(T));
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(CerealInputArchive& ar, T& t) {
  if constexpr (std::is_same_v<T, bool>) {
    std::uint8_t b = 0;
    const std::size_t at = ar.position();
    ar.loadBinary(&b, 1);
    if (b > 1) cereal_bad_bool(b, at);
    t = b == 1;
  } else {
    ar.loadBinary(std::addressof(t), sizeof(T));
  }
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CerealOutputArchive& ar, const cereal::NameValuePair<T>& t) {
  ar(t.value);
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CerealInputArchive& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CerealOutputArchive& ar, const cereal::SizeTag<T>& t) {
  ar(t.size);
  ar.note_size(static_cast<std::uint64_t>(t.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CerealInputArchive& ar, cereal::SizeTag<T>& t) {
  const std::size_t at = ar.position();
  ar(t.size);
  using S = std::remove_cvref_t<decltype(t.size)>;
  if constexpr (std::is_signed_v<S>) {
    if (t.size < 0) cereal_size_too_large(~std::uint64_t{0}, at, ar.remaining());
  }
  ar.check_size(static_cast<std::uint64_t>(t.size), at);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CerealOutputArchive& ar, const cereal::BinaryData<T>& bd) {
  ar.saveBinary(bd.data, static_cast<std::size_t>(bd.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CerealInputArchive& ar, cereal::BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<std::size_t>(bd.size));
}

// Maps and sets without repeated keys: the wire of cereal's own (a size tag, then the keys
// or key/value items), loaded with a check that every key is new. More specialised than
// cereal's templates (the archive is fixed), so overload resolution prefers these.
template <class Map>
void cereal_load_map(CerealInputArchive& ar, Map& map, const char* name) {
  cereal::size_type size = 0;
  ar(cereal::make_size_tag(size));
  map.clear();
  for (cereal::size_type i = 0; i < size; ++i) {
    typename Map::key_type key;
    typename Map::mapped_type value;
    ar(cereal::make_map_item(key, value));
    if (!map.emplace(std::move(key), std::move(value)).second) cereal_duplicate_key(name);
  }
}
template <class Set>
void cereal_load_set(CerealInputArchive& ar, Set& set, const char* name) {
  cereal::size_type size = 0;
  ar(cereal::make_size_tag(size));
  set.clear();
  for (cereal::size_type i = 0; i < size; ++i) {
    typename Set::key_type key;
    ar(key);
    if (!set.emplace(std::move(key)).second) cereal_duplicate_key(name);
  }
}
template <class K, class V, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(CerealInputArchive& ar, std::map<K, V, C, A>& m) {
  cereal_load_map(ar, m, "std::map");
}
template <class K, class V, class H, class E, class A>
void CEREAL_LOAD_FUNCTION_NAME(CerealInputArchive& ar, std::unordered_map<K, V, H, E, A>& m) {
  cereal_load_map(ar, m, "std::unordered_map");
}
template <class K, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(CerealInputArchive& ar, std::set<K, C, A>& s) {
  cereal_load_set(ar, s, "std::set");
}
template <class K, class H, class E, class A>
void CEREAL_LOAD_FUNCTION_NAME(CerealInputArchive& ar, std::unordered_set<K, H, E, A>& s) {
  cereal_load_set(ar, s, "std::unordered_set");
}

}  // namespace archive

using archive::CerealInputArchive;
using archive::CerealOutputArchive;

}  // namespace concur::multiprocessing::detail

CEREAL_REGISTER_ARCHIVE(concur::multiprocessing::detail::CerealOutputArchive)
CEREAL_REGISTER_ARCHIVE(concur::multiprocessing::detail::CerealInputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(concur::multiprocessing::detail::CerealInputArchive,
                            concur::multiprocessing::detail::CerealOutputArchive)

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
concept SharedHandle = requires {
  typename T::concur_handle_tag;
};

template <class T>
inline constexpr bool has_cereal_v =
    cereal::traits::is_output_serializable<T, CerealOutputArchive>::value&&
        cereal::traits::is_input_serializable<T, CerealInputArchive>::value;

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
