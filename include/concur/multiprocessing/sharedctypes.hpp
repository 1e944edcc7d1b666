// concur/multiprocessing/sharedctypes.hpp: Python's multiprocessing.{Value, Array,
// RawValue, RawArray}: typed values and arrays in memory shared between processes.
//
// What they are
//   A Value<T> holds one T, an Array<T> n of them, in a block of shared memory (a memfd:
//   nothing in /dev/shm, freed with its last handle in any process). C++ objects are
//   handles: copies refer to the same shared data. They cross to a child process as
//   Process arguments (or are inherited under `fork`), never through a Queue
//   (RuntimeError "...should only be shared between processes through inheritance").
//
//   Value<T> and Array<T> are synchronised: each carries a lock (its own mp::RLock by
//   default, kept in the same shared block, so one fd crosses per object; or an mp::Lock /
//   mp::RLock you pass, shared with other objects). value()/set()/get()/set_slice()...
//   take that lock for the one access, as Python's synchronised wrappers do. For a
//   compound update hold get_lock() and work on get_obj() (the raw shared data):
//
//     mp::Value<int> counter(0);
//     {
//       std::scoped_lock g(counter.get_lock());   // with counter.get_lock():
//       counter.get_obj() += 1;                   //     counter.value += 1
//     }
//
//   RawValue<T> and RawArray<T> have no lock: every access is a plain, unsynchronised
//   read or write of shared memory (Python's RawValue/RawArray, or lock=False).
//
// Python → C++
//   Value('i', 7)                        mp::Value<int>(7)
//   Value('d', 0.5, lock=True / None)    mp::Value<double>(0.5)
//   Value('i', 0, lock=my_lock)          mp::Value<int, mp::Lock>(0, my_lock)
//   Value('i', 0, lock=my_rlock)         mp::Value<int>(0, my_rlock)
//   Value('i', 0, lock=False)            mp::RawValue<int>(0)
//   RawValue('h', 3)                     mp::RawValue<short>(3)
//   v.value  /  v.value = x              v.value()  /  v.set(x)
//   v.get_lock() / v.get_obj()           v.get_lock() (the lock) / v.get_obj() (T&, raw)
//   Array('i', 10)                       mp::Array<int>(10)           (zero-filled)
//   Array('i', [1, 2, 3])                mp::Array<int>({1, 2, 3}) or mp::Array<int>(vec)
//   Array('i', seq, lock=l)              mp::Array<int, mp::Lock>(seq, l)
//   RawArray('d', 5) / lock=False        mp::RawArray<double>(5)
//   len(a), a[i], a[i] = x               a.size(), a.get(i) (negative i from the end),
//                                        a.set(i, x)   (IndexError → std::out_of_range)
//   a[i:j], a[i:j] = seq                 a.slice(i, j) (a std::vector copy; a RawArray
//                                        gives a std::span view), a.set_slice(i, seq)
//   for x in a, a[:]                     a.to_vector() (under the lock), or iterate
//                                        a.get_obj() (a std::span over the raw data)
//   an invalid lock argument             a compile error (Python: AttributeError)
//
//   typecode   C++ type          typecode   C++ type
//   'c'        char              'b' / 'B'  signed char / unsigned char
//   'h' / 'H'  short / unsigned short        'i' / 'I'  int / unsigned
//   'l' / 'L'  long / unsigned long          'q' / 'Q'  long long / unsigned long long
//   'f' / 'd'  float / double    '?'        bool
//   Any trivially copyable T works (a struct of plain fields, std::array...); anything
//   else, and pointers, are a compile error. Python's c_char_p/c_wchar_p have no analogue.
//
// Pitfall (as std::vector): mp::Array<int>{10} is ONE element (10); mp::Array<int>(10) is
//   ten zeros.
//
// What throws: concur::OSError when the shared block cannot be created; get/set/slice
// out of range: std::out_of_range (Python's IndexError); set_slice with a sequence that
// does not fit: ValueError. Lock errors as mp::Lock/RLock (a Value<T, Lock> whose lock the
// caller already holds throws RuntimeError "deadlock" from value()/set(): use get_obj()).
//
// Robustness: the default lock is robust (synchronize.hpp): a process that dies holding
// it hands it to the next acquirer with get_lock().owner_died() true; the data may then be
// half-written (a T is written with memcpy, not atomically).
//
// Thread safety: synchronised accessors are safe from any thread of any process; raw
// access (get_obj(), operator[], RawValue/RawArray) is the caller's business.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "concur/multiprocessing/synchronize.hpp"

