// src/distributed/client.cpp: see client.hpp; distributed::Executor's members.
#include "distributed/client.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>
#include <span>
#include <string_view>
#include <utility>

#include "concur/futures/errors.hpp"

namespace concur::distributed {
namespace detail {
namespace {

using futures::detail::StateBase;

constexpr std::string_view kPoll = "0.25";  // seconds a BLMOVE waits: bounds close()'s delay
constexpr std::string_view kLast = "255";   // results read at once: LRANGE 0 kLast

std::string random_id() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) out.push_back(kHex[rd() % 16]);
  return out;
}

RedisAddress address_from(const ExecutorOptions& options) {
  RedisAddress a = parse_url(options.url);
  if (options.password) a.password = *options.password;
  return a;
}

// Deletes the entries ARGV[2..] of the stream KEYS[1] that the group ARGV[1] has not
// delivered to any worker; returns, per entry, 1 if deleted now, 2 if it was never
// delivered and is already gone (a cancel whose answer was lost with the connection, run
// again; or a purge), else 0 (delivered: it stays, whether it runs, waits in a worker, or
// is done). Atomic (a script): no XREADGROUP runs between the test and the XDEL. An entry
// was delivered iff its id is not above the group's last-delivered-id (entries are
// delivered in id order, and ids only grow).
constexpr std::string_view kDeleteUntaken = R"lua(
local last = nil
local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if type(groups) == 'table' and groups.err == nil then
  for _, g in ipairs(groups) do
    local name, id = nil, nil
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] end
    end
    if name == ARGV[1] then last = id end
  end
end
local lm, ls = -1, -1
if last ~= nil then
  local a, b = string.match(last, '^(%d+)-(%d+)$')
  lm, ls = tonumber(a), tonumber(b)
end
local out = {}
for i = 2, #ARGV do
  local a, b = string.match(ARGV[i], '^(%d+)-(%d+)$')
  local m, q = tonumber(a), tonumber(b)
  if m > lm or (m == lm and q > ls) then
    out[#out + 1] = (redis.call('XDEL', KEYS[1], ARGV[i]) == 1) and 1 or 2
  else
    out[#out + 1] = 0
  end
end
return out
)lua";

bool parse_entry_id(std::string_view id, std::uint64_t& ms, std::uint64_t& seq) {
  const auto dash = id.find('-');
  if (dash == std::string_view::npos) return false;
  const auto [p1, e1] = std::from_chars(id.data(), id.data() + dash, ms);
  const auto [p2, e2] = std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
  return e1 == std::errc() && e2 == std::errc() && p1 == id.data() + dash &&
         p2 == id.data() + id.size();
}

}  // namespace

class ClientEngine::Port final : public futures::detail::RemoteQueue {
 public:
  bool dequeue(StateBase& task, std::uint64_t id) noexcept override {
    std::lock_guard lock(mu_);
    return engine_ != nullptr && engine_->dequeue(task, id);
  }
  void attach(ClientEngine* engine) noexcept {
    std::lock_guard lock(mu_);
    engine_ = engine;
  }

 private:
  std::mutex mu_;  // held while a dequeue runs: detaching waits for it
  ClientEngine* engine_ = nullptr;
};

namespace {

// The ports of executors: a task's remote_ points to its executor's port, which outlives the
// executor (kept for reuse by later ones, freed at exit), so a cancel() racing with the
// executor's end reaches a port whose engine is gone (or another executor's, which does
// not know the task) and answers false.
std::mutex g_ports_mu;
std::vector<std::unique_ptr<ClientEngine::Port>>& free_ports() {
  static std::vector<std::unique_ptr<ClientEngine::Port>> ports;
  return ports;
}

}  // namespace

ClientEngine::ClientEngine(const ExecutorOptions& options)
    : address_(address_from(options)),
      // A command may also wait kPoll in BLMOVE: one second more than the connect bound.
      redis_options_{options.connect_timeout, options.connect_timeout + std::chrono::seconds(1)},
      keys_(options.namespace_),
      client_id_(random_id()),
      results_key_(keys_.results(client_id_)),
      ttl_ms_(std::to_string(std::chrono::milliseconds(options.result_ttl).count())),
      max_attempts_(std::to_string(options.max_attempts)),
      retry_{options.reconnect_attempts, options.reconnect_backoff} {
  if (options.max_attempts < 1) throw ValueError("max_attempts must be >= 1");
  if (options.reconnect_attempts < 0) throw ValueError("reconnect_attempts must be >= 0");
  send_ = std::make_unique<Redis>(address_, redis_options_);
  recv_ = std::make_unique<Redis>(address_, redis_options_);
  ensure_group(*send_, keys_);
  {
    std::lock_guard lock(g_ports_mu);
    auto& ports = free_ports();
    if (ports.empty()) ports.push_back(std::make_unique<Port>());
    port_ = ports.back().release();
    ports.pop_back();
  }
  port_->attach(this);
  sender_ = std::thread([this] { send_loop(); });
  reader_ = std::thread([this] { read_loop(); });
}

