// Process pool benchmarks: futures::ProcessPoolExecutor and mp::Pool (one worker engine,
// two faces) on no-op calls, which measure what a call costs to cross to a worker and back,
// and on a CPU-bound case, which measures how well the workers use the cores.
//
//   process_pool.submit_wait_noop   200k submit(&noop, i) to ProcessPoolExecutor(2 workers),
//                                   then waiting on every future (tasks/s)
//   process_pool.map_chunked_noop   map(&noop, 1M ints) with chunksize 10,000 (items/s)
//   pool.map_noop                   mp::Pool(2).map(&noop, 1M ints), CPython's default chunksize
//                                   (len / (4 x processes): 8 chunks of 125,000) (items/s)
//   mp_pool.map_chunked_noop        the same with chunksize 10,000 (items/s)
//   pool.apply_async_noop           100k apply_async(&noop, i), then get() of each (tasks/s)
//   process_pool.is_prime           map(&is_prime, PRIMES x 40) on ProcessPoolExecutor() (one
//                                   worker per CPU), chunksize 1 (items/s)          concur
//                                   the same is_prime over the same list on one core, in this
//                                   thread (items/s)                                floor
//
// Method: each pool is made, and its workers started and warmed up by a first call, outside
// the timed loop (CPython's peers do the same: py_peers.py, bench/py_peers_pool.py). noop and
// is_prime are CONCUR_REGISTERed function pointers, as CPython's peers pass functions by name.
// For process_pool.is_prime, the serial loop and the pool run alternately in one loop, so that
// both see the same load; `x floor` in bench/run's table is then the speed-up of the pool
// over one core (the goal: >= 0.9 x the number of CPUs).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concur/futures.hpp>
#include <concur/futures/process_pool.hpp>
#include <concur/multiprocessing.hpp>
#include <concur/multiprocessing/pool.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <vector>

#include "bench_util.hpp"

namespace cf = concur::futures;
namespace mp = concur::mp;
using concur_bench::report_rate;

namespace {

constexpr int kWorkers = 2;
constexpr int kSubmits = 200'000;
constexpr int kApplies = 100'000;
constexpr int kMapItems = 1'000'000;
constexpr long kChunk = 10'000;
constexpr int kPrimeRepeats = 40;  // ~1 s of work on 2 cores for concur

int noop(int x) { return x; }
CONCUR_REGISTER(noop);

// The concurrent.futures documentation's is_prime (examples/futures_process_pool.cpp).
bool is_prime(long n) {
  if (n < 2) return false;
  if (n == 2) return true;
  if (n % 2 == 0) return false;
  const auto sqrt_n = static_cast<long>(std::floor(std::sqrt(static_cast<double>(n))));
  for (long i = 3; i <= sqrt_n; i += 2) {
    if (n % i == 0) return false;
  }
  return true;
}
CONCUR_REGISTER(is_prime);

std::vector<int> ints(int n) {
  std::vector<int> xs(static_cast<std::size_t>(n));
  std::iota(xs.begin(), xs.end(), 0);
  return xs;
}

// The sum of 0 .. n-1, which every no-op map must give back.
void check_sum(long sum, int n) {
  if (sum != static_cast<long>(n) * (n - 1) / 2) std::abort();
}

// Starts the executor's workers (on demand: one per submit while none is idle) and waits
// for them.
void warm(cf::ProcessPoolExecutor& ex) {
  const int n = 4 * ex.max_workers();
  std::vector<cf::Future<int>> fs;
  fs.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) fs.push_back(ex.submit(&noop, i));
  cf::wait(fs);
}