namespace concur::multiprocessing {

namespace detail {

/// Before the elements of a Value/Array in shared memory.
struct SharedArrayHeader {
  std::uint32_t magic;      // kValueMagic or kArrayMagic
  std::uint32_t elem_size;  // sizeof(T): a handle decoded as another T is a ValueError
  std::uint64_t count;
};

template <class T>
inline constexpr std::size_t kDataOffset = align_up(sizeof(SharedArrayHeader), alignof(T));
template <class T>
inline constexpr std::size_t kHeaderAlign = alignof(T) > 64 ? alignof(T) : 64;
inline constexpr std::size_t kLockSpace = align_up(sizeof(MutexState), 64);

template <class T>
void check_element_type() {
  static_assert(std::is_trivially_copyable_v<T>,
                "mp::Value/Array<T>: T must be trivially copyable (it lives in shared "
                "memory and is copied as bytes)");
  static_assert(!std::is_pointer_v<T> && !std::is_member_pointer_v<T>,
                "mp::Value/Array<T>: T may not be a pointer (meaningless in another process)");
  static_assert(!std::is_const_v<T> && !std::is_volatile_v<T> && !std::is_reference_v<T>,
                "mp::Value/Array<T>: T must be a plain object type");
}

/// A new region holding [an optional lock][header][count T's, zero-filled]; the returned
/// ref points at the header.
template <class T>
SharedRef new_shared_array(std::uint32_t magic, std::size_t count, bool with_lock,
                           const char* what) {
  const std::size_t at = with_lock ? align_up(kLockSpace, kHeaderAlign<T>) : 0;
  if (count > (SIZE_MAX - at - kDataOffset<T>) / (sizeof(T) == 0 ? 1 : sizeof(T)))
    throw ValueError(std::string(what) + ": too many elements");
  SharedRef ref;
  const std::size_t bytes = at + kDataOffset<T> + count * sizeof(T);
  ref.region = create_region(bytes, what);
  ref.offset = at;
  auto* h = new (ref.region->at<SharedArrayHeader>(at)) SharedArrayHeader{};
  h->elem_size = static_cast<std::uint32_t>(sizeof(T));
  h->count = count;
  __atomic_store_n(&h->magic, magic, __ATOMIC_RELEASE);
  return ref;
}

template <class T>
SharedRef decode_shared_array(Reader& in, std::uint32_t magic, const char* what) {
  SharedRef ref = decode_ref(in, kDataOffset<T>, magic, what);
  const auto& h = ref.state<SharedArrayHeader>();
  if (h.elem_size != sizeof(T))
    throw ValueError(std::string("malformed ") + what + " handle: elements of " +
                     std::to_string(h.elem_size) + " bytes, expected " + std::to_string(sizeof(T)));
  if (ref.offset % alignof(T) != 0 ||
      (ref.region->size() - ref.offset - kDataOffset<T>) / sizeof(T) < h.count)
    throw ValueError(std::string("malformed ") + what +
                     " handle: the elements do not fit the shared block");
  return ref;
}

template <class T>
T* shared_data(const SharedRef& ref) noexcept {
  return ref.region->template at<T>(ref.offset + kDataOffset<T>);
}

// Python's index rules: negative counts from the end; out of range: IndexError.
inline std::size_t checked_index(std::ptrdiff_t i, std::size_t n, const char* what) {
  const auto sn = static_cast<std::ptrdiff_t>(n);
  const std::ptrdiff_t j = i < 0 ? i + sn : i;
  if (j < 0 || j >= sn)
    throw std::out_of_range(std::string("IndexError: ") + what + " index " + std::to_string(i) +
                            " out of range (size " + std::to_string(n) + ")");
  return static_cast<std::size_t>(j);
}
// Python's slice bounds: clamped, negative from the end.
inline std::pair<std::size_t, std::size_t> slice_bounds(std::ptrdiff_t start, std::ptrdiff_t stop,
                                                        std::size_t n) {
  const auto sn = static_cast<std::ptrdiff_t>(n);
  auto norm = [sn](std::ptrdiff_t i) {
    if (i < 0) i += sn;
    return static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(i, 0, sn));
  };
  const std::size_t a = norm(start);
  const std::size_t b = norm(stop);
  return {a, std::max(a, b)};
}

template <class L>
inline constexpr bool is_mp_lock = std::is_same_v<L, Lock> || std::is_same_v<L, RLock>;

}  // namespace detail

