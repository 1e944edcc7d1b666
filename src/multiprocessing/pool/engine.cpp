// The worker engine behind ProcessPoolExecutor and multiprocessing.Pool (engine.hpp,
// docs/design/0005-process-pools.md).
#include "multiprocessing/pool/engine.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <string>
#include <utility>

#include "concur/futures/errors.hpp"
#include "concur/multiprocessing/fn.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "multiprocessing/pool/arena.hpp"
#include "multiprocessing/pool/protocol.hpp"
#include "os/poll.hpp"

namespace concur::futures::detail {
namespace pool = multiprocessing::detail::pool;
using multiprocessing::Buffer;
using pool::Frame;
using SharedMemory = multiprocessing::shared_memory::SharedMemory;

namespace {

/// Each direction's ring (connection.hpp). Frames are at most kLargePayload + a few bytes,
/// and the frames a worker holds never take more than half its ring, so a send to a worker
/// never waits (the result thread sends while it holds the engine's lock).
constexpr std::size_t kChannelBytes = std::size_t{1} << 20;
/// Calls a worker holds at once: normally two (one running, the next one ready in its ring;
/// more would make fewer calls cancellable: CPython's call queue holds one extra call).
/// While a worker answers within kQuick, its window doubles up to kMaxWindow, so a stream of
/// short calls is not paced by the round trip through the result thread; one slow answer
/// brings it back to kMinWindow.
constexpr std::size_t kMinWindow = 2;
constexpr std::size_t kMaxWindow = 32;
constexpr auto kQuick = std::chrono::microseconds(200);

constexpr const char* kAbrupt =
    "A process in the process pool was terminated abruptly while the future was running or "
    "pending.";
constexpr const char* kUnusable =
    "A child process terminated abruptly, the process pool is not usable anymore";

std::exception_ptr broken_error(const std::string& why) {
  return std::make_exception_ptr(BrokenProcessPool(why));
}

/// "worker process 1234 died (SIGKILL)" / "... exited with code 3".
std::string describe_death(int pid, std::optional<int> code) {
  std::string s = "worker process " + std::to_string(pid);
  if (!code) return s + " died";
  if (*code < 0) {
    const char* name = sigabbrev_np(-*code);
    return s + " died (" + (name ? std::string("SIG") + name : "signal " + std::to_string(-*code)) +
           ")";
  }
  return s + " exited with code " + std::to_string(*code);
}

Buffer task_frame(std::uint64_t id, Buffer request, pool::RequestArenas& arenas,
                  pool::Placed& placed) {
  Buffer frame;
  if (request.size() < pool::kLargePayload) {
    frame.reserve(9 + request.size());
    pool::put(frame, Frame::kTask);
    pool::put(frame, id);
    frame.insert(frame.end(), request.begin(), request.end());
    return frame;
  }
  placed = arenas.place(request);
  pool::put(frame, Frame::kTaskShm);
  pool::put(frame, id);
  pool::put(frame, static_cast<std::uint64_t>(request.size()));
  pool::put(frame, static_cast<std::uint8_t>(placed.kept ? 1 : 0));
  frame.insert(frame.end(), reinterpret_cast<const std::byte*>(placed.name.data()),
               reinterpret_cast<const std::byte*>(placed.name.data() + placed.name.size()));
  return frame;
}

}  // namespace

ProcessPoolEngine::ProcessPoolEngine(EngineOptions options)
    : ProcessPoolEngine(std::move(options), multiprocessing::Pipe<Bytes>(false, kChannelBytes)) {}

ProcessPoolEngine::ProcessPoolEngine(
    EngineOptions options,
    std::pair<multiprocessing::Connection<Bytes>, multiprocessing::Connection<Bytes>> results)
    : options_(std::move(options)),
      results_rx_(std::move(results.first)),
      results_tx_(std::move(results.second)) {
  auto wake = os::make_pipe();
  wake_rx_ = std::move(wake.read);
  wake_tx_ = std::move(wake.write);
  if (options_.start == WorkerStart::all_at_once) {
    // Before the threads exist: a fork start then copies a single-threaded process.
    std::lock_guard lock(mu_);
    for (int i = 0; i < options_.processes; ++i) start_worker_locked();
  }
  result_thread_ = std::thread([this] { result_loop(); });
  watch_thread_ = std::thread([this] { watch_loop(); });
}

ProcessPoolEngine::~ProcessPoolEngine() {
  if (std::this_thread::get_id() == result_thread_.get_id()) {
    // Destroyed from a done callback: nothing can wait here; the threads must not outlive
    // the engine, so this is a bug of the caller (documented in the headers).
    std::terminate();
  }
  stop_workers(SIGKILL);
  join(Deadline{});
}

// --- submitting --------------------------------------------------------------------------

void ProcessPoolEngine::submit(StateBase* task) {
  Buffer request = task->encode_call();  // TypeError / ValueError: nothing queued
  {
    std::lock_guard lock(mu_);
    if (!broken_.empty()) throw BrokenProcessPool(kUnusable);
    if (closed_) throw RuntimeError("cannot schedule new futures after shutdown");
    // No worker at all: start one here, so that a pool that cannot start workers (no
    // main_guard, say) throws from submit, as CPython does, and nothing is queued.
    if (live_locked() == 0) start_worker_locked();
    submit_locked(task, std::move(request));
  }
  flush_deferred();
}

void ProcessPoolEngine::submit_locked(StateBase* task, Buffer request) {
  Job job;
  job.id = next_id_++;
  job.frame = task_frame(job.id, std::move(request), request_arenas_, job.placed);
  task->drop_call();  // no stale references to the callable or the arguments
  task->retain();
  job.task = task;
  pending_.push_back(std::move(job));
  dispatch_locked();
}

void ProcessPoolEngine::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    dispatch_locked();
    check_all_done_locked();
  }
  flush_deferred();
}

