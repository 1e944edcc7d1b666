// subprocess benchmarks: run() against the bare system calls (the floor), and
// run() from a parent holding 1 GB / 4 GB of touched memory (spawn cost must stay
// flat: posix_spawn is vfork-class, nothing is copied).
//
//   subprocess.run_true            run({"/bin/true"})                       concur
//                                  posix_spawn + waitpid                    floor
//   subprocess.run_capture_echo    run({"/bin/echo","hello"}, capture)      concur
//                                  posix_spawn + pipe + read + waitpid      floor
//   subprocess.run_true_parent_1GB run({"/bin/true"}) with 1 GB touched     concur
//   subprocess.run_true_parent_4GB run({"/bin/true"}) with 4 GB touched     concur
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <concur/subprocess.hpp>
#include <cstring>

#include "bench_util.hpp"

extern char** environ;  // NOLINT

namespace {

namespace sp = concur::subprocess;

void BM_Run_True(benchmark::State& state) {
  for (auto _ : state) {
    auto r = sp::run({"/bin/true"});
    benchmark::DoNotOptimize(r.returncode);
  }
  concur_bench::report_latency(state, "subprocess.run_true", "concur", "us", 1);
}

void BM_Floor_SpawnTrue(benchmark::State& state) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  for (auto _ : state) {
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn");
      break;
    }
    int status;
    waitpid(pid, &status, 0);
  }
  concur_bench::report_latency(state, "subprocess.run_true", "floor", "us", 1);
}

void BM_Run_CaptureEcho(benchmark::State& state) {
  for (auto _ : state) {
    auto r = sp::run({"/bin/echo", "hello"}, {.capture_output = true});
    benchmark::DoNotOptimize(r.stdout_);
  }
  concur_bench::report_latency(state, "subprocess.run_capture_echo", "concur", "us", 1);
}

void BM_Floor_SpawnCaptureEcho(benchmark::State& state) {
  char arg0[] = "/bin/echo", arg1[] = "hello";
  char* argv[] = {arg0, arg1, nullptr};
  for (auto _ : state) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      state.SkipWithError("pipe2");
      break;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    pid_t pid;
    const int rc = posix_spawn(&pid, "/bin/echo", &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      state.SkipWithError("posix_spawn");
      break;
    }
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
      out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    benchmark::DoNotOptimize(out);
  }
  concur_bench::report_latency(state, "subprocess.run_capture_echo", "floor", "us", 1);
}

// Touched memory held by the process: grown once (1 GB, then 4 GB), never per
// iteration, and kept until exit. MAP_POPULATE touches every page up front.
void hold_touched_memory(std::size_t bytes) {
  static std::size_t held = 0;
  if (held >= bytes) return;
  const std::size_t more = bytes - held;
  void* p = mmap(nullptr, more, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
  if (p == MAP_FAILED) return;
  std::memset(p, 1, more);  // touched, dirty pages (not the shared zero page)
  held = bytes;
}

void run_true_with_parent(benchmark::State& state, std::size_t bytes, const char* name) {
  hold_touched_memory(bytes);
  for (auto _ : state) {
    auto r = sp::run({"/bin/true"});
    benchmark::DoNotOptimize(r.returncode);
  }
  concur_bench::report_latency(state, name, "concur", "us", 1);
}

void BM_Run_True_Parent1GB(benchmark::State& state) {
  run_true_with_parent(state, std::size_t{1} << 30, "subprocess.run_true_parent_1GB");
}
void BM_Run_True_Parent4GB(benchmark::State& state) {
  run_true_with_parent(state, std::size_t{4} << 30, "subprocess.run_true_parent_4GB");
}

}  // namespace

BENCHMARK(BM_Run_True)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_Floor_SpawnTrue)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_Run_CaptureEcho)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_Floor_SpawnCaptureEcho)->MinTime(1.0)->UseRealTime();
// Last, in this order: the memory only grows.
BENCHMARK(BM_Run_True_Parent1GB)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_Run_True_Parent4GB)->MinTime(1.0)->UseRealTime();
BENCHMARK_MAIN();