/// multiprocessing.RawValue: one T in shared memory, no lock.
template <class T>
class RawValue {
 public:
  using concur_handle_tag = void;
  using value_type = T;

  explicit RawValue(const T& value = T{})
      : RawValue(detail::new_shared_array<T>(detail::kValueMagic, 1, false, "RawValue")) {
    set(value);
  }

  /// The value (an unsynchronised read).
  [[nodiscard]] T value() const noexcept {
    T v;
    std::memcpy(static_cast<void*>(&v), data(), sizeof(T));
    return v;
  }
  /// Writes the value (an unsynchronised write).
  void set(const T& v) noexcept { std::memcpy(static_cast<void*>(data()), &v, sizeof(T)); }
  /// The shared T itself.
  [[nodiscard]] T& ref() const noexcept { return *data(); }

  void concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "RawValue"); }
  static RawValue concur_decode_handle(Reader& in) {
    return RawValue(detail::decode_shared_array<T>(in, detail::kValueMagic, "RawValue"));
  }

 private:
  template <class U, class L>
  friend class Value;
  explicit RawValue(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {
    detail::check_element_type<T>();
  }
  [[nodiscard]] T* data() const noexcept { return detail::shared_data<T>(ref_); }
  detail::SharedRef ref_;
};

/// multiprocessing.Value: one T in shared memory with a lock (L = RLock or Lock).
template <class T, class L = RLock>
class Value {
  static_assert(detail::is_mp_lock<L>, "mp::Value<T, L>: L must be mp::Lock or mp::RLock");

 public:
  using concur_handle_tag = void;
  using value_type = T;
  using lock_type = L;

  /// `value` with a new lock of type L (kept in the same shared block).
  explicit Value(const T& value = T{}) : Value(own(), value) {}
  /// `value` guarded by `lock` (a handle: other objects may share it).
  Value(const T& value, L lock)
      : raw_(detail::new_shared_array<T>(detail::kValueMagic, 1, false, "Value")),
        lock_(std::move(lock)) {
    raw_.set(value);
  }

  /// The value, read under the lock.
  [[nodiscard]] T value() const {
    std::scoped_lock g(lock_);
    return raw_.value();
  }
  /// Writes the value under the lock.
  void set(const T& v) {
    std::scoped_lock g(lock_);
    raw_.set(v);
  }
  /// The lock (Python's get_lock()).
  [[nodiscard]] L& get_lock() const noexcept { return lock_; }
  /// The shared T itself, unsynchronised (Python's get_obj()).
  [[nodiscard]] T& get_obj() const noexcept { return raw_.ref(); }

  void concur_encode_handle(Buffer& out) const {
    raw_.concur_encode_handle(out);
    lock_.concur_encode_handle(out);
  }
  static Value concur_decode_handle(Reader& in) {
    auto raw = detail::decode_shared_array<T>(in, detail::kValueMagic, "Value");
    return Value(RawValue<T>(std::move(raw)), L::concur_decode_handle(in));
  }