void ProcessPoolEngine::flush_deferred() noexcept {
  std::vector<Job> jobs;
  std::exception_ptr error;
  {
    std::lock_guard lock(mu_);
    if (deferred_.empty()) return;
    jobs.swap(deferred_);
    error = deferred_error_;
  }
  fail_jobs(jobs, error);
}

void ProcessPoolEngine::cancel_pending() noexcept {
  std::deque<Job> cancelled;
  {
    std::lock_guard lock(mu_);
    cancelled.swap(pending_);
    dispatch_locked();  // idle workers of a closed pool may exit now
  }
  flush_deferred();
  for (Job& job : cancelled) {
    if (!job.running) {
      job.task->cancel();
      try {
        job.task->set_running_or_notify_cancel();  // CANCELLED -> CANCELLED_AND_NOTIFIED
      } catch (...) {                              // completed by hand meanwhile
      }
    } else {  // a call taken back from a dead worker: it was running
      try {
        job.task->set_exception(broken_error(kAbrupt));
      } catch (...) {
      }
    }
    release_job(job);
  }
}

void ProcessPoolEngine::stop_workers(int signal) noexcept {
  std::vector<Job> held;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    stopping_ = true;
    for (auto& w : workers_) {
      for (Job& job : w->held) held.push_back(std::move(job));
      w->held.clear();
      w->held_bytes = 0;
      w->exiting = true;
      try {
        if (signal == SIGKILL) {
          w->process->kill();
        } else {
          w->process->terminate();
        }
      } catch (...) {  // already reaped: its death is on its way
      }
    }
  }
  cancel_pending();
  fail_jobs(held, broken_error("the pool's workers were stopped while this call ran"));
}

bool ProcessPoolEngine::join(const Deadline& deadline) {
  if (std::this_thread::get_id() == result_thread_.get_id()) {
    throw RuntimeError(
        "cannot wait for a process pool from its own result thread (a done callback)");
  }
  {
    std::unique_lock lock(mu_);
    auto done = [&] { return closed_ && workers_.empty() && pending_.empty(); };
    if (deadline.is_forever()) {
      all_done_.wait(lock, done);
    } else if (!all_done_.wait_until(lock, deadline.time_point(), done)) {
      return false;
    }
  }
  stop_threads();
  return true;
}

bool ProcessPoolEngine::broken() const noexcept {
  std::lock_guard lock(mu_);
  return !broken_.empty();
}

std::vector<int> ProcessPoolEngine::pids() const {
  std::lock_guard lock(mu_);
  std::vector<int> out;
  for (const auto& w : workers_)
    if (!w->reported) out.push_back(w->pid);
  return out;
}

// --- under the lock ------------------------------------------------------------------------

void ProcessPoolEngine::start_worker_locked() {
  const std::uint32_t slot = next_slot_++;
  auto [rx, tx] = multiprocessing::Pipe<Bytes>(false, kChannelBytes);
  const multiprocessing::Context context =
      options_.context.value_or(multiprocessing::get_context());
  auto w = std::make_unique<Worker>();
  w->slot = slot;
  w->process.emplace(context.Process(
      multiprocessing::ProcessOptions{.name = options_.name + "-worker-" + std::to_string(slot),
                                      .daemon = true},
      multiprocessing::fn<&pool::worker_main>, slot, options_.max_tasks_per_worker,
      options_.initializer, rx, results_tx_));
  w->process->start();
  rx.close();  // the worker's end: only the worker holds it now
  w->tasks.emplace(std::move(tx));
  w->ready = options_.initializer.empty();
  w->pid = *w->process->pid();
  w->pidfd = w->process->sentinel();
  workers_.push_back(std::move(w));
  wake_watcher();
}

