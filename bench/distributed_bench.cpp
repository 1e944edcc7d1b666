// Cluster benchmarks: distributed::Executor against 2 worker processes (distributed::serve,
// one thread each, each holding up to 64 tasks: .prefetch = 64), through a redis-server of the
// benchmark's own on a free loopback port (started as the tests start theirs:
// tests/support/redis_server.hpp).
//
//   distributed.submit_wait_noop   20,000 submit(&noop, i), each call its own task, then
//                                  result() of every future, as thread_pool.submit_wait_noop
//                                  and process_pool.submit_wait_noop do (tasks/s)
//   distributed.map_noop           map(&noop, 20,000 ints), chunksize 1: every call its own
//                                  task, written in pipelined batches by the sender (tasks/s)
//   distributed.latency_one        the median time of one task's round trip (submit, then
//                                  result()), over 500 tasks each submitted once the previous
//                                  one has its result: workers idle in their blocking read (µs)
//
// "One at a time" (submit_wait_noop) is one task per submit() and per stream entry, against
// map's many calls in one map() call; the executor's sender still writes the entries that
// queued up while it was busy in one pipeline (design 0007 §9). A task submitted only once the
// one before has its result is latency_one: its inverse is that shape's rate.
//
// The floor of each case: the same work with the bare Redis calls, no threads, no codec
// (src/distributed/redis.hpp's thin hiredis layer). 2 floor worker processes loop on
// XREADGROUP COUNT 64 BLOCK, answer a read with one pipelined RPUSH per task, then one XACK
// and one XDEL of all its ids. The floor client, for submit_wait_noop, XADDs each task in its
// own round trip (what the steering research measured "one at a time, from C"), then pops the
// results (LPOP 256, BLPOP when empty); for map_noop, XADDs every task in one pipeline, then
// pops the same way; for latency_one, pipelines one XADD and a BLPOP per task. The floor
// workers are separate processes from concur's, in a namespace of their own on the same
// server, and each floor runs right after concur's case, so both see about the same load.
//
// Method: the server, the workers and the executor are made, and a first call answered,
// before the timed loops; the workers stop (SIGTERM) and the server goes after the run.
#include <algorithm>
#include <chrono>
#include <concur/distributed.hpp>
#include <concur/futures.hpp>
#include <concur/multiprocessing.hpp>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "distributed/protocol.hpp"
#include "distributed/redis.hpp"
#include "support/redis_server.hpp"

namespace cf = concur::futures;
namespace dist = concur::distributed;
namespace mp = concur::mp;
using concur_bench::report_latency;
using concur_bench::report_rate;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kWorkers = 2;
constexpr int kSubmits = 20'000;
constexpr int kMapItems = 20'000;
constexpr int kLatencySamples = 500;
constexpr int kPrefetch = 64;  // no-op tasks: a worker may hold many (Celery: 4 by default)

int noop(int x) { return x; }
CONCUR_REGISTER(noop);

void run_worker(std::string url) {
  (void)dist::serve({.url = std::move(url), .concurrency = 1, .prefetch = kPrefetch});
}

// --- the floor: bare Redis calls ---------------------------------------------------------

const dist::detail::Keys& floor_keys() {
  static const dist::detail::Keys keys("concur-floor");
  return keys;
}

// A floor worker: reads up to 64 tasks (fields "r": the results key, "v": the value),
// pushes each value back, acknowledges and deletes them; until SIGTERM (its default action).
void run_floor_worker(const std::string& url) {
  namespace dd = dist::detail;
  dd::Redis r(dd::parse_url(url), {std::chrono::seconds(5), std::chrono::seconds(6)});
  const dd::Keys& keys = floor_keys();
  dd::ensure_group(r, keys);
  const std::string me = dd::this_worker_name();
  std::vector<std::string_view> ids;
  for (;;) {
    const dd::Reply got = r.command({"XREADGROUP", "GROUP", dd::kGroup, me, "COUNT", "64", "BLOCK",
                                     "1000", "STREAMS", keys.tasks, ">"});
    if (got.type != dd::Reply::Type::array || got.elements.empty()) continue;
    const auto& entries = got.elements[0].elements.at(1).elements;
    ids.assign({"XACK", keys.tasks, dd::kGroup});
    for (const dd::Reply& e : entries) {
      const auto& f = e.elements.at(1).elements;  // r <key> v <value>
      r.append({"RPUSH", f.at(1).str, f.at(3).str});
      ids.push_back(e.elements[0].str);
    }
    r.append(std::span<const std::string_view>(ids));
    ids[0] = "XDEL";
    ids.erase(ids.begin() + 2);  // XDEL <key> <id>...: no group
    r.append(std::span<const std::string_view>(ids));
    for (std::size_t i = 0; i < entries.size() + 2; ++i) (void)r.get_reply();
  }
}

