// The multiprocessing codec: round trips, compile-time rejection, malformed input,
// exceptions crossing.
#include "concur/multiprocessing/codec.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "concur/futures/errors.hpp"
#include "concur/multiprocessing/connection.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "concur/multiprocessing/exception_registry.hpp"
#include "concur/multiprocessing/queues.hpp"
#include "concur/queue.hpp"
#include "multiprocessing/handles.hpp"

namespace {

namespace mp = concur::multiprocessing;

struct Point {  // trivially copyable: raw bytes
  double x;
  double y;
  bool operator==(const Point&) const = default;
};

enum class Color : std::uint8_t { kRed, kGreen };

struct Person {  // not trivially copyable: crosses through its cereal function
  std::string name;
  std::vector<int> scores;
  std::optional<std::string> email;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, scores, email);
  }
  bool operator==(const Person&) const = default;
};

struct Account {  // save/load pair, free functions
  std::string id;
  long balance = 0;
  bool operator==(const Account&) const = default;
};
template <class Archive>
void save(Archive& ar, const Account& a) {
  ar(a.id, a.balance);
}
template <class Archive>
void load(Archive& ar, Account& a) {
  ar(a.id, a.balance);
}

struct NoWay {  // not trivially copyable, no cereal function
  std::string s;
};
struct HoldsPointer {  // not trivially copyable, holds a pointer
  std::string s;
  int* p;
};

// What crosses and what does not, checked at compile time.
static_assert(mp::Picklable<int>);
static_assert(mp::Picklable<Point>);
static_assert(mp::Picklable<Color>);
static_assert(mp::Picklable<Person>);
static_assert(mp::Picklable<Account>);
static_assert(mp::Picklable<std::map<std::string, std::vector<std::optional<Person>>>>);
static_assert(mp::Picklable<std::variant<std::monostate, int, std::string>>);
static_assert(mp::Picklable<std::tuple<>>);
static_assert(!mp::Picklable<int*>);
static_assert(!mp::Picklable<const char*>);
static_assert(!mp::Picklable<int Point::*>);
static_assert(!mp::Picklable<int[4]>);
static_assert(!mp::Picklable<std::string_view>);
static_assert(!mp::Picklable<std::span<int>>);
static_assert(!mp::Picklable<std::reference_wrapper<int>>);
static_assert(!mp::Picklable<std::function<void()>>);
static_assert(!mp::Picklable<NoWay>);
static_assert(!mp::Picklable<HoldsPointer>);
static_assert(!mp::Picklable<std::vector<int*>>);
static_assert(!mp::Picklable<std::map<std::string, NoWay>>);
static_assert(!mp::Picklable<std::optional<std::function<int()>>>);
static_assert(!mp::Picklable<std::variant<int, std::string_view>>);
static_assert(!mp::Picklable<std::tuple<int, void*>>);

template <class T>
T round_trip(const T& v) {
  auto bytes = mp::dumps(v);
  return mp::loads<T>(bytes);
}

template <class F>
std::string value_error_of(F f) {
  try {
    f();
  } catch (const concur::ValueError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a ValueError: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception";
  return {};
}

TEST(Codec, Scalars) {
  EXPECT_EQ(round_trip(42), 42);
  EXPECT_EQ(round_trip(-7LL), -7LL);
  EXPECT_EQ(round_trip(3.5), 3.5);
  EXPECT_EQ(round_trip('x'), 'x');
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip(false), false);
  EXPECT_EQ(round_trip(Color::kGreen), Color::kGreen);
  EXPECT_EQ(round_trip(Point{1.5, -2}), (Point{1.5, -2}));
  EXPECT_EQ(mp::dumps(42).size(), 10U + sizeof(int));  // header + raw bytes
}

TEST(Codec, Strings) {
  EXPECT_EQ(round_trip(std::string()), "");
  EXPECT_EQ(round_trip(std::string("hello")), "hello");
  std::string binary("a\0b\xff", 4);
  EXPECT_EQ(round_trip(binary), binary);
  std::string big(1 << 20, 'z');
  EXPECT_EQ(round_trip(big), big);
}

