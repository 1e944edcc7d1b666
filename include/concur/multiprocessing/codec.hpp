// concur/multiprocessing/codec.hpp: values and exceptions as bytes, to cross a
// process boundary (Python: the `pickle` module, as multiprocessing uses it).
//
//   std::vector<std::byte> b = mp::dumps(std::map<std::string, std::vector<int>>{{"a", {1, 2}}});
//   auto m = mp::loads<std::map<std::string, std::vector<int>>>(b);  // equal to the original
//
// What crosses, with no ceremony (nested arbitrarily):
//   - arithmetic types, enums, and any other trivially copyable type (copied as raw bytes);
//   - std::string, std::vector / deque / list, std::map / multimap / unordered_map / set /
//     multiset / unordered_set, std::optional, std::variant, std::tuple, std::pair, std::array;
//   - a class with a cereal `serialize`, or `save` + `load`, member or free function
//     (https://uscilab.github.io/cereal/); it needs a default constructor. Inside such a
//     function cereal's own rules apply (the common std types are pre-included here).
//   - concur's process-shared objects (queues, connections, locks, Value/Array): as a
//     reference to the shared object, not a copy, and only where the OS can hand the
//     underlying file descriptors over, that is as arguments of a starting Process (under
//     every start method). Anywhere else (put on a Queue, say) encoding one throws
//     RuntimeError("... should only be shared between processes through inheritance"), as
//     Python does.
//
// What does not cross, as a compile error (a static_assert naming the problem): raw
// pointers, member pointers, references, C arrays (use std::array), std::string_view,
// std::span, std::reference_wrapper, std::function, and any class that is not trivially
// copyable and has no cereal function. `Picklable<T>` tells whether T crosses.
//
// NOT detected: a trivially copyable type that holds a pointer (a struct with an `int*`, a
// lambda capturing by reference) is copied as raw bytes and its pointers are garbage on
// the other side (always under `spawn`, and even under `fork` once the memory changes).
// Give such a type a cereal function, or do not send it. Padding bytes of trivially
// copyable types are copied as they are. A `bool` (or enum) inside a trivially copyable
// struct is not validated on decoding; a top-level or container `bool` is.
//
// Wire format (docs/design/0004-multiprocessing.md): native byte order and type sizes, for
// processes running the same build on the same architecture. `dumps` writes a 10-byte
// header (magic 0xC7, version 1, and a 64-bit fingerprint of T's mangled name) then the
// value; `encode` appends the bare value, for framing inside larger messages. Every message
// of a Queue<T>, SimpleQueue<T>, JoinableQueue<T> or Connection<T> is T's fingerprint then
// the bare value, so a message of another type is a concur::TypeError naming both types
// (the sender's when this process knows it).
//
// Errors: malformed input (truncated, a bad tag, a length beyond the buffer, trailing
// bytes, a buffer of another type, a map or set that repeats a key) throws
// concur::ValueError naming the problem; nothing else comes out of a decoder, whatever the
// bytes. Guaranteed for every type, user types included, so that input from a peer that is
// authenticated but buggy is safe to decode:
//   - the decoder never reads outside the span it is given;
//   - no allocation is larger than the remaining input allows: every count and length,
//     including cereal's size tags inside a user type's payload, is checked against the
//     bytes left before anything is sized (cereal payloads go through the codec's own
//     archives, detail::CerealInputArchive);
//   - a std::map / set / unordered_map / unordered_set (ours, or inside a cereal payload)
//     whose encoding repeats a key is a ValueError, not a silently dropped value
//     (multimap and multiset keep repeats);
//   - whatever a cereal load throws (cereal's own errors, a user load function's exception,
//     std::bad_alloc) comes out as ValueError("malformed cereal payload for <T>: ...").
// Encoding refuses (ValueError) a cereal container of elements that encode to no bytes
// (empty classes) with more elements than bytes after its size: it could not be decoded.
// User `serialize`/`save`/`load` functions must be templates over the archive (cereal's
// usual style): the codec's archives are not cereal::BinaryOutputArchive, though they
// write the same bytes.
//
// Thread safety: all functions are reentrant; a Reader is not shared between threads.
//
// Python parity: pickle.dumps → dumps, pickle.loads → loads<T> (the type is given, not
// read from the stream); PicklingError → a compile error; UnpicklingError → ValueError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/codec_traits.hpp"

