// src/distributed/serve.cpp: distributed::serve, worker mode (concur/distributed/serve.hpp).
#include "concur/distributed/serve.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "concur/futures/process_pool.hpp"
#include "concur/futures/thread_pool.hpp"
#include "concur/multiprocessing/context.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "distributed/client.hpp"
#include "distributed/protocol.hpp"
#include "distributed/redis.hpp"
#include "os/futex.hpp"

namespace concur::distributed {
namespace {

using detail::Keys;
using detail::Redis;
using detail::Reply;
using detail::TaskEntry;

// Runs of a task whose entry does not say (an older client): ExecutorOptions' default.
constexpr int kDefaultMaxAttempts = 3;

std::atomic<bool> g_signalled{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int /*sig*/) { g_signalled.store(true, std::memory_order_relaxed); }

// SIGTERM and SIGINT set g_signalled while it lives; the previous handlers come back after.
class StopSignals {
 public:
  explicit StopSignals(bool enabled) : enabled_(enabled) {
    g_signalled.store(false, std::memory_order_relaxed);
    if (!enabled_) return;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &sa, &old_term_);
    ::sigaction(SIGINT, &sa, &old_int_);
  }
  ~StopSignals() {
    if (!enabled_) return;
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGINT, &old_int_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  [[nodiscard]] static bool raised() noexcept {
    return g_signalled.load(std::memory_order_relaxed);
  }

 private:
  bool enabled_;
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
};

using detail::error_reply;  // an invoke() reply carrying an exception (protocol.hpp)

// An invoke() reply whose exception is a RemoteError without a host gets this machine's
// name, so that the client's RemoteError says where the task failed (host and pid). Other
// replies are left alone (the exception is decoded only when there is one).
void add_host(multiprocessing::Buffer& reply, const std::string& host) {
  namespace reg = multiprocessing::detail;
  if (reply.size() < 4 || reply[0] != reg::kReplyMagic || reply[2] != reg::kReplyException) return;
  try {
    multiprocessing::Reader in(std::span<const std::byte>(reply).subspan(3));
    const std::exception_ptr e = multiprocessing::decode_exception(in);
    try {
      std::rethrow_exception(e);
    } catch (const multiprocessing::RemoteError& r) {
      if (!r.host().empty()) return;
      reply = error_reply(std::make_exception_ptr(
          multiprocessing::RemoteError(r.type_name(), r.message(), r.pid(), host)));
    } catch (...) {  // rebuilt as its own type on the client: nothing to add
    }
  } catch (...) {  // malformed: the client says so
  }
}

// What a worker process of ServeOptions::processes runs: the request, as the thread pool's
// threads do (a value or an exception reply; never throws).
multiprocessing::Buffer run_request(multiprocessing::Buffer request) {
  return multiprocessing::invoke(request);
}

// This machine's name (the host part of this_worker_name()).
std::string host_name() {
  std::string name = detail::this_worker_name();
  return name.substr(0, name.rfind(':'));
}

// What the pool's threads share with the reading loop.
class Worker {
 public:
  Worker(const ServeOptions& options, const detail::RedisAddress& address, Keys keys,
         int concurrency)
      : keys_(std::move(keys)),
        name_(detail::this_worker_name()),
        host_(host_name()),
        ttl_ms_(std::to_string(std::chrono::milliseconds(options.result_ttl).count())),
        address_(address),
        redis_options_{options.connect_timeout, options.connect_timeout},
        retry_{options.reconnect_attempts, options.reconnect_backoff},
        writer_(std::make_unique<Redis>(address, redis_options_)) {
    if (options.processes) {
      // A worker process that dies fails only the call it ran; a fresh one replaces it.
      procs_ = std::make_unique<futures::ProcessPoolExecutor>(futures::ProcessPoolOptions{
          .max_workers = concurrency, .on_worker_death = futures::WorkerDeath::replace});
    }
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// Runs a few tasks one after the other, then answers them all in one pipelined round
  /// trip; never throws (a failed answer is kept for serve()).
  void run(const std::vector<TaskEntry>& entries) noexcept {
    try {
      std::vector<std::pair<std::string, multiprocessing::Buffer>> answers;  // key, message
      answers.reserve(entries.size());
      detail::TaskCounts counts;  // for {ns}:stats
      for (const TaskEntry& entry : entries) {
        const auto* bytes = reinterpret_cast<const std::byte*>(entry.call.data());
        detail::ResultMessage msg{
            *entry.task, name_,
            !entry.exhausted.empty()
                ? error_reply(std::make_exception_ptr(RuntimeError(entry.exhausted)))
            : procs_ ? run_in_process(entry)
                     : multiprocessing::invoke(std::span(bytes, entry.call.size()))};
        add_host(msg.reply, host_);
        counts.add(msg.reply, !entry.exhausted.empty());
        answers.emplace_back(keys_.results(entry.client), msg.encode());
      }
      answer(entries, answers, counts);
    } catch (...) {
      keep_error(std::current_exception());
    }
    finished(static_cast<int>(entries.size()));
  }

  /// Stores the answers of `entries` (answers[i]: results key and message of entries[i]),
  /// then acknowledges and deletes the entries, in one pipelined round trip of 4 commands
  /// whatever the number of tasks (with one client): RPUSH of every message of a client's
  /// list at once, PEXPIRE of that list, XACK and XDEL of every id. Redis runs a
  /// connection's commands in order, so an entry is acknowledged after its result is stored.
  void answer(const std::vector<TaskEntry>& entries,
              const std::vector<std::pair<std::string, multiprocessing::Buffer>>& answers,
              const detail::TaskCounts& counts) {
    // Arguments by results key, in the order the keys first appear (one key per client).
    std::vector<std::vector<std::string_view>> pushes;
    for (const auto& [key, message] : answers) {
      auto it = std::find_if(pushes.begin(), pushes.end(),
                             [&key = key](const auto& args) { return args[1] == key; });
      if (it == pushes.end()) {
        pushes.push_back({"RPUSH", key});
        pushes.back().reserve(answers.size() + 2);
        it = pushes.end() - 1;
      }
      it->push_back(detail::as_chars(message));
    }
    std::vector<std::string_view> ack{"XACK", keys_.tasks, detail::kGroup};
    std::vector<std::string_view> del{"XDEL", keys_.tasks};
    ack.reserve(entries.size() + 3);
    del.reserve(entries.size() + 2);
    for (const TaskEntry& entry : entries) {
      ack.emplace_back(entry.id);
      del.emplace_back(entry.id);
    }
    std::lock_guard lock(writer_mu_);
    pipeline_locked(
        [&] {
          // The counters first, their replies ignored: they are advisory (a user whose ACL
          // lacks HINCRBY still serves).
          const std::size_t stats = counts.append(*writer_, keys_);
          for (const auto& args : pushes) {
            writer_->append(args);
            writer_->append({"PEXPIRE", args[1], ttl_ms_});
          }
          writer_->append(ack);
          writer_->append(del);
          return stats;
        },
        2 * pushes.size() + 2, "RPUSH/PEXPIRE/XACK/XDEL");
  }

  /// ServeOptions::processes: runs the task in a worker process; when that process dies
  /// (the task killed it), runs it again in a fresh one, up to the entry's max_attempts runs
  /// in all (counting runs by workers that died before), then answers with the RuntimeError
  /// of a task that kept killing its workers.
  multiprocessing::Buffer run_in_process(const TaskEntry& entry) {
    const auto* bytes = reinterpret_cast<const std::byte*>(entry.call.data());
    const int max = entry.max_attempts > 0 ? entry.max_attempts : kDefaultMaxAttempts;
    int runs = entry.runs;
    for (;;) {
      try {
        return procs_
            ->submit(&run_request, multiprocessing::Buffer(bytes, bytes + entry.call.size()))
            .result();
      } catch (const futures::BrokenProcessPool& e) {  // the process running it died
        if (++runs >= max) {
          return error_reply(std::make_exception_ptr(RuntimeError(
              "concur::distributed: the task was run " + std::to_string(runs) +
              " time(s), each time by a worker that died (max_attempts = " + std::to_string(max) +
              "); last on " + name_ + ": " + e.what())));
        }
      } catch (...) {  // the pool itself failed
        return error_reply(std::current_exception());
      }
    }
  }

  /// Acknowledges and deletes an entry that cannot be answered, and reports it.
  void drop(const TaskEntry& entry) noexcept {
    futures::detail::report_exception(
        "distributed::serve: a task entry that cannot be answered was dropped:",
        keys_.tasks + " " + entry.id,
        std::make_exception_ptr(ValueError("the entry names no client or no task number")));
    try {
      std::lock_guard lock(writer_mu_);
      pipeline_locked([&] { acknowledge_locked(entry.id); }, 2, "XACK/XDEL");
    } catch (...) {
      keep_error(std::current_exception());
    }
  }

  /// Waits (at most `timeout`) until fewer than `limit` tasks run; how many more may start.
  int free_slots(int limit, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return running_ < limit || error_; });
    return limit - running_;
  }
  void started(int n) {
    std::lock_guard lock(mu_);
    running_ += n;
  }
  [[nodiscard]] std::exception_ptr error() {
    std::lock_guard lock(mu_);
    return error_;
  }
  [[nodiscard]] std::size_t done() {
    std::lock_guard lock(mu_);
    return done_;
  }