TEST(Codec, Containers) {
  EXPECT_EQ(round_trip(std::vector<int>{}), std::vector<int>{});
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::vector<bool>{true, false, true}),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(round_trip(std::vector<Point>{{1, 2}, {3, 4}}), (std::vector<Point>{{1, 2}, {3, 4}}));
  EXPECT_EQ(round_trip(std::deque<std::string>{"a", "b"}), (std::deque<std::string>{"a", "b"}));
  EXPECT_EQ(round_trip(std::list<int>{5, 6}), (std::list<int>{5, 6}));
  const std::map<std::string, int> m{{"a", 1}, {"b", 2}};
  EXPECT_EQ(round_trip(m), m);
  const std::unordered_map<int, std::string> um{{1, "x"}, {2, "y"}};
  EXPECT_EQ(round_trip(um), um);
  const std::set<std::string> s{"p", "q"};
  EXPECT_EQ(round_trip(s), s);
  const std::unordered_set<long> us{10, 20, 30};
  EXPECT_EQ(round_trip(us), us);
  const std::multimap<int, int> mm{{1, 1}, {1, 2}};
  EXPECT_EQ(round_trip(mm), mm);
  const std::array<std::string, 2> a{"x", "y"};
  EXPECT_EQ(round_trip(a), a);
  const std::array<int, 3> ai{7, 8, 9};
  EXPECT_EQ(round_trip(ai), ai);
  EXPECT_EQ(round_trip(std::array<std::string, 0>{}), (std::array<std::string, 0>{}));
}

TEST(Codec, SumAndProductTypes) {
  EXPECT_EQ(round_trip(std::optional<int>{}), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<std::string>("v")), std::optional<std::string>("v"));
  using V = std::variant<std::monostate, int, std::string, std::vector<double>>;
  EXPECT_EQ(round_trip(V{}), V{});
  EXPECT_EQ(round_trip(V{7}), V{7});
  EXPECT_EQ(round_trip(V{std::string("s")}), V{std::string("s")});
  EXPECT_EQ(round_trip(V{std::vector<double>{1.5}}), V{std::vector<double>{1.5}});
  EXPECT_EQ(round_trip(std::tuple<>{}), std::tuple<>{});
  const auto t = std::make_tuple(1, std::string("two"), 3.0, std::vector<char>{'4'});
  EXPECT_EQ(round_trip(t), t);
  const auto p = std::make_pair(std::string("k"), std::optional<int>(9));
  EXPECT_EQ(round_trip(p), p);
}

TEST(Codec, DeeplyNested) {
  using Deep = std::map<
      std::string,
      std::vector<std::variant<int, std::optional<std::tuple<std::string, bool>>, std::set<int>>>>;
  Deep d;
  d["one"].emplace_back(std::in_place_index<0>, 1);
  d["one"].emplace_back(std::in_place_index<1>, std::in_place, "x", true);
  d["two"].emplace_back(std::in_place_index<2>, std::initializer_list<int>{3, 1, 2});
  d["two"].emplace_back(std::in_place_index<1>);
  d["empty"];
  EXPECT_EQ(round_trip(d), d);
}

TEST(Codec, CerealTypes) {
  const Person p{"Ada", {90, 95}, "ada@example.org"};
  EXPECT_EQ(round_trip(p), p);
  const Account a{"acc-1", -42};
  EXPECT_EQ(round_trip(a), a);
  const std::vector<std::optional<Person>> ps{p, std::nullopt, Person{"Bob", {}, {}}};
  EXPECT_EQ(round_trip(ps), ps);
}

TEST(Codec, EncodeDecodeAppend) {
  mp::Buffer buf;
  mp::encode(buf, 5);
  mp::encode(buf, std::string("mid"));
  mp::encode(buf, Person{"P", {1}, {}});
  mp::Reader in(buf);
  EXPECT_EQ(mp::decode<int>(in), 5);
  EXPECT_EQ(mp::decode<std::string>(in), "mid");
  EXPECT_EQ(mp::decode<Person>(in), (Person{"P", {1}, {}}));
  EXPECT_TRUE(in.at_end());
  EXPECT_NO_THROW(in.expect_end());
}