namespace concur::multiprocessing {

/// Encoded bytes: the growable buffer encoders append to (concur::Bytes, the public
/// bytes type, is made from one without copying; loads() takes either).
using Buffer = std::vector<std::byte>;

/// True when values of T can cross a process boundary through the codec.
template <class T>
concept Picklable = detail::picklable<T>();

/// An exception that could not be rebuilt as its own type on this side: its demangled
/// type name (as the sending process spelled it), its message, the pid of the process
/// that raised it (0: unknown) and, when it came from another machine (a distributed
/// worker), that machine's host name (empty: this machine or unknown). what() is
/// "<type_name>: <message>", followed by " (in process <pid>)" when that is another process
/// than the one reading it, or " (in process <pid> on <host>)" when the host is known. It
/// crosses again unchanged (type name, pid and host). Python:
/// multiprocessing.pool.RemoteTraceback / the unpickled exception.
class RemoteError : public concur::RuntimeError {
 public:
  RemoteError(std::string type_name, std::string message, int pid = 0, std::string host = {});
  [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  [[nodiscard]] int pid() const noexcept { return pid_; }
  [[nodiscard]] const std::string& host() const noexcept { return host_; }

 private:
  std::string type_name_;
  std::string message_;
  int pid_ = 0;
  std::string host_;
};

/// A cursor over encoded bytes. Every read is bounds-checked: reading past the end
/// throws concur::ValueError and leaves nothing read out of bounds. Does not own the
/// bytes: they must outlive the Reader.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> data) noexcept : data_(data) {}

  /// The next `n` bytes; throws ValueError("...truncated...") if fewer remain.
  std::span<const std::byte> take(std::size_t n);
  /// Bytes left to read.
  [[nodiscard]] std::size_t remaining() const noexcept { return data_.size() - pos_; }
  /// Bytes read so far.
  [[nodiscard]] std::size_t position() const noexcept { return pos_; }
  [[nodiscard]] bool at_end() const noexcept { return pos_ == data_.size(); }
  /// Throws ValueError("...trailing bytes...") unless everything was read.
  void expect_end() const;
  /// Reads a u64 count of elements each at least `min_size` bytes long; throws ValueError
  /// if that many could not fit in the bytes left.
  std::size_t read_count(std::size_t min_size);

 private:
  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
};

namespace detail {

[[noreturn]] void throw_bad_input(const std::string& what);
[[noreturn]] void duplicate_key(const char* mangled);
/// Never called: the body of decode_value for a type that failed check_picklable.
[[noreturn]] void not_picklable() noexcept;
/// The demangled form of a typeid name ("std::vector<int, std::allocator<int> >").
std::string demangle(const char* mangled);
/// A 64-bit FNV-1a hash of a mangled type name: equal in every process of one build.
std::uint64_t fingerprint(const char* mangled) noexcept;
void write_header(Buffer& out, std::uint64_t fingerprint);
void read_header(Reader& in, std::uint64_t fingerprint, const char* mangled);

/// fingerprint(mangled), remembering the name so that an error about a buffer or a message
/// holding that type can name it (lock-free and fork-safe; a few thousand types at most are
/// remembered, beyond that they are only counted by fingerprint).
std::uint64_t register_fingerprint(const char* mangled) noexcept;
/// The demangled name of the type whose fingerprint is `fp`, if this process has met it
/// (through fingerprint_of), else "a type this process does not know (fingerprint 0x...)".
std::string describe_fingerprint(std::uint64_t fp);

template <class T>
std::uint64_t fingerprint_of() {
  static const std::uint64_t value = register_fingerprint(typeid(T).name());
  return value;
}

inline void put_bytes(Buffer& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  out.insert(out.end(), b, b + n);
}

template <class T>
void put_trivial(Buffer& out, const T& v) {
  if constexpr (std::is_empty_v<T>) {
    out.push_back(std::byte{0});  // its one byte holds no value: write a defined one
  } else {
    // Grown, then copied into (not insert(): g++ 12 at -O3 sees an insert into a vector it
    // knows empty as a write past a zero-sized region, -Wstringop-overflow).
    const std::size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));
  }
}

template <class T>
T get_trivial(Reader& in) {
  auto bytes = in.take(sizeof(T));
  // memcpy into suitably aligned storage implicitly creates the T (an implicit-lifetime
  // type: its copy constructor and destructor are trivial); T need not be default
  // constructible.
  alignas(T) std::byte storage[sizeof(T)];
  std::memcpy(storage, bytes.data(), sizeof(T));
  return *std::launder(reinterpret_cast<T*>(storage));
}

