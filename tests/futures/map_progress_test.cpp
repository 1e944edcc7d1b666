// map's progress reports and the terminal bar (beyond Python), and map's buffersize keeping an
// endless map in bounded memory.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <concur/futures.hpp>
#include <mutex>
#include <ranges>
#include <string>
#include <vector>

#include "os/fd.hpp"
#include "os/terminal.hpp"
#include "support/ranges_util.hpp"

using namespace std::chrono_literals;
namespace cf = concur::futures;

namespace {

// Everything readable on `fd` now, and what arrives within `quiet` of the last byte.
std::string drain(int fd, std::chrono::milliseconds quiet = 200ms) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) break;
    const long n = concur::os::read_noexcept(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Live task objects of a map: counted by the arguments they hold.
std::atomic<int> g_live{0};
struct Counted {
  int value = 0;
  explicit Counted(int v) : value(v) { ++g_live; }
  Counted(const Counted& o) : value(o.value) { ++g_live; }
  Counted(Counted&& o) noexcept : value(o.value) { ++g_live; }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) = default;
  ~Counted() { --g_live; }
};

}  // namespace

TEST(MapProgress, ReportsEveryCallUpToTheTotal) {
  std::mutex mu;
  std::vector<cf::MapProgress> seen;
  std::vector<int> xs(100);
  for (long chunksize : {1L, 7L}) {
    cf::ThreadPoolExecutor pool({.max_workers = 3});
    seen.clear();
    long sum = 0;
    for (int r : pool.map(
             {.timeout = 10s,
    .chunksize = chunksize,
    .progress =
                  [&](const cf::MapProgress& p) {
                    std::lock_guard lock(mu);
                    seen.push_back(p);
                  }},
             [](int x) { return x + 1; }, xs))
      sum += r;
    EXPECT_EQ(sum, 100);
    pool.shutdown(true);  // every done callback has run
    std::lock_guard lock(mu);
    ASSERT_FALSE(seen.empty());
    for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_LE(seen[i - 1].done, seen[i].done);
    for (const auto& p : seen) EXPECT_EQ(p.total, std::optional<std::size_t>(100));
    EXPECT_EQ(seen.back().done, 100U);
  }
}

TEST(MapProgress, TotalBecomesKnownWhenTheInputEnds) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::mutex mu;
  std::vector<cf::MapProgress> seen;
  auto unsized = concur::testing::count_up<int>(20);
  int n = 0;
  for (int r : pool.map(
           {.timeout = 10s,
  .buffersize = 3,
  .progress =
                [&](const cf::MapProgress& p) {
                  std::lock_guard lock(mu);
                  seen.push_back(p);
                }},
           [](int x) { return x; }, unsized)) {
    EXPECT_EQ(r, n++);
  }
  EXPECT_EQ(n, 20);
  pool.shutdown(true);
  std::lock_guard lock(mu);
  ASSERT_FALSE(seen.empty());
  EXPECT_FALSE(seen.front().total.has_value());
  EXPECT_EQ(seen.back().total, std::optional<std::size_t>(20));
  EXPECT_EQ(seen.back().done, 20U);
}

TEST(ProgressBar, DrawsOnATerminal) {
  auto pty = concur::os::open_pty();
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(50);
  long sum = 0;
  for (int r : pool.map(
           {.timeout = 10s, .progress = cf::detail::progress_bar_on(pty.slave.get(), "squares")},
           [](int x) { return x + 2; }, xs))
    sum += r;
  pool.shutdown(true);
  EXPECT_EQ(sum, 100);
  const std::string shown = drain(pty.master.get());
  EXPECT_NE(shown.find("squares ["), std::string::npos) << shown;
  EXPECT_NE(shown.find("50/50 100%"), std::string::npos) << shown;
  EXPECT_NE(shown.find('\n'), std::string::npos) << "no final newline: " << shown;
}

TEST(ProgressBar, SilentWhenNotATerminal) {
  auto pipe = concur::os::make_pipe();
  concur::os::set_nonblocking(pipe.read.get(), true);
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> xs(50);
  for (int r : pool.map(
           {.timeout = 10s, .progress = cf::detail::progress_bar_on(pipe.write.get(), "squares")},
           [](int x) { return x; }, xs))
    (void)r;
  pool.shutdown(true);
  char c = 0;
  EXPECT_EQ(concur::os::read_noexcept(pipe.read.get(), &c, 1), -EAGAIN);
}

// An endless map with a buffersize: at most buffersize calls ahead of the consumer, so the
// task objects alive stay bounded however far the iteration goes.
TEST(MapBuffersize, EndlessMapRunsInBoundedMemory) {
  constexpr long kBuffer = 4;
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  std::atomic<long> calls{0};
  auto inputs = concur::testing::Generated([](int x) { return Counted(x); });
  {
    auto results = pool.map(
        {.timeout = 30s, .buffersize = kBuffer},
        [&calls](Counted c) {
          ++calls;
          return c.value;
        },
        inputs);
    int max_live = 0;
    for (long consumed = 0; consumed < 20'000; ++consumed) {
      auto r = results.next();
      ASSERT_EQ(r, static_cast<int>(consumed));
      // Submitted so far: buffersize ahead of what was consumed.
      ASSERT_LE(calls.load(), consumed + 1 + kBuffer);
      max_live = std::max(max_live, g_live.load());
    }
    // Each submitted task holds one argument (and a worker a moment longer its copy).
    EXPECT_LE(max_live, 2 * (kBuffer + 1));
  }
  pool.shutdown(true);
  EXPECT_EQ(g_live.load(), 0);
}

TEST(MapBuffersize, EndlessMapOnAnInterpreterPool) {
  constexpr long kBuffer = 3;
  cf::InterpreterPoolExecutor<> pool({.max_workers = 2});
  auto results = pool.map(
      {.timeout = 30s, .buffersize = kBuffer}, [](long x) { return x * 2; },
      concur::testing::count_up<long>());
  for (long i = 0; i < 5'000; ++i) {
    ASSERT_EQ(results.next(), 2 * i);
    ASSERT_LE(pool.stats().submitted, static_cast<std::uint64_t>(i + 1 + kBuffer));
  }
}