ClientEngine::~ClientEngine() {
  close();
  join();
  port_->attach(nullptr);  // waits for a dequeue in progress
  std::lock_guard lock(g_ports_mu);
  free_ports().emplace_back(port_);
}

void ClientEngine::submit(StateBase* task) {
  multiprocessing::Buffer request = task->encode_call();  // TypeError / ValueError
  {
    std::lock_guard lock(mu_);
    if (!broken_.empty()) throw futures::BrokenExecutor(broken_);
    if (closed_) throw RuntimeError("cannot schedule new futures after shutdown");
    const std::uint64_t id = next_task_++;
    task->drop_call();  // no stale references to the callable or the arguments
    // PENDING until its result arrives: cancel() asks the stream first (dequeue).
    task->remote_ = port_;
    task->remote_id_ = id;
    task->retain();
    pending_.emplace(id, Pending{task});
    outbox_.push_back(Outgoing{id, std::move(request)});
  }
  cv_.notify_one();
}

void ClientEngine::close() noexcept {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_one();
}

void ClientEngine::join() noexcept {
  std::lock_guard lock(join_mu_);
  if (sender_.joinable()) sender_.join();
  if (reader_.joinable()) reader_.join();
  if (!cleaned_) {  // both threads ended: the results list (wake-up markers) goes now
    cleaned_ = true;
    try {
      if (recv_ && !recv_->broken()) recv_->command({"DEL", results_key_});
    } catch (...) {  // it expires anyway
    }
  }
}

// --- the sender ----------------------------------------------------------------------------

void ClientEngine::send_loop() noexcept {
  for (;;) {
    std::vector<Outgoing> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !outbox_.empty() || closed_; });
      if (outbox_.empty()) break;  // closed, and everything written
      batch.swap(outbox_);
      sent_upto_ = next_task_;
    }
    write_batch(batch);
  }
  // Wakes the reader from its BLMOVE, so that it sees the close at once.
  try {
    if (!send_ || send_->broken()) send_ = std::make_unique<Redis>(address_, redis_options_);
    send_->append({"RPUSH", results_key_, ""});
    send_->append({"PEXPIRE", results_key_, ttl_ms_});
    (void)send_->get_reply();
    (void)send_->get_reply();
  } catch (...) {  // the reader notices within kPoll anyway
  }
}

// A connection lost on the way is made again (retry_) and the XADDs not yet answered are
// sent again: one that Redis had applied before the loss is then in the stream twice, and
// the task may run twice (its future completes once).
void ClientEngine::write_batch(std::vector<Outgoing>& batch) noexcept {
  std::size_t answered = 0;
  std::vector<Pending> ids(batch.size());  // the entries' ids (state unused)
  for (int round = 0;; ++round) {
    try {
      if (!send_ || send_->broken()) {
        send_.reset();
        send_ = reconnect(address_, redis_options_, retry_);
      }
      for (std::size_t i = answered; i < batch.size(); ++i) {
        const std::string task = std::to_string(batch[i].task);
        send_->append({"XADD", keys_.tasks, "*", "client", client_id_, "task", task, "max",
                       max_attempts_, "call", as_chars(batch[i].request)});
      }
      for (; answered < batch.size(); ++answered) {
        const Reply r = send_->get_reply();
        if (r.is_error()) {
          (void)fail(batch[answered].task,
                     std::make_exception_ptr(
                         RedisError("redis " + address_.display() + ": XADD: " + r.str)));
        } else {
          (void)parse_entry_id(r.str, ids[answered].entry_ms, ids[answered].entry_seq);
        }
      }
      break;
    } catch (...) {
      const std::exception_ptr error = std::current_exception();
      if (round < 3 && retry_.attempts > 0 && is_transient(error)) {
        send_.reset();  // made again at the next round
        continue;
      }
      // Every task not yet answered fails with it.
      for (std::size_t i = answered; i < batch.size(); ++i) (void)fail(batch[i].task, error);
      break;
    }
  }
  record_entries(batch, ids);
}

void ClientEngine::record_entries(const std::vector<Outgoing>& batch,
                                  const std::vector<Pending>& ids) noexcept {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto it = pending_.find(batch[i].task);
      if (it == pending_.end()) continue;
      it->second.entry_ms = ids[i].entry_ms;
      it->second.entry_seq = ids[i].entry_seq;
    }
    wake = entry_waiters_ > 0;
  }
  if (wake) added_cv_.notify_all();
}

