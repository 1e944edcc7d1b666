// subprocess benchmarks: run() against the bare system calls (the floor), and
// run() from a parent holding 1 GB / 4 GB of touched memory (the spawn cost must stay
// flat: posix_spawn is vfork-class, nothing is copied).
//
//   subprocess.run_true              run({"/bin/true"})                      concur
//                                    posix_spawn + waitpid                   floor
//   subprocess.run_capture_echo      run({"/bin/echo","hello"}, capture)     concur
//                                    posix_spawn + pipe + read + waitpid     floor
//   subprocess.run_true_parent_1GB   both of run_true, 1 GB touched          concur, floor
//   subprocess.run_true_parent_4GB   both of run_true, 4 GB touched          concur, floor
//
// Method: the machine is shared (other builds run on the same 2 cores), and the
// load drifts by tens of percent from one second to the next. So each concur
// benchmark runs concur and the floor alternately in the same loop, timing each
// operation (manual time), and reports concur's mean; the floor's mean from that
// same loop is what the matching BM_Floor_* benchmark reports (it measures on its
// own only when run alone, e.g. with a filter). Ratios are then taken under the
// same load.
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <concur/subprocess.hpp>
#include <cstring>
#include <string>

#include "bench_util.hpp"

extern char** environ;  // NOLINT

namespace {

namespace sp = concur::subprocess;

void concur_true() {
  auto r = sp::run({"/bin/true"});
  benchmark::DoNotOptimize(r.returncode);
}

void floor_true() {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  pid_t pid;
  if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) std::abort();
  int status;
  waitpid(pid, &status, 0);
}

void concur_echo() {
  auto r = sp::run({"/bin/echo", "hello"}, {.capture_output = true});
  benchmark::DoNotOptimize(r.stdout_);
}

void floor_echo() {
  char arg0[] = "/bin/echo", arg1[] = "hello";
  char* argv[] = {arg0, arg1, nullptr};
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) std::abort();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  pid_t pid;
  const int rc = posix_spawn(&pid, "/bin/echo", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) std::abort();
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  benchmark::DoNotOptimize(out);
}

using concur_bench::floor_report;
using concur_bench::interleaved;

// Touched memory held by the process: grown once (1 GB, then 4 GB), never per
// iteration, kept until exit. Every page is written (not the shared zero page).
void hold_touched_memory(std::size_t bytes) {
  static std::size_t held = 0;
  if (held >= bytes) return;
  const std::size_t more = bytes - held;
  void* p = mmap(nullptr, more, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::abort();
  std::memset(p, 1, more);
  held = bytes;
}

void BM_Run_True(benchmark::State& state) {
  interleaved(state, "subprocess.run_true", concur_true, floor_true);
}
void BM_Floor_True(benchmark::State& state) {
  floor_report(state, "subprocess.run_true", floor_true);
}
void BM_Run_CaptureEcho(benchmark::State& state) {
  interleaved(state, "subprocess.run_capture_echo", concur_echo, floor_echo);
}
void BM_Floor_CaptureEcho(benchmark::State& state) {
  floor_report(state, "subprocess.run_capture_echo", floor_echo);
}
void BM_Run_True_Parent1GB(benchmark::State& state) {
  hold_touched_memory(std::size_t{1} << 30);
  interleaved(state, "subprocess.run_true_parent_1GB", concur_true, floor_true);
}
void BM_Floor_True_Parent1GB(benchmark::State& state) {
  hold_touched_memory(std::size_t{1} << 30);
  floor_report(state, "subprocess.run_true_parent_1GB", floor_true);
}
void BM_Run_True_Parent4GB(benchmark::State& state) {
  hold_touched_memory(std::size_t{4} << 30);
  interleaved(state, "subprocess.run_true_parent_4GB", concur_true, floor_true);
}
void BM_Floor_True_Parent4GB(benchmark::State& state) {
  hold_touched_memory(std::size_t{4} << 30);
  floor_report(state, "subprocess.run_true_parent_4GB", floor_true);
}

}  // namespace

// In this order: each floor right after its concur run; the memory only grows.
BENCHMARK(BM_Run_True)->MinTime(2.0)->UseManualTime();
BENCHMARK(BM_Floor_True)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Run_CaptureEcho)->MinTime(2.0)->UseManualTime();
BENCHMARK(BM_Floor_CaptureEcho)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Run_True_Parent1GB)->MinTime(2.0)->UseManualTime();
BENCHMARK(BM_Floor_True_Parent1GB)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Run_True_Parent4GB)->MinTime(2.0)->UseManualTime();
BENCHMARK(BM_Floor_True_Parent4GB)->Iterations(1)->UseManualTime();
BENCHMARK_MAIN();
