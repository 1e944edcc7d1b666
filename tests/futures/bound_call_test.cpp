// The bound call (concur/detail/bound_call.hpp) and map's chunk objects as a process pool
// sends them: encode() here, mp::invoke() "there" (in this process: the same registry), the
// reply decoded here. Which calls cannot cross is checked at compile time.
#include "concur/detail/bound_call.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "concur/futures/executor.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/fn.hpp"
#include "concur/multiprocessing/registry.hpp"

namespace mp = concur::multiprocessing;
using concur::detail::BoundCall;
using concur::detail::call_crosses;

namespace bound_call_fns {
int twice(int x) { return 2 * x; }
std::string greet(std::string name, int n) { return "hello " + name + " " + std::to_string(n); }
int fails(int x) { throw concur::ValueError("fails " + std::to_string(x)); }
int not_registered(int x) { return x + 1; }
}  // namespace bound_call_fns

CONCUR_REGISTER(bound_call_fns::twice);
CONCUR_REGISTER(bound_call_fns::greet);
CONCUR_REGISTER(bound_call_fns::fails);

namespace {

using namespace bound_call_fns;

// What crosses, and what does not (the static checks an executor makes).
constexpr auto kCaptureless = [](int x) { return x + 1; };
using Captureless = decltype(kCaptureless);
static_assert(call_crosses<Captureless, int>());
static_assert(call_crosses<mp::Fn<&twice>, int>());
static_assert(call_crosses<int (*)(int), int>());
static_assert(call_crosses<std::string (*)(std::string, int), std::string, int>());

inline auto string_capture() {
  return [s = std::string("captured")](int x) { return s.size() + static_cast<std::size_t>(x); };
}
static_assert(!call_crosses<decltype(string_capture()), int>(),
              "a closure holding a std::string is not trivially copyable: it cannot cross");
constexpr auto kStoppable = [](std::stop_token /*st*/, int x) { return x; };
static_assert(!call_crosses<decltype(kStoppable), int>(),
              "a callable that takes a std::stop_token cannot cross");
static_assert(!concur::futures::detail::Task<int, decltype(kStoppable), int>::kCrosses);
static_assert(concur::futures::detail::Task<int, Captureless, int>::kCrosses);

template <class R, class F, class... A>
R round_trip(F f, A... a) {
  BoundCall<F, A...> call(f, a...);
  const mp::Buffer request = call.encode("this test's call");
  const mp::Buffer reply = mp::invoke(request);
  return mp::decode_result<R>(reply);
}

bool contains(const std::vector<std::byte>& bytes, std::string_view text) {
  const auto* b = reinterpret_cast<const char*>(bytes.data());
  return std::string_view(b, bytes.size()).find(text) != std::string_view::npos;
}

TEST(BoundCall, CapturelessLambdaRoundTrips) { EXPECT_EQ(round_trip<int>(kCaptureless, 41), 42); }

TEST(BoundCall, FnRoundTrips) {
  EXPECT_EQ(round_trip<int>(mp::fn<&twice>, 21), 42);
  EXPECT_EQ(round_trip<std::string>(mp::fn<&greet>, std::string("pool"), 3), "hello pool 3");
}

TEST(BoundCall, RegisteredFunctionPointerRoundTrips) {
  EXPECT_EQ(round_trip<int>(&twice, 8), 16);
  // Named by its registry name in the request, not by its address.
  BoundCall<int (*)(int), int> call(&twice, 1);
  EXPECT_TRUE(contains(call.encode("this test's call"), "bound_call_fns::twice"));
}

TEST(BoundCall, ExceptionComesBackAsItsType) {
  try {
    (void)round_trip<int>(&fails, 7);
    ADD_FAILURE() << "no exception";
  } catch (const concur::ValueError& e) {
    EXPECT_STREQ(e.what(), "fails 7");
  }
}

TEST(BoundCall, UnregisteredFunctionPointerIsValueError) {
  BoundCall<int (*)(int), int> call(&not_registered, 1);
  EXPECT_THROW((void)call.encode("this test's call"), concur::ValueError);
}

TEST(BoundCall, CallThatCannotCrossIsTypeErrorAtEncode) {
  BoundCall<decltype(string_capture()), int> call(string_capture(), 1);
  EXPECT_THROW((void)call.encode("this test's call"), concur::TypeError);
  EXPECT_EQ(call.invoke<false>(), 9U);  // it still runs here
}

TEST(BoundCall, MapChunkWithFunctionPointerCrossesByName) {
  using Chunk = concur::futures::detail::MapChunk<int (*)(int), int, int, false>;
  const Chunk chunk{{&twice}};
  const auto bytes = mp::dumps(chunk);
  EXPECT_TRUE(contains(bytes, "bound_call_fns::twice"));
  auto back = mp::loads<Chunk>(bytes);
  EXPECT_EQ(back(std::vector{1, 2, 3}), (std::vector{2, 4, 6}));
  // And as a whole call, with its chunk of items.
  EXPECT_EQ(round_trip<std::vector<int>>(chunk, std::vector{4, 5}), (std::vector{8, 10}));
}

TEST(BoundCall, MapChunkOfTuplesCrosses) {
  using Chunk = concur::futures::detail::MapChunk<std::string (*)(std::string, int), std::string,
                                                  std::tuple<std::string, int>, true>;
  const Chunk chunk{{&greet}};
  auto back = mp::loads<Chunk>(mp::dumps(chunk));
  EXPECT_EQ(back(std::vector<std::tuple<std::string, int>>{{"a", 1}, {"b", 2}}),
            (std::vector<std::string>{"hello a 1", "hello b 2"}));
}

TEST(BoundCall, MapChunkWithUnregisteredPointerIsValueError) {
  using Chunk = concur::futures::detail::MapChunk<int (*)(int), int, int, false>;
  const Chunk chunk{{&not_registered}};
  EXPECT_THROW((void)mp::dumps(chunk), concur::ValueError);
}

TEST(BoundCall, MapOneWithClosureRoundTrips) {
  using One = concur::futures::detail::MapOne<Captureless, int, int>;
  const One one{{kCaptureless}};
  EXPECT_EQ(round_trip<int>(one, 1), 2);
}

}  // namespace
