// src/distributed/client.cpp: see client.hpp; distributed::Executor's members.
#include "distributed/client.hpp"

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

constexpr std::string_view kPoll = "0.25";  // seconds a blocking pop waits: bounds close()'s delay
constexpr std::string_view kBatch = "256";  // results popped at once

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

}  // namespace

ClientEngine::ClientEngine(const ExecutorOptions& options)
    : address_(address_from(options)),
      // A command may also wait kPoll in a blocking pop: one second more than the connect bound.
      redis_options_{options.connect_timeout, options.connect_timeout + std::chrono::seconds(1)},
      keys_(options.namespace_),
      client_id_(random_id()),
      results_key_(keys_.results(client_id_)),
      ttl_ms_(std::to_string(std::chrono::milliseconds(options.result_ttl).count())),
      max_attempts_(std::to_string(options.max_attempts)) {
  if (options.max_attempts < 1) throw ValueError("max_attempts must be >= 1");
  send_ = std::make_unique<Redis>(address_, redis_options_);
  recv_ = std::make_unique<Redis>(address_, redis_options_);
  ensure_group(*send_, keys_);
  sender_ = std::thread([this] { send_loop(); });
  reader_ = std::thread([this] { read_loop(); });
}

ClientEngine::~ClientEngine() {
  close();
  join();
}

void ClientEngine::submit(StateBase* task) {
  multiprocessing::Buffer request = task->encode_call();  // TypeError / ValueError
  {
    std::lock_guard lock(mu_);
    if (!broken_.empty()) throw futures::BrokenExecutor(broken_);
    if (closed_) throw RuntimeError("cannot schedule new futures after shutdown");
    const std::uint64_t id = next_task_++;
    task->drop_call();  // no stale references to the callable or the arguments
    (void)task->set_running_or_notify_cancel();
    task->retain();
    pending_.emplace(id, task);
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
      if (!recv_->broken()) recv_->command({"DEL", results_key_});
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
    }
    write_batch(batch);
  }
  // Wakes the reader from its blocking pop, so that it sees the close at once.
  try {
    if (!send_) send_ = std::make_unique<Redis>(address_, redis_options_);
    send_->append({"RPUSH", results_key_, ""});
    send_->append({"PEXPIRE", results_key_, ttl_ms_});
    (void)send_->get_reply();
    (void)send_->get_reply();
  } catch (...) {  // the reader notices within kPoll anyway
  }
}

void ClientEngine::write_batch(std::vector<Outgoing>& batch) noexcept {
  std::size_t answered = 0;
  try {
    if (!send_ || send_->broken()) {
      send_.reset();
      send_ = std::make_unique<Redis>(address_, redis_options_);
    }
    for (const Outgoing& o : batch) {
      const std::string task = std::to_string(o.task);
      send_->append({"XADD", keys_.tasks, "*", "client", client_id_, "task", task, "max",
                     max_attempts_, "call", as_chars(o.request)});
    }
    for (; answered < batch.size(); ++answered) {
      const Reply r = send_->get_reply();
      if (r.is_error()) {
        (void)fail(batch[answered].task, std::make_exception_ptr(RedisError(
                                             "redis " + address_.display() + ": XADD: " + r.str)));
      }
    }
  } catch (...) {  // the connection failed: every task not yet answered fails with it
    const std::exception_ptr error = std::current_exception();
    for (std::size_t i = answered; i < batch.size(); ++i) (void)fail(batch[i].task, error);
  }
}

// --- the reader ----------------------------------------------------------------------------

void ClientEngine::read_loop() noexcept {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (closed_ && pending_.empty()) break;
    }
    try {
      for (const Reply& value : pop_results()) deliver(value);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mu_);
        broken_ = std::string("distributed::Executor: lost Redis: ") + e.what();
      }
      fail_all(std::current_exception());
      break;
    }
  }
}

std::vector<Reply> ClientEngine::pop_results() {
  if (blmpop_) {
    // One command per wake-up: blocks until the list has an element, then pops up to kBatch.
    recv_->append({"BLMPOP", kPoll, "1", results_key_, "LEFT", "COUNT", kBatch});
    Reply r = recv_->get_reply();
    if (!r.is_error()) {
      if (r.type != Reply::Type::array || r.elements.size() != 2) return {};  // kPoll passed
      return std::move(r.elements[1].elements);
    }
    // Redis before 7.0 (ERR unknown command), or an ACL user without +blmpop (NOPERM).
    if (r.str.rfind("ERR unknown command", 0) != 0 && r.str.rfind("NOPERM", 0) != 0) {
      recv_->check(r, "BLMPOP");
    }
    blmpop_ = false;
  }
  Reply r = recv_->command({"LPOP", results_key_, kBatch});
  if (!r.is_nil()) return std::move(r.elements);
  r = recv_->command({"BLPOP", results_key_, kPoll});
  if (r.type != Reply::Type::array || r.elements.size() != 2) return {};
  std::vector<Reply> one;
  one.push_back(std::move(r.elements[1]));
  return one;
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
    task = it->second;
    pending_.erase(it);
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
    task = it->second;
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
  std::unordered_map<std::uint64_t, StateBase*> all;
  {
    std::lock_guard lock(mu_);
    all.swap(pending_);
  }
  for (auto& [id, task] : all) {
    try {
      task->set_exception(error);
    } catch (...) {
    }
    task->release();
  }
}

}  // namespace detail

Executor::Executor(const ExecutorOptions& options)
    : engine_(std::make_unique<detail::ClientEngine>(options)) {}

Executor::~Executor() {
  try {
    shutdown(true);
  } catch (...) {
  }
}

void Executor::submit_task(futures::detail::StateBase* task) { engine_->submit(task); }

void Executor::shutdown(bool wait, bool /*cancel_futures*/) {
  engine_->close();
  if (wait) engine_->join();
}

const std::string& Executor::client_id() const noexcept { return engine_->client_id(); }

}  // namespace concur::distributed
