#include "concur/futures/thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "concur/detail/futex.hpp"

namespace concur::futures {

namespace {

// Set once the program began to exit (atexit), as CPython's _shutdown flag.
std::atomic<bool> g_exiting{false};
std::atomic<int> g_pool_counter{0};

void install_exit_flag() {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit([] { g_exiting.store(true); }); });
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long an idle worker polls before it sleeps on the futex: long enough to
// catch the next task of a burst without a system call, short enough to be
// invisible when the pool is idle.
constexpr int kSpinRounds = 10000;
constexpr int kYieldRounds = 20;
// At most this many tasks taken per lock hold; never more than a fair share.
constexpr std::size_t kBatch = 16;

}  // namespace

struct ThreadPoolExecutor::Impl {
  int max_workers = 0;
  std::string prefix;
  std::function<void()> initializer;

  mutable std::mutex mu;
  detail::StateBase* head = nullptr;  // FIFO of queued tasks (one reference each)
  detail::StateBase* tail = nullptr;
  std::size_t queued = 0;
  int idle_tokens = 0;  // CPython's _idle_semaphore
  int idle = 0;         // workers waiting for work
  bool shut = false;
  std::string broken;   // why the pool is broken; empty while usable
  std::vector<std::thread> threads;
  std::uint64_t submitted = 0;
  std::uint64_t completed = 0;

  std::atomic<std::uint32_t> wake_seq{0};    // futex word: bumped to wake sleeping workers
  std::atomic<int> futex_sleepers{0};        // workers blocked (or about to block) in the kernel
  std::atomic<std::size_t> queued_hint{0};   // `queued`, readable without the lock
  std::atomic<bool> stopping{false};         // shut or broken: idle workers must exit
  std::atomic<bool> cancelling{false};       // shutdown(cancel_futures): drop unstarted work
  std::atomic<int> spinning{0};              // idle workers polling for work (awake)
  std::stop_source stop;
  std::mutex join_mu;

  void push_locked(detail::StateBase* t) noexcept {
    if (tail)
      tail->next_task_ = t;
    else
      head = t;
    tail = t;
    ++queued;
    queued_hint.store(queued, std::memory_order_seq_cst);
  }
  detail::StateBase* pop_locked() noexcept {
    detail::StateBase* t = head;
    if (t) {
      head = t->next_task_;
      if (!head) tail = nullptr;
      t->next_task_ = nullptr;
      --queued;
      queued_hint.store(queued, std::memory_order_relaxed);
    }
    return t;
  }
  detail::StateBase* take_all_locked() noexcept {
    detail::StateBase* list = head;
    head = tail = nullptr;
    queued = 0;
    queued_hint.store(0, std::memory_order_relaxed);
    return list;
  }

  // Wakes up to `n` workers blocked in the kernel. The seq_cst pair
  // (queued_hint store here / futex_sleepers increment there) guarantees that
  // a worker going to sleep either sees the new work or is woken.
  void wake(int n) noexcept {
    if (futex_sleepers.load(std::memory_order_seq_cst) > 0) {
      wake_seq.fetch_add(1, std::memory_order_seq_cst);
      detail::futex_wake(wake_seq, n);
    }
  }
  // New work: wake a sleeper only if no worker is awake and polling; a worker
  // that finds more work than it takes wakes the next one (wake-ups ramp up
  // with the load instead of costing a system call per task).
  void wake_for_work() noexcept {
    if (spinning.load(std::memory_order_seq_cst) == 0) wake(1);
  }

  bool has_work_or_stop() const noexcept {
    return queued_hint.load(std::memory_order_relaxed) != 0 ||
           stopping.load(std::memory_order_relaxed);
  }

  void sleep_until_work() noexcept {
    spinning.fetch_add(1, std::memory_order_seq_cst);
    for (int i = 0; i < kSpinRounds + kYieldRounds; ++i) {
      if (has_work_or_stop()) {
        spinning.fetch_sub(1, std::memory_order_seq_cst);
        return;
      }
      if (i < kSpinRounds)
        cpu_relax();
      else
        std::this_thread::yield();  // let a runnable producer have this core
    }
    spinning.fetch_sub(1, std::memory_order_seq_cst);
    const std::uint32_t seq = wake_seq.load(std::memory_order_seq_cst);
    futex_sleepers.fetch_add(1, std::memory_order_seq_cst);
    if (queued_hint.load(std::memory_order_seq_cst) == 0 && !stopping.load(std::memory_order_seq_cst))
      detail::futex_wait(wake_seq, seq, Deadline{});
    futex_sleepers.fetch_sub(1, std::memory_order_relaxed);
  }