void ProcessPoolEngine::dispatch_locked() {
  const bool may_start = broken_.empty() && !stopping_;
  while (!pending_.empty()) {
    Worker* best = nullptr;
    int live = 0;
    for (auto& w : workers_) {
      if (w->reported || w->exiting) continue;
      ++live;
      if (w->held.size() >= w->window) continue;
      if (!w->held.empty() && w->held_bytes + pending_.front().frame.size() > kChannelBytes / 2)
        continue;
      if (best == nullptr || w->held.size() < best->held.size()) best = w.get();
    }
    if ((best == nullptr || !best->held.empty()) && may_start && live < options_.processes) {
      try {
        start_worker_locked();
        continue;
      } catch (...) {
        if (best == nullptr && live == 0) {  // no worker at all: what waits fails
          deferred_error_ = std::current_exception();
          for (Job& job : pending_) deferred_.push_back(std::move(job));
          pending_.clear();
          return;  // the caller fails them once it let go of the lock (flush_deferred)
        }
      }
    }
    if (best == nullptr) break;
    Job job = std::move(pending_.front());
    pending_.pop_front();
    if (!job.running) {
      bool run = false;
      try {
        run = job.task->set_running_or_notify_cancel();
      } catch (...) {  // completed by hand
      }
      if (!run) {
        release_job(job);
        continue;
      }
      job.running = true;
    }
    job.sent_at = std::chrono::steady_clock::now();
    best->held_bytes += job.frame.size();
    best->held.push_back(std::move(job));
    ++best->sent;
    send_locked(*best, best->held.back());
    if (options_.max_tasks_per_worker > 0 && best->sent >= options_.max_tasks_per_worker) {
      best->exiting = true;  // it exits by itself after that call
    }
  }
  if (closed_ && pending_.empty()) {
    for (auto& w : workers_)
      if (!w->exiting && !w->reported && w->held.empty()) tell_exit_locked(*w);
  }
}

bool ProcessPoolEngine::send_locked(Worker& w, Job& job) {
  try {
    w.tasks->send_bytes(job.frame);
    return true;
  } catch (...) {  // the worker is gone: its death (kDied) hands the call on
    return false;
  }
}

void ProcessPoolEngine::tell_exit_locked(Worker& w) {
  w.exiting = true;
  Buffer frame;
  pool::put(frame, Frame::kExit);
  try {
    w.tasks->send_bytes(frame);
  } catch (...) {  // already gone
  }
}

void ProcessPoolEngine::break_locked(const std::string& why, std::vector<Job>& to_fail) {
  if (broken_.empty()) broken_ = why;
  closed_ = true;
  for (Job& job : pending_) to_fail.push_back(std::move(job));
  pending_.clear();
  for (auto& w : workers_) {
    for (Job& job : w->held) to_fail.push_back(std::move(job));
    w->held.clear();
    w->held_bytes = 0;
    if (!w->reported) {
      w->exiting = true;
      try {
        w->process->kill();  // CPython terminates the other workers of a broken pool
      } catch (...) {
      }
    }
  }
}

int ProcessPoolEngine::live_locked() const noexcept {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(),
                                        [](const auto& w) { return !w->reported && !w->exiting; }));
}

void ProcessPoolEngine::refill_locked() {
  if (closed_ || stopping_ || !broken_.empty()) return;
  const int want = options_.start == WorkerStart::all_at_once ? options_.processes
                                                              : std::min(options_.processes, 1);
  for (int live = live_locked(); live < want; ++live) {
    try {
      start_worker_locked();
    } catch (...) {  // the next hand-out tries again, and fails what waits if none can start
      return;
    }
  }
}

ProcessPoolEngine::Worker* ProcessPoolEngine::find_locked(std::uint32_t slot) noexcept {
  for (auto& w : workers_)
    if (w->slot == slot) return w.get();
  return nullptr;
}

void ProcessPoolEngine::check_all_done_locked() {
  if (workers_.empty()) all_done_.notify_all();
}

// --- the result thread -------------------------------------------------------------------