void BM_ProcessPool_SubmitWaitNoop(benchmark::State& state) {
  cf::ProcessPoolExecutor ex({.max_workers = kWorkers});
  warm(ex);
  std::vector<cf::Future<int>> fs;
  fs.reserve(kSubmits);
  for (auto _ : state) {
    fs.clear();
    for (int i = 0; i < kSubmits; ++i) fs.push_back(ex.submit(&noop, i));
    cf::wait(fs);
  }
  long sum = 0;
  for (const auto& f : fs) sum += f.result();
  check_sum(sum, kSubmits);
  report_rate(state, "process_pool.submit_wait_noop", "concur", "tasks/s", kSubmits);
}
BENCHMARK(BM_ProcessPool_SubmitWaitNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ProcessPool_MapChunkedNoop(benchmark::State& state) {
  cf::ProcessPoolExecutor ex({.max_workers = kWorkers});
  warm(ex);
  const auto xs = ints(kMapItems);
  for (auto _ : state) {
    long sum = 0;
    for (int r : ex.map({.chunksize = kChunk}, &noop, xs)) sum += r;
    check_sum(sum, kMapItems);
  }
  report_rate(state, "process_pool.map_chunked_noop", "concur", "items/s", kMapItems);
}
BENCHMARK(BM_ProcessPool_MapChunkedNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

void pool_map(benchmark::State& state, std::optional<long> chunksize, const char* case_name) {
  mp::Pool pool(kWorkers);
  (void)pool.map(&noop, ints(100));  // warm
  const auto xs = ints(kMapItems);
  for (auto _ : state) {
    const std::vector<int> out = pool.map(&noop, xs, chunksize);
    check_sum(std::accumulate(out.begin(), out.end(), 0L), kMapItems);
  }
  report_rate(state, case_name, "concur", "items/s", kMapItems);
}

void BM_Pool_MapNoop(benchmark::State& state) { pool_map(state, std::nullopt, "pool.map_noop"); }
BENCHMARK(BM_Pool_MapNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Pool_MapChunkedNoop(benchmark::State& state) {
  pool_map(state, kChunk, "mp_pool.map_chunked_noop");
}
BENCHMARK(BM_Pool_MapChunkedNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Pool_ApplyAsyncNoop(benchmark::State& state) {
  mp::Pool pool(kWorkers);
  (void)pool.map(&noop, ints(100));  // warm
  std::vector<mp::AsyncResult<int>> rs;
  rs.reserve(kApplies);
  for (auto _ : state) {
    rs.clear();
    for (int i = 0; i < kApplies; ++i) rs.push_back(pool.apply_async(&noop, i));
    long sum = 0;
    for (const auto& r : rs) sum += r.get();
    check_sum(sum, kApplies);
  }
  report_rate(state, "pool.apply_async_noop", "concur", "tasks/s", kApplies);
}
BENCHMARK(BM_Pool_ApplyAsyncNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- CPU-bound: is_prime over the documentation's PRIMES, on every CPU and on one ----

std::vector<long> primes_repeated() {
  const std::vector<long> primes = {112272535095293, 112582705942171, 112272535095293,
                                    115280095190773, 115797848077099, 1099726899285419};
  std::vector<long> xs;
  for (int i = 0; i < kPrimeRepeats; ++i) xs.insert(xs.end(), primes.begin(), primes.end());
  return xs;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double g_serial_seconds = 0;  // the floor's mean, measured beside concur's

void BM_ProcessPool_IsPrime(benchmark::State& state) {
  cf::ProcessPoolExecutor ex;  // max_workers = cpu_count()
  const auto xs = primes_repeated();
  warm(ex);
  double serial = 0;
  std::int64_t n = 0;
  std::size_t live = 0;  // the workers alive after a map (all of them should have worked)
  for (auto _ : state) {
    auto t = std::chrono::steady_clock::now();
    int count = 0;
    for (long x : xs) count += is_prime(x) ? 1 : 0;
    serial += seconds_since(t);
    benchmark::DoNotOptimize(count);
    t = std::chrono::steady_clock::now();
    int pooled = 0;
    for (bool p : ex.map(&is_prime, xs)) pooled += p ? 1 : 0;
    state.SetIterationTime(seconds_since(t));
    live = std::max(live, ex.pids().size());
    if (pooled != count) std::abort();
    ++n;
  }
  if (n > 0) g_serial_seconds = serial / static_cast<double>(n);
  report_rate(state, "process_pool.is_prime", "concur", "items/s", static_cast<double>(xs.size()));
  state.counters["workers"] = ex.max_workers();
  state.counters["live_workers"] = static_cast<double>(live);
}
BENCHMARK(BM_ProcessPool_IsPrime)->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(3);

void BM_Floor_IsPrime(benchmark::State& state) {
  const auto xs = primes_repeated();
  for (auto _ : state) {
    if (g_serial_seconds > 0) {
      state.SetIterationTime(g_serial_seconds);
    } else {  // run alone (a filter left concur's case out)
      const auto t = std::chrono::steady_clock::now();
      int count = 0;
      for (long x : xs) count += is_prime(x) ? 1 : 0;
      benchmark::DoNotOptimize(count);
      state.SetIterationTime(seconds_since(t));
    }
  }
  report_rate(state, "process_pool.is_prime", "floor", "items/s", static_cast<double>(xs.size()));
}
BENCHMARK(BM_Floor_IsPrime)->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);

}  // namespace

// CONCUR_MAIN: main() whose first statement is mp::main_guard (the workers are copies of this
// program started by forkserver: they run their loop there and never reach the benchmarks).
CONCUR_MAIN(argc, argv) {
  ::benchmark::Initialize(&argc, argv);
  if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ::benchmark::RunSpecifiedBenchmarks();
  ::benchmark::Shutdown();
  return 0;
}
