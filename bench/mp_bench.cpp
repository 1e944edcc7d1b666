// multiprocessing queue and pipe benchmarks, beside CPython's peers (py_peers.py) and the
// raw floors of this machine.
//
//   mp_queue.small_msgs    Queue<int>: this process puts 200k ints, one consumer      concur
//                          process gets them (time: first put to the consumer's exit)
//   mp_queue.4MiB_msgs     Queue<std::string>(maxsize 8): 200 messages of 4 MiB        concur
//                          memcpy of 4 MiB between two buffers (GB/s)                  floor
//   mp_pipe.4MiB_msgs      Pipe<std::string>(duplex=false): 200 messages of 4 MiB      concur
//                          memcpy of 4 MiB between two buffers (GB/s)                  floor
//   mp_pipe.roundtrip      Pipe<int>: send + recv of an int with an echo process      concur
//                          two OS pipes between two processes, 8 bytes each way       floor
//   mp_futex.roundtrip     two processes ping-pong a futex word in shared memory      floor
//
// The consumer and echo processes are fork()ed children (as CPython's peers start theirs
// with the fork method on Linux 3.11), started before the clock runs.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <concur/multiprocessing.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace {

namespace mp = concur::multiprocessing;
using Clock = std::chrono::steady_clock;

template <class F>
pid_t fork_child(F&& body) {
  const pid_t pid = ::fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    int code = 1;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  return pid;
}

void reap(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::abort();
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void BM_Queue_SmallMsgs(benchmark::State& state) {
  constexpr int kN = 200'000;
  for (auto _ : state) {
    mp::Queue<int> q;
    const pid_t pid = fork_child([&] {
      long sum = 0;
      for (int i = 0; i < kN; ++i) sum += q.get();
      return sum == static_cast<long>(kN) * (kN - 1) / 2 ? 0 : 1;
    });
    const auto t = Clock::now();
    for (int i = 0; i < kN; ++i) q.put(i);
    reap(pid);
    state.SetIterationTime(seconds_since(t));
  }
  concur_bench::report_rate(state, "mp_queue.small_msgs", "concur", "msgs/s", kN);
}
BENCHMARK(BM_Queue_SmallMsgs)->UseManualTime()->Iterations(5);

constexpr int kLargeMsgs = 200;
constexpr std::size_t kLargeSize = 4u << 20;

// Times kLargeMsgs messages of 4 MiB sent by this process (send(blob)) and received by a
// forked child (recv() returns the string), as this iteration's time.
template <class Send, class Recv>
void time_large_messages(benchmark::State& state, Send&& send, Recv&& recv) {
  const std::string blob(kLargeSize, 'x');
  const pid_t pid = fork_child([&] {
    std::size_t total = 0;
    for (int i = 0; i < kLargeMsgs; ++i) total += recv().size();
    return total == kLargeMsgs * kLargeSize ? 0 : 1;
  });
  const auto t = Clock::now();
  for (int i = 0; i < kLargeMsgs; ++i) send(blob);
  reap(pid);
  state.SetIterationTime(seconds_since(t));
}

void report_large_messages(benchmark::State& state, const char* case_name) {
  concur_bench::report_rate(state, case_name, "concur", "GB/s",
                            kLargeMsgs * static_cast<double>(kLargeSize) / 1e9);
}

void BM_Queue_4MiBMsgs(benchmark::State& state) {
  for (auto _ : state) {
    mp::Queue<std::string> q(8);
    time_large_messages(
        state, [&](const std::string& m) { q.put(m); }, [&] { return q.get(); });
  }
  report_large_messages(state, "mp_queue.4MiB_msgs");
}
BENCHMARK(BM_Queue_4MiBMsgs)->UseManualTime()->Iterations(3);

// The floor of both 4 MiB cases, reported under `case_name`.
void BM_Floor_Memcpy4MiB(benchmark::State& state, const char* case_name) {
  std::vector<char> a(kLargeSize, 'x'), b(kLargeSize, 'y');
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), kLargeSize);
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
    std::swap(a, b);
  }
  concur_bench::report_rate(state, case_name, "floor", "GB/s",
                            static_cast<double>(kLargeSize) / 1e9);
}
BENCHMARK_CAPTURE(BM_Floor_Memcpy4MiB, queue, "mp_queue.4MiB_msgs");