// The floor's client side: one connection, no threads.
struct FloorClient {
  dist::detail::Redis redis;
  std::string results = floor_keys().results("bench");
  explicit FloorClient(const std::string& url)
      : redis(dist::detail::parse_url(url), {std::chrono::seconds(5), std::chrono::seconds(6)}) {
    dist::detail::ensure_group(redis, floor_keys());
  }
  // One task, then its result.
  long one(int x) {
    const std::string v = std::to_string(x);
    redis.append({"XADD", floor_keys().tasks, "*", "r", results, "v", v});
    redis.append({"BLPOP", results, "5"});
    (void)redis.get_reply();
    const auto got = redis.get_reply();
    if (got.elements.size() != 2) std::abort();
    return std::stol(got.elements[1].str);
  }
  // Every task written in one pipelined round trip, then the results popped.
  long many(const std::vector<int>& xs) {
    for (int x : xs) {
      const std::string v = std::to_string(x);
      redis.append({"XADD", floor_keys().tasks, "*", "r", results, "v", v});
    }
    for (std::size_t i = 0; i < xs.size(); ++i) (void)redis.get_reply();
    return pop_results(xs.size());
  }
  // Each task its own XADD round trip, then the results popped.
  long each(const std::vector<int>& xs) {
    for (int x : xs) {
      const std::string v = std::to_string(x);
      (void)redis.command({"XADD", floor_keys().tasks, "*", "r", results, "v", v});
    }
    return pop_results(xs.size());
  }
  long pop_results(std::size_t n) {
    long sum = 0;
    for (std::size_t got = 0; got < n;) {
      const auto r = redis.command({"LPOP", results, "256"});
      if (r.is_nil()) {
        const auto b = redis.command({"BLPOP", results, "5"});
        if (b.elements.size() != 2) std::abort();
        sum += std::stol(b.elements[1].str);
        ++got;
        continue;
      }
      for (const auto& e : r.elements) sum += std::stol(e.str);
      got += r.elements.size();
    }
    return sum;
  }
};

// The server, the workers and one executor, for the whole run.
struct Cluster {
  concur::testing::RedisServer server;
  std::vector<std::unique_ptr<mp::Process>> workers;
  std::unique_ptr<dist::Executor> ex;
  std::unique_ptr<FloorClient> floor;

  Cluster() {
    for (int i = 0; i < kWorkers; ++i) {
      workers.push_back(std::make_unique<mp::Process>(mp::fn<&run_worker>, server.url()));
      workers.back()->start();
      workers.push_back(std::make_unique<mp::Process>(mp::fn<&run_floor_worker>, server.url()));
      workers.back()->start();
    }
    ex = std::make_unique<dist::Executor>(dist::ExecutorOptions{.url = server.url()});
    if (ex->submit(&noop, 1).result(std::chrono::seconds(30)) != 1) std::abort();
    floor = std::make_unique<FloorClient>(server.url());
    if (floor->one(1) != 1) std::abort();
  }
  ~Cluster() {
    ex.reset();
    floor.reset();
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
  std::vector<cf::Future<int>> fs;
  fs.reserve(kSubmits);
  for (auto _ : state) {
    fs.clear();
    for (int i = 0; i < kSubmits; ++i) fs.push_back(ex.submit(&noop, i));
    long sum = 0;
    for (auto& f : fs) sum += f.result();
    if (sum != static_cast<long>(kSubmits) * (kSubmits - 1) / 2) std::abort();
  }
  report_rate(state, "distributed.submit_wait_noop", "concur", "tasks/s", kSubmits);
}
BENCHMARK(BM_Distributed_SubmitWaitNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Floor_SubmitWaitNoop(benchmark::State& state) {
  FloorClient& fl = *cluster().floor;
  std::vector<int> xs(kSubmits);
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    if (fl.each(xs) != static_cast<long>(kSubmits) * (kSubmits - 1) / 2) std::abort();
  }
  report_rate(state, "distributed.submit_wait_noop", "floor", "tasks/s", kSubmits);
}
BENCHMARK(BM_Floor_SubmitWaitNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

// The median of kLatencySamples round trips, as one iteration's time.
template <class One>
double median_round_trip(One one) {
  std::vector<double> samples(kLatencySamples);
  for (int i = 0; i < kLatencySamples; ++i) {
    const auto t0 = Clock::now();
    if (one(i) != i) std::abort();
    samples[static_cast<std::size_t>(i)] = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  std::nth_element(samples.begin(), samples.begin() + kLatencySamples / 2, samples.end());
  return samples[kLatencySamples / 2];
}

void BM_Distributed_LatencyOne(benchmark::State& state) {
  dist::Executor& ex = *cluster().ex;
  for (auto _ : state) {
    state.SetIterationTime(median_round_trip([&](int i) { return ex.submit(&noop, i).result(); }));
  }
  report_latency(state, "distributed.latency_one", "concur", "us", 1);
}
BENCHMARK(BM_Distributed_LatencyOne)->Unit(benchmark::kMicrosecond)->UseManualTime()->Iterations(3);

void BM_Floor_LatencyOne(benchmark::State& state) {
  FloorClient& fl = *cluster().floor;
  for (auto _ : state) {
    state.SetIterationTime(median_round_trip([&](int i) { return fl.one(i); }));
  }
  report_latency(state, "distributed.latency_one", "floor", "us", 1);
}
BENCHMARK(BM_Floor_LatencyOne)->Unit(benchmark::kMicrosecond)->UseManualTime()->Iterations(3);

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

void BM_Floor_MapNoop(benchmark::State& state) {
  FloorClient& fl = *cluster().floor;
  std::vector<int> xs(kMapItems);
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    if (fl.many(xs) != static_cast<long>(kMapItems) * (kMapItems - 1) / 2) std::abort();
  }
  report_rate(state, "distributed.map_noop", "floor", "tasks/s", kMapItems);
}
BENCHMARK(BM_Floor_MapNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

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
