// The codec against hostile input: for every kind of type it carries, random bytes and
// mutated valid encodings (bit flips, truncations, inserted and duplicated bytes, 8-byte
// words set to huge lengths) go through loads<T>, decode<T> and the Queue/Connection message
// path. Only concur::ValueError or concur::TypeError may come out: never another exception,
// a crash, or (under the asan preset) a sanitizer report. A decoded value must encode and
// decode again.
//
// Allocations are watched: while a decode runs, this binary's operator new refuses (and the
// test reports) any single allocation larger than the input could justify (the input's size
// times the largest element size involved, plus a margin), so a length field that is
// believed shows up even where the allocation would have succeeded.
//
// Each type runs with a fixed seed, then with a fresh one; a failure prints the seed, and
// CONCUR_FUZZ_SEED=<seed> replays it (in place of both). Each type is bounded by an iteration
// count and a time budget, so the whole file takes a few seconds even under ASan.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <system_error>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/futures/errors.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/queues.hpp"

namespace {
// The largest allocation allowed on this thread while a decode runs (0: no limit), and the
// largest refused.
thread_local std::size_t t_alloc_limit = 0;
thread_local std::size_t t_alloc_refused = 0;
}  // namespace

// Replaceable allocation functions (the array and sized forms included, so that new and
// delete stay paired). malloc and free remain the sanitizers' own; free is called out of line
// so that GCC does not pair a `new` it inlined with free() (-Wmismatched-new-delete).
[[gnu::noinline]] static void release(void* p) noexcept { std::free(p); }

void* operator new(std::size_t n) {
  if (t_alloc_limit != 0 && n > t_alloc_limit) {
    if (n > t_alloc_refused) t_alloc_refused = n;
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t /*n*/) noexcept { release(p); }
void operator delete[](void* p, std::size_t /*n*/) noexcept { release(p); }

namespace {

namespace mp = concur::multiprocessing;
namespace mpd = concur::multiprocessing::detail;
using Rng = std::mt19937_64;

constexpr std::uint64_t kFixedSeed = 0xC0DEC'F0220ULL;
constexpr int kMaxIterations = 3000;
constexpr auto kBudget = std::chrono::milliseconds(100);  // per type and seed

// --- Types ---------------------------------------------------------------------------

enum class Color : std::uint8_t { kRed, kGreen, kBlue };

struct Sample {  // trivially copyable: raw bytes (no bool: those are not validated inside)
  int a;
  double b;
  char c;
};

struct Inner {  // a cereal type nested in another
  std::string name;
  std::vector<int> scores;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, scores);
  }
};

struct Record {  // a cereal type with containers inside
  std::vector<int> counts;
  std::vector<std::string> tags;
  std::map<std::string, int> prices;
  std::set<int> ids;
  std::unordered_map<int, std::string> names;
  std::unordered_set<std::string> labels;
  std::multimap<int, int> pairs;
  std::optional<std::string> note;
  std::variant<int, std::string, std::vector<double>> choice;
  std::vector<std::vector<int>> grid;
  std::array<short, 3> fixed{};
  std::pair<int, std::string> pair;
  std::tuple<bool, long> tuple;
  std::vector<Inner> inners;
  bool open = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(counts, tags, prices, ids, names, labels, pairs, note, choice, grid, fixed, pair, tuple,
       inners, open);
  }
};

// --- Random values -------------------------------------------------------------------

template <class T>
struct Tag {};

template <class T>
T gen(Rng& rng);

std::size_t small(Rng& rng, std::size_t most = 4) {
  return static_cast<std::size_t>(rng() % (most + 1));
}

template <class T>
T gen_of(Rng& rng, Tag<T> /*tag*/) {
  if constexpr (std::is_same_v<T, bool>) {
    return (rng() & 1) != 0;
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(rng());
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(std::uniform_real_distribution<double>(-1e6, 1e6)(rng));
  } else if constexpr (std::is_enum_v<T>) {
    return static_cast<T>(rng() % 3);
  } else {
    static_assert(sizeof(T) == 0, "no generator");
  }
}
std::string gen_of(Rng& rng, Tag<std::string> /*tag*/) {
  std::string s(small(rng, 10), ' ');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}
