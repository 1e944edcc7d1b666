// Benchmarks of concur::threading, beside a C++ standard-library floor where one
// exists. CPython's peers: ../shared/peers/py_peers.py (condition_pingpong) and
// bench/py_peers_threading.py (the others), which do exactly the same work.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "concur/threading.hpp"

namespace th = concur::threading;

// Two threads hand a turn back and forth through one Condition (its default
// RLock), exactly as py_peers.py cond_pingpong: one iteration = one round trip.
static void BM_Condition_PingPong(benchmark::State& state) {
  th::Condition c;
  int turn = 0;  // 1: the other thread's turn, 0: ours, 2: stop
  th::Thread other([&] {
    for (;;) {
      std::scoped_lock g(c);
      while (turn == 0) c.wait();
      if (turn == 2) return;
      turn = 0;
      c.notify();
    }
  });
  other.start();
  for (auto _ : state) {
    std::scoped_lock g(c);
    turn = 1;
    c.notify();
    while (turn != 0) c.wait();
  }
  {
    std::scoped_lock g(c);
    turn = 2;
    c.notify();
  }
  other.join();
  concur_bench::report_latency(state, "threading.condition_pingpong", "concur", "us", 1);
}
BENCHMARK(BM_Condition_PingPong)->UseRealTime();

// The same with std::mutex + std::condition_variable (the C++ baseline).
static void BM_StdConditionVariable_PingPong(benchmark::State& state) {
  std::mutex m;
  std::condition_variable c;
  int turn = 0;
  std::thread other([&] {
    for (;;) {
      std::unique_lock g(m);
      while (turn == 0) c.wait(g);
      if (turn == 2) return;
      turn = 0;
      c.notify_one();
    }
  });
  for (auto _ : state) {
    std::unique_lock g(m);
    turn = 1;
    c.notify_one();
    while (turn != 0) c.wait(g);
  }
  {
    std::scoped_lock g(m);
    turn = 2;
    c.notify_one();
  }
  other.join();
  concur_bench::report_latency(state, "threading.condition_pingpong", "floor", "us", 1);
}
BENCHMARK(BM_StdConditionVariable_PingPong)->UseRealTime();

static void BM_Lock_Uncontended(benchmark::State& state) {
  th::Lock lock;
  for (auto _ : state) {
    lock.acquire();
    benchmark::ClobberMemory();
    lock.release();
  }
  concur_bench::report_latency(state, "threading.lock_uncontended", "concur", "ns", 1);
}
BENCHMARK(BM_Lock_Uncontended);

static void BM_StdMutex_Uncontended(benchmark::State& state) {
  std::mutex m;
  for (auto _ : state) {
    m.lock();
    benchmark::ClobberMemory();
    m.unlock();
  }
  concur_bench::report_latency(state, "threading.lock_uncontended", "floor", "ns", 1);
}
BENCHMARK(BM_StdMutex_Uncontended);

// Two Events: we set `ping` and wait for `pong`; the other thread waits for
// `ping`, clears it and sets `pong`. One iteration = one round trip.
static void BM_Event_Roundtrip(benchmark::State& state) {
  th::Event ping, pong;
  std::atomic<bool> stop{false};
  th::Thread other([&] {
    for (;;) {
      ping.wait();
      ping.clear();
      if (stop.load()) return;
      pong.set();
    }
  });
  other.start();
  for (auto _ : state) {
    ping.set();
    pong.wait();
    pong.clear();
  }
  stop.store(true);
  ping.set();
  other.join();
  concur_bench::report_latency(state, "threading.event_roundtrip", "concur", "us", 1);
}
BENCHMARK(BM_Event_Roundtrip)->UseRealTime();

// `parties` threads (this one and parties-1 helpers) pass one Barrier again and
// again. One iteration = one round.
static void barrier_rounds(benchmark::State& state, int parties, const char* case_name) {
  th::Barrier barrier(parties);
  std::vector<std::unique_ptr<th::Thread>> helpers;
  for (int i = 1; i < parties; ++i) {
    helpers.push_back(std::make_unique<th::Thread>([&] {
      try {
        for (;;) barrier.wait();
      } catch (const concur::BrokenBarrierError&) {
      }
    }));
    helpers.back()->start();
  }
  for (auto _ : state) barrier.wait();
  barrier.abort();
  for (auto& h : helpers) h->join();
  concur_bench::report_latency(state, case_name, "concur", "us", 1);
}
static void BM_Barrier_2(benchmark::State& state) {
  barrier_rounds(state, 2, "threading.barrier_2");
}
static void BM_Barrier_8(benchmark::State& state) {
  barrier_rounds(state, 8, "threading.barrier_8");
}
BENCHMARK(BM_Barrier_2)->UseRealTime();
BENCHMARK(BM_Barrier_8)->UseRealTime();

BENCHMARK_MAIN();
