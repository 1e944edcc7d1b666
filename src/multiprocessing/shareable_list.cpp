#include "concur/multiprocessing/shareable_list.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <stdexcept>

#include "concur/exceptions.hpp"

namespace concur::multiprocessing::shared_memory {

namespace {

constexpr char kMagic[8] = {'C', 'O', 'N', 'C', 'S', 'L', '0', '1'};
constexpr std::size_t kHeader = 16;
constexpr std::size_t kTag = 8;

enum Kind : std::uint32_t { kNone = 0, kBool = 1, kInt = 2, kFloat = 3, kStr = 4, kBytes = 5 };

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

// The bytes a str/bytes item needs, or 0 for a scalar (which needs at most 8).
std::size_t payload_length(const Item& item) {
  if (const auto* s = std::get_if<std::string>(&item)) return s->size();
  if (const auto* b = std::get_if<Bytes>(&item)) return b->size();
  return 0;
}

// The room a slot created for `item` has: 8 for scalars, 8 * (n / 8 + 1) for str/bytes.
std::size_t room_for(const Item& item) {
  const std::size_t n = payload_length(item);
  if (n > std::numeric_limits<std::uint32_t>::max() - 8) {
    throw concur::ValueError("ShareableList: a str or bytes item of " + std::to_string(n) +
                             " bytes is too long");
  }
  if (item.index() == 4 || item.index() == 5) return 8 * (n / 8 + 1);
  return 8;
}

std::size_t segment_size(const std::vector<Item>& items) {
  std::size_t total = kHeader + 8 * (items.size() + 1);
  for (const auto& item : items) total += kTag + room_for(item);
  return total;
}

// Python's repr of a str (bytes == false) or bytes (true): single quotes unless the text
// holds a ' and no ", backslash escapes for the quote, \\, \n, \r, \t and other control
// bytes; bytes >= 0x80 are \xNN in bytes and pass through in str (UTF-8 characters).
void append_quoted(std::string& out, std::string_view s, bool bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\' || c == quote) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f || (bytes && u >= 0x80)) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += quote;
}

void write_item(std::byte* tag, const Item& value) {
  std::byte* payload = tag + kTag;
  std::uint32_t length = 0;
  std::uint32_t kind = kNone;
  switch (value.index()) {
    case 0:
      break;
    case 1:
      kind = kBool;
      store<std::uint8_t>(payload, std::get<bool>(value) ? 1 : 0);
      break;
    case 2:
      kind = kInt;
      store(payload, std::get<std::int64_t>(value));
      break;
    case 3:
      kind = kFloat;
      store(payload, std::get<double>(value));
      break;
    case 4: {
      const auto& s = std::get<std::string>(value);
      kind = kStr;
      length = static_cast<std::uint32_t>(s.size());
      if (!s.empty()) std::memcpy(payload, s.data(), s.size());
      break;
    }
    default: {
      const auto& b = std::get<Bytes>(value);
      kind = kBytes;
      length = static_cast<std::uint32_t>(b.size());
      if (!b.empty()) std::memcpy(payload, b.data(), b.size());
      break;
    }
  }
  store(tag + 4, length);
  store(tag, kind);
}

}  // namespace

Bytes to_bytes(std::string_view s) { return Bytes(s); }

std::string repr(const Item& item) {
  switch (item.index()) {
    case 0:
      return "None";
    case 1:
      return std::get<bool>(item) ? "True" : "False";
    case 2:
      return std::to_string(std::get<std::int64_t>(item));
    case 3: {
      const double d = std::get<double>(item);
      if (std::isnan(d)) return "nan";
      if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
      char buf[64];
      const auto r = std::to_chars(buf, buf + sizeof buf, d);
      std::string s(buf, r.ptr);
      if (s.find_first_of(".e") == std::string::npos) s += ".0";
      return s;
    }
    case 4: {
      std::string out;
      append_quoted(out, std::get<std::string>(item), false);
      return out;
    }
    default: {
      const auto& b = std::get<Bytes>(item);
      std::string out = "b";
      append_quoted(out, std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), true);
      return out;
    }
  }
}

ShareableList::ShareableList() : ShareableList(std::vector<Item>{}) {}

ShareableList::ShareableList(std::initializer_list<Item> items, std::optional<std::string> name)
    : ShareableList(std::vector<Item>(items), std::move(name)) {}

ShareableList::ShareableList(const std::vector<Item>& items, std::optional<std::string> name,
                             std::optional<bool> track)
    : shm_(std::move(name), true, static_cast<std::int64_t>(segment_size(items)), track) {
  const auto buf = shm_.buf();
  std::byte* base = buf.data();
  std::memcpy(base, kMagic, sizeof kMagic);
  store<std::uint64_t>(base + 8, items.size());
  std::size_t at = kHeader + 8 * (items.size() + 1);
  for (std::size_t i = 0; i < items.size(); ++i) {
    store<std::uint64_t>(base + kHeader + 8 * i, at);
    write_item(base + at, items[i]);
    at += kTag + room_for(items[i]);
  }
  store<std::uint64_t>(base + kHeader + 8 * items.size(), at);
}