Sample gen_of(Rng& rng, Tag<Sample> /*tag*/) {
  return {gen<int>(rng), gen<double>(rng), gen<char>(rng)};
}
template <class T>
std::optional<T> gen_of(Rng& rng, Tag<std::optional<T>> /*tag*/) {
  if ((rng() & 1) != 0) return std::nullopt;
  return gen<T>(rng);
}
template <class A, class B>
std::pair<A, B> gen_of(Rng& rng, Tag<std::pair<A, B>> /*tag*/) {
  A a = gen<A>(rng);
  return {std::move(a), gen<B>(rng)};
}
template <class... Ts>
std::tuple<Ts...> gen_of(Rng& rng, Tag<std::tuple<Ts...>> /*tag*/) {
  return std::tuple<Ts...>{gen<Ts>(rng)...};  // braced: left to right
}
template <class T, std::size_t N>
std::array<T, N> gen_of(Rng& rng, Tag<std::array<T, N>> /*tag*/) {
  std::array<T, N> a{};
  for (auto& e : a) e = gen<T>(rng);
  return a;
}
template <class... Ts>
std::variant<Ts...> gen_of(Rng& rng, Tag<std::variant<Ts...>> /*tag*/) {
  using V = std::variant<Ts...>;
  const std::size_t index = rng() % sizeof...(Ts);
  V out;
  std::size_t i = 0;
  ((i++ == index ? (out = V(std::in_place_type<Ts>, gen<Ts>(rng)), 0) : 0), ...);
  return out;
}
std::monostate gen_of(Rng& /*rng*/, Tag<std::monostate> /*tag*/) { return {}; }
template <class C>
C gen_container(Rng& rng) {
  C c;
  const std::size_t n = small(rng);
  for (std::size_t i = 0; i < n; ++i) {
    using E = mpd::decodable_t<typename C::value_type>;
    if constexpr (requires { c.push_back(gen<E>(rng)); }) {
      c.push_back(gen<E>(rng));
    } else {
      c.insert(gen<E>(rng));
    }
  }
  return c;
}
template <class T>
std::vector<T> gen_of(Rng& rng, Tag<std::vector<T>> /*tag*/) {
  return gen_container<std::vector<T>>(rng);
}
template <class T>
std::deque<T> gen_of(Rng& rng, Tag<std::deque<T>> /*tag*/) {
  return gen_container<std::deque<T>>(rng);
}
template <class T>
std::list<T> gen_of(Rng& rng, Tag<std::list<T>> /*tag*/) {
  return gen_container<std::list<T>>(rng);
}
template <class K, class V>
std::map<K, V> gen_of(Rng& rng, Tag<std::map<K, V>> /*tag*/) {
  return gen_container<std::map<K, V>>(rng);
}
template <class K, class V>
std::multimap<K, V> gen_of(Rng& rng, Tag<std::multimap<K, V>> /*tag*/) {
  return gen_container<std::multimap<K, V>>(rng);
}
template <class K, class V>
std::unordered_map<K, V> gen_of(Rng& rng, Tag<std::unordered_map<K, V>> /*tag*/) {
  return gen_container<std::unordered_map<K, V>>(rng);
}
template <class K>
std::set<K> gen_of(Rng& rng, Tag<std::set<K>> /*tag*/) {
  return gen_container<std::set<K>>(rng);
}
template <class K>
std::multiset<K> gen_of(Rng& rng, Tag<std::multiset<K>> /*tag*/) {
  return gen_container<std::multiset<K>>(rng);
}
template <class K>
std::unordered_set<K> gen_of(Rng& rng, Tag<std::unordered_set<K>> /*tag*/) {
  return gen_container<std::unordered_set<K>>(rng);
}
Inner gen_of(Rng& rng, Tag<Inner> /*tag*/) {
  Inner v;
  v.name = gen<std::string>(rng);
  v.scores = gen<std::vector<int>>(rng);
  return v;
}
Record gen_of(Rng& rng, Tag<Record> /*tag*/) {
  Record r;
  r.counts = gen<std::vector<int>>(rng);
  r.tags = gen<std::vector<std::string>>(rng);
  r.prices = gen<std::map<std::string, int>>(rng);
  r.ids = gen<std::set<int>>(rng);
  r.names = gen<std::unordered_map<int, std::string>>(rng);
  r.labels = gen<std::unordered_set<std::string>>(rng);
  r.pairs = gen<std::multimap<int, int>>(rng);
  r.note = gen<std::optional<std::string>>(rng);
  r.choice = gen<std::variant<int, std::string, std::vector<double>>>(rng);
  r.grid = gen<std::vector<std::vector<int>>>(rng);
  r.fixed = gen<std::array<short, 3>>(rng);
  r.pair = gen<std::pair<int, std::string>>(rng);
  r.tuple = gen<std::tuple<bool, long>>(rng);
  r.inners = gen<std::vector<Inner>>(rng);
  r.open = gen<bool>(rng);
  return r;
}

