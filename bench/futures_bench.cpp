#include "bench_util.hpp"
static void BM_Placeholder(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(1);
}
BENCHMARK(BM_Placeholder);
BENCHMARK_MAIN();