 private:
  struct Own {
    detail::SharedRef ref;
  };
  static Own own() { return {detail::new_shared_array<T>(detail::kValueMagic, 1, true, "Value")}; }
  Value(Own o, const T& value) : raw_(o.ref), lock_(detail::InRegion{}, o.ref.region, 0) {
    raw_.set(value);
  }
  Value(RawValue<T> raw, L lock) noexcept : raw_(std::move(raw)), lock_(std::move(lock)) {}

  RawValue<T> raw_;
  mutable L lock_;
};

/// multiprocessing.RawArray: n T's in shared memory, no lock. A contiguous range.
template <class T>
class RawArray {
 public:
  using concur_handle_tag = void;
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  /// `n` zero-filled elements (Python: RawArray(code, n)).
  explicit RawArray(std::size_t n)
      : RawArray(detail::new_shared_array<T>(detail::kArrayMagic, n, false, "RawArray")) {}
  /// A copy of `values`.
  RawArray(std::initializer_list<T> values)
      : RawArray(std::span<const T>(values.begin(), values.size())) {}
  /// A copy of a range of T (a vector, a span, ...).
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, T>
  explicit RawArray(const R& values)
      : RawArray(detail::new_shared_array<T>(detail::kArrayMagic, range_size(values), false,
                                             "RawArray")) {
    std::ranges::copy(values, data());
  }

  [[nodiscard]] std::size_t size() const noexcept {
    return ref_.template state<detail::SharedArrayHeader>().count;
  }
  [[nodiscard]] T* data() const noexcept { return detail::shared_data<T>(ref_); }
  /// Unchecked element access.
  T& operator[](std::size_t i) const noexcept { return data()[i]; }
  /// Checked access; a negative index counts from the end. Out of range: std::out_of_range.
  [[nodiscard]] T get(std::ptrdiff_t i) const {
    return data()[detail::checked_index(i, size(), "array")];
  }
  void set(std::ptrdiff_t i, const T& v) const {
    data()[detail::checked_index(i, size(), "array")] = v;
  }
  /// Python's a[start:stop] (bounds clamped, negative from the end), as a view.
  [[nodiscard]] std::span<T> slice(std::ptrdiff_t start, std::ptrdiff_t stop) const noexcept {
    const auto [a, b] = detail::slice_bounds(start, stop, size());
    return get_obj().subspan(a, b - a);
  }
  /// Python's a[start:start+len(values)] = values; ValueError when it does not fit.
  void set_slice(std::ptrdiff_t start, std::span<const T> values) const {
    const auto [a, b] = detail::slice_bounds(start, static_cast<std::ptrdiff_t>(size()), size());
    if (values.size() > b - a)
      throw ValueError("set_slice: " + std::to_string(values.size()) +
                       " values do not fit after index " + std::to_string(a) + " of " +
                       std::to_string(size()));
    std::copy(values.begin(), values.end(), data() + a);
  }
  [[nodiscard]] std::span<T> get_obj() const noexcept { return {data(), size()}; }
  [[nodiscard]] std::vector<T> to_vector() const { return {data(), data() + size()}; }
  [[nodiscard]] T* begin() const noexcept { return data(); }
  [[nodiscard]] T* end() const noexcept { return data() + size(); }

  void concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "RawArray"); }
  static RawArray concur_decode_handle(Reader& in) {
    return RawArray(detail::decode_shared_array<T>(in, detail::kArrayMagic, "RawArray"));
  }

 private:
  template <class U, class L>
  friend class Array;
  template <class R>
  static std::size_t range_size(const R& r) {
    if constexpr (std::ranges::sized_range<R>)
      return static_cast<std::size_t>(std::ranges::size(r));
    else
      return static_cast<std::size_t>(std::ranges::distance(r));
  }
  explicit RawArray(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {
    detail::check_element_type<T>();
  }
  detail::SharedRef ref_;
};

