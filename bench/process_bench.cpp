// Process benchmarks: start() + join() of a no-op child under each start method, against
// the bare system calls (the floor).
//
//   process.start_join_fork         get_context("fork").Process(noop) start+join   concur
//                                   fork() + _exit(0) + waitpid                    floor
//   process.start_join_spawn        get_context("spawn").Process(noop) start+join  concur
//                                   posix_spawn(/proc/self/exe --exit) + waitpid   floor
//   process.start_join_forkserver   get_context("forkserver")... (server running)  concur
//
// Method: as bench/subprocess_bench.cpp — concur and the floor run alternately in one loop
// (manual time), so that the ratio is taken under the same load on a shared machine; the
// BM_Floor_* benchmark reports the floor's mean from that loop.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <concur/multiprocessing.hpp>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_util.hpp"

extern char** environ;  // NOLINT

namespace {

namespace mp = concur::mp;

void start_join(const char* method) {
  auto p = mp::get_context(method).Process([] {});
  p.start();
  p.join();
  if (p.exitcode() != 0) std::abort();
}
void concur_fork() { start_join("fork"); }
void concur_spawn() { start_join("spawn"); }
void concur_forkserver() { start_join("forkserver"); }

void floor_fork() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

void floor_spawn() {
  char arg0[] = "process_bench";
  char arg1[] = "--exit";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, environ) != 0) std::abort();
  int status = 0;
  ::waitpid(pid, &status, 0);
}

using concur_bench::floor_report;
using concur_bench::interleaved;

void BM_Process_StartJoinFork(benchmark::State& state) {
  interleaved(state, "process.start_join_fork", concur_fork, floor_fork);
}
void BM_Floor_StartJoinFork(benchmark::State& state) {
  floor_report(state, "process.start_join_fork", floor_fork);
}
void BM_Process_StartJoinSpawn(benchmark::State& state) {
  interleaved(state, "process.start_join_spawn", concur_spawn, floor_spawn);
}
void BM_Floor_StartJoinSpawn(benchmark::State& state) {
  floor_report(state, "process.start_join_spawn", floor_spawn);
}
void BM_Process_StartJoinForkserver(benchmark::State& state) {
  concur_forkserver();  // the server starts once, outside the measurement
  interleaved(state, "process.start_join_forkserver", concur_forkserver, nullptr);
}

}  // namespace

BENCHMARK(BM_Process_StartJoinFork)->MinTime(2.0)->UseManualTime();
BENCHMARK(BM_Floor_StartJoinFork)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Process_StartJoinSpawn)->MinTime(2.0)->UseManualTime();
BENCHMARK(BM_Floor_StartJoinSpawn)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Process_StartJoinForkserver)->MinTime(2.0)->UseManualTime();

// CONCUR_MAIN: main() whose first statement is main_guard (spawned children run their
// target there and exit).
CONCUR_MAIN(argc, argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--exit") == 0) return 0;  // the spawn floor's child
  ::benchmark::Initialize(&argc, argv);
  if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ::benchmark::RunSpecifiedBenchmarks();
  ::benchmark::Shutdown();
  return 0;
}