 private:
  // Sends what `append` queues and reads its `n` replies; a connection lost on the way is
  // made again (retry_) and everything sent again (a result may then be pushed twice: the
  // client completes the future once; XACK and XDEL do nothing the second time).
  // `append` may return how many replies come first that are to be read and ignored.
  template <class Append>
  void pipeline_locked(Append&& append, std::size_t n, std::string_view commands) {
    for (int round = 0;; ++round) {
      try {
        if (!writer_ || writer_->broken()) {
          writer_.reset();
          writer_ = detail::reconnect(address_, redis_options_, retry_);
        }
        std::size_t ignored = 0;
        if constexpr (std::is_void_v<decltype(append())>) {
          append();
        } else {
          ignored = append();
        }
        for (std::size_t i = 0; i < ignored; ++i) (void)writer_->get_reply();
        read_replies_locked(n, commands);
        return;
      } catch (...) {
        if (round >= 3 || retry_.attempts == 0 || !detail::is_transient(std::current_exception())) {
          throw;
        }
        writer_.reset();
      }
    }
  }
  // Reads `n` pipelined replies, all of them (so the connection stays in step), then throws
  // the first error reply as RedisError.
  void read_replies_locked(std::size_t n, std::string_view commands) {
    std::optional<Reply> error;
    for (std::size_t i = 0; i < n; ++i) {
      Reply r = writer_->get_reply();
      if (r.is_error() && !error) error = std::move(r);
    }
    if (error) writer_->check(*error, commands);
  }
  void acknowledge_locked(const std::string& id) {
    writer_->append({"XACK", keys_.tasks, detail::kGroup, id});
    writer_->append({"XDEL", keys_.tasks, id});
  }
  void keep_error(std::exception_ptr e) noexcept {
    std::lock_guard lock(mu_);
    if (!error_) error_ = std::move(e);
  }
  void finished(int n) noexcept {
    {
      std::lock_guard lock(mu_);
      running_ -= n;
      done_ += static_cast<std::size_t>(n);
    }
    cv_.notify_all();
  }

