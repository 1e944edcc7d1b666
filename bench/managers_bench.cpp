// Manager benchmarks: a local mp::Manager() (its server process, one round trip per
// operation) beside CPython's (bench/py_peers_managers.py).
//
//   manager.dict_setitem    d[i] = i through a DictProxy<int, int>            ops/s
//   manager.queue_put_get   q.put(i); q.get() through a QueueProxy<int>          pairs/s
#include <benchmark/benchmark.h>

#include <concur/multiprocessing.hpp>
#include <cstdint>

#include "bench_util.hpp"

namespace mp = concur::mp;

namespace {

void BM_Manager_DictSetitem(benchmark::State& state) {
  constexpr int kN = 20'000;
  auto manager = mp::Manager();
  auto d = manager.dict<int, int>();
  for (int i = 0; i < 1000; ++i) d.setitem(i, i);  // warm: the connection is open
  for (auto _ : state) {
    for (int i = 0; i < kN; ++i) d.setitem(i, i);
  }
  concur_bench::report_rate(state, "manager.dict_setitem", "concur", "ops/s", kN);
}
BENCHMARK(BM_Manager_DictSetitem)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1);

void BM_Manager_QueuePutGet(benchmark::State& state) {
  constexpr int kN = 10'000;
  auto manager = mp::Manager();
  auto q = manager.Queue<int>();
  for (auto _ : state) {
    for (int i = 0; i < kN; ++i) {
      q.put(i);
      benchmark::DoNotOptimize(q.get());
    }
  }
  concur_bench::report_rate(state, "manager.queue_put_get", "concur", "pairs/s", kN);
}
BENCHMARK(BM_Manager_QueuePutGet)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1);

}  // namespace

int main(int argc, char** argv) {
  concur::mp::main_guard(argc, argv);  // first: the manager's server (forkserver) starts here
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