// --- Malformed input: ValueError, never an out-of-bounds read (run under asan) --------

TEST(CodecMalformed, EveryTruncationIsAValueError) {
  using Deep = std::map<std::string, std::vector<std::variant<int, std::optional<std::string>>>>;
  Deep d{{"k", {1, std::optional<std::string>("abc"), std::optional<std::string>()}}};
  const auto bytes = mp::dumps(d);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    // A copy of exactly n bytes, so that asan catches a read past the end.
    const std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    EXPECT_THROW(mp::loads<Deep>(cut), concur::ValueError) << "at length " << n;
  }
  const auto p = mp::dumps(Person{"Ada", {1, 2, 3}, "e"});
  for (std::size_t n = 0; n < p.size(); ++n) {
    const std::vector<std::byte> cut(p.begin(), p.begin() + static_cast<long>(n));
    EXPECT_THROW(mp::loads<Person>(cut), concur::ValueError) << "at length " << n;
  }
}

TEST(CodecMalformed, Messages) {
  EXPECT_NE(value_error_of([] { mp::loads<int>(std::vector<std::byte>(3)); }).find("truncated"),
            std::string::npos);
  auto b = mp::dumps(1);
  b[0] = std::byte{0};
  EXPECT_NE(value_error_of([&] { mp::loads<int>(b); }).find("bad magic"), std::string::npos);
  b = mp::dumps(1);
  b[1] = std::byte{9};
  EXPECT_NE(value_error_of([&] { mp::loads<int>(b); }).find("version 9"), std::string::npos);
  b = mp::dumps(1);
  EXPECT_NE(value_error_of([&] { mp::loads<long>(b); }).find("another type than long"),
            std::string::npos);
  b.push_back(std::byte{0});
  EXPECT_NE(value_error_of([&] { mp::loads<int>(b); }).find("1 trailing bytes"), std::string::npos);
}

TEST(CodecMalformed, WrongTags) {
  mp::Buffer buf{std::byte{2}};
  mp::Reader r1(buf);
  EXPECT_NE(value_error_of([&] { mp::decode<bool>(r1); }).find("bad bool byte 2"),
            std::string::npos);
  mp::Reader r2(buf);
  EXPECT_NE(value_error_of([&] { mp::decode<std::optional<int>>(r2); }).find("optional tag 2"),
            std::string::npos);
  mp::Buffer vb;
  mp::encode(vb, std::uint32_t{3});
  mp::encode(vb, 0);
  mp::Reader r3(vb);
  EXPECT_NE(value_error_of([&] {
              mp::decode<std::variant<int, long>>(r3);
            }).find("variant index 3 (the variant has 2 alternatives)"),
            std::string::npos);
  mp::Buffer bools;
  mp::encode(bools, std::uint64_t{2});
  bools.push_back(std::byte{1});
  bools.push_back(std::byte{7});
  mp::Reader r4(bools);
  EXPECT_THROW(mp::decode<std::vector<bool>>(r4), concur::ValueError);
}

