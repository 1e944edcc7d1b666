// concurrent.futures benchmarks: concur's ThreadPoolExecutor beside oneTBB
// (task_group has no futures; parallel_for has no per-item results) on the
// same cases. CPython's figures come from py_peers (bench/run).
#include <concur/futures.hpp>
#include <numeric>
#include <vector>

#include "bench_util.hpp"
#ifdef CONCUR_HAVE_TBB
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#endif

namespace cf = concur::futures;
using concur_bench::report_rate;

namespace {

constexpr int kTasks = 1'000'000;
constexpr int kMapItems = 1'000'000;
constexpr int kAsCompleted = 100'000;

// CPython's peer uses max_workers = os.cpu_count(); so do we.
int workers() { return static_cast<int>(std::thread::hardware_concurrency()); }

int noop(int x) { return x; }

void BM_ThreadPool_SubmitWaitNoop(benchmark::State& state) {
  cf::ThreadPoolExecutor pool({.max_workers = workers()});
  std::vector<cf::Future<int>> fs;
  fs.reserve(kTasks);
  for (auto _ : state) {
    fs.clear();
    for (int i = 0; i < kTasks; ++i) fs.push_back(pool.submit(noop, i));
    cf::wait(fs);
  }
  report_rate(state, "thread_pool.submit_wait_noop", "concur", "tasks/s", kTasks);
}
BENCHMARK(BM_ThreadPool_SubmitWaitNoop)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinWarmUpTime(1)
    ->MinTime(3);

void BM_ThreadPool_MapNoop(benchmark::State& state) {
  cf::ThreadPoolExecutor pool({.max_workers = workers()});
  std::vector<int> xs(kMapItems);
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    long sum = 0;
    for (int r : pool.map(noop, xs)) sum += r;
    benchmark::DoNotOptimize(sum);
  }
  report_rate(state, "thread_pool.map_noop", "concur", "items/s", kMapItems);
}
BENCHMARK(BM_ThreadPool_MapNoop)->Unit(benchmark::kMillisecond)->UseRealTime()->MinWarmUpTime(1);

// Chunked map of 1M ints, chunksize 10,000. The function is given as a lambda, as the
// parallel_for peer's body is: both inline it. Given as the function (a pointer), each item
// costs an indirect call in the worker (about 0.65× the rate on the 2-core machine).
// `list`: the results are taken as one vector (MapResult::list(), Python's
// list(executor.map(...))) and summed there, as the peer sums its output vector; otherwise
// item by item from the range.
void BM_ThreadPool_MapChunkedNoop(benchmark::State& state, const char* case_name, bool list) {
  cf::ThreadPoolExecutor pool({.max_workers = workers()});
  std::vector<int> xs(kMapItems);
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    long sum = 0;
    auto results = pool.map(
        {.chunksize = 10'000}, [](int x) { return noop(x); }, xs);
    if (list) {
      for (int r : results.list()) sum += r;
    } else {
      for (int r : results) sum += r;
    }
    benchmark::DoNotOptimize(sum);
  }
  report_rate(state, case_name, "concur", "items/s", kMapItems);
}
BENCHMARK_CAPTURE(BM_ThreadPool_MapChunkedNoop, item, "thread_pool.map_chunked_noop", false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ThreadPool_MapChunkedNoop, list, "thread_pool.map_chunked_list_noop", true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_ThreadPool_AsCompleted(benchmark::State& state) {
  cf::ThreadPoolExecutor pool({.max_workers = workers()});
  std::vector<cf::Future<int>> fs;
  fs.reserve(kAsCompleted);
  for (auto _ : state) {
    fs.clear();
    for (int i = 0; i < kAsCompleted; ++i) fs.push_back(pool.submit(noop, i));
    long sum = 0;
    for (const auto& f : cf::as_completed(fs)) sum += f.result();
    benchmark::DoNotOptimize(sum);
  }
  report_rate(state, "thread_pool.as_completed", "concur", "futures/s", kAsCompleted);
}
BENCHMARK(BM_ThreadPool_AsCompleted)->Unit(benchmark::kMillisecond)->UseRealTime();

#ifdef CONCUR_HAVE_TBB
void BM_Tbb_TaskGroupNoop(benchmark::State& state) {
  tbb::task_arena arena(workers());
  std::vector<int> out(kTasks);
  for (auto _ : state) {
    arena.execute([&] {
      tbb::task_group g;
      for (int i = 0; i < kTasks; ++i) g.run([&out, i] { out[static_cast<size_t>(i)] = noop(i); });
      g.wait();
    });
  }
  report_rate(state, "thread_pool.submit_wait_noop", "tbb", "tasks/s", kTasks);
}
BENCHMARK(BM_Tbb_TaskGroupNoop)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinWarmUpTime(1)
    ->MinTime(3);

// Reported under both chunked cases (item by item, and list()): the same peer.
void BM_Tbb_ParallelForNoop(benchmark::State& state, const char* case_name) {
  tbb::task_arena arena(workers());
  std::vector<int> xs(kMapItems), out(kMapItems);
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    arena.execute([&] {
      tbb::parallel_for(0, kMapItems, [&](int i) {
        out[static_cast<size_t>(i)] = noop(xs[static_cast<size_t>(i)]);
      });
    });
    long sum = 0;
    for (int r : out) sum += r;
    benchmark::DoNotOptimize(sum);
  }
  report_rate(state, case_name, "tbb", "items/s", kMapItems);
}
BENCHMARK_CAPTURE(BM_Tbb_ParallelForNoop, item, "thread_pool.map_chunked_noop")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Tbb_ParallelForNoop, list, "thread_pool.map_chunked_list_noop")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