template <class T>
T gen(Rng& rng) {
  return gen_of(rng, Tag<T>{});
}

// --- Mutations -----------------------------------------------------------------------

using Bytes = std::vector<std::byte>;

std::byte random_byte(Rng& rng) { return static_cast<std::byte>(rng() & 0xFF); }

// Lengths that a decoder must not believe.
std::uint64_t huge(Rng& rng) {
  static constexpr std::uint64_t kHuge[] = {
      std::uint64_t{1} << 31, std::uint64_t{1} << 32, std::uint64_t{1} << 33,
      std::uint64_t{1} << 40, std::uint64_t{1} << 61, std::uint64_t{1} << 62,
      ~std::uint64_t{0},      ~std::uint64_t{0} - 7,  std::uint64_t{0x7FFF'FFFF'FFFF'FFFF}};
  if ((rng() & 3) == 0) return rng();
  return kHuge[rng() % std::size(kHuge)];
}

const char* mutate(Rng& rng, Bytes& b) {
  switch (rng() % 7) {
    case 0: {  // random bytes
      b.resize(small(rng, 64));
      for (auto& x : b) x = random_byte(rng);
      return "random bytes";
    }
    case 1: {  // bit flips
      if (b.empty()) return "bit flips (empty)";
      const std::size_t flips = 1 + small(rng, 3);
      for (std::size_t i = 0; i < flips; ++i) {
        b[rng() % b.size()] ^= static_cast<std::byte>(1U << (rng() % 8));
      }
      return "bit flips";
    }
    case 2: {  // truncation
      b.resize(b.empty() ? 0 : rng() % b.size());
      return "truncation";
    }
    case 3: {  // inserted random bytes
      const std::size_t at = b.empty() ? 0 : rng() % (b.size() + 1);
      Bytes ins(1 + small(rng, 8));
      for (auto& x : ins) x = random_byte(rng);
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
      return "inserted bytes";
    }
    case 4: {  // a duplicated range
      if (b.empty()) return "duplication (empty)";
      const std::size_t from = rng() % b.size();
      const std::size_t len = 1 + rng() % std::min<std::size_t>(16, b.size() - from);
      const Bytes range(b.begin() + static_cast<std::ptrdiff_t>(from),
                        b.begin() + static_cast<std::ptrdiff_t>(from + len));
      const std::size_t at = rng() % (b.size() + 1);
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), range.begin(), range.end());
      return "duplicated bytes";
    }
    case 5:
    case 6: {  // an 8-byte (or 4-byte) window set to a huge length
      if (b.size() < 4) return "huge length (too short)";
      const std::uint64_t v = huge(rng);
      const std::size_t width = b.size() >= 8 && (rng() & 1) == 0 ? 8 : 4;
      const std::size_t at = rng() % (b.size() - width + 1);
      std::memcpy(b.data() + at, &v, width);
      return "huge length";
    }
  }
  return "none";
}

std::string hex(const Bytes& b) {
  std::ostringstream os;
  os << b.size() << " bytes:";
  for (std::size_t i = 0; i < b.size() && i < 96; ++i) {
    os << ' ' << std::hex << std::to_integer<int>(b[i]);
  }
  if (b.size() > 96) os << " ...";
  return os.str();
}

// --- The harness ---------------------------------------------------------------------

int g_failures = 0;  // in this test: past a few, stop (one bug fails thousands of inputs)

// Runs `decode`; returns whether it succeeded. Records a failure for any exception but
// ValueError and TypeError.
// Watches the allocations of one decode (see the file comment).
class AllocationLimit {
 public:
  AllocationLimit(std::size_t input, std::size_t element) noexcept {
    t_alloc_refused = 0;
    t_alloc_limit = (input + 16) * std::max<std::size_t>(element, 256) + (std::size_t{64} << 10);
  }
  ~AllocationLimit() { t_alloc_limit = 0; }
  AllocationLimit(const AllocationLimit&) = delete;
  AllocationLimit& operator=(const AllocationLimit&) = delete;
};