  Keys keys_;
  std::string name_;
  std::string host_;
  std::string ttl_ms_;
  detail::RedisAddress address_;
  detail::RedisOptions redis_options_;
  detail::RetryPolicy retry_;
  std::mutex writer_mu_;
  std::unique_ptr<Redis> writer_;  // under writer_mu_
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  std::size_t done_ = 0;
  std::exception_ptr error_;
  std::unique_ptr<futures::ProcessPoolExecutor> procs_;  // ServeOptions::processes
};

// The tasks pending at consumers of the group whose heartbeat expired (dead workers),
// claimed for `me`, at most `limit`: to run again, or, when they already ran max_attempts
// times (XPENDING's delivery count), to answer with an error. Consumers left with nothing
// pending are removed from the group.
std::vector<TaskEntry> reclaim(Redis& redis, const Keys& keys, const std::string& me,
                               std::size_t limit, int default_max_attempts) {
  std::vector<TaskEntry> out;
  const Reply summary = redis.command({"XPENDING", keys.tasks, detail::kGroup});
  if (summary.elements.size() < 4 || summary.elements[3].type != Reply::Type::array) return out;
  for (const Reply& c : summary.elements[3].elements) {
    if (c.elements.size() != 2 || c.elements[0].str == me) continue;
    const std::string& consumer = c.elements[0].str;
    if (redis.command({"EXISTS", keys.worker(consumer)}).integer != 0) continue;  // alive
    const std::string count = std::to_string(std::max<std::size_t>(limit - out.size(), 1));
    const Reply pending =
        redis.command({"XPENDING", keys.tasks, detail::kGroup, "-", "+", count, consumer});
    for (const Reply& p : pending.elements) {
      if (out.size() >= limit) return out;  // the rest at the next reclaim
      if (p.elements.size() != 4) continue;
      const std::string& id = p.elements[0].str;
      const long long runs = p.elements[3].integer;  // deliveries so far, each to a dead worker
      const Reply claimed = redis.command({"XCLAIM", keys.tasks, detail::kGroup, me, "0", id});
      if (claimed.elements.empty() || claimed.elements[0].type != Reply::Type::array) {
        redis.command({"XACK", keys.tasks, detail::kGroup, id});  // deleted meanwhile
        continue;
      }
      TaskEntry entry = TaskEntry::from_reply(claimed.elements[0]);
      entry.runs = static_cast<int>(runs);
      const int max = entry.max_attempts > 0 ? entry.max_attempts : default_max_attempts;
      if (runs >= max) {
        entry.exhausted =
            "concur::distributed: the task was run " + std::to_string(runs) +
            " time(s), each time by a worker that died (max_attempts = " + std::to_string(max) +
            "); last on " + consumer;
      }
      out.push_back(std::move(entry));
    }
    const Reply left =
        redis.command({"XPENDING", keys.tasks, detail::kGroup, "-", "+", "1", consumer});
    if (left.elements.empty()) {
      redis.command({"XGROUP", "DELCONSUMER", keys.tasks, detail::kGroup, consumer});
    }
  }
  return out;
}

// Shares `entries` among the pool's threads, one batch each at most: each runs its tasks in
// turn and answers them at once.
void run_batches(futures::ThreadPoolExecutor& pool, Worker& worker, std::vector<TaskEntry>& entries,
                 int concurrency) {
  const std::size_t n = entries.size();
  const std::size_t groups = std::min<std::size_t>(n, static_cast<std::size_t>(concurrency));
  std::size_t next = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t size = n / groups + (g < n % groups ? 1 : 0);
    std::vector<TaskEntry> batch;
    batch.reserve(size);
    for (std::size_t i = next; i < next + size; ++i) batch.push_back(std::move(entries[i]));
    next += size;
    worker.started(static_cast<int>(size));
    (void)pool.submit([&worker, b = std::move(batch)] { worker.run(b); });
  }
}