/// Queue and Connection messages: T's fingerprint (8 bytes) then T's bare encoding (for the
/// flat types of queues.hpp: the fingerprint, the u64 count, the elements).
template <class T>
void put_message_type(Buffer& out) {
  put_trivial<std::uint64_t>(out, fingerprint_of<T>());
}
/// Throws concur::TypeError naming both types when `fp` is not T's.
[[noreturn]] void wrong_message_type(std::uint64_t fp, const char* expected_mangled);
/// Reads a message's type fingerprint: TypeError if the message holds another type than T,
/// ValueError if it is shorter than a fingerprint.
template <class T>
void check_message_type(Reader& in) {
  if (in.remaining() < sizeof(std::uint64_t)) {
    throw_bad_input("a message of " + std::to_string(in.remaining()) +
                    " bytes is too short to say its type (sent with send_bytes?)");
  }
  const auto fp = get_trivial<std::uint64_t>(in);
  if (fp != fingerprint_of<T>()) wrong_message_type(fp, typeid(T).name());
}

void encode_cereal_begin(Buffer& out, std::size_t& length_at);
void encode_cereal_end(Buffer& out, std::size_t length_at);
/// Inside a catch block: throws ValueError("malformed cereal payload for <T>: <what>").
[[noreturn]] void rethrow_cereal_error(const char* mangled);

template <class T>
void encode_value(Buffer& out, const T& v);
template <class T>
T decode_value(Reader& in);

template <class T>
void encode_value(Buffer& out, const T& v) {
  using U = std::remove_cv_t<T>;
  constexpr Kind k = kind_of<U>();
  if constexpr (k == Kind::kHandle) {
    v.concur_encode_handle(out);
  } else if constexpr (k == Kind::kBool) {
    out.push_back(v ? std::byte{1} : std::byte{0});
  } else if constexpr (k == Kind::kTrivial) {
    put_trivial(out, v);
  } else if constexpr (k == Kind::kString) {
    put_trivial<std::uint64_t>(out, v.size());
    put_bytes(out, v.data(), v.size());
  } else if constexpr (k == Kind::kOptional) {
    out.push_back(v.has_value() ? std::byte{1} : std::byte{0});
    if (v.has_value()) encode_value(out, *v);
  } else if constexpr (k == Kind::kVariant) {
    if (v.valueless_by_exception()) throw_bad_input("cannot encode a valueless std::variant");
    put_trivial<std::uint32_t>(out, static_cast<std::uint32_t>(v.index()));
    std::visit([&out](const auto& alt) { encode_value(out, alt); }, v);
  } else if constexpr (k == Kind::kTuple) {
    if constexpr (std::tuple_size_v<U> == 0) {
      out.push_back(std::byte{0});
    } else {
      std::apply([&out](const auto&... e) { (encode_value(out, e), ...); }, v);
    }
  } else if constexpr (k == Kind::kArray) {
    using E = typename U::value_type;
    if constexpr (std::tuple_size_v<U> == 0) {
      out.push_back(std::byte{0});
    } else if constexpr (kind_of<E>() == Kind::kTrivial) {
      put_bytes(out, v.data(), sizeof(E) * v.size());
    } else {
      for (const auto& e : v) encode_value(out, e);
    }
  } else if constexpr (k == Kind::kSequence || k == Kind::kAssociative) {
    using E = typename U::value_type;
    put_trivial<std::uint64_t>(out, static_cast<std::uint64_t>(v.size()));
    if constexpr (std::is_same_v<U, std::vector<E, typename U::allocator_type>> &&
                  kind_of<E>() == Kind::kTrivial) {
      put_bytes(out, v.data(), sizeof(E) * v.size());
    } else {
      for (const auto& e : v) encode_value(out, e);
    }
  } else if constexpr (k == Kind::kCereal) {
    std::size_t length_at = 0;
    encode_cereal_begin(out, length_at);
    {
      CerealOutputArchive archive(out);
      archive(v);
      archive.finish();
    }
    encode_cereal_end(out, length_at);
  }
  // Otherwise T is not Picklable: the public entry points have already failed a
  // static_assert with the explanation; stay silent here so it is the only error.
}

template <class V, std::size_t... I>
V decode_variant(Reader& in, std::size_t index, std::index_sequence<I...>) {
  using Fn = V (*)(Reader&);
  static constexpr Fn table[] = {[](Reader& r) -> V {
    return V(std::in_place_index<I>, decode_value<std::variant_alternative_t<I, V>>(r));
  }...};
  return table[index](in);
}

