#include "concur/futures/thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "os/futex.hpp"
#include "os/spin.hpp"

namespace concur::futures {

namespace {

// Set once the program began to exit (atexit), as CPython's _shutdown flag.
std::atomic<bool> g_exiting{false};
std::atomic<int> g_pool_counter{0};

void install_exit_flag() {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit([] { g_exiting.store(true); }); });
}

// How long an idle worker polls before it sleeps on the futex: long enough to
// catch the next task of a burst without a system call, short enough to be
// invisible when the pool is idle.
constexpr int kSpinRounds = 2000;
constexpr int kYieldRounds = 20;

// The queue's permanent node (never run, never freed).
struct Stub final : detail::State<void> {};

}  // namespace

// The queue is Vyukov's intrusive multi-producer queue: submit pushes with one
// atomic exchange and never takes a lock; workers pop under `pop_mu`, so the
// submitting thread and the workers do not contend on a mutex. `pending`
// counts tasks pushed (or being pushed) and not yet popped: it is what idle
// workers poll, what stats() reports, and (with `shut`) what tells a worker
// it may exit.
struct ThreadPoolExecutor::Impl {
  // Fields are grouped by who writes them, one cache line per group, so that
  // the submitting thread does not read lines the workers keep writing.
  static constexpr std::size_t kLine = 64;

  // Read by every submit, written rarely (shutdown, broken, a new worker).
  alignas(kLine) int max_workers = 0;
  std::atomic<int> nthreads{0};
  std::atomic<bool> shut{false};
  std::atomic<bool> is_broken{false};
  std::atomic<bool> cancelling{false};  // shutdown(cancel_futures): drop unstarted work

  // Written by submitters.
  alignas(kLine) std::atomic<detail::StateBase*> q_head{nullptr};  // newest; exchanged by push
  std::atomic<std::uint64_t> submitted{0};

  // Written by submitters and workers: tasks pushed (or being pushed), not yet popped.
  alignas(kLine) std::atomic<std::size_t> pending{0};

  // Written by workers.
  alignas(kLine) std::mutex pop_mu;
  detail::StateBase* q_tail = nullptr;  // oldest; guarded by pop_mu
  std::atomic<std::uint64_t> completed{0};

  alignas(kLine) std::atomic<int> idle{0};  // workers looking for work
  std::atomic<int> spinning{0};             // of those, awake and polling

  // Written when a worker goes to sleep or is woken (rare under load).
  alignas(kLine) std::atomic<int> futex_sleepers{0};  // blocked (or about to) in the kernel
  std::atomic<std::uint32_t> wake_seq{0};             // futex word: bumped to wake sleepers

  // Cold.
  alignas(kLine) Stub stub;
  std::string prefix;
  std::function<void()> initializer;
  detail::PoolKind kind = detail::PoolKind::thread;
  std::function<void()> finalizer;  // run by each worker as it ends
  mutable std::mutex mu;            // guards the fields below
  int idle_tokens = 0;              // CPython's _idle_semaphore
  std::vector<std::thread> threads;
  std::string broken;  // why the pool is broken; empty while usable
  std::stop_source stop;
  std::mutex join_mu;

  Impl() {
    q_head.store(&stub, std::memory_order_relaxed);
    q_tail = &stub;
  }

  void push(detail::StateBase* t) noexcept {
    t->next_task_.store(nullptr, std::memory_order_relaxed);
    detail::StateBase* prev = q_head.exchange(t, std::memory_order_acq_rel);
    prev->next_task_.store(t, std::memory_order_release);
  }

  // Under pop_mu. nullptr when empty, or when a push is half done (the caller
  // sees pending > 0 and retries).
  detail::StateBase* pop_locked() noexcept {
    detail::StateBase* tail = q_tail;
    detail::StateBase* next = tail->next_task_.load(std::memory_order_acquire);
    if (tail == &stub) {
      if (!next) return nullptr;
      q_tail = next;
      tail = next;
      next = next->next_task_.load(std::memory_order_acquire);
    }
    if (next) {
      q_tail = next;
      return tail;
    }
    if (tail != q_head.load(std::memory_order_acquire)) return nullptr;
    push(&stub);
    next = tail->next_task_.load(std::memory_order_acquire);
    if (next) {
      q_tail = next;
      return tail;
    }
    return nullptr;
  }

  // Pops every queued task (shutdown with cancel_futures, a broken pool).
  std::vector<detail::StateBase*> drain() {
    std::vector<detail::StateBase*> out;
    std::lock_guard lock(pop_mu);
    for (;;) {
      if (detail::StateBase* t = pop_locked()) {
        out.push_back(t);
        pending.fetch_sub(1, std::memory_order_seq_cst);
        continue;
      }
      if (pending.load(std::memory_order_seq_cst) == 0) break;
      std::this_thread::yield();  // a push is half done: it lands in a moment
    }
    return out;
  }