void ProcessPoolEngine::result_loop() {
  for (;;) {
    Bytes message;
    try {
      message = results_rx_.recv_bytes();
    } catch (...) {
      report_exception("Exception in the process pool's result thread:", options_.name,
                       std::current_exception());
      return;
    }
    try {
      pool::FrameReader in(message);
      const auto kind = in.get<Frame>();
      if (kind == Frame::kStop) return;
      const auto slot = in.get<std::uint32_t>();
      switch (kind) {
        case Frame::kResult: {
          const auto id = in.get<std::uint64_t>();
          on_result(slot, id, in.rest(), std::nullopt);
          break;
        }
        case Frame::kResultShm: {
          const auto id = in.get<std::uint64_t>();
          const auto size = in.get<std::uint64_t>();
          const bool kept = in.get<std::uint8_t>() != 0;
          const std::string name = in.rest_string();
          if (kept) {  // the worker's: mapped once, handed back by clearing its in-use word
            SharedMemory& segment = reply_arenas_[slot].get(name);
            on_result(slot, id, pool::payload_of(segment, size), std::nullopt);
            pool::in_use(segment).store(0, std::memory_order_release);
          } else {
            SharedMemory segment(name, false, 0, false);
            std::span<const std::byte> bytes;
            try {
              bytes = pool::payload_of(segment, size);
            } catch (...) {
              pool::unlink_quietly(segment);
              throw;
            }
            on_result(slot, id, bytes, std::move(segment));
          }
          break;
        }
        case Frame::kInitFailed:
          on_init_failed(slot, in.rest());
          break;
        case Frame::kReady: {
          std::lock_guard lock(mu_);
          if (Worker* w = find_locked(slot)) w->ready = true;
          break;
        }
        case Frame::kDied:
          on_death(slot);
          break;
        default:
          throw ValueError("concur: unexpected process-pool frame");
      }
    } catch (...) {
      report_exception("Exception in the process pool's result thread:", options_.name,
                       std::current_exception());
    }
  }
}

void ProcessPoolEngine::on_result(std::uint32_t slot, std::uint64_t id,
                                  std::span<const std::byte> reply,
                                  std::optional<SharedMemory> segment) {
  std::optional<Job> job;
  {
    std::lock_guard lock(mu_);
    if (Worker* w = find_locked(slot)) {
      auto it =
          std::find_if(w->held.begin(), w->held.end(), [id](const Job& j) { return j.id == id; });
      if (it != w->held.end()) {
        job.emplace(std::move(*it));
        w->held.erase(it);
        w->held_bytes -= job->frame.size();
        w->window = std::chrono::steady_clock::now() - job->sent_at < kQuick
                        ? std::min(w->window * 2, kMaxWindow)
                        : kMinWindow;
      }
    }
    dispatch_locked();
  }
  flush_deferred();
  if (job) {
    job->task->complete_from_reply(reply);
    release_job(*job);
  }
  if (segment) pool::unlink_quietly(*segment);
}

void ProcessPoolEngine::on_init_failed(std::uint32_t slot, std::span<const std::byte> reply) {
  std::string what = "unknown error";
  try {
    multiprocessing::decode_result<void>(reply);
  } catch (const std::exception& e) {
    report_exception("Exception in initializer:", options_.name, std::current_exception());
    what = std::string(type_name(typeid(e))) + ": " + e.what();
  } catch (...) {
  }
  std::vector<Job> to_fail;
  {
    std::lock_guard lock(mu_);
    (void)slot;
    break_locked(std::string(kUnusable) + " (a worker's initializer failed: " + what + ")",
                 to_fail);
    check_all_done_locked();
  }
  fail_jobs(to_fail, broken_error(kAbrupt));
}