TEST(CodecMalformed, LengthBeyondTheBuffer) {
  for (std::uint64_t n : {std::uint64_t{5}, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    mp::Buffer buf;
    mp::encode(buf, n);
    buf.push_back(std::byte{'a'});
    mp::Reader r1(buf);
    EXPECT_NE(value_error_of([&] { mp::decode<std::string>(r1); }).find("exceeds the buffer"),
              std::string::npos);
    mp::Reader r2(buf);
    EXPECT_THROW(mp::decode<std::vector<std::uint64_t>>(r2), concur::ValueError);
    mp::Reader r3(buf);
    EXPECT_THROW((mp::decode<std::map<int, std::string>>(r3)), concur::ValueError);
    mp::Reader r4(buf);
    EXPECT_THROW(mp::decode<std::vector<std::string>>(r4), concur::ValueError);
    mp::Reader r5(buf);
    EXPECT_THROW(mp::decode<Person>(r5), concur::ValueError);  // cereal payload length
  }
}

TEST(CodecMalformed, CorruptCerealPayload) {
  mp::Buffer buf;
  mp::encode(buf, Person{"Ada", {1, 2}, "e"});
  // Shorten the payload length by one: cereal runs out of bytes inside its span.
  std::uint64_t n = 0;
  std::memcpy(&n, buf.data(), sizeof n);
  --n;
  std::memcpy(buf.data(), &n, sizeof n);
  buf.pop_back();
  mp::Reader r(buf);
  EXPECT_NE(value_error_of([&] { mp::decode<Person>(r); }).find("malformed cereal payload"),
            std::string::npos);
  // A longer payload than cereal reads: unread bytes are an error too.
  mp::Buffer longer;
  mp::encode(longer, Account{"a", 1});
  std::memcpy(&n, longer.data(), sizeof n);
  ++n;
  std::memcpy(longer.data(), &n, sizeof n);
  longer.push_back(std::byte{0});
  mp::Reader r2(longer);
  EXPECT_NE(value_error_of([&] { mp::decode<Account>(r2); }).find("1 unread bytes"),
            std::string::npos);
}

TEST(CodecMalformed, RandomBytesNeverCrash) {
  // A cheap deterministic fuzz: flip each byte of a valid buffer through a few values.
  using T = std::tuple<std::vector<std::string>, std::optional<std::map<int, bool>>,
                       std::variant<int, std::string>>;
  const T value{{"ab", "", "cde"}, std::map<int, bool>{{1, true}, {2, false}}, std::string("v")};
  const auto bytes = mp::dumps(value);
  int errors = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int v : {0x00, 0x01, 0x02, 0x7f, 0xff}) {
      auto copy = bytes;
      copy[i] = static_cast<std::byte>(v);
      try {
        (void)mp::loads<T>(copy);
      } catch (const concur::ValueError&) {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 0);
}

// --- Exceptions -----------------------------------------------------------------------

template <class E>
std::exception_ptr cross(const E& e) {
  auto bytes = mp::encode_exception(std::make_exception_ptr(e));
  mp::Reader in(bytes);
  auto out = mp::decode_exception(in);
  EXPECT_TRUE(in.at_end());
  return out;
}
std::exception_ptr cross(const std::exception_ptr& e) {
  auto bytes = mp::encode_exception(e);
  mp::Reader in(bytes);
  auto out = mp::decode_exception(in);
  EXPECT_TRUE(in.at_end());
  return out;
}

template <class E>
void expect_same(const E& original) {
  auto back = cross(original);
  try {
    std::rethrow_exception(back);
  } catch (const std::exception& e) {
    EXPECT_EQ(typeid(e), typeid(E)) << "came back as " << typeid(e).name();
    EXPECT_STREQ(e.what(), original.what());
  }
}

TEST(CodecExceptions, StandardAndConcurTypesComeBackAsThemselves) {
  expect_same(std::runtime_error("rt"));
  expect_same(std::logic_error("lg"));
  expect_same(std::invalid_argument("ia"));
  expect_same(std::out_of_range("oor"));
  expect_same(std::length_error("len"));
  expect_same(std::domain_error("dom"));
  expect_same(std::range_error("rng"));
  expect_same(std::overflow_error("ovf"));
  expect_same(std::underflow_error("udf"));
  expect_same(std::bad_alloc());
  expect_same(concur::RuntimeError("r"));
  expect_same(concur::ValueError("v"));
  expect_same(concur::TypeError("t"));
  expect_same(concur::TimeoutError("to"));
  expect_same(concur::EOFError("eof"));
  expect_same(concur::NotImplementedError("ni"));
  expect_same(concur::BrokenBarrierError("bb"));
  expect_same(concur::futures::CancelledError());
  expect_same(concur::futures::InvalidStateError("is"));
  expect_same(concur::futures::BrokenExecutor("be"));
  expect_same(concur::futures::BrokenThreadPool("btp"));
  expect_same(concur::futures::BrokenProcessPool("a worker died"));
  expect_same(concur::futures::BrokenInterpreterPool("bip"));
  expect_same(concur::queue::Empty());
  expect_same(concur::queue::Full("full"));
  expect_same(mp::ProcessError("pe"));
  expect_same(mp::AuthenticationError("digest mismatch"));
  expect_same(concur::FileExistsError("shm_open(/psm_x)"));
  expect_same(concur::FileNotFoundError("shm_open(/psm_y)"));
  expect_same(concur::OSError(EIO, "read"));
  expect_same(concur::PermissionError("open(/etc/shadow)"));
  expect_same(concur::BrokenPipeError("write"));
  expect_same(concur::ConnectionResetError("recv"));
  expect_same(concur::ChildProcessError("waitid(P_PIDFD)"));
  expect_same(concur::ProcessLookupError("pidfd_open"));
}

TEST(CodecExceptions, OSErrorsComeBackAsTheClassTheirErrnoMapsTo) {
  for (const int err : {EPERM, EACCES, ENOENT, EEXIST, EPIPE, ECONNRESET, EAGAIN, EIO}) {
    std::exception_ptr back = cross(concur::make_os_error(err, "call"));
    try {
      std::rethrow_exception(back);
    } catch (const concur::OSError& e) {
      try {
        std::rethrow_exception(concur::make_os_error(err, "call"));
      } catch (const concur::OSError& expected) {
        EXPECT_EQ(typeid(e), typeid(expected)) << err;
        EXPECT_STREQ(e.what(), expected.what());
      }
      EXPECT_EQ(e.code().value(), err);
    }
  }
  // A family member built with an errno of another class crosses as a RemoteError.
  EXPECT_THROW(std::rethrow_exception(cross(concur::FileNotFoundError("x", EIO))), mp::RemoteError);
}

TEST(CodecExceptions, FileErrorsKeepTheirCode) {
  try {
    std::rethrow_exception(cross(concur::FileNotFoundError("shm_open(/nope)")));
  } catch (const concur::FileNotFoundError& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  }
}

TEST(CodecExceptions, SystemErrorKeepsItsCode) {
  const std::system_error original(std::error_code(ENOENT, std::generic_category()), "open(x)");
  try {
    std::rethrow_exception(cross(original));
  } catch (const std::system_error& e) {
    EXPECT_EQ(typeid(e), typeid(std::system_error));
    EXPECT_EQ(e.code(), original.code());
    EXPECT_STREQ(e.what(), original.what());
  }
  const std::system_error sys(std::error_code(EPIPE, std::system_category()));
  try {
    std::rethrow_exception(cross(sys));
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), sys.code());
    EXPECT_STREQ(e.what(), sys.what());
  }
  const std::future_error fe(std::future_errc::broken_promise);  // a subclass: RemoteError
  EXPECT_THROW(std::rethrow_exception(cross(fe)), mp::RemoteError);
}