  // Wakes up to `n` workers blocked in the kernel. The seq_cst pair (pending
  // increment there / futex_sleepers increment here, each followed by a load
  // of the other) guarantees that a worker going to sleep either sees the new
  // work or is woken.
  void wake(int n) noexcept {
    if (futex_sleepers.load(std::memory_order_seq_cst) > 0) {
      wake_seq.fetch_add(1, std::memory_order_seq_cst);
      os::futex_wake(wake_seq, n);
    }
  }
  // New work: wake a sleeper only if no worker is awake and polling; a worker
  // that leaves a backlog behind wakes the next one (wake-ups ramp up with the
  // load instead of costing a system call per task).
  void wake_for_work() noexcept {
    if (spinning.load(std::memory_order_seq_cst) == 0) wake(1);
  }

  bool has_work_or_stop() const noexcept {
    return pending.load(std::memory_order_relaxed) != 0 || shut.load(std::memory_order_relaxed) ||
           is_broken.load(std::memory_order_relaxed);
  }

  void sleep_until_work() noexcept {
    // One poller at a time: more would only fight over each new task (and over
    // the CPUs the submitting threads need); the others sleep until a backlog
    // wakes them.
    // The spin part backs off as the threading primitives' does (os/spin.hpp): none on
    // one CPU or while the machine is overloaded, where only the yields remain.
    const bool poll = spinning.fetch_add(1, std::memory_order_seq_cst) == 0;
    const int spin_rounds = poll ? os::spin_budget(kSpinRounds) : 0;
    for (int i = 0; poll && i < spin_rounds + kYieldRounds; ++i) {
      if (has_work_or_stop()) {
        spinning.fetch_sub(1, std::memory_order_seq_cst);
        return;
      }
      if (i < spin_rounds)
        os::cpu_relax();
      else
        std::this_thread::yield();  // let a runnable submitter have this core
    }
    spinning.fetch_sub(1, std::memory_order_seq_cst);
    const std::uint32_t seq = wake_seq.load(std::memory_order_seq_cst);
    futex_sleepers.fetch_add(1, std::memory_order_seq_cst);
    if (pending.load(std::memory_order_seq_cst) == 0 && !shut.load(std::memory_order_seq_cst) &&
        !is_broken.load(std::memory_order_seq_cst))
      os::futex_wait(wake_seq, seq, Deadline{});
    futex_sleepers.fetch_sub(1, std::memory_order_relaxed);
  }

  static void cancel_and_notify(detail::StateBase* t) noexcept {
    t->cancel();
    try {
      t->set_running_or_notify_cancel();  // CANCELLED -> CANCELLED_AND_NOTIFIED
    } catch (...) {                       // completed by hand meanwhile
    }
  }