void ProcessPoolEngine::on_death(std::uint32_t slot) {
  std::unique_ptr<Worker> dead;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(workers_.begin(), workers_.end(),
                           [slot](const auto& w) { return w->slot == slot; });
    if (it == workers_.end()) return;
    dead = std::move(*it);
    workers_.erase(it);
  }
  // Its reply segments: no one writes them any more (this is the result thread, their reader).
  if (auto it = reply_arenas_.find(slot); it != reply_arenas_.end()) {
    it->second.clear(true);
    reply_arenas_.erase(it);
  }
  // It is dead (its pidfd said so): reaping does not wait.
  try {
    (void)dead->process->join(std::chrono::seconds(5));
  } catch (...) {
  }
  const std::optional<int> code = dead->process->exitcode();
  std::vector<Job> to_fail;
  std::optional<Job> lost;
  {
    std::lock_guard lock(mu_);
    const bool unexpected = !dead->held.empty() || !dead->exiting;
    if (!broken_.empty() || stopping_) {
      for (Job& job : dead->held) to_fail.push_back(std::move(job));
    } else if (!dead->ready) {
      // Died in its initializer: a fresh worker would die the same way.
      for (Job& job : dead->held) to_fail.push_back(std::move(job));
      break_locked(std::string(kUnusable) +
                       " (a worker's initializer failed: " + describe_death(dead->pid, code) + ")",
                   to_fail);
    } else if (unexpected) {
      if (options_.on_death == WorkerDeath::break_pool) {
        for (Job& job : dead->held) to_fail.push_back(std::move(job));
        break_locked(kUnusable, to_fail);
      } else if (!dead->held.empty()) {
        lost.emplace(std::move(dead->held.front()));
        dead->held.pop_front();
        // The calls queued behind the lost one go to the other workers, first in line.
        for (auto j = dead->held.rbegin(); j != dead->held.rend(); ++j)
          pending_.push_front(std::move(*j));
      }
    }
    dead->held.clear();
    refill_locked();
    dispatch_locked();
    check_all_done_locked();
  }
  flush_deferred();
  if (lost) {
    try {
      lost->task->set_exception(broken_error(describe_death(dead->pid, code) +
                                             " while running this call; the pool goes on"));
    } catch (...) {
    }
    release_job(*lost);
  }
  fail_jobs(to_fail, broken_error(kAbrupt));
}

void ProcessPoolEngine::fail_jobs(std::vector<Job>& jobs,
                                  const std::exception_ptr& error) noexcept {
  for (Job& job : jobs) {
    if (!job.running) {  // never handed out: a pending future fails as well
      try {
        job.task->set_running_or_notify_cancel();
      } catch (...) {
      }
    }
    try {
      job.task->set_exception(error);
    } catch (...) {  // already done (cancelled, or completed)
    }
    release_job(job);
  }
  jobs.clear();
}

void ProcessPoolEngine::release_job(Job& job) noexcept {
  if (job.placed.one_shot) pool::unlink_quietly(*job.placed.one_shot);
  job.placed.one_shot.reset();
  if (job.placed.index >= 0) request_arenas_.release(job.placed.index);
  job.placed.index = -1;
  if (job.task != nullptr) job.task->release();
  job.task = nullptr;
}

// --- the watcher -----------------------------------------------------------------------------

void ProcessPoolEngine::wake_watcher() noexcept {
  if (wake_pending_) return;
  wake_pending_ = true;
  const char byte = 1;
  (void)os::write_noexcept(wake_tx_.get(), &byte, 1);
}

void ProcessPoolEngine::watch_loop() {
  std::vector<os::PollItem> items;
  std::vector<std::uint32_t> slots;
  for (;;) {
    items.clear();
    slots.clear();
    items.push_back({wake_rx_.get(), os::kPollIn, 0});
    {
      std::lock_guard lock(mu_);
      if (watch_stop_) return;
      for (const auto& w : workers_) {
        if (w->reported) continue;
        items.push_back({w->pidfd, os::kPollIn, 0});
        slots.push_back(w->slot);
      }
    }
    try {
      (void)os::poll_until(items.data(), items.size(), Deadline{});
    } catch (...) {
      continue;
    }
    if (items[0].revents != 0) {
      char drain[64];
      (void)os::read_noexcept(wake_rx_.get(), drain, sizeof(drain));
      std::lock_guard lock(mu_);
      wake_pending_ = false;
    }
    for (std::size_t i = 1; i < items.size(); ++i) {
      if (items[i].revents == 0) continue;
      {
        std::lock_guard lock(mu_);
        Worker* w = find_locked(slots[i - 1]);
        if (w == nullptr || w->reported) continue;
        w->reported = true;
      }
      Buffer frame;
      pool::put(frame, Frame::kDied);
      pool::put(frame, slots[i - 1]);
      try {
        results_tx_.send_bytes(frame);
      } catch (...) {
        report_exception("Exception in the process pool's watcher thread:", options_.name,
                         std::current_exception());
      }
    }
  }
}

void ProcessPoolEngine::stop_threads() noexcept {
  {
    std::lock_guard lock(mu_);
    if (threads_stopped_) return;
    threads_stopped_ = true;
    watch_stop_ = true;
    wake_pending_ = false;
    wake_watcher();
  }
  Buffer frame;
  pool::put(frame, Frame::kStop);
  try {
    results_tx_.send_bytes(frame);
  } catch (...) {
  }
  if (result_thread_.joinable()) result_thread_.join();
  if (watch_thread_.joinable()) watch_thread_.join();
  for (auto& [slot, arenas] : reply_arenas_) arenas.clear(true);  // the threads are gone
  reply_arenas_.clear();
}

}  // namespace concur::futures::detail
