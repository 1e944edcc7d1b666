// concur/multiprocessing/shareable_list.hpp: Python's
// multiprocessing.shared_memory.ShareableList, a fixed-length list of scalars and short
// strings stored in a SharedMemory segment, which other processes attach to by name.
//
//   namespace shm = concur::multiprocessing::shared_memory;
//   shm::ShareableList sl({"howdy", shm::to_bytes("HoWdY"), -273.154, 100, shm::Item{}, true, 42});
//   sl.size();                       // 7
//   sl[-2];                          // Item(true)
//   sl.set(4, "some");               // a slot may change type (None -> str)
//   shm::ShareableList other(sl.shm().name());   // another process: attach by name
//   other.set(-1, 880);              // sl[-1] == Item(std::int64_t{880})
//   other.shm().close();
//   sl.shm().close();
//   sl.shm().unlink();
//
// Items: Item = std::variant<std::monostate, bool, std::int64_t, double, std::string,
// Bytes>, for Python's None, bool, int (64-bit), float, str and bytes. std::monostate
// (Item{}) is None. A string literal is a std::string, an integer an std::int64_t.
//
// Fixed at creation: the number of slots and each slot's room. A bool, int, float or None
// slot has 8 bytes; a str or bytes slot of n bytes has 8 * (n / 8 + 1) (so "howdy" has 8,
// and an 8-byte string 16), as in Python. A slot can take any item whose encoding fits its
// room: every scalar fits everywhere; a longer str/bytes raises ValueError("... exceeds
// available storage") and leaves the slot and its neighbours unchanged. Strings are bytes
// (UTF-8 if you like): their room is counted in bytes.
//
// Indices are std::int64_t and may be negative (from the end). Out of range: std::out_of_range
// (Python's IndexError; concur has no IndexError type).
//
// Equality (index, count): std::variant's, so exact type and value: 1, true and 1.0 are
// three different items (in Python they are equal). index() of a missing item raises
// ValueError.
//
// Concurrency: like Python's, none of its own. Each get/set copies bytes to or from the
// segment; a reader racing a writer of the same slot can see a torn value. Order them
// with a Lock (or by join). Different slots may be used concurrently.
//
// After shm().close(): every access raises ValueError ("... is closed"), never a crash.
//
// Segment layout (native byte order; not CPython's struct layout, which is not needed):
//
//     offset            size        field
//     0                 8           magic "CONCSL01"
//     8                 8           n: the number of slots (u64)
//     16                8 * (n+1)   offsets (u64): slot i spans [offsets[i], offsets[i+1])
//     offsets[i]        4           the slot's kind (u32): 0 None, 1 bool, 2 int,
//                                   3 float, 4 str, 5 bytes
//     offsets[i] + 4    4           for str/bytes, the length in bytes (u32); else 0
//     offsets[i] + 8    room        the value: int64/double/bool(1 byte) in the first 8
//                                   bytes; str/bytes their bytes. room is a multiple of 8
//                                   (>= 8), so every slot starts 8-byte aligned.
//
// The segment's size is 16 + 8 * (n + 1) + the slots' sizes (24 bytes for an empty list);
// Unlike Python (which strips trailing NULs), a str or bytes with trailing NUL bytes reads
// back whole: lengths are stored. Attaching checks the magic and every offset (ValueError
// "... is not a ShareableList" otherwise).
//
// Crossing to another process: Picklable, by the segment's name, like SharedMemory;
// decoding attaches.
//
// Python parity: ShareableList(sequence) → ShareableList({...}) or
// ShareableList(std::vector<Item>, name); ShareableList(name=...) → ShareableList(name)
// (a std::string); len → size(); sl[i] → sl[i] / get(i); sl[i] = v → set(i, v); index,
// count; .shm → shm(); iteration → begin()/end() (items by value) or items(); repr →
// repr() ("ShareableList(['howdy', b'HoWdY', ...], name='psm_1a2b3c4d')"). Not provided:
// .format (the layout differs). Copying into a new segment: ShareableList(sl.items(), name).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "concur/bytes.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/shared_memory.hpp"