  void worker() {
    struct Finally {
      const std::function<void()>& f;
      ~Finally() {
        if (f) f();
      }
    } finally{finalizer};
    if (initializer) {
      try {
        initializer();
      } catch (...) {
        initializer_failed(std::current_exception());
        return;
      }
    }
    bool counted_idle = false;
    for (;;) {
      // One task at a time: a task taken is a task started, so a task never
      // waits behind another in a worker's private batch while a worker is free
      // (that would add deadlocks CPython does not have).
      detail::StateBase* task = nullptr;
      std::size_t left = 0;
      if (pending.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard lock(pop_mu);
        task = pop_locked();
        if (task) left = pending.fetch_sub(1, std::memory_order_seq_cst) - 1;
      }
      if (task) {
        counted_idle = false;
        if (left > 0) wake_for_work();  // more work: let a sleeping worker help
        // Not started yet: shutdown with cancel_futures cancels it.
        if (cancelling.load(std::memory_order_acquire))
          cancel_and_notify(task);
        else
          task->run();
        task->release();
        completed.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (pending.load(std::memory_order_seq_cst) > 0) {  // a push is half done
        os::cpu_relax();
        continue;
      }
      if (shut.load(std::memory_order_seq_cst) || is_broken.load(std::memory_order_seq_cst)) {
        if (pending.load(std::memory_order_seq_cst) == 0) break;
        continue;
      }
      if (!counted_idle) {  // CPython: _idle_semaphore.release() when the queue is empty
        std::lock_guard lock(mu);
        ++idle_tokens;
        counted_idle = true;
      }
      idle.fetch_add(1, std::memory_order_seq_cst);
      sleep_until_work();
      idle.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  void initializer_failed(std::exception_ptr e) {
    const bool interp = kind == detail::PoolKind::interpreter;
    detail::report_exception("Exception in initializer:",
                             (interp ? "InterpreterPoolExecutor " : "ThreadPoolExecutor ") + prefix,
                             std::move(e));
    {
      std::lock_guard lock(mu);
      broken = "A thread initializer failed, the thread pool is not usable anymore";
    }
    is_broken.store(true, std::memory_order_seq_cst);
    wake(INT_MAX);
    for (detail::StateBase* t : drain()) {
      try {
        t->set_exception(broken_error());
      } catch (...) {  // cancelled or completed meanwhile
      }
      t->release();
    }
  }

  std::exception_ptr broken_error() const {
    const std::string why = "A thread initializer failed, the thread pool is not usable anymore";
    if (kind == detail::PoolKind::interpreter)
      return std::make_exception_ptr(BrokenInterpreterPool(why));
    return std::make_exception_ptr(BrokenThreadPool(why));
  }

  // CPython's _adjust_thread_count: reuse an idle worker, else start one.
  void adjust_thread_count() {
    std::lock_guard lock(mu);
    if (idle_tokens > 0) {
      --idle_tokens;
      return;
    }
    const int index = static_cast<int>(threads.size());
    if (index >= max_workers) return;
    threads.emplace_back([this] { worker(); });
    nthreads.store(index + 1, std::memory_order_relaxed);
    // Named by the creator, so the name is visible as soon as submit returns.
    const std::string name = prefix + "_" + std::to_string(index);
    pthread_setname_np(threads.back().native_handle(), name.substr(0, 15).c_str());
  }
};

int ThreadPoolExecutor::default_max_workers() noexcept {
  return static_cast<int>(std::min(32U, os::cpu_count() + 4));
}

ThreadPoolExecutor::ThreadPoolExecutor(ThreadPoolOptions options)
    : ThreadPoolExecutor(std::move(options), detail::PoolKind::thread) {}

ThreadPoolExecutor::ThreadPoolExecutor(ThreadPoolOptions options, detail::PoolKind kind,
                                       std::function<void()> finalizer)
    : impl_(std::make_unique<Impl>()) {
  impl_->kind = kind;
  impl_->finalizer = std::move(finalizer);
  if (options.max_workers && *options.max_workers <= 0)
    throw ValueError("max_workers must be greater than 0");
  impl_->max_workers = options.max_workers.value_or(default_max_workers());
  impl_->prefix = options.thread_name_prefix.empty()
                      ? "ThreadPoolExecutor-" + std::to_string(g_pool_counter.fetch_add(1))
                      : std::move(options.thread_name_prefix);
  impl_->initializer = std::move(options.initializer);
  impl_->threads.reserve(static_cast<std::size_t>(impl_->max_workers));
  install_exit_flag();
}

ThreadPoolExecutor::~ThreadPoolExecutor() { shutdown(true); }

void ThreadPoolExecutor::submit_task(detail::StateBase* task) {
  Impl& p = *impl_;
  // Counted before the checks: a worker that saw `shut` and then pending == 0
  // may exit, and then this submit is bound to see `shut` (seq_cst).
  p.pending.fetch_add(1, std::memory_order_seq_cst);
  auto refuse = [&p] { p.pending.fetch_sub(1, std::memory_order_seq_cst); };
  if (p.is_broken.load(std::memory_order_seq_cst)) {
    refuse();
    std::lock_guard lock(p.mu);
    if (p.kind == detail::PoolKind::interpreter) throw BrokenInterpreterPool(p.broken);
    throw BrokenThreadPool(p.broken);
  }
  if (p.shut.load(std::memory_order_seq_cst)) {
    refuse();
    throw RuntimeError("cannot schedule new futures after shutdown");
  }
  if (g_exiting.load(std::memory_order_relaxed)) {
    refuse();
    throw RuntimeError("cannot schedule new futures after interpreter shutdown");
  }
  if (p.nthreads.load(std::memory_order_relaxed) < p.max_workers) {
    try {
      p.adjust_thread_count();
    } catch (...) {
      refuse();
      throw;
    }
  }
  task->retain();
  p.push(task);
  p.submitted.fetch_add(1, std::memory_order_relaxed);
  // futex_sleepers first: it changes rarely, so this load is mostly a cache hit.
  if (p.futex_sleepers.load(std::memory_order_seq_cst) > 0) p.wake_for_work();
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  Impl& p = *impl_;
  if (cancel_futures) p.cancelling.store(true, std::memory_order_seq_cst);
  p.shut.store(true, std::memory_order_seq_cst);
  p.wake(INT_MAX);
  if (cancel_futures) {
    p.stop.request_stop();
    for (detail::StateBase* t : p.drain()) {
      Impl::cancel_and_notify(t);
      t->release();
    }
  }
  if (!wait) return;
  std::lock_guard join_lock(p.join_mu);
  std::vector<std::thread*> to_join;
  {
    std::lock_guard lock(p.mu);
    for (auto& t : p.threads)
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) to_join.push_back(&t);
  }
  for (auto* t : to_join) t->join();
}

int ThreadPoolExecutor::max_workers() const noexcept { return impl_->max_workers; }

PoolStats ThreadPoolExecutor::stats() const {
  PoolStats s;
  {
    std::lock_guard lock(impl_->mu);
    s.threads = static_cast<int>(impl_->threads.size());
  }
  s.max_workers = impl_->max_workers;
  s.idle = impl_->idle.load();
  s.queued = impl_->pending.load();
  s.submitted = impl_->submitted.load();
  s.completed = impl_->completed.load();
  return s;
}

std::stop_token ThreadPoolExecutor::stop_token() const noexcept { return impl_->stop.get_token(); }

}  // namespace concur::futures