/// multiprocessing.Array: n T's in shared memory with a lock (L = RLock or Lock).
template <class T, class L = RLock>
class Array {
  static_assert(detail::is_mp_lock<L>, "mp::Array<T, L>: L must be mp::Lock or mp::RLock");

 public:
  using concur_handle_tag = void;
  using value_type = T;
  using lock_type = L;

  /// `n` zero-filled elements, with a new lock (kept in the same shared block).
  explicit Array(std::size_t n) : Array(own(n)) {}
  Array(std::initializer_list<T> values) : Array(own(values.size())) {
    std::ranges::copy(values, raw_.data());
  }
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, T>
  explicit Array(const R& values) : Array(own(RawArray<T>::range_size(values))) {
    std::ranges::copy(values, raw_.data());
  }
  /// The same, guarded by `lock` (a handle: other objects may share it).
  Array(std::size_t n, L lock) : raw_(n), lock_(std::move(lock)) {}
  Array(std::initializer_list<T> values, L lock) : raw_(values), lock_(std::move(lock)) {}
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, T> Array(const R& values, L lock)
      : raw_(values), lock_(std::move(lock)) {}

  [[nodiscard]] std::size_t size() const noexcept { return raw_.size(); }
  /// Element i under the lock; negative from the end; out of range: std::out_of_range.
  [[nodiscard]] T get(std::ptrdiff_t i) const {
    std::scoped_lock g(lock_);
    return raw_.get(i);
  }
  void set(std::ptrdiff_t i, const T& v) {
    std::scoped_lock g(lock_);
    raw_.set(i, v);
  }
  /// Python's a[start:stop], copied under the lock.
  [[nodiscard]] std::vector<T> slice(std::ptrdiff_t start, std::ptrdiff_t stop) const {
    std::scoped_lock g(lock_);
    const auto s = raw_.slice(start, stop);
    return {s.begin(), s.end()};
  }
  /// Python's a[start:start+len(values)] = values, under the lock.
  void set_slice(std::ptrdiff_t start, std::span<const T> values) {
    std::scoped_lock g(lock_);
    raw_.set_slice(start, values);
  }
  void set_slice(std::ptrdiff_t start, std::initializer_list<T> values) {
    set_slice(start, std::span<const T>(values.begin(), values.size()));
  }
  /// Every element, copied under the lock (Python's a[:]).
  [[nodiscard]] std::vector<T> to_vector() const {
    std::scoped_lock g(lock_);
    return raw_.to_vector();
  }
  /// Unsynchronised element access (hold get_lock() for consistency).
  T& operator[](std::size_t i) const noexcept { return raw_[i]; }
  [[nodiscard]] L& get_lock() const noexcept { return lock_; }
  /// The shared elements, unsynchronised (Python's get_obj()).
  [[nodiscard]] std::span<T> get_obj() const noexcept { return raw_.get_obj(); }
  [[nodiscard]] T* begin() const noexcept { return raw_.begin(); }
  [[nodiscard]] T* end() const noexcept { return raw_.end(); }

  void concur_encode_handle(Buffer& out) const {
    raw_.concur_encode_handle(out);
    lock_.concur_encode_handle(out);
  }
  static Array concur_decode_handle(Reader& in) {
    auto raw = detail::decode_shared_array<T>(in, detail::kArrayMagic, "Array");
    return Array(RawArray<T>(std::move(raw)), L::concur_decode_handle(in));
  }

 private:
  struct Own {
    detail::SharedRef ref;
  };
  static Own own(std::size_t n) {
    return {detail::new_shared_array<T>(detail::kArrayMagic, n, true, "Array")};
  }
  explicit Array(Own o) : raw_(o.ref), lock_(detail::InRegion{}, o.ref.region, 0) {}
  Array(RawArray<T> raw, L lock) noexcept : raw_(std::move(raw)), lock_(std::move(lock)) {}

  RawArray<T> raw_;
  mutable L lock_;
};

}  // namespace concur::multiprocessing
