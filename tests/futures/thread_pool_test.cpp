// ThreadPoolExecutor's queue under load: several submitting threads, and
// submits racing shutdown. Every accepted task must complete or be cancelled;
// nothing may hang or be lost. (Run under tsan too.)
#include <gtest/gtest.h>

#include <atomic>
#include <concur/futures.hpp>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace cf = concur::futures;

class ThreadPoolLoad : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(Workers, ThreadPoolLoad, ::testing::Values(1, 2, 4, 8));

TEST_P(ThreadPoolLoad, ManySubmittersNothingLost) {
  constexpr int kProducers = 4, kEach = 5000;
  cf::ThreadPoolExecutor pool({.max_workers = GetParam()});
  std::vector<std::vector<cf::Future<long>>> fs(kProducers);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i)
        fs[static_cast<size_t>(p)].push_back(pool.submit([](long x) { return x; }, long{i}));
    });
  for (auto& t : producers) t.join();
  long sum = 0;
  for (auto& v : fs) {
    auto r = cf::wait(v, 30s);
    ASSERT_TRUE(r.not_done.empty());
    for (auto& f : v) sum += f.result(0s);
  }
  EXPECT_EQ(sum, long{kProducers} * (long{kEach} * (kEach - 1) / 2));
  pool.shutdown();
  EXPECT_EQ(pool.stats().completed, static_cast<std::uint64_t>(kProducers * kEach));
}

TEST_P(ThreadPoolLoad, SubmitsRacingShutdownEitherRunOrThrow) {
  for (bool cancel : {false, true}) {
    cf::ThreadPoolExecutor pool({.max_workers = GetParam()});
    std::mutex mu;
    std::vector<cf::Future<int>> accepted;
    std::atomic<int> refused{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> producers;
    for (int p = 0; p < 3; ++p)
      producers.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        for (int i = 0; i < 2000; ++i) {
          try {
            auto f = pool.submit([i] { return i; });
            std::lock_guard lock(mu);
            accepted.push_back(std::move(f));
          } catch (const concur::RuntimeError&) {
            ++refused;
          }
        }
      });
    go = true;
    std::this_thread::sleep_for(1ms);
    pool.shutdown(true, cancel);
    for (auto& t : producers) t.join();
    // Every accepted task finished or was cancelled: none is left pending.
    auto r = cf::wait(accepted, 10s);
    EXPECT_TRUE(r.not_done.empty()) << r.not_done.size() << " accepted tasks never completed";
    EXPECT_EQ(static_cast<int>(accepted.size()) + refused.load(), 3 * 2000);
  }
}

// As many tasks as workers, each waiting for all the others to be running: in
// CPython they all run at once. A pool that let a worker hold tasks it has not
// started (a private batch) would deadlock here until the bound.
TEST_P(ThreadPoolLoad, AsManyTasksAsWorkersAllRunAtOnce) {
  const int n = GetParam();
  cf::ThreadPoolExecutor pool({.max_workers = n});
  auto running = std::make_shared<std::atomic<int>>(0);
  std::vector<cf::Future<bool>> fs;
  for (int i = 0; i < n; ++i)
    fs.push_back(pool.submit([running, n] {
      ++*running;
      const auto end = std::chrono::steady_clock::now() + 5s;
      while (running->load() < n && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(100us);
      return running->load() >= n;
    }));
  for (auto& f : fs) EXPECT_TRUE(f.result(10s));
}

// A task that waits on a task submitted after it, with a free worker: runs.
TEST(ThreadPoolDependencies, WaitOnLaterTaskWithAFreeWorker) {
  cf::ThreadPoolExecutor pool({.max_workers = 2});
  cf::Future<cf::Future<int>> later_cell;
  auto first = pool.submit([later_cell] { return later_cell.result(5s).result(5s) + 1; });
  auto later = pool.submit([] { return 41; });
  later_cell.set_result(later);
  EXPECT_EQ(first.result(10s), 42);
}