// --- cancelling ----------------------------------------------------------------------------

std::vector<bool> ClientEngine::delete_untaken(const std::vector<std::string>& entries) {
  std::vector<bool> out(entries.size(), false);
  if (entries.empty()) return out;
  std::lock_guard lock(cancel_mu_);
  constexpr std::size_t kChunk = 1000;
  for (std::size_t first = 0; first < entries.size(); first += kChunk) {
    const std::size_t n = std::min(kChunk, entries.size() - first);
    std::vector<std::string_view> args{"EVAL", kDeleteUntaken, "1", keys_.tasks, kGroup};
    for (std::size_t i = first; i < first + n; ++i) args.emplace_back(entries[i]);
    // A connection lost on the way (its answer with it) is made again and the script run
    // again: an entry the first run deleted then answers 2, still a cancel.
    for (int round = 0;; ++round) {
      try {
        if (!cancel_conn_ || cancel_conn_->broken()) {
          cancel_conn_.reset();
          cancel_conn_ = round == 0 ? std::make_unique<Redis>(address_, redis_options_)
                                    : reconnect(address_, redis_options_, retry_);
        }
        const Reply r = cancel_conn_->command(args);
        for (std::size_t i = 0; i < n && i < r.elements.size(); ++i) {
          out[first + i] = r.elements[i].integer != 0;
        }
        break;
      } catch (...) {
        if (round >= 2 || retry_.attempts == 0 || !is_transient(std::current_exception())) throw;
        cancel_conn_.reset();
      }
    }
  }
  return out;
}

bool ClientEngine::cancel_pending(std::uint64_t task, StateBase* state) noexcept {
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(task);
    if (it == pending_.end() || it->second.state != state) return false;
    pending_.erase(it);
  }
  (void)state->cancel_and_notify();
  state->release();
  return true;
}

// cancel() of a PENDING task (through its port): off the outbox if the sender has not
// taken it yet; else, once XADD answered, off the stream if no worker took it.
bool ClientEngine::dequeue(StateBase& task, std::uint64_t id) noexcept {
  std::string entry;
  {
    std::unique_lock lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.state != &task) return false;
    if (id >= sent_upto_) {  // still queued here: outbox_ is in task order
      const auto o =
          std::lower_bound(outbox_.begin(), outbox_.end(), id,
                           [](const Outgoing& x, std::uint64_t t) { return x.task < t; });
      if (o == outbox_.end() || o->task != id) return false;
      outbox_.erase(o);
      pending_.erase(it);
      lock.unlock();
      task.release();  // the caller's reference keeps it alive
      return true;
    }
    // Being written: wait for XADD's answer (bounded by the command timeout).
    ++entry_waiters_;
    const bool known = added_cv_.wait_for(lock, redis_options_.command_timeout, [&] {
      it = pending_.find(id);
      return it == pending_.end() || it->second.added();
    });
    --entry_waiters_;
    if (!known || it == pending_.end()) return false;
    entry = std::to_string(it->second.entry_ms) + "-" + std::to_string(it->second.entry_seq);
  }
  try {
    if (!delete_untaken({entry}).front()) return false;  // a worker took it
  } catch (...) {                                        // Redis cannot say: the task stays
    return false;
  }
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;  // failed meanwhile (Redis lost)
  pending_.erase(it);
  task.release();
  return true;
}

void ClientEngine::cancel_all() noexcept {
  std::vector<Outgoing> queued;
  std::vector<std::pair<std::uint64_t, StateBase*>> local;  // taken off the outbox
  std::vector<std::pair<std::uint64_t, StateBase*>> remote;
  std::vector<std::string> entries;
  {
    std::unique_lock lock(mu_);
    queued.swap(outbox_);
    for (const Outgoing& o : queued) {
      auto it = pending_.find(o.task);
      if (it != pending_.end()) local.emplace_back(o.task, it->second.state);
    }
    // Tasks being written: wait (bounded) for XADD's answers.
    ++entry_waiters_;
    (void)added_cv_.wait_for(lock, redis_options_.command_timeout, [&] {
      for (const auto& [id, p] : pending_) {
        if (id < sent_upto_ && !p.added()) return false;
      }
      return true;
    });
    --entry_waiters_;
    for (const auto& [id, p] : pending_) {
      if (p.added()) {
        remote.emplace_back(id, p.state);
        entries.push_back(std::to_string(p.entry_ms) + "-" + std::to_string(p.entry_seq));
      }
    }
  }
  for (const auto& [id, state] : local) (void)cancel_pending(id, state);
  std::vector<bool> deleted;
  try {
    deleted = delete_untaken(entries);
  } catch (...) {  // Redis cannot say: those tasks stay
    return;
  }
  for (std::size_t i = 0; i < remote.size(); ++i) {
    if (deleted[i]) (void)cancel_pending(remote[i].first, remote[i].second);
  }
}