template <class T>
T decode_value(Reader& in) {
  using U = std::remove_cv_t<T>;
  constexpr Kind k = kind_of<U>();
  if constexpr (k == Kind::kHandle) {
    return U::concur_decode_handle(in);
  } else if constexpr (k == Kind::kBool) {
    const auto b = get_trivial<std::uint8_t>(in);
    if (b > 1) throw_bad_input("bad bool byte " + std::to_string(b) + " (expected 0 or 1)");
    return b == 1;
  } else if constexpr (k == Kind::kTrivial) {
    return get_trivial<U>(in);
  } else if constexpr (k == Kind::kString) {
    const std::size_t n = in.read_count(1);
    auto bytes = in.take(n);
    // Constructed from the bytes: no zero-fill first (a 4 MiB string costs one pass, not two).
    return U(reinterpret_cast<const typename U::value_type*>(bytes.data()), n);
  } else if constexpr (k == Kind::kOptional) {
    const auto tag = get_trivial<std::uint8_t>(in);
    if (tag > 1) {
      throw_bad_input("bad std::optional tag " + std::to_string(tag) + " (expected 0 or 1)");
    }
    if (tag == 0) return U{};
    return U(decode_value<typename U::value_type>(in));
  } else if constexpr (k == Kind::kVariant) {
    const auto index = get_trivial<std::uint32_t>(in);
    if (index >= std::variant_size_v<U>) {
      throw_bad_input("bad std::variant index " + std::to_string(index) + " (the variant has " +
                      std::to_string(std::variant_size_v<U>) + " alternatives)");
    }
    return decode_variant<U>(in, index, std::make_index_sequence<std::variant_size_v<U>>{});
  } else if constexpr (k == Kind::kTuple) {
    if constexpr (std::tuple_size_v<U> == 0) {
      if (get_trivial<std::uint8_t>(in) != 0) throw_bad_input("bad empty-tuple byte");
      return U{};
    } else {
      return [&in]<std::size_t... I>(std::index_sequence<I...>) {
        // Braced initialisation evaluates the elements left to right.
        return U{decode_value<std::tuple_element_t<I, U>>(in)...};
      }
      (std::make_index_sequence<std::tuple_size_v<U>>{});
    }
  } else if constexpr (k == Kind::kArray) {
    using E = typename U::value_type;
    if constexpr (std::tuple_size_v<U> == 0) {
      if (get_trivial<std::uint8_t>(in) != 0) throw_bad_input("bad empty-array byte");
      return U{};
    } else if constexpr (kind_of<E>() == Kind::kTrivial) {
      return get_trivial<U>(in);
    } else {
      return [&in]<std::size_t... I>(std::index_sequence<I...>) {
        return U{((void)I, decode_value<E>(in))...};
      }
      (std::make_index_sequence<std::tuple_size_v<U>>{});
    }
  } else if constexpr (k == Kind::kSequence || k == Kind::kAssociative) {
    using E = decodable_t<typename U::value_type>;
    const std::size_t n = in.read_count(min_wire_size<E>());
    U c;
    if constexpr (std::is_same_v<U, std::vector<E, typename U::allocator_type>> &&
                  kind_of<E>() == Kind::kTrivial && std::is_trivially_copyable_v<E> &&
                  std::is_default_constructible_v<E>) {
      auto bytes = in.take(n * sizeof(E));  // n * sizeof(E) <= remaining: no overflow
      c.resize(n);
      if (n != 0) std::memcpy(static_cast<void*>(c.data()), bytes.data(), bytes.size());
    } else {
      if constexpr (requires { c.reserve(n); }) c.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        if constexpr (k == Kind::kSequence) {
          c.push_back(decode_value<E>(in));
        } else if constexpr (requires { c.insert(decode_value<E>(in)).second; }) {
          // map, set, unordered_map, unordered_set: a repeated key is malformed input
          // (inserting it would drop a value silently).
          if (!c.insert(decode_value<E>(in)).second) duplicate_key(typeid(U).name());
        } else {
          c.insert(decode_value<E>(in));  // multimap, multiset: repeats are values
        }
      }
    }
    return c;
  } else if constexpr (k == Kind::kCereal) {
    const std::size_t n = in.read_count(1);
    auto bytes = in.take(n);
    U value{};
    std::size_t consumed = 0;
    try {
      CerealInputArchive archive(bytes);
      archive(value);
      consumed = archive.position();
    } catch (...) {
      // Whatever a load throws (cereal's own errors, the archive's ValueError, a user
      // function's exception, std::bad_alloc) comes out as a ValueError naming T.
      rethrow_cereal_error(typeid(U).name());
    }
    if (consumed != n) {
      throw_bad_input("cereal payload of " + demangle(typeid(U).name()) + " has " +
                      std::to_string(n - consumed) + " unread bytes");
    }
    return value;
  } else {
    not_picklable();  // see encode_value
  }
}