template <class F>
bool run_checked(F&& decode, const char* path, const char* mutation, const Bytes& input,
                 std::uint64_t seed, std::size_t element_size) {
  try {
    const AllocationLimit limit(input.size(), element_size);
    decode();
    return true;
  } catch (const concur::ValueError&) {
  } catch (const concur::TypeError&) {
  } catch (const std::exception& e) {
    ++g_failures;
    ADD_FAILURE() << path << " after " << mutation << " threw " << typeid(e).name() << ": "
                  << e.what() << "\n  input " << hex(input) << "\n  seed " << seed
                  << " (replay: CONCUR_FUZZ_SEED=" << seed << ")";
  } catch (...) {
    ++g_failures;
    ADD_FAILURE() << path << " after " << mutation << " threw a non-std exception\n  input "
                  << hex(input) << "\n  seed " << seed << " (replay: CONCUR_FUZZ_SEED=" << seed
                  << ")";
  }
  return false;
}

template <class F>
bool only_value_or_type_errors(F&& decode, const char* path, const char* mutation,
                               const Bytes& input, std::uint64_t seed,
                               std::size_t element_size = 0) {
  const bool ok = run_checked(decode, path, mutation, input, seed, element_size);
  if (t_alloc_refused != 0) {
    ++g_failures;
    ADD_FAILURE() << path << " after " << mutation << " tried to allocate " << t_alloc_refused
                  << " bytes for an input of " << input.size() << " bytes\n  input " << hex(input)
                  << "\n  seed " << seed << " (replay: CONCUR_FUZZ_SEED=" << seed << ")";
    t_alloc_refused = 0;
  }
  return ok;
}

template <class T>
void check_reencodes(const T& value, std::uint64_t seed) {
  try {
    const Bytes again = mp::dumps(value);
    (void)mp::loads<T>(again);
  } catch (const std::exception& e) {
    ++g_failures;
    ADD_FAILURE() << "a decoded value did not cross again: " << e.what() << " (seed " << seed
                  << ")";
  }
}

std::vector<std::uint64_t> seeds() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before any test thread starts
  if (const char* s = std::getenv("CONCUR_FUZZ_SEED"); s != nullptr && *s != '\0') {
    return {std::strtoull(s, nullptr, 0)};
  }
  return {kFixedSeed, (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()};
}

template <class T>
void fuzz(std::uint64_t salt) {
  for (const std::uint64_t seed : seeds()) {
    Rng rng(seed ^ salt);
    const auto stop = std::chrono::steady_clock::now() + kBudget;
    for (int i = 0; i < kMaxIterations && std::chrono::steady_clock::now() < stop; ++i) {
      const T value = gen<T>(rng);
      // The three shapes a peer's bytes arrive in: a dumps() buffer, a bare encoding, a
      // Queue/Connection message (type fingerprint + encoding).
      Bytes whole = mp::dumps(value);
      Bytes bare;
      mp::encode(bare, value);
      Bytes message;
      mpd::put_message_type<T>(message);
      mp::encode(message, value);
      const int rounds = 1 + static_cast<int>(rng() % 3);
      const char* what = "none";
      const char* what_bare = "none";
      const char* what_message = "none";
      for (int r = 0; r < rounds; ++r) what = mutate(rng, whole);
      for (int r = 0; r < rounds; ++r) what_bare = mutate(rng, bare);
      for (int r = 0; r < rounds; ++r) what_message = mutate(rng, message);

      std::optional<T> out;
      if (only_value_or_type_errors([&] { out.emplace(mp::loads<T>(whole)); }, "loads", what, whole,
                                    seed, sizeof(T))) {
        check_reencodes(*out, seed);
      }
      out.reset();
      if (only_value_or_type_errors(
              [&] {
                mp::Reader in(bare);
                out.emplace(mp::decode<T>(in));
              },
              "decode", what_bare, bare, seed, sizeof(T))) {
        check_reencodes(*out, seed);
      }
      out.reset();
      mpd::Receiver<T> receiver;
      if (only_value_or_type_errors(
              [&] { mpd::Receiver<T>::whole(&receiver, std::span<const std::byte>(message)); },
              "message", what_message, message, seed, sizeof(T))) {
        check_reencodes(*receiver.value, seed);
      }
      if (g_failures > 10) FAIL() << "too many failures; stopping (seed " << seed << ")";
    }
  }
}