// --- the reader ----------------------------------------------------------------------------

// Results are read without being removed (LRANGE) and trimmed (LTRIM) in the next round
// trip, once delivered: a reply lost with the connection (Redis restarted) loses no result;
// it is read again, and ignored (its task is no longer pending). While the list is empty,
// BLMOVE of the list onto itself waits (at most kPoll) for an element without removing it.
void ClientEngine::read_loop() noexcept {
  std::size_t delivered = 0;  // elements at the list's head already delivered: trimmed next
  const auto give_up = [this] {
    std::lock_guard lock(mu_);
    return closed_ && pending_.empty();
  };
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (closed_ && pending_.empty()) break;
    }
    try {
      if (delivered > 0) {
        recv_->append({"LTRIM", results_key_, std::to_string(delivered), "-1"});
      }
      recv_->append({"LRANGE", results_key_, "0", kLast});
      if (delivered > 0) recv_->check(recv_->get_reply(), "LTRIM");
      const Reply r = recv_->get_reply();
      recv_->check(r, "LRANGE");
      delivered = r.elements.size();
      if (delivered == 0) {
        const Reply w =
            recv_->command({"BLMOVE", results_key_, results_key_, "LEFT", "RIGHT", kPoll});
        if (w.type == Reply::Type::string) deliver(w);  // read again, and ignored, by LRANGE
      } else {
        for (const Reply& value : r.elements) deliver(value);
      }
    } catch (...) {
      std::exception_ptr error = std::current_exception();
      if (retry_.attempts > 0 && is_transient(error)) {
        try {
          recv_.reset();
          recv_ = reconnect(address_, redis_options_, retry_, give_up);
          delivered = 0;  // whether the last LTRIM was done is unknown: read them again
          continue;
        } catch (...) {
          error = std::current_exception();
        }
      }
      std::string why = "unknown error";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        why = e.what();
      } catch (...) {
      }
      {
        std::lock_guard lock(mu_);
        broken_ = "distributed::Executor: lost Redis: " + why;
      }
      fail_all(error);
      break;
    }
  }
}

void ClientEngine::deliver(const Reply& value) noexcept {
  if (value.str.empty()) return;  // the sender's wake-up marker
  ResultMessage msg;
  try {
    msg = ResultMessage::decode(value.str);
  } catch (...) {
    futures::detail::report_exception("A malformed result on the results list:", results_key_,
                                      std::current_exception());
    return;
  }
  StateBase* task = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(msg.task);
    if (it == pending_.end()) return;  // a duplicate (a task run twice), or failed already
    task = it->second.state;
    pending_.erase(it);
  }
  try {
    (void)task->set_running_or_notify_cancel();  // PENDING -> RUNNING, then finished
  } catch (...) {                                // completed by hand meanwhile
  }
  task->complete_from_reply(msg.reply);
  task->release();
}

bool ClientEngine::fail(std::uint64_t id, const std::exception_ptr& error) noexcept {
  StateBase* task = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return false;
    task = it->second.state;
    pending_.erase(it);
  }
  try {
    task->set_exception(error);
  } catch (...) {  // completed by hand meanwhile
  }
  task->release();
  return true;
}

void ClientEngine::fail_all(const std::exception_ptr& error) noexcept {
  std::unordered_map<std::uint64_t, Pending> all;
  {
    std::lock_guard lock(mu_);
    all.swap(pending_);
    outbox_.clear();
  }
  added_cv_.notify_all();
  for (auto& [id, p] : all) {
    try {
      p.state->set_exception(error);
    } catch (...) {
    }
    p.state->release();
  }
}

}  // namespace detail

Executor::Executor(const ExecutorOptions& options)
    : engine_(std::make_unique<detail::ClientEngine>(options)) {
  detail::link_worker_switch();
}

Executor::~Executor() {
  try {
    shutdown(true);
  } catch (...) {
  }
}

void Executor::submit_task(futures::detail::StateBase* task) { engine_->submit(task); }

void Executor::shutdown(bool wait, bool cancel_futures) {
  engine_->close();
  if (cancel_futures) engine_->cancel_all();
  if (wait) engine_->join();
}

const std::string& Executor::client_id() const noexcept { return engine_->client_id(); }

}  // namespace concur::distributed