template <class T>
constexpr void check_picklable() {
  static_assert(
      Picklable<T>,
      "concur::multiprocessing: this type cannot cross a process boundary. Rejected: raw "
      "pointers, member pointers, references, C arrays (use std::array), std::string_view, "
      "std::span, std::reference_wrapper, std::function, and classes that are neither "
      "trivially copyable nor given a cereal serialize/save/load function (at any nesting "
      "depth). See concur/multiprocessing/codec.hpp.");
}

}  // namespace detail

/// Appends the bare encoding of `value` (no header) to `out`. Throws ValueError only for a
/// valueless std::variant; exceptions from a cereal function propagate.
template <class T>
void encode(Buffer& out, const T& value) {
  detail::check_picklable<T>();
  detail::encode_value(out, value);
}

/// Reads one bare value of type T written by `encode<T>`, advancing `in`. Throws
/// ValueError on malformed input; `in` is then left at an unspecified position.
template <class T>
T decode(Reader& in) {
  detail::check_picklable<T>();
  return detail::decode_value<T>(in);
}

/// `value` as a self-describing buffer: header (magic, version, type fingerprint) + value.
/// Python: pickle.dumps(value).
template <class T>
Buffer dumps(const T& value) {
  detail::check_picklable<T>();
  Buffer out;
  detail::write_header(out, detail::fingerprint_of<T>());
  detail::encode_value(out, value);
  return out;
}

/// The value that `dumps<T>` wrote. Throws ValueError if `bytes` is not exactly one value
/// of type T (wrong magic or version, another type, truncated, trailing bytes, a bad tag).
/// Python: pickle.loads(bytes).
template <class T>
T loads(std::span<const std::byte> bytes) {
  detail::check_picklable<T>();
  Reader in(bytes);
  detail::read_header(in, detail::fingerprint_of<T>(), typeid(T).name());
  T value = detail::decode_value<T>(in);
  in.expect_end();
  return value;
}

// --- Exceptions ---------------------------------------------------------------------
//
// These are rebuilt as the same type with the same what(): std::exception's standard
// subclasses (logic_error, invalid_argument, domain_error, length_error, out_of_range,
// runtime_error, range_error, overflow_error, underflow_error, bad_alloc), system_error
// (its code value and category when generic, system, iostream or future), concur's
// RuntimeError, ValueError, TypeError, TimeoutError, EOFError, NotImplementedError,
// BrokenBarrierError, every member of the OSError family (OSError, FileNotFoundError,
// PermissionError, BrokenPipeError, ...: rebuilt from the errno, as CPython's OSError
// constructor does, so the class is the one the errno maps to), the futures errors (Error,
// CancelledError, InvalidStateError, BrokenExecutor, BrokenThreadPool, BrokenProcessPool,
// BrokenInterpreterPool, ExecutionFailed), queue::Empty and queue::Full, multiprocessing's
// ProcessError and AuthenticationError, and RemoteError itself. The dynamic type must match
// exactly: a subclass of one of these (a user's `struct MyError : concur::ValueError`) and any
// other exception come back as RemoteError(demangled type name, what()), unless the program
// registered its type (exception_registry.hpp: CONCUR_REGISTER_EXCEPTION(MyError)), which
// then crosses as itself; a thrown non-exception (`throw 42`) as RemoteError("int", "").

/// Appends an encoded exception to `out`. Never throws except std::bad_alloc; a null
/// `e` is a ValueError.
void encode_exception(Buffer& out, const std::exception_ptr& e);
/// A buffer holding only the encoded exception.
Buffer encode_exception(const std::exception_ptr& e);
/// The exception `encode_exception` wrote, advancing `in`. Throws ValueError (directly,
/// not as the result) on malformed input.
std::exception_ptr decode_exception(Reader& in);
/// Throws the exception that `encode_exception` wrote (or ValueError if malformed).
[[noreturn]] void rethrow_decoded(Reader& in);
[[noreturn]] void rethrow_decoded(std::span<const std::byte> bytes);

}  // namespace concur::multiprocessing
