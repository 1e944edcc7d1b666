// concur/bytes.hpp: concur::Bytes, Python's `bytes` as a C++ value type (also
// mp::Bytes). What the public API passes as raw bytes in both directions:
// Connection::recv_bytes returns one, send_bytes takes one (or any byte span or
// string), BufferTooShort carries one, Process::authkey is one.
//
//   concur::Bytes b("hello");                  // from a string (copies)
//   conn.send_bytes(b);                        // a Bytes is a contiguous range of std::byte
//   concur::Bytes got = conn.recv_bytes();
//   std::string s = got.str();                 // "hello"; got.string_view() does not copy
//   got == "hello";                            // true: compares the bytes with the chars
//   mp::loads<int>(got);                       // a std::span<const std::byte> is made implicitly
//
// What it is: a std::vector<std::byte> with conversions. It is a contiguous,
// sized range of std::byte, so std::span<const std::byte> (and std::span<std::byte>
// from a non-const one) is made from it implicitly, without copying; every API
// taking a byte span takes a Bytes. Made from a std::vector<std::byte> implicitly
// (adopting it, no copy); from a string, a char span or a byte span explicitly (a
// copy). Copies are deep; moves are cheap.
//
// Python parity:
//  - Python's bytes is immutable and bytearray mutable: one type here, mutable
//    through a non-const object (data(), operator[], push_back, append), immutable
//    through a const one. bytes(n) (n zero bytes) is Bytes(n).
//  - `b == "text"` compares the bytes with the characters (Python: b"text" ==
//    "text" is False, the types differ); Bytes == Bytes compares contents.
//  - repr() is Python's: b'hi\x00' (printable ASCII as is, \\ \' \t \n \r, others \xNN);
//    hex() is bytes.hex(); operator<< writes repr().
//  - It crosses a process boundary through the codec (a sequence of bytes), so
//    Queue<Bytes> works.
//  - Not everything byte-like is a Bytes: the codec's Buffer stays a
//    std::vector<std::byte> (the growable buffer encoders append to; a Bytes is
//    made from one without copying, and loads() takes a Bytes), and
//    SharedMemory::buf() stays a std::span<std::byte> (Python's memoryview: a
//    view of the segment; Bytes(shm.buf()) copies it).
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstring>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace concur {

class Bytes {
 public:
  using value_type = std::byte;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = std::byte&;
  using const_reference = const std::byte&;
  using iterator = std::byte*;
  using const_iterator = const std::byte*;
  using allocator_type = std::vector<std::byte>::allocator_type;

  Bytes() noexcept = default;
  /// Adopts the vector (no copy).
  Bytes(std::vector<std::byte> v) noexcept
      : v_(std::move(v)) {}  // NOLINT(google-explicit-constructor)
  /// `n` zero bytes (Python: bytes(n)).
  explicit Bytes(std::size_t n) : v_(n) {}
  /// Copies of the bytes / characters.
  explicit Bytes(std::span<const std::byte> s) : v_(s.begin(), s.end()) {}
  explicit Bytes(std::span<const char> s) : Bytes(std::as_bytes(s)) {}
  explicit Bytes(std::string_view s) : Bytes(std::span<const char>(s.data(), s.size())) {}
  explicit Bytes(const char* s) : Bytes(std::string_view(s)) {}
  explicit Bytes(const std::string& s) : Bytes(std::string_view(s)) {}

  [[nodiscard]] std::size_t size() const noexcept { return v_.size(); }
  [[nodiscard]] bool empty() const noexcept { return v_.empty(); }
  [[nodiscard]] std::byte* data() noexcept { return v_.data(); }
  [[nodiscard]] const std::byte* data() const noexcept { return v_.data(); }
  [[nodiscard]] std::byte* begin() noexcept { return v_.data(); }
  [[nodiscard]] std::byte* end() noexcept { return v_.data() + v_.size(); }
  [[nodiscard]] const std::byte* begin() const noexcept { return v_.data(); }
  [[nodiscard]] const std::byte* end() const noexcept { return v_.data() + v_.size(); }
  /// Unchecked.
  std::byte& operator[](std::size_t i) noexcept { return v_[i]; }
  const std::byte& operator[](std::size_t i) const noexcept { return v_[i]; }

  /// Views (valid until the Bytes changes or goes away).
  [[nodiscard]] std::span<std::byte> span() noexcept { return {v_.data(), v_.size()}; }
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return {v_.data(), v_.size()}; }
  [[nodiscard]] std::string_view string_view() const noexcept {
    return {reinterpret_cast<const char*>(v_.data()), v_.size()};
  }
  /// The bytes as a std::string (a copy; Python: b.decode('latin-1')).
  [[nodiscard]] std::string str() const { return std::string(string_view()); }
  /// The vector underneath; moved out of an rvalue.
  [[nodiscard]] const std::vector<std::byte>& vector() const& noexcept { return v_; }
  [[nodiscard]] std::vector<std::byte> vector() && noexcept { return std::move(v_); }

  void push_back(std::byte b) { v_.push_back(b); }
  void append(std::span<const std::byte> s) { v_.insert(v_.end(), s.begin(), s.end()); }
  void reserve(std::size_t n) { v_.reserve(n); }
  void resize(std::size_t n) { v_.resize(n); }
  void clear() noexcept { v_.clear(); }

  /// Python's bytes.hex(): two lowercase hex digits per byte.
  [[nodiscard]] std::string hex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * v_.size());
    for (std::byte b : v_) {
      const auto u = static_cast<unsigned>(b);
      out += kDigits[u >> 4U];
      out += kDigits[u & 15U];
    }
    return out;
  }
  /// Python's repr(): b'...'.
  [[nodiscard]] std::string repr() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out = "b'";
    for (std::byte b : v_) {
      const auto u = static_cast<unsigned>(b);
      switch (u) {
        case '\\':
          out += "\\\\";
          break;
        case '\'':
          out += "\\'";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          if (u >= 0x20 && u < 0x7f) {
            out += static_cast<char>(u);
          } else {
            out += "\\x";
            out += kDigits[u >> 4U];
            out += kDigits[u & 15U];
          }
      }
    }
    return out + "'";
  }

  friend bool operator==(const Bytes& a, const Bytes& b) noexcept { return a.v_ == b.v_; }
  friend std::strong_ordering operator<=>(const Bytes& a, const Bytes& b) noexcept {
    const std::size_t n = std::min(a.size(), b.size());
    const int c = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
    if (c != 0) return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
    return a.size() <=> b.size();
  }
  /// Compares the bytes with the characters of `s`.
  friend bool operator==(const Bytes& a, std::string_view s) noexcept {
    return a.string_view() == s;
  }
  friend std::ostream& operator<<(std::ostream& os, const Bytes& b) { return os << b.repr(); }

 private:
  std::vector<std::byte> v_;
};

namespace multiprocessing {
using concur::Bytes;  // mp::Bytes
}  // namespace multiprocessing

}  // namespace concur