std::string random_suffix() {
  std::random_device rd;
  return std::to_string(rd() % 100000);
}

}  // namespace

std::size_t serve(const ServeOptions& options) {
  if (options.concurrency < 0) throw ValueError("concurrency must be >= 0");
  if (options.prefetch < 1) throw ValueError("prefetch must be >= 1");
  const int concurrency =
      options.concurrency > 0 ? options.concurrency : static_cast<int>(os::cpu_count());
  detail::RedisAddress address = detail::parse_url(options.url);
  if (options.password) address.password = *options.password;
  Keys keys(options.namespace_);
  if (options.reconnect_attempts < 0) throw ValueError("reconnect_attempts must be >= 0");
  // XREADGROUP blocks for poll_interval: the command timeout allows for it.
  const detail::RedisOptions reader_options{options.connect_timeout,
                                            options.connect_timeout + options.poll_interval};
  const detail::RetryPolicy retry{options.reconnect_attempts, options.reconnect_backoff};
  auto reader = std::make_unique<Redis>(address, reader_options);
  detail::ensure_group(*reader, keys);
  Worker worker(options, address, keys, concurrency);
  const std::string consumer = worker.name() + ":" + random_suffix();
  const std::string block = std::to_string(options.poll_interval.count());
  StopSignals signals(options.handle_signals);
  const auto stopping = [&] {
    return options.stop.stop_requested() || StopSignals::raised() || worker.error() != nullptr;
  };
  {
    // Declared last: destroyed (and waited for) first, while what its tasks use lives.
    futures::ThreadPoolExecutor pool(
        {.max_workers = concurrency, .thread_name_prefix = "concur-serve"});
    const int limit = concurrency * options.prefetch;
    const std::string heartbeat_key = keys.worker(consumer);
    detail::Heartbeat heartbeat{worker.name(), concurrency, options.heartbeat_ttl, {}};
    const std::string heartbeat_ms = std::to_string(options.heartbeat_ttl.count());
    const auto beat_every = options.heartbeat_ttl / 3;
    auto last_beat = std::chrono::steady_clock::time_point{};
    auto next_reclaim = std::chrono::steady_clock::now() + beat_every;
    const auto beat = [&](std::chrono::steady_clock::time_point now) {
      if (now - last_beat >= beat_every) {
        heartbeat.done = worker.done();
        reader->command({"SET", heartbeat_key, heartbeat.encode(), "PX", heartbeat_ms});
        last_beat = now;
      }
    };
    bool recover = false;  // after a reconnect: read this consumer's pending entries again
    while (!stopping()) {
      try {
        const auto now = std::chrono::steady_clock::now();
        beat(now);
        if (recover) {
          // A read whose reply was lost with the connection left its entries pending here,
          // unknown to us. Once the tasks we hold are answered, every entry still pending at
          // this consumer is such a one: read them again (history, id 0) and run them.
          if (worker.free_slots(1, options.poll_interval) <= 0) continue;
          const Reply r = reader->command({"XREADGROUP", "GROUP", detail::kGroup, consumer, "COUNT",
                                           std::to_string(limit), "STREAMS", keys.tasks, "0"});
          recover = false;
          std::vector<TaskEntry> lost;
          for (const Reply& stream : r.elements) {
            if (stream.elements.size() != 2) continue;
            for (const Reply& raw : stream.elements[1].elements) {
              TaskEntry entry = TaskEntry::from_reply(raw);
              if (entry.id.empty()) continue;
              if (entry.client.empty() || !entry.task) {
                worker.drop(entry);  // deleted meanwhile, or malformed
                continue;
              }
              lost.push_back(std::move(entry));
            }
          }
          run_batches(pool, worker, lost, concurrency);
          continue;
        }
        const int free = worker.free_slots(limit, options.poll_interval);
        if (free <= 0) continue;
        std::vector<TaskEntry> entries;
        if (now >= next_reclaim) {
          next_reclaim = now + beat_every;
          entries =
              reclaim(*reader, keys, consumer, static_cast<std::size_t>(free), kDefaultMaxAttempts);
        }
        if (!entries.empty()) {
          run_batches(pool, worker, entries, concurrency);
          continue;
        }
        reader->append({"XREADGROUP", "GROUP", detail::kGroup, consumer, "COUNT",
                        std::to_string(free), "BLOCK", block, "STREAMS", keys.tasks, ">"});
        const Reply r = reader->get_reply();
        if (r.is_error() && (r.str.rfind("NOGROUP", 0) == 0 || r.str.rfind("UNBLOCKED", 0) == 0)) {
          // The stream (and its group) was deleted, before or during the read: a purge.
          detail::ensure_group(*reader, keys);
          continue;
        }
        reader->check(r, "XREADGROUP");
        if (r.type != Reply::Type::array) continue;  // nothing within poll_interval
        for (const Reply& stream : r.elements) {
          if (stream.elements.size() != 2) continue;
          for (const Reply& raw : stream.elements[1].elements) {
            TaskEntry entry = TaskEntry::from_reply(raw);
            if (entry.id.empty()) continue;
            if (entry.client.empty() || !entry.task) {
              worker.drop(entry);
              continue;
            }
            entries.push_back(std::move(entry));
          }
        }
        run_batches(pool, worker, entries, concurrency);
      } catch (...) {
        if (retry.attempts == 0 || !detail::is_transient(std::current_exception())) throw;
        // Redis restarted or the network was cut: connect again (bounded; ConnectionError
        // after the last try), beat at once, and give the other workers a whole
        // heartbeat_ttl to do the same before taking any dead worker's tasks.
        reader.reset();
        try {
          reader = detail::reconnect(address, reader_options, retry, stopping);
        } catch (...) {
          if (stopping()) break;  // asked to stop meanwhile: stop
          throw;
        }
        detail::ensure_group(*reader, keys);
        last_beat = {};
        beat(std::chrono::steady_clock::now());
        next_reclaim = std::chrono::steady_clock::now() + options.heartbeat_ttl;
        recover = true;
      }
    }
    pool.shutdown(true);
  }
  try {  // gone at once rather than when it expires
    if (reader) {
      reader->command({"DEL", keys.worker(consumer)});
      // And out of the group when it holds no task: nothing else gives this consumer entries
      // (only its own reads do; a reclaim claims for the claimer). One that still holds
      // some stays, for the others to reclaim (its heartbeat is gone already).
      const Reply held =
          reader->command({"XPENDING", keys.tasks, detail::kGroup, "-", "+", "1", consumer});
      if (held.type == Reply::Type::array && held.elements.empty()) {
        reader->command({"XGROUP", "DELCONSUMER", keys.tasks, detail::kGroup, consumer});
      }
    }
  } catch (...) {
  }
  if (auto e = worker.error()) std::rethrow_exception(e);
  return worker.done();
}