  void worker(int index) {
    const std::string name = prefix + "_" + std::to_string(index);
    detail::set_current_thread_name(name.c_str());
    if (initializer) {
      try {
        initializer();
      } catch (...) {
        initializer_failed(std::current_exception());
        return;
      }
    }
    std::uint64_t ran = 0;
    bool counted_idle = false;
    detail::StateBase* batch[kBatch];
    std::unique_lock lock(mu);
    for (;;) {
      completed += ran;
      ran = 0;
      if (head) {
        // Take a fair share of the queue (at most kBatch) in one lock hold.
        const std::size_t share = std::max<std::size_t>(1, queued / threads.size());
        const std::size_t n = std::min<std::size_t>(share, kBatch);
        std::size_t got = 0;
        while (got < n)
          if (detail::StateBase* t = pop_locked()) batch[got++] = t; else break;
        counted_idle = false;
        // A backlog beyond one batch: this worker alone is not keeping up.
        const bool more = queued >= kBatch;
        lock.unlock();
        if (more) wake_for_work();
        for (std::size_t i = 0; i < got; ++i) {
          // Tasks of a batch after the first have not started: shutdown with
          // cancel_futures cancels them as it cancels the queue.
          if (i > 0 && cancelling.load(std::memory_order_acquire))
            cancel_and_notify(batch[i]);
          else
            batch[i]->run();
          batch[i]->release();
        }
        ran = got;
        lock.lock();
        continue;
      }
      if (shut || !broken.empty()) break;
      if (!counted_idle) {  // CPython: _idle_semaphore.release() when the queue is empty
        ++idle_tokens;
        counted_idle = true;
      }
      ++idle;
      lock.unlock();
      sleep_until_work();
      lock.lock();
      --idle;
    }
  }

  static void cancel_and_notify(detail::StateBase* t) noexcept {
    t->cancel();
    try {
      t->set_running_or_notify_cancel();  // CANCELLED -> CANCELLED_AND_NOTIFIED
    } catch (...) {  // completed by hand meanwhile
    }
  }

  void initializer_failed(std::exception_ptr e) {
    detail::report_exception("Exception in initializer:", "ThreadPoolExecutor " + prefix, e);
    detail::StateBase* list;
    {
      std::lock_guard lock(mu);
      broken = "A thread initializer failed, the thread pool is not usable anymore";
      list = take_all_locked();
      stopping.store(true, std::memory_order_seq_cst);
    }
    wake(INT_MAX);
    while (list) {
      detail::StateBase* next = list->next_task_;
      list->next_task_ = nullptr;
      try {
        list->set_exception(std::make_exception_ptr(BrokenThreadPool(
            "A thread initializer failed, the thread pool is not usable anymore")));
      } catch (...) {  // cancelled or completed meanwhile
      }
      list->release();
      list = next;
    }
  }
};

int ThreadPoolExecutor::default_max_workers() noexcept {
  return static_cast<int>(std::min(32U, detail::cpu_count() + 4));
}

ThreadPoolExecutor::ThreadPoolExecutor(ThreadPoolOptions options) : impl_(std::make_unique<Impl>()) {
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
  bool wake = false;
  {
    std::lock_guard lock(p.mu);
    if (!p.broken.empty()) throw BrokenThreadPool(p.broken);
    if (p.shut) throw RuntimeError("cannot schedule new futures after shutdown");
    if (g_exiting.load(std::memory_order_relaxed))
      throw RuntimeError("cannot schedule new futures after interpreter shutdown");
    // CPython's _adjust_thread_count: reuse an idle worker, else start one.
    if (p.idle_tokens > 0) {
      --p.idle_tokens;
    } else if (static_cast<int>(p.threads.size()) < p.max_workers) {
      const int index = static_cast<int>(p.threads.size());
      p.threads.emplace_back([&p, index] { p.worker(index); });  // may throw: nothing queued yet
      // Named here too (the worker also names itself), so the name is visible
      // as soon as submit returns.
      const std::string name = p.prefix + "_" + std::to_string(index);
      pthread_setname_np(p.threads.back().native_handle(), name.substr(0, 15).c_str());
    }
    task->retain();
    p.push_locked(task);
    ++p.submitted;
    wake = p.idle > 0;
  }
  if (wake) p.wake_for_work();
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  Impl& p = *impl_;
  detail::StateBase* cancelled = nullptr;
  {
    std::lock_guard lock(p.mu);
    p.shut = true;
    if (cancel_futures) {
      cancelled = p.take_all_locked();
      p.cancelling.store(true, std::memory_order_release);
    }
    p.stopping.store(true, std::memory_order_seq_cst);
  }
  p.wake(INT_MAX);
  if (cancel_futures) {
    p.stop.request_stop();
    while (cancelled) {
      detail::StateBase* next = cancelled->next_task_;
      cancelled->next_task_ = nullptr;
      Impl::cancel_and_notify(cancelled);
      cancelled->release();
      cancelled = next;
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
  std::lock_guard lock(impl_->mu);
  PoolStats s;
  s.max_workers = impl_->max_workers;
  s.threads = static_cast<int>(impl_->threads.size());
  s.idle = impl_->idle;
  s.queued = impl_->queued;
  s.submitted = impl_->submitted;
  s.completed = impl_->completed;
  return s;
}

std::stop_token ThreadPoolExecutor::stop_token() const noexcept { return impl_->stop.get_token(); }

}  // namespace concur::futures