void BM_Pipe_4MiBMsgs(benchmark::State& state) {
  for (auto _ : state) {
    auto ends = mp::Pipe<std::string>(false);  // named ends: clang cannot capture bindings
    auto& reader = ends.first;
    auto& writer = ends.second;
    time_large_messages(
        state, [&](const std::string& m) { writer.send(m); }, [&] { return reader.recv(); });
  }
  report_large_messages(state, "mp_pipe.4MiB_msgs");
}
BENCHMARK(BM_Pipe_4MiBMsgs)->UseManualTime()->Iterations(3);

BENCHMARK_CAPTURE(BM_Floor_Memcpy4MiB, pipe, "mp_pipe.4MiB_msgs");

void BM_Pipe_Roundtrip(benchmark::State& state) {
  constexpr int kN = 50'000;
  for (auto _ : state) {
    auto ends = mp::Pipe<int>();  // named ends: clang cannot capture bindings
    auto& a = ends.first;
    auto& b = ends.second;
    const pid_t pid = fork_child([&] {
      for (int i = 0; i < kN; ++i) b.send(b.recv());
      return 0;
    });
    const auto t = Clock::now();
    for (int i = 0; i < kN; ++i) {
      a.send(i);
      if (a.recv() != i) std::abort();
    }
    state.SetIterationTime(seconds_since(t));
    reap(pid);
  }
  concur_bench::report_latency(state, "mp_pipe.roundtrip", "concur", "us", kN);
}
BENCHMARK(BM_Pipe_Roundtrip)->UseManualTime()->Iterations(3);

void BM_Floor_PipeRoundtrip(benchmark::State& state) {
  constexpr int kN = 50'000;
  for (auto _ : state) {
    int up[2], down[2];
    if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) std::abort();
    const pid_t pid = fork_child([&] {
      std::uint64_t v = 0;
      for (int i = 0; i < kN; ++i) {
        if (::read(down[0], &v, 8) != 8 || ::write(up[1], &v, 8) != 8) return 1;
      }
      return 0;
    });
    const auto t = Clock::now();
    for (std::uint64_t i = 0; i < kN; ++i) {
      std::uint64_t v = i;
      if (::write(down[1], &v, 8) != 8 || ::read(up[0], &v, 8) != 8 || v != i) std::abort();
    }
    state.SetIterationTime(seconds_since(t));
    reap(pid);
    for (int fd : {up[0], up[1], down[0], down[1]}) ::close(fd);
  }
  concur_bench::report_latency(state, "mp_pipe.roundtrip", "floor", "us", kN);
}
BENCHMARK(BM_Floor_PipeRoundtrip)->UseManualTime()->Iterations(3);

long futex(std::atomic<std::uint32_t>* w, int op, std::uint32_t v) {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), op, v, nullptr, nullptr, 0);
}

void BM_Floor_FutexRoundtrip(benchmark::State& state) {
  constexpr std::uint32_t kN = 50'000;
  for (auto _ : state) {
    void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    auto* word = new (mem) std::atomic<std::uint32_t>(0);
    // Odd values: the child's turn; even: the parent's. Each side sleeps in FUTEX_WAIT.
    const pid_t pid = fork_child([&] {
      for (std::uint32_t i = 0; i < kN; ++i) {
        std::uint32_t v;
        while (((v = word->load()) & 1U) == 0) futex(word, FUTEX_WAIT, v);
        word->store(v + 1);
        futex(word, FUTEX_WAKE, 1);
      }
      return 0;
    });
    const auto t = Clock::now();
    for (std::uint32_t i = 0; i < kN; ++i) {
      word->store(2 * i + 1);
      futex(word, FUTEX_WAKE, 1);
      std::uint32_t v;
      while ((v = word->load()) != 2 * i + 2) futex(word, FUTEX_WAIT, v);
    }
    state.SetIterationTime(seconds_since(t));
    reap(pid);
    ::munmap(mem, 4096);
  }
  concur_bench::report_latency(state, "mp_futex.roundtrip", "floor", "us", kN);
}
BENCHMARK(BM_Floor_FutexRoundtrip)->UseManualTime()->Iterations(3);

}  // namespace

int main(int argc, char** argv) {
  concur::mp::main_guard(argc, argv);  // first: a spawned child never runs the benchmarks
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
