// InterpreterPoolExecutor benchmarks: the cost of isolation, read beside
// thread_pool.submit_wait_noop (bench/futures_bench.cpp) in the same bench/run. CPython 3.11
// has no interpreter pool: its figure is a ProcessPoolExecutor's (py_peers_interpreter_pool.py).
#include <concur/futures.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace cf = concur::futures;
using concur_bench::report_rate;

namespace {

constexpr int kTasks = 1'000'000;
constexpr int kStringTasks = 250'000;

// As futures_bench: max_workers = the CPU count, as CPython's peer.
int workers() { return static_cast<int>(std::thread::hardware_concurrency()); }

int noop(int x) { return x; }

// The thread pool's case, on the isolated pool: a function pointer, an int in, an int out.
void BM_InterpreterPool_SubmitWaitNoop(benchmark::State& state) {
  cf::InterpreterPoolExecutor<> pool({.max_workers = workers()});
  std::vector<cf::Future<int>> fs;
  fs.reserve(kTasks);
  for (auto _ : state) {
    fs.clear();
    for (int i = 0; i < kTasks; ++i) fs.push_back(pool.submit(noop, i));
    cf::wait(fs);
  }
  report_rate(state, "interpreter_pool.submit_wait_noop", "concur", "tasks/s", kTasks);
}
BENCHMARK(BM_InterpreterPool_SubmitWaitNoop)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinWarmUpTime(1)
    ->MinTime(3);

// With a worker state and a std::string through the codec both ways.
void BM_InterpreterPool_SubmitWaitString(benchmark::State& state) {
  struct Ctx {
    long calls = 0;
  };
  cf::InterpreterPoolExecutor<Ctx> pool({.max_workers = workers()});
  std::vector<cf::Future<std::string>> fs;
  fs.reserve(kStringTasks);
  const std::string text(32, 'x');
  for (auto _ : state) {
    fs.clear();
    for (int i = 0; i < kStringTasks; ++i)
      fs.push_back(pool.submit(
          [](Ctx& c, std::string s) {
            ++c.calls;
            return s;
          },
          text));
    cf::wait(fs);
  }
  report_rate(state, "interpreter_pool.submit_wait_string32", "concur", "tasks/s", kStringTasks);
}
BENCHMARK(BM_InterpreterPool_SubmitWaitString)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
