// src/distributed/protocol.cpp: see protocol.hpp.
#include "distributed/protocol.hpp"

#include <unistd.h>

#include <charconv>
#include <span>
#include <tuple>

namespace concur::distributed::detail {
namespace {

using Wire = std::tuple<std::uint64_t, std::string, multiprocessing::Buffer>;

}  // namespace

Keys::Keys(std::string_view ns) : prefix_("{" + std::string(ns) + "}:") {
  tasks = prefix_ + "tasks";
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