TEST(CodecExceptions, ExecutionFailedKeepsItsParts) {
  try {
    std::rethrow_exception(cross(concur::futures::ExecutionFailed("KeyError", "'k'")));
  } catch (const concur::futures::ExecutionFailed& e) {
    EXPECT_EQ(e.type_name(), "KeyError");
    EXPECT_STREQ(e.what(), "KeyError: 'k'");
  }
}

struct MyError : concur::ValueError {
  using concur::ValueError::ValueError;
};

struct QuotaExceeded : std::runtime_error {
  using std::runtime_error::runtime_error;
};
CONCUR_REGISTER_EXCEPTION(QuotaExceeded);

TEST(CodecExceptions, RegisteredTypeComesBackAsItself) {
  try {
    std::rethrow_exception(cross(QuotaExceeded("over by 3")));
    FAIL() << "no exception";
  } catch (const QuotaExceeded& e) {
    EXPECT_STREQ(e.what(), "over by 3");
  }
  // A name the reading process did not register: RemoteError with that name and the pid.
  mp::Buffer bytes{std::byte{208}};
  mp::detail::encode_value(bytes, std::string("nobody::Knows"));
  mp::detail::encode_value(bytes, std::string("what it said"));
  mp::detail::put_trivial<std::int32_t>(bytes, 42);
  try {
    mp::rethrow_decoded(bytes);
  } catch (const mp::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "nobody::Knows");
    EXPECT_EQ(e.message(), "what it said");
    EXPECT_EQ(e.pid(), 42);
  }
  // One name, two types: refused.
  EXPECT_THROW((void)mp::register_exception<std::runtime_error>("QuotaExceeded"),
               concur::ValueError);
  EXPECT_EQ(mp::register_exception<QuotaExceeded>("QuotaExceeded"), "QuotaExceeded");  // again
}

