// What each constrained template of concur::futures accepts is exactly what it
// calls: a callable the constraint admits compiles and is called as promised, and
// one it cannot call is rejected by the constraint (at the call site), never by an
// error inside the library. Compile-time checks are static_asserts; the runtime
// tests would not compile before the constraints and the calls were made to agree.
#include <gtest/gtest.h>

#include <atomic>
#include <concur/futures.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
namespace cf = concur::futures;
using cf::Future;

namespace {

template <class F>
concept can_add_done_callback = requires(const Future<int>& f, F fn) {
  f.add_done_callback(std::move(fn));
};
template <class F>
concept can_then = requires(const Future<int>& f, F fn) {
  f.then(std::move(fn));
};
template <class F, class... A>
concept can_submit = requires(cf::Executor& e, F&& fn, A&&... a) {
  e.submit(std::forward<F>(fn), std::forward<A>(a)...);
};
template <class F, class R>
concept can_map = requires(cf::Executor& e, F fn, R&& r) {
  e.map(fn, std::forward<R>(r));
};

struct NotCallable {};
using MoveOnlyIntFn = decltype([p = std::unique_ptr<int>()](const Future<int>&) { (void)p; });
int takes_ref(int& x) { return x; }

// A type that converts to AnyFuture and has state_ptr(), but none of the rest of what
// wait()/as_completed() use of an element.
struct FakeFuture {
  operator cf::AnyFuture() const { return cf::AnyFuture(nullptr); }  // NOLINT
  [[nodiscard]] concur::futures::detail::StateBase* state_ptr() const { return nullptr; }
};

// add_done_callback: a generic callback taking `auto&` (CPython passes the future
// itself) and a move-only one are accepted; a callable that cannot take the future
// is not.
static_assert(can_add_done_callback<decltype([](auto& f) { (void)f.done(); })>);
static_assert(can_add_done_callback<decltype([](const Future<int>&) {})>);
static_assert(can_add_done_callback<decltype([](Future<int>) {})>);
static_assert(can_add_done_callback<MoveOnlyIntFn>);
static_assert(can_add_done_callback<decltype(&Future<int>::done)>);  // called by std::invoke
static_assert(!can_add_done_callback<NotCallable>);
static_assert(!can_add_done_callback<decltype([](Future<int>&&) {})>);  // an lvalue is passed

// then(): constrained on what it calls (the future or the value, as lvalues).
static_assert(can_then<decltype([](int v) { return v; })>);
static_assert(can_then<decltype([](const Future<int>& f) { return f.done(); })>);
static_assert(!can_then<NotCallable>);
static_assert(!can_then<decltype([](int&& v) { return v; })>);  // the value is a const lvalue

// submit(): the task stores decayed copies, made from what was passed.
static_assert(can_submit<void (*)(std::unique_ptr<int>), std::unique_ptr<int>>);
static_assert(!can_submit<void (*)(std::unique_ptr<int>), std::unique_ptr<int>&>);  // no copy
static_assert(!can_submit<int (*)(int&), int>);  // the copy is passed as an rvalue

// map(): elements are copied and passed as rvalues, with or without chunksize.
static_assert(can_map<int (*)(int), std::vector<int>&>);
static_assert(can_map<decltype([](int&& x) { return x; }), std::vector<int>&>);
static_assert(!can_map<decltype(&takes_ref), std::vector<int>&>);
static_assert(!can_map<NotCallable, std::vector<int>&>);

// wait()/as_completed() need handles they can copy, check and reset.
static_assert(cf::FutureRange<std::vector<Future<int>>>);
static_assert(cf::FutureRange<std::vector<cf::AnyFuture>&>);
static_assert(!cf::FutureRange<std::vector<FakeFuture>>);

}  // namespace

TEST(Constraints, DoneCallbackTakingAutoRefGetsTheFuture) {
  Future<int> f;
  int seen = 0;
  const Future<int>* passed = nullptr;
  f.add_done_callback([&](auto& g) {
    seen = g.result();
    passed = &g;
  });
  f.set_result(5);
  EXPECT_EQ(seen, 5);
  EXPECT_NE(passed, nullptr);
  // Already done: called at once, again with the future.
  int again = 0;
  f.add_done_callback([&](auto& g) { again = g.result() + 1; });
  EXPECT_EQ(again, 6);
  f.add_done_callback(&Future<int>::done);  // anything std::invoke can call
  EXPECT_EQ(f.then(&Future<int>::done).result(1s), true);
}

TEST(Constraints, MoveOnlyDoneCallbackAndContinuation) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  auto f = pool.submit([] { return 20; });
  std::atomic<int> seen{0};
  f.add_done_callback(
      [p = std::make_unique<int>(1), &seen](const Future<int>& g) { seen = g.result() + *p; });
  auto g = f.then([p = std::make_unique<int>(2)](int v) { return v + *p; });
  EXPECT_EQ(g.result(5s), 22);
  EXPECT_TRUE(f.wait(5s));
  EXPECT_EQ(seen.load(), 21);
}

TEST(Constraints, MapPassesElementCopiesAsRvaluesWithAndWithoutChunks) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  const std::vector<std::string> words{"a", "bb", "ccc", "dddd", "eeeee"};
  auto take = [](std::string&& s) { return std::move(s) + "!"; };
  for (long chunksize : {1L, 2L}) {
    std::vector<std::string> out;
    for (auto& s : pool.map({.timeout = 5s, .chunksize = chunksize}, take, words)) out.push_back(s);
    EXPECT_EQ(out, (std::vector<std::string>{"a!", "bb!", "ccc!", "dddd!", "eeeee!"}))
        << "chunksize " << chunksize;
  }
  EXPECT_EQ(words[0], "a");  // the caller's elements were copied, not moved from
}

TEST(Constraints, SubmitMovesAMoveOnlyArgumentIn) {
  cf::ThreadPoolExecutor pool({.max_workers = 1});
  auto f = pool.submit([](std::unique_ptr<int> p) { return *p; }, std::make_unique<int>(9));
  EXPECT_EQ(f.result(5s), 9);
}