TEST(CodecFuzz, Arithmetic) {
  fuzz<int>(1);
  fuzz<double>(2);
  fuzz<bool>(3);
  fuzz<std::uint64_t>(4);
}
TEST(CodecFuzz, Enum) { fuzz<Color>(5); }
TEST(CodecFuzz, TriviallyCopyableStruct) { fuzz<Sample>(6); }
TEST(CodecFuzz, String) { fuzz<std::string>(7); }
TEST(CodecFuzz, Vector) {
  fuzz<std::vector<int>>(8);
  fuzz<std::vector<std::string>>(9);
  fuzz<std::vector<bool>>(10);
}
TEST(CodecFuzz, Deque) { fuzz<std::deque<short>>(11); }
TEST(CodecFuzz, List) { fuzz<std::list<std::string>>(12); }
TEST(CodecFuzz, Map) { fuzz<std::map<int, std::string>>(13); }
TEST(CodecFuzz, Multimap) { fuzz<std::multimap<int, int>>(14); }
TEST(CodecFuzz, UnorderedMap) { fuzz<std::unordered_map<std::string, int>>(15); }
TEST(CodecFuzz, Set) { fuzz<std::set<std::string>>(16); }
TEST(CodecFuzz, Multiset) { fuzz<std::multiset<int>>(17); }
TEST(CodecFuzz, UnorderedSet) { fuzz<std::unordered_set<int>>(18); }
TEST(CodecFuzz, Optional) { fuzz<std::optional<std::string>>(19); }
TEST(CodecFuzz, Variant) {
  fuzz<std::variant<std::monostate, int, std::string, std::vector<int>>>(20);
}
TEST(CodecFuzz, Tuple) {
  fuzz<std::tuple<int, std::string, bool>>(21);
  fuzz<std::tuple<>>(22);
}
TEST(CodecFuzz, Pair) { fuzz<std::pair<std::string, std::vector<int>>>(23); }
TEST(CodecFuzz, Array) {
  fuzz<std::array<std::string, 3>>(24);
  fuzz<std::array<int, 4>>(25);
}
TEST(CodecFuzz, NestedContainers) {
  fuzz<std::map<std::string, std::vector<std::optional<std::set<int>>>>>(26);
  fuzz<std::vector<std::variant<std::string, std::map<int, std::vector<std::string>>>>>(27);
}
TEST(CodecFuzz, CerealUserTypeWithContainers) {
  fuzz<Record>(28);
  fuzz<std::vector<Record>>(29);
  fuzz<std::optional<Inner>>(30);
}

// Exceptions: decode_exception returns the decoded exception (any type: that is its
// result); what it throws must be a ValueError.
TEST(CodecFuzz, Exceptions) {
  const std::exception_ptr samples[] = {
      std::make_exception_ptr(concur::ValueError("bad value")),
      std::make_exception_ptr(std::system_error(ENOENT, std::generic_category(), "open")),
      std::make_exception_ptr(std::system_error(std::make_error_code(std::future_errc::no_state))),
      std::make_exception_ptr(concur::futures::ExecutionFailed("KeyError", "k")),
      std::make_exception_ptr(mp::RemoteError("my::Error", "boom")),
      std::make_exception_ptr(concur::FileNotFoundError("/dev/shm/x")),
      std::make_exception_ptr(std::bad_alloc()),
      std::make_exception_ptr(42),
  };
  for (const std::uint64_t seed : seeds()) {
    Rng rng(seed ^ 31);
    const auto stop = std::chrono::steady_clock::now() + kBudget;
    for (int i = 0; i < kMaxIterations && std::chrono::steady_clock::now() < stop; ++i) {
      Bytes b = mp::encode_exception(samples[rng() % std::size(samples)]);
      const int rounds = 1 + static_cast<int>(rng() % 3);
      const char* what = "none";
      for (int r = 0; r < rounds; ++r) what = mutate(rng, b);
      std::exception_ptr e;
      if (only_value_or_type_errors(
              [&] {
                mp::Reader in(b);
                e = mp::decode_exception(in);
              },
              "decode_exception", what, b, seed)) {
        ASSERT_TRUE(e != nullptr);
        // It crosses again.
        only_value_or_type_errors([&] { (void)mp::encode_exception(e); }, "encode_exception", what,
                                  b, seed);
      }
    }
  }
}

}  // namespace