TEST(CodecExceptions, OthersComeBackAsRemoteError) {
  try {
    std::rethrow_exception(cross(MyError("custom")));
  } catch (const mp::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "(anonymous namespace)::MyError");
    EXPECT_EQ(e.message(), "custom");
    EXPECT_STREQ(e.what(), "(anonymous namespace)::MyError: custom");  // raised here: no pid
    EXPECT_EQ(e.pid(), ::getpid());
    // It crosses again unchanged, and keeps the pid of the process that raised it.
    try {
      std::rethrow_exception(cross(e));
    } catch (const mp::RemoteError& again) {
      EXPECT_EQ(again.type_name(), e.type_name());
      EXPECT_EQ(again.message(), "custom");
      EXPECT_EQ(again.pid(), ::getpid());
    }
    try {
      std::rethrow_exception(cross(mp::RemoteError("x::E", "boom", 1)));
    } catch (const mp::RemoteError& other) {
      EXPECT_EQ(other.pid(), 1);
      EXPECT_STREQ(other.what(), "x::E: boom (in process 1)");
    }
    // One from another machine (a distributed worker) keeps its host too.
    try {
      std::rethrow_exception(cross(mp::RemoteError("x::E", "boom", 7, "node-3")));
    } catch (const mp::RemoteError& other) {
      EXPECT_EQ(other.pid(), 7);
      EXPECT_EQ(other.host(), "node-3");
      EXPECT_STREQ(other.what(), "x::E: boom (in process 7 on node-3)");
    }
  }
  auto bytes = mp::encode_exception(std::make_exception_ptr(42));
  try {
    mp::rethrow_decoded(bytes);
  } catch (const mp::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_EQ(e.message(), "");
  }
  EXPECT_THROW(mp::encode_exception(std::exception_ptr()), concur::ValueError);
}

TEST(CodecExceptions, Malformed) {
  mp::Buffer bad{std::byte{150}};
  EXPECT_NE(value_error_of([&] { mp::rethrow_decoded(bad); }).find("bad exception code 150"),
            std::string::npos);
  auto bytes = mp::encode_exception(std::make_exception_ptr(concur::ValueError("message")));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    EXPECT_NE(value_error_of([&] { mp::rethrow_decoded(cut); }).find("codec"), std::string::npos);
  }
}

// --- Untrusted input: allocations bounded by the input, repeated keys, message types ---

struct Inventory {  // a cereal type with containers inside
  std::vector<int> counts;
  std::map<std::string, int> prices;
  std::set<int> ids;
  std::unordered_map<int, std::string> names;
  bool open = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(counts, prices, ids, names, open);
  }
  bool operator==(const Inventory&) const = default;
};

struct Picky {  // a cereal load that throws something of its own
  int v = 0;
  template <class Archive>
  void save(Archive& ar) const {
    ar(v);
  }
  template <class Archive>
  void load(Archive& ar) {
    ar(v);
    if (v < 0) throw std::out_of_range("Picky: negative");
  }
};

