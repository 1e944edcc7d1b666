// Benchmarks of concur::multiprocessing's process-shared primitives, beside a floor where
// one exists. Cases (label "case|impl|unit"):
//   mp_lock.uncontended     acquire + release of an mp::Lock (robust pthread mutex), ns;
//                           floor: a private std::mutex
//   mp_condition.pingpong   one round trip between two processes through an mp::Condition
//                           and a shared turn word, us; floor: the same with a
//                           process-shared (non-robust) pthread mutex + condvar
// CPython's peers: bench/py_peers_mp_sync.py (multiprocessing.Lock / Condition).
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>

#include "bench_util.hpp"
#include "concur/multiprocessing/sharedctypes.hpp"
#include "concur/multiprocessing/synchronize.hpp"

namespace mp = concur::multiprocessing;
using namespace std::chrono_literals;

static void BM_MpLock_Uncontended(benchmark::State& state) {
  mp::Lock lock;
  for (auto _ : state) {
    lock.acquire();
    lock.release();
  }
  concur_bench::report_latency(state, "mp_lock.uncontended", "concur", "ns", 1);
}
BENCHMARK(BM_MpLock_Uncontended);

static void BM_StdMutex_Uncontended(benchmark::State& state) {
  std::mutex m;
  for (auto _ : state) {
    m.lock();
    m.unlock();
  }
  concur_bench::report_latency(state, "mp_lock.uncontended", "floor", "ns", 1);
}
BENCHMARK(BM_StdMutex_Uncontended);

static void BM_MpCondition_PingPong(benchmark::State& state) {
  mp::Condition c;
  mp::RawValue<int> turn(0);  // 1: the child's move, 0: ours, -1: stop
  const pid_t pid = fork();
  if (pid == 0) {
    for (;;) {
      std::scoped_lock g(c);
      while (turn.value() == 0) c.wait(10s);
      if (turn.value() < 0) break;
      turn.set(0);
      c.notify();
    }
    _exit(0);
  }
  for (auto _ : state) {
    std::scoped_lock g(c);
    turn.set(1);
    c.notify();
    while (turn.value() != 0) c.wait(10s);
  }
  {
    std::scoped_lock g(c);
    turn.set(-1);
    c.notify();
  }
  int st = 0;
  waitpid(pid, &st, 0);
  concur_bench::report_latency(state, "mp_condition.pingpong", "concur", "us", 1);
}
BENCHMARK(BM_MpCondition_PingPong)->UseRealTime();

namespace {
struct SharedCv {
  pthread_mutex_t m;
  pthread_cond_t cv;
  int turn;
};
}  // namespace

static void BM_PthreadSharedCondvar_PingPong(benchmark::State& state) {
  void* mem =
      mmap(nullptr, sizeof(SharedCv), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* s = static_cast<SharedCv*>(mem);
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&s->m, &ma);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  pthread_cond_init(&s->cv, &ca);
  s->turn = 0;
  const pid_t pid = fork();
  if (pid == 0) {
    for (;;) {
      pthread_mutex_lock(&s->m);
      while (s->turn == 0) pthread_cond_wait(&s->cv, &s->m);
      const bool stop = s->turn < 0;
      s->turn = 0;
      pthread_cond_signal(&s->cv);
      pthread_mutex_unlock(&s->m);
      if (stop) break;
    }
    _exit(0);
  }
  for (auto _ : state) {
    pthread_mutex_lock(&s->m);
    s->turn = 1;
    pthread_cond_signal(&s->cv);
    while (s->turn != 0) pthread_cond_wait(&s->cv, &s->m);
    pthread_mutex_unlock(&s->m);
  }
  pthread_mutex_lock(&s->m);
  s->turn = -1;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->m);
  int st = 0;
  waitpid(pid, &st, 0);
  munmap(mem, sizeof(SharedCv));
  concur_bench::report_latency(state, "mp_condition.pingpong", "floor", "us", 1);
}
BENCHMARK(BM_PthreadSharedCondvar_PingPong)->UseRealTime();

BENCHMARK_MAIN();
