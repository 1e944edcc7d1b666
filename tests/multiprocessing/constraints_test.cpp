// What each constrained template of concur::multiprocessing accepts is exactly what it
// calls: a Process stores copies of its target and arguments made from what was passed
// and calls the target copy as an lvalue with the argument copies as rvalues; encoding
// it (spawn/forkserver) copies them from const lvalues; a Context's Process() and a
// Barrier's action are constrained the same way. Compile-time checks are static_asserts;
// the runtime test would not compile before (BoundTarget::encode copied a move-only
// argument).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <type_traits>

#include "concur/multiprocessing.hpp"

namespace mp = concur::mp;
using namespace std::chrono_literals;

namespace {

struct NotCallable {};
using TakesUnique = void (*)(std::unique_ptr<int>);
using TakesIntRef = void (*)(int&);

// Picklable (cereal) but move-only: it can be moved into a fork child's target, but not
// encoded for spawn/forkserver (encode copies from a const lvalue).
struct MoveOnly {
  MoveOnly() = default;
  explicit MoveOnly(int v) : value(v) {}
  MoveOnly(MoveOnly&&) = default;
  MoveOnly& operator=(MoveOnly&&) = default;
  MoveOnly(const MoveOnly&) = delete;
  MoveOnly& operator=(const MoveOnly&) = delete;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value);
  }
  int value = 0;
};
void exit_with(MoveOnly m) { mp::exit(m.value); }

template <class F, class... A>
concept context_can_make = requires(const mp::Context& c, F&& f, A&&... a) {
  c.Process(std::forward<F>(f), std::forward<A>(a)...);
};

static_assert(std::is_constructible_v<mp::Process, TakesUnique, std::unique_ptr<int>>);
static_assert(!std::is_constructible_v<mp::Process, TakesUnique, std::unique_ptr<int>&>);
static_assert(
    !std::is_constructible_v<mp::Process, mp::ProcessOptions, TakesUnique, std::unique_ptr<int>&>);
static_assert(!std::is_constructible_v<mp::Process, TakesIntRef, int>);
static_assert(!std::is_constructible_v<mp::Process, NotCallable>);

static_assert(context_can_make<void (*)()>);
static_assert(!context_can_make<NotCallable>);
static_assert(!context_can_make<TakesUnique, std::unique_ptr<int>&>);
static_assert(!context_can_make<mp::ProcessOptions, NotCallable>);

static_assert(mp::Picklable<MoveOnly>);
static_assert(!mp::detail::bound_target_crosses<decltype(&exit_with), MoveOnly>());
static_assert(!mp::detail::bound_target_crosses<decltype([](MoveOnly) {}), MoveOnly>());
static_assert(mp::detail::bound_target_crosses<decltype([](int) {}), int>());

static_assert(std::is_constructible_v<mp::Barrier, int, void (*)()>);
static_assert(!std::is_constructible_v<mp::Barrier, int, NotCallable>);
static_assert(!std::is_constructible_v<mp::Barrier, int, void (*)(int)>);

}  // namespace

TEST(Constraints, MoveOnlyArgumentRunsUnderForkAndIsTypeErrorWhenEncoded) {
  auto fork = mp::get_context("fork").Process(&exit_with, MoveOnly(7));
  fork.start();
  ASSERT_TRUE(fork.join(20s));
  EXPECT_EQ(fork.exitcode(), 7);
  for (const char* method : {"spawn", "forkserver"}) {
    auto q = mp::get_context(method).Process(mp::fn<&exit_with>, MoveOnly(1));
    EXPECT_THROW(q.start(), concur::TypeError) << method;
  }
}