template <class T>
void put_u64_at(mp::Buffer& b, std::size_t at, std::uint64_t v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

TEST(CodecUntrusted, CerealSizeBeyondThePayloadIsAValueError) {
  // loads<Person>: 10-byte header, u64 payload length, then the name's u64 size tag. Before,
  // cereal resized the string to whatever the tag said (std::length_error / bad_alloc).
  for (std::uint64_t n : {std::uint64_t{1} << 33, std::uint64_t{1} << 40, std::uint64_t{1} << 62,
                          ~std::uint64_t{0}}) {
    mp::Buffer b = mp::dumps(Person{});
    ASSERT_GE(b.size(), 26U);
    put_u64_at<void>(b, 18, n);
    b.resize(33);  // the 33-byte input of the report: the payload length is left as it was
    put_u64_at<void>(b, 10, b.size() - 18);
    const std::string what = value_error_of([&] { (void)mp::loads<Person>(b); });
    EXPECT_NE(what.find("exceeds the payload"), std::string::npos) << what;
    EXPECT_NE(what.find("Person"), std::string::npos) << what;
  }
  // The same for a vector, a map and a set inside a cereal type.
  const Inventory inv{{1, 2}, {{"a", 1}}, {3}, {{4, "d"}}, true};
  const mp::Buffer good = mp::dumps(inv);
  EXPECT_EQ(mp::loads<Inventory>(good), inv);
  std::size_t tag = 18;  // counts' size tag
  for (int field = 0; field < 4; ++field) {
    mp::Buffer b = good;
    put_u64_at<void>(b, tag, std::uint64_t{1} << 61);
    EXPECT_NE(value_error_of([&] { (void)mp::loads<Inventory>(b); }).find("exceeds the payload"),
              std::string::npos);
    std::uint64_t n = 0;
    std::memcpy(&n, good.data() + tag, sizeof n);
    // Skip this field: counts 2 ints, prices 1 (string "a" + int), ids 1 int.
    tag += 8 + (field == 0 ? 8 : field == 1 ? 8 + 1 + 4 : 4);
  }
}

TEST(CodecUntrusted, WhateverACerealLoadThrowsIsAValueError) {
  mp::Buffer b = mp::dumps(Picky{-1});
  const std::string what = value_error_of([&] { (void)mp::loads<Picky>(b); });
  EXPECT_NE(what.find("Picky: negative"), std::string::npos) << what;
  EXPECT_NE(what.find("out_of_range"), std::string::npos) << what;
  // A bool byte other than 0 or 1 (loading it into a bool was undefined behaviour).
  mp::Buffer inv = mp::dumps(Inventory{});
  inv.back() = std::byte{7};
  EXPECT_NE(value_error_of([&] { (void)mp::loads<Inventory>(inv); }).find("bad bool byte 7"),
            std::string::npos);
}

struct Empty {
  template <class Archive>
  void serialize(Archive& /*ar*/) {}
};
struct Holder {
  std::vector<Empty> v;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(v);
  }
};

TEST(CodecUntrusted, AnEmptyElementContainerThatCouldNotDecodeDoesNotEncode) {
  Holder h;
  h.v.resize(100);
  EXPECT_NE(value_error_of([&] { (void)mp::dumps(h); }).find("cannot encode"), std::string::npos);
  h.v.resize(0);
  EXPECT_EQ(mp::loads<Holder>(mp::dumps(h)).v.size(), 0U);
}

template <class C>
void expect_repeated_key_rejected(const C& with_two, const char* name) {
  // Encode a two-element container, then overwrite the second element with the first.
  mp::Buffer b;
  mp::encode(b, with_two);
  const std::size_t elem = (b.size() - 8) / 2;
  std::memcpy(b.data() + 8 + elem, b.data() + 8, elem);
  mp::Reader r(b);
  const std::string what = value_error_of([&] { (void)mp::decode<C>(r); });
  EXPECT_NE(what.find("repeats a key"), std::string::npos) << name << ": " << what;
}

TEST(CodecUntrusted, RepeatedKeysAreAValueError) {
  expect_repeated_key_rejected(std::map<int, int>{{1, 10}, {2, 20}}, "map");
  expect_repeated_key_rejected(std::set<int>{1, 2}, "set");
  expect_repeated_key_rejected(std::unordered_map<int, int>{{1, 10}, {2, 20}}, "unordered_map");
  expect_repeated_key_rejected(std::unordered_set<int>{1, 2}, "unordered_set");
  // Multimaps and multisets hold repeats.
  const std::multimap<int, int> mm{{1, 10}, {1, 10}};
  EXPECT_EQ(round_trip(mm), mm);
  const std::multiset<int> ms{1, 1};
  EXPECT_EQ(round_trip(ms), ms);
  // Inside a cereal payload too: Inventory's prices with "a" twice.
  Inventory inv{{}, {{"a", 1}, {"b", 2}}, {}, {}, false};
  mp::Buffer b = mp::dumps(inv);
  // prices' items start after counts' tag (8) and prices' tag (8): "a"(8+1)+int, "b"(8+1)+int.
  const std::size_t at = 18 + 8 + 8;
  std::memcpy(b.data() + at + 13, b.data() + at, 13);
  EXPECT_NE(value_error_of([&] { (void)mp::loads<Inventory>(b); }).find("repeats a key"),
            std::string::npos);
  inv.prices.clear();
  inv.ids = {5, 6};
  b = mp::dumps(inv);
  const std::size_t ids_at = 18 + 8 + 8 + 8;
  std::memcpy(b.data() + ids_at + 4, b.data() + ids_at, 4);
  EXPECT_NE(value_error_of([&] { (void)mp::loads<Inventory>(b); }).find("repeats a key"),
            std::string::npos);
}

