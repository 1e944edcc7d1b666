// tools/cluster/purge.cpp: `concur-cluster purge` (cluster.hpp).
#include <algorithm>
#include <ostream>
#include <set>
#include <span>
#include <string_view>
#include <utility>

#include "cluster.hpp"
#include "concur/exceptions.hpp"

namespace concur_cluster {
namespace {

using detail::Reply;

// Removes, in one atomic step, at most ARGV[2] entries of the stream KEYS[1] that the group
// ARGV[1] has not delivered yet (after its last-delivered-id; every entry when there is no
// group), and returns them as XRANGE does. Atomic: no worker can read an entry between the
// XRANGE and the XDEL, so a removed task is never also run.
constexpr std::string_view kTakeQueued = R"lua(
local from = '-'
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return {} end
for _, g in ipairs(groups) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  if name == ARGV[1] and last then from = '(' .. last end
end
local entries = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', ARGV[2])
if #entries > 0 then
  local ids = {}
  for i, e in ipairs(entries) do ids[i] = e[1] end
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return entries
)lua";

constexpr std::size_t kBatch = 500;
// How long an answer waits for its client (ExecutorOptions::result_ttl's default).
constexpr std::string_view kAnswerTtlMs = "3600000";

}  // namespace

std::vector<std::string> keys_with_prefix(const Target& target, std::string_view prefix) {
  std::set<std::string> found;  // SCAN may return a key twice
  const std::string match = glob_prefix(prefix);
  std::string cursor = "0";
  do {
    const Reply r = target.redis.command({"SCAN", cursor, "MATCH", match, "COUNT", "1000"});
    if (r.elements.size() != 2) break;
    cursor = r.elements[0].str;
    for (const Reply& key : r.elements[1].elements) found.insert(key.str);
  } while (cursor != "0");
  return {found.begin(), found.end()};
}

PurgeResult purge_queued(const Target& target, bool answer) {
  detail::Redis& redis = target.redis;
  PurgeResult result;
  const std::string batch = std::to_string(kBatch);
  const std::string me = "concur-cluster@" + detail::this_worker_name();
  const auto why = std::make_exception_ptr(concur::RuntimeError(
      "concur::distributed: the task was purged from the queue of namespace '" + target.ns +
      "' before any worker took it (concur-cluster purge)"));
  std::set<std::string> clients;
  for (;;) {
    const Reply taken =
        redis.command({"EVAL", kTakeQueued, "1", target.keys.tasks, detail::kGroup, batch});
    std::size_t answers = 0;
    for (const Reply& raw : taken.elements) {
      const detail::TaskEntry entry = detail::TaskEntry::from_reply(raw);
      ++result.removed;
      const std::string_view name = detail::call_function_name(entry.call);
      ++result.by_function[name.empty() ? "(not a task)" : std::string(name)];
      if (!answer || entry.client.empty() || !entry.task) continue;
      const detail::ResultMessage msg{*entry.task, me, detail::error_reply(why)};
      const std::string key = target.keys.results(entry.client);
      redis.append({"RPUSH", key, detail::as_chars(msg.encode())});
      redis.append({"PEXPIRE", key, kAnswerTtlMs});
      clients.insert(entry.client);
      ++answers;
    }
    for (std::size_t i = 0; i < 2 * answers; ++i) redis.check(redis.get_reply(), "RPUSH/PEXPIRE");
    result.answered += answers;
    if (taken.elements.size() < kBatch) break;
  }
  result.clients = clients.size();
  return result;
}

void delete_namespace(const Target& target, PurgeResult& result) {
  const std::vector<std::string> keys = keys_with_prefix(target, target.keys.prefix());
  // Every key carries the hash tag {ns}: one slot, so one UNLINK may name many.
  for (std::size_t i = 0; i < keys.size(); i += kBatch) {
    std::vector<std::string_view> args{"UNLINK"};
    for (std::size_t j = i; j < std::min(keys.size(), i + kBatch); ++j) args.emplace_back(keys[j]);
    target.redis.command(std::span<const std::string_view>(args));
  }
  result.deleted_keys.insert(result.deleted_keys.end(), keys.begin(), keys.end());
}

void print_purge_text(const PurgeResult& result, const std::string& ns, bool all,
                      std::ostream& out) {
  out << "purged " << result.removed << " queued task(s) of namespace '" << ns << "'";
  if (result.answered != 0) {
    out << "; " << result.answered << " answered with a RuntimeError to the " << result.clients
        << " client(s) waiting for them";
  }
  out << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, count] : result.by_function)
    rows.push_back({"  " + std::to_string(count), name});
  print_table(rows, out);
  if (!all) return;
  for (const std::string& key : result.deleted_keys) out << "deleted " << key << "\n";
  out << "deleted " << result.deleted_keys.size() << " key(s) of namespace '" << ns << "'\n";
}

void print_purge_json(const PurgeResult& result, const std::string& ns, bool all,
                      std::ostream& out) {
  out << "{\"namespace\":" << json_string(ns) << ",\"purged\":" << result.removed
      << ",\"answered\":" << result.answered << ",\"clients\":" << result.clients
      << ",\"functions\":{";
  bool first = true;
  for (const auto& [name, count] : result.by_function) {
    out << (std::exchange(first, false) ? "" : ",") << json_string(name) << ":" << count;
  }
  out << "}";
  if (all) {
    out << ",\"deleted_keys\":[";
    first = true;
    for (const std::string& key : result.deleted_keys) {
      out << (std::exchange(first, false) ? "" : ",") << json_string(key);
    }
    out << "]";
  }
  out << "}\n";
}

}  // namespace concur_cluster