namespace concur::multiprocessing::shared_memory {

/// Python's bytes: concur::Bytes (concur/bytes.hpp).
using concur::Bytes;
/// One ShareableList item: None, bool, int, float, str or bytes.
using Item = std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes>;

/// The bytes of `s`: to_bytes("HoWdY") is Python's b'HoWdY'.
Bytes to_bytes(std::string_view s);
/// Python's repr of an item: None, True, 100, -273.154, 'howdy', b'HoWdY'.
std::string repr(const Item& item);

class ShareableList {
 public:
  /// Creates an empty list in a new segment.
  ShareableList();
  /// Creates a list of `items` in a new segment, named `name` (else "/psm_<random>").
  /// `track`: as SharedMemory's (default: tracked by the resource tracker; Python's
  /// ShareableList has no such argument). Errors: as SharedMemory's creation
  /// (FileExistsError, ...); ValueError for a str or bytes item longer than 2^32 - 9 bytes.
  ShareableList(std::initializer_list<Item> items, std::optional<std::string> name = std::nullopt);
  explicit ShareableList(const std::vector<Item>& items,
                         std::optional<std::string> name = std::nullopt,
                         std::optional<bool> track = std::nullopt);
  /// Attaches to the list in segment `name` (untracked, as SharedMemory's attach).
  /// FileNotFoundError if there is none; ValueError if it is not a ShareableList.
  explicit ShareableList(const std::string& name);
  explicit ShareableList(const char* name) : ShareableList(std::string(name)) {}
  /// Attaches to the list in `shm`, sharing that handle.
  explicit ShareableList(SharedMemory shm);

  /// The number of slots.
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] bool empty() const { return size() == 0; }
  /// The item at `index` (negative: from the end). std::out_of_range if out of range.
  [[nodiscard]] Item get(std::int64_t index) const;
  [[nodiscard]] Item operator[](std::int64_t index) const { return get(index); }
  /// Stores `value` at `index`. std::out_of_range if out of range; ValueError("bytes/str
  /// item exceeds available storage") if it does not fit the slot (nothing changes).
  void set(std::int64_t index, const Item& value);
  /// The first position holding `value`; ValueError if none does.
  [[nodiscard]] std::size_t index(const Item& value) const;
  /// How many slots hold `value`.
  [[nodiscard]] std::size_t count(const Item& value) const;
  /// Every item, in order (Python: list(sl)).
  [[nodiscard]] std::vector<Item> items() const;

  /// The segment (Python: .shm).
  [[nodiscard]] SharedMemory& shm() noexcept { return shm_; }
  [[nodiscard]] const SharedMemory& shm() const noexcept { return shm_; }

  /// "ShareableList([<items>], name='<name>')".
  [[nodiscard]] std::string repr() const;
  friend std::ostream& operator<<(std::ostream& os, const ShareableList& l);

  /// Iterates the items by value (a forward iterator over positions).
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Item;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Item;
    const_iterator() = default;
    Item operator*() const { return list_->get(static_cast<std::int64_t>(pos_)); }
    const_iterator& operator++() {
      ++pos_;
      return *this;
    }
    const_iterator operator++(int) {
      auto old = *this;
      ++pos_;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.pos_ == b.pos_;
    }

   private:
    friend class ShareableList;
    const_iterator(const ShareableList* list, std::size_t pos) : list_(list), pos_(pos) {}
    const ShareableList* list_ = nullptr;
    std::size_t pos_ = 0;
  };
  [[nodiscard]] const_iterator begin() const { return {this, 0}; }
  [[nodiscard]] const_iterator end() const { return {this, size()}; }

  // Crossing by name (codec.hpp); decoding attaches.
  using concur_handle_tag = void;
  void concur_encode_handle(Buffer& out) const { shm_.concur_encode_handle(out); }
  static ShareableList concur_decode_handle(Reader& in) {
    return ShareableList(SharedMemory::concur_decode_handle(in));
  }

 private:
  struct Slot {
    std::byte* at;     // the slot's 8-byte tag
    std::size_t room;  // bytes after the tag
  };
  [[nodiscard]] std::span<std::byte> checked_buf() const;
  [[nodiscard]] Slot slot(std::span<std::byte> buf, std::int64_t index, bool assign) const;
  void validate() const;
  SharedMemory shm_;
};

}  // namespace concur::multiprocessing::shared_memory