template <class F>
std::string type_error_of(F f) {
  try {
    f();
  } catch (const concur::TypeError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a TypeError: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception";
  return {};
}

// A Connection<int> fed another type's message (its bytes, forwarded with send_bytes): a
// TypeError naming both types, also when the bytes would parse as an int.
TEST(CodecMessages, ConnectionRecvOfAnotherTypeIsATypeError) {
  auto [sa, sb] = mp::Pipe<unsigned>();
  auto [ia, ib] = mp::Pipe<int>();
  sb.send(7U);
  ib.send_bytes(sa.recv_bytes());
  std::string what = type_error_of([&ia = ia] { (void)ia.recv(); });
  EXPECT_NE(what.find("unsigned int"), std::string::npos) << what;
  EXPECT_NE(what.find("where int was expected"), std::string::npos) << what;
  auto [ta, tb] = mp::Pipe<std::string>();
  tb.send("hello");
  ib.send_bytes(ta.recv_bytes());
  what = type_error_of([&ia = ia] { (void)ia.recv(); });
  EXPECT_NE(what.find("basic_string"), std::string::npos) << what;
  // Four bytes of garbage are not an int message either.
  ib.send_bytes(std::string_view("abcd"));
  EXPECT_NE(value_error_of([&ia = ia] { (void)ia.recv(); }).find("too short"), std::string::npos);
  // A flat type (strings are copied from the ring straight into the result), long enough to
  // be streamed through the ring: the type is checked there too.
  auto [va, vb] = mp::Pipe<std::vector<char>>(true, 4096);
  auto [wa, wb] = mp::Pipe<std::string>(true, 1 << 16);
  wb.send(std::string(10000, 'x'));
  const concur::Bytes big = wa.recv_bytes();
  std::thread sender([&, &vb = vb] { vb.send_bytes(big); });
  what = type_error_of([&va = va] { (void)va.recv(); });
  sender.join();
  EXPECT_NE(what.find("std::vector<char"), std::string::npos) << what;
  // The connection goes on.
  ib.send(5);
  EXPECT_EQ(ia.recv(), 5);
  vb.send(std::vector<char>{'a'});
  EXPECT_EQ(va.recv(), std::vector<char>{'a'});
}

// A Queue<int> handle and a Queue<std::string> handle on the same shared ring (as two
// programs that disagree would have): get says what the message holds.
template <template <class> class Q>
void expect_queue_type_checked() {
  Q<std::string> qs;
  mp::Buffer handle;
  {
    mp::detail::FdSink sink;
    qs.concur_encode_handle(handle);
    mp::detail::FdSource source(sink.fds());
    mp::Reader r(handle);
    Q<long> ql = Q<long>::concur_decode_handle(r);
    qs.put("12345678");  // 16 bytes after the fingerprint: before, read as a long and more
    const std::string what = type_error_of([&] { (void)ql.get(); });
    EXPECT_NE(what.find("basic_string"), std::string::npos) << what;
    EXPECT_NE(what.find("where long was expected"), std::string::npos) << what;
    ql.put(7L);
    EXPECT_NE(type_error_of([&] { (void)qs.get(); }).find("holding long"), std::string::npos);
    qs.put("ok");
    EXPECT_EQ(qs.get(), "ok");
  }
}

TEST(CodecMessages, QueueGetOfAnotherTypeIsATypeError) {
  expect_queue_type_checked<mp::Queue>();
  expect_queue_type_checked<mp::SimpleQueue>();
  expect_queue_type_checked<mp::JoinableQueue>();
}

}  // namespace
