// Cluster benchmarks: distributed::Executor against 2 worker processes (distributed::serve,
// one thread each, each holding up to 64 tasks: .prefetch = 64), through a redis-server of the
// benchmark's own on a free loopback port (started as the tests start theirs:
// tests/support/redis_server.hpp).
//
//   distributed.submit_wait_noop   submit(&noop, i) then result(), one task at a time: the
//                                  round trip of one task through Redis (tasks/s)
//   distributed.map_noop           map(&noop, 20,000 ints), chunksize 1: every call its own
//                                  task, written in pipelined batches by the sender (tasks/s)
//
// Method: the server, the workers and the executor are made, and a first call answered,
// before the timed loops; the workers stop (SIGTERM) and the server goes after the run.
#include <chrono>
#include <concur/distributed.hpp>
#include <concur/futures.hpp>
#include <concur/multiprocessing.hpp>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "support/redis_server.hpp"

namespace cf = concur::futures;
namespace dist = concur::distributed;
namespace mp = concur::mp;
using concur_bench::report_rate;

namespace {

constexpr int kWorkers = 2;
constexpr int kOneAtATime = 2'000;
constexpr int kMapItems = 20'000;
constexpr int kPrefetch = 64;  // no-op tasks: a worker may hold many (Celery: 4 by default)

int noop(int x) { return x; }
CONCUR_REGISTER(noop);

void run_worker(std::string url) {
  (void)dist::serve({.url = std::move(url), .concurrency = 1, .prefetch = kPrefetch});
}

// The server, the workers and one executor, for the whole run.
struct Cluster {
  concur::testing::RedisServer server;
  std::vector<std::unique_ptr<mp::Process>> workers;
  std::unique_ptr<dist::Executor> ex;

  Cluster() {
    for (int i = 0; i < kWorkers; ++i) {
      workers.push_back(std::make_unique<mp::Process>(mp::fn<&run_worker>, server.url()));
      workers.back()->start();
    }
    ex = std::make_unique<dist::Executor>(dist::ExecutorOptions{.url = server.url()});
    if (ex->submit(&noop, 1).result(std::chrono::seconds(30)) != 1) std::abort();
  }
  ~Cluster() {
    ex.reset();
    for (auto& w : workers) w->terminate();
    for (auto& w : workers) (void)w->join(std::chrono::seconds(10));
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
};

std::unique_ptr<Cluster> g_cluster;

Cluster& cluster() {
  if (!g_cluster) g_cluster = std::make_unique<Cluster>();
  return *g_cluster;
}

void BM_Distributed_SubmitWaitNoop(benchmark::State& state) {
  dist::Executor& ex = *cluster().ex;
  for (auto _ : state) {
    long sum = 0;
    for (int i = 0; i < kOneAtATime; ++i) sum += ex.submit(&noop, i).result();
    if (sum != static_cast<long>(kOneAtATime) * (kOneAtATime - 1) / 2) std::abort();
  }
  report_rate(state, "distributed.submit_wait_noop", "concur", "tasks/s", kOneAtATime);
}
BENCHMARK(BM_Distributed_SubmitWaitNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Distributed_MapNoop(benchmark::State& state) {
  dist::Executor& ex = *cluster().ex;
  std::vector<int> xs(kMapItems);
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    long sum = 0;
    for (int r : ex.map(&noop, xs)) sum += r;
    if (sum != static_cast<long>(kMapItems) * (kMapItems - 1) / 2) std::abort();
  }
  report_rate(state, "distributed.map_noop", "concur", "tasks/s", kMapItems);
}
BENCHMARK(BM_Distributed_MapNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

// CONCUR_MAIN: the workers are copies of this program (forkserver): they serve there and
// never reach the benchmarks.
CONCUR_MAIN(argc, argv) {
  ::benchmark::Initialize(&argc, argv);
  if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ::benchmark::RunSpecifiedBenchmarks();
  ::benchmark::Shutdown();
  g_cluster.reset();
  return 0;
}