ShareableList::ShareableList(const std::string& name) : shm_(name, false) { validate(); }

ShareableList::ShareableList(SharedMemory shm) : shm_(std::move(shm)) { validate(); }

void ShareableList::validate() const {
  const auto buf = checked_buf();
  const auto fail = [&](const char* why) {
    throw concur::ValueError("ShareableList: the segment '" + shm_.name() +
                             "' is not a ShareableList (" + why + ")");
  };
  if (buf.size() < kHeader + 8 || std::memcmp(buf.data(), kMagic, sizeof kMagic) != 0) {
    fail("no ShareableList header");
  }
  const auto n = load<std::uint64_t>(buf.data() + 8);
  if (n > (buf.size() - kHeader) / 8 - 1) fail("too many slots for its size");
  std::uint64_t prev = kHeader + 8 * (n + 1);
  for (std::uint64_t i = 0; i <= n; ++i) {
    const auto off = load<std::uint64_t>(buf.data() + kHeader + 8 * i);
    if (i == 0 ? off != prev : off < prev + kTag + 8) fail("bad slot offsets");
    if (off % 8 != 0 || off > buf.size()) fail("bad slot offsets");
    prev = off;
  }
}

std::span<std::byte> ShareableList::checked_buf() const {
  const auto buf = shm_.buf();
  if (buf.empty()) {
    throw concur::ValueError("ShareableList: its shared memory '" + shm_.name() + "' is closed");
  }
  return buf;
}

std::size_t ShareableList::size() const {
  return static_cast<std::size_t>(load<std::uint64_t>(checked_buf().data() + 8));
}

ShareableList::Slot ShareableList::slot(std::span<std::byte> buf, std::int64_t index,
                                        bool assign) const {
  const auto n = static_cast<std::int64_t>(load<std::uint64_t>(buf.data() + 8));
  const std::int64_t i = index < 0 ? index + n : index;
  if (i < 0 || i >= n) {
    throw std::out_of_range(assign ? "ShareableList assignment index out of range"
                                   : "ShareableList index out of range");
  }
  const auto u = static_cast<std::size_t>(i);
  const auto begin = static_cast<std::size_t>(load<std::uint64_t>(buf.data() + kHeader + 8 * u));
  const auto end =
      static_cast<std::size_t>(load<std::uint64_t>(buf.data() + kHeader + 8 * (u + 1)));
  return {buf.data() + begin, end - begin - kTag};
}

Item ShareableList::get(std::int64_t index) const {
  const auto s = slot(checked_buf(), index, false);
  const std::byte* payload = s.at + kTag;
  const auto length = std::min<std::size_t>(load<std::uint32_t>(s.at + 4), s.room);
  switch (load<std::uint32_t>(s.at)) {
    case kNone:
      return Item{};
    case kBool:
      return Item{load<std::uint8_t>(payload) != 0};
    case kInt:
      return Item{load<std::int64_t>(payload)};
    case kFloat:
      return Item{load<double>(payload)};
    case kStr:
      return Item{std::string(reinterpret_cast<const char*>(payload), length)};
    case kBytes:
      return Item{Bytes(std::span<const std::byte>(payload, length))};
    default:
      throw concur::ValueError("ShareableList: slot " + std::to_string(index) + " of '" +
                               shm_.name() + "' holds an unknown kind (corrupt segment)");
  }
}

void ShareableList::set(std::int64_t index, const Item& value) {
  const auto s = slot(checked_buf(), index, true);
  if (payload_length(value) > s.room) {
    throw concur::ValueError("ShareableList: bytes/str item exceeds available storage (" +
                             std::to_string(payload_length(value)) + " bytes into a slot of " +
                             std::to_string(s.room) + ")");
  }
  write_item(s.at, value);
}

std::size_t ShareableList::index(const Item& value) const {
  const std::size_t n = size();
  for (std::size_t i = 0; i < n; ++i) {
    if (get(static_cast<std::int64_t>(i)) == value) return i;
  }
  throw concur::ValueError(shared_memory::repr(value) + " not in this container");
}

std::size_t ShareableList::count(const Item& value) const {
  std::size_t c = 0;
  const std::size_t n = size();
  for (std::size_t i = 0; i < n; ++i) {
    if (get(static_cast<std::int64_t>(i)) == value) ++c;
  }
  return c;
}

std::vector<Item> ShareableList::items() const {
  std::vector<Item> out;
  const std::size_t n = size();
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(get(static_cast<std::int64_t>(i)));
  return out;
}

std::string ShareableList::repr() const {
  std::string out = "ShareableList([";
  const auto all = items();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i != 0) out += ", ";
    out += shared_memory::repr(all[i]);
  }
  out += "], name='" + shm_.name() + "')";
  return out;
}

std::ostream& operator<<(std::ostream& os, const ShareableList& l) { return os << l.repr(); }

}  // namespace concur::multiprocessing::shared_memory
