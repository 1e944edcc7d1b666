// src/distributed/protocol.cpp: see protocol.hpp.
#include "distributed/protocol.hpp"

#include <unistd.h>

#include <charconv>
#include <cstring>
#include <span>
#include <tuple>
#include <utility>

#include "concur/multiprocessing/registry.hpp"

namespace concur::distributed::detail {
namespace {

using Wire = std::tuple<std::uint64_t, std::string, multiprocessing::Buffer>;

}  // namespace

Keys::Keys(std::string_view ns) : prefix_("{" + std::string(ns) + "}:") {
  tasks = prefix_ + "tasks";
  stats = prefix_ + "stats";
}

std::string Keys::results(std::string_view client) const {
  return prefix_ + "results:" + std::string(client);
}

std::string Keys::worker(std::string_view consumer) const {
  return prefix_ + "worker:" + std::string(consumer);
}

TaskEntry TaskEntry::from_reply(const Reply& entry) {
  TaskEntry out;
  if (entry.type != Reply::Type::array || entry.elements.size() != 2) return out;
  out.id = entry.elements[0].str;
  const auto& fields = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& name = fields[i].str;
    const std::string& value = fields[i + 1].str;
    if (name == "client") {
      out.client = value;
    } else if (name == "task") {
      std::uint64_t n = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (!value.empty() && ec == std::errc() && ptr == value.data() + value.size()) out.task = n;
    } else if (name == "call") {
      out.call = value;
    } else if (name == "max") {
      int n = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && ptr == value.data() + value.size() && n > 0) out.max_attempts = n;
    }
  }
  return out;
}

multiprocessing::Buffer ResultMessage::encode() const {
  return multiprocessing::dumps(Wire(task, worker, reply));
}

ResultMessage ResultMessage::decode(std::string_view bytes) {
  auto [task, worker, reply] = multiprocessing::loads<Wire>(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  return ResultMessage{task, std::move(worker), std::move(reply)};
}

std::string Heartbeat::encode() const {
  std::string out = worker + " concurrency=" + std::to_string(concurrency);
  if (ttl.count() > 0) out += " ttl=" + std::to_string(ttl.count());
  if (done) out += " done=" + std::to_string(*done);
  return out;
}

Heartbeat Heartbeat::parse(std::string_view value) {
  Heartbeat out;
  auto number = [](std::string_view text, auto& n) {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
  };
  bool first = true;
  while (!value.empty()) {
    const auto space = value.find(' ');
    const std::string_view word = value.substr(0, space);
    value = space == std::string_view::npos ? std::string_view() : value.substr(space + 1);
    if (word.empty()) continue;
    if (std::exchange(first, false)) {
      out.worker = std::string(word);
      continue;
    }
    const auto eq = word.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view name = word.substr(0, eq);
    const std::string_view text = word.substr(eq + 1);
    if (name == "concurrency") {
      int n = 0;
      if (number(text, n) && n > 0) out.concurrency = n;
    } else if (name == "ttl") {
      long long n = 0;
      if (number(text, n) && n > 0) out.ttl = std::chrono::milliseconds(n);
    } else if (name == "done") {
      std::uint64_t n = 0;
      if (number(text, n)) out.done = n;
    }
  }
  return out;
}

void TaskCounts::add(const multiprocessing::Buffer& reply, bool exhausted_task) noexcept {
  ++done;
  if (reply.size() < 3 || reply[2] != multiprocessing::detail::kReplyValue) ++failed;
  if (exhausted_task) ++exhausted;
}

std::size_t TaskCounts::append(Redis& redis, const Keys& keys) const {
  std::size_t n = 0;
  for (const auto& [field, count] : {std::pair<std::string_view, std::uint64_t>{"done", done},
                                     {"failed", failed},
                                     {"exhausted", exhausted}}) {
    if (count == 0) continue;
    redis.append({"HINCRBY", keys.stats, field, std::to_string(count)});
    ++n;
  }
  return n;
}

std::string_view call_function_name(std::string_view call) noexcept {
  // kRequestMagic, kCallVersion, the name's length (u64, native), the name.
  namespace reg = multiprocessing::detail;
  constexpr std::size_t kHead = 2 + sizeof(std::uint64_t);
  if (call.size() < kHead || static_cast<std::byte>(call[0]) != reg::kRequestMagic ||
      static_cast<std::byte>(call[1]) != reg::kCallVersion) {
    return {};
  }
  std::uint64_t size = 0;
  std::memcpy(&size, call.data() + 2, sizeof size);
  if (size > call.size() - kHead) return {};
  return call.substr(kHead, static_cast<std::size_t>(size));
}

multiprocessing::Buffer error_reply(const std::exception_ptr& error) {
  namespace reg = multiprocessing::detail;
  multiprocessing::Buffer reply{reg::kReplyMagic, reg::kCallVersion, reg::kReplyException};
  multiprocessing::encode_exception(reply, error);
  return reply;
}

void ensure_group(Redis& redis, const Keys& keys) {
  redis.append({"XGROUP", "CREATE", keys.tasks, kGroup, "0", "MKSTREAM"});
  const Reply r = redis.get_reply();
  if (r.is_error() && r.str.rfind("BUSYGROUP", 0) != 0) redis.check(r, "XGROUP CREATE");
}

std::string this_worker_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host) + ":" + std::to_string(::getpid());
}

}  // namespace concur::distributed::detail