namespace {

// `--concur-worker=<url>` (mp::main_guard): serve instead of running main. Other options:
// --concur-worker-concurrency=N, --concur-worker-namespace=NS, --concur-worker-processes;
// the password may come from CONCUR_REDIS_PASSWORD rather than the URL.
int worker_switch(std::string_view url, int argc, char** argv) {
  ServeOptions options;
  options.url = std::string(url);
  // From main_guard, first thing in main: no other thread changes the environment.
  const char* pw = std::getenv("CONCUR_REDIS_PASSWORD");  // NOLINT(concurrency-mt-unsafe)
  if (pw != nullptr && *pw != '\0') {
    options.password = pw;
  }
  constexpr std::string_view kConcurrency = "--concur-worker-concurrency=";
  constexpr std::string_view kNamespace = "--concur-worker-namespace=";
  for (int i = 1; i < argc && argv[i] != nullptr; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.substr(0, kConcurrency.size()) == kConcurrency) {
      const std::string_view v = arg.substr(kConcurrency.size());
      int n = -1;
      const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || n < 0) {
        std::fprintf(stderr, "concur-worker: bad %s\n", argv[i]);
        return 2;
      }
      options.concurrency = n;
    } else if (arg.substr(0, kNamespace.size()) == kNamespace) {
      options.namespace_ = std::string(arg.substr(kNamespace.size()));
    } else if (arg == "--concur-worker-processes") {
      options.processes = true;
    }
  }
  try {
    const std::size_t done = serve(options);
    std::fprintf(stderr, "concur-worker: stopped after %zu task(s)\n", done);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "concur-worker: %s\n", e.what());
    return 1;
  }
}

[[maybe_unused]] const bool g_worker_switch = [] {
  multiprocessing::detail::add_main_switch("--concur-worker=", &worker_switch);
  return true;
}();

}  // namespace

void detail::link_worker_switch() noexcept {}

}  // namespace concur::distributed

// The function ServeOptions::processes' worker processes run, registered at static
// initialisation in every program that links serve (the workers are copies of it).
CONCUR_REGISTER_AS(concur::distributed::run_request, "concur::distributed::run_request");
