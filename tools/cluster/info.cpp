// tools/cluster/info.cpp: `concur-cluster info` (cluster.hpp).
//
// One snapshot of the counts (MULTI: XLEN, XPENDING, HGETALL), then the heartbeats (SCAN,
// then GET and PTTL pipelined). queued = XLEN - pending: an answered entry is acknowledged
// and deleted by the worker, so the stream holds exactly the queued and the pending ones
// (give or take an entry between its worker's XACK and XDEL).
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <ostream>
#include <set>
#include <utility>

#include "cluster.hpp"
#include "concur/distributed/errors.hpp"

namespace concur_cluster {
namespace {

using detail::Reply;

long long to_number(const Reply& r) {
  if (r.type == Reply::Type::integer) return r.integer;
  long long n = 0;
  const auto [ptr, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), n);
  return ec == std::errc() && ptr == r.str.data() + r.str.size() ? n : 0;
}

// "host:pid:<random>" (serve's consumer names) or "host:pid": the host and the pid.
void split_worker_name(const std::string& name, std::string& host, long long& pid) {
  std::string_view rest = name;
  const auto last = rest.rfind(':');
  if (last == std::string_view::npos) {
    host = name;
    return;
  }
  std::string_view pid_text = rest.substr(last + 1);
  rest = rest.substr(0, last);
  if (const auto second = rest.rfind(':'); second != std::string_view::npos) {
    // host:pid:random: the pid is the middle part
    pid_text = rest.substr(second + 1);
    rest = rest.substr(0, second);
  }
  host = std::string(rest);
  long long n = 0;
  const auto [ptr, ec] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), n);
  if (ec == std::errc() && ptr == pid_text.data() + pid_text.size()) pid = n;
}

// `value` in JSON, or null.
template <class T>
std::string json_number(bool has, T value) {
  return has ? std::to_string(value) : "null";
}

std::string seconds_ago(long long ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s ago", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace

Info read_info(const Target& target) {
  detail::Redis& redis = target.redis;
  const detail::Keys& keys = target.keys;
  Info info;
  info.ns = target.ns;
  info.redis = redis.address().display();
  info.db = redis.address().db;

  redis.append({"MULTI"});
  redis.append({"XLEN", keys.tasks});
  redis.append({"XPENDING", keys.tasks, detail::kGroup});
  redis.append({"HGETALL", keys.stats});
  redis.append({"EXEC"});
  for (int i = 0; i < 4; ++i) redis.check(redis.get_reply(), "MULTI");
  const Reply exec = redis.get_reply();
  redis.check(exec, "EXEC");
  if (exec.type != Reply::Type::array || exec.elements.size() != 3) {
    throw concur::distributed::RedisError("redis " + info.redis +
                                          ": EXEC: an unexpected reply (the transaction was "
                                          "aborted)");
  }
  const Reply& xlen = exec.elements[0];
  const Reply& xpending = exec.elements[1];  // an error (NOGROUP) when there is no stream
  const Reply& stats = exec.elements[2];
  redis.check(xlen, "XLEN");
  redis.check(stats, "HGETALL");
  std::map<std::string, long long> held;  // consumer -> pending
  if (!xpending.is_error() && xpending.elements.size() == 4) {
    info.running = to_number(xpending.elements[0]);
    for (const Reply& c : xpending.elements[3].elements) {
      if (c.elements.size() == 2) held[c.elements[0].str] = to_number(c.elements[1]);
    }
  }
  info.queued = std::max(0LL, xlen.integer - info.running);
  for (std::size_t i = 0; i + 1 < stats.elements.size(); i += 2) {
    const std::string& field = stats.elements[i].str;
    const auto value = static_cast<std::uint64_t>(std::max(0LL, to_number(stats.elements[i + 1])));
    if (field == "done") info.done = value;
    if (field == "failed") info.failed = value;
    if (field == "exhausted") info.exhausted = value;
  }

  const std::string worker_prefix = keys.worker("");
  const std::vector<std::string> beats = keys_with_prefix(target, worker_prefix);
  for (const std::string& key : beats) {
    redis.append({"GET", key});
    redis.append({"PTTL", key});
  }
  std::set<std::string> seen;
  for (const std::string& key : beats) {
    const Reply value = redis.get_reply();
    const Reply pttl = redis.get_reply();
    redis.check(value, "GET");
    if (value.type != Reply::Type::string) continue;  // expired since the SCAN
    const detail::Heartbeat beat = detail::Heartbeat::parse(value.str);
    WorkerRow row;
    row.consumer = key.substr(worker_prefix.size());
    split_worker_name(beat.worker.empty() ? row.consumer : beat.worker, row.host, row.pid);
    row.concurrency = beat.concurrency;
    row.done = beat.done;
    if (beat.ttl.count() > 0 && pttl.type == Reply::Type::integer && pttl.integer >= 0) {
      row.last_heartbeat_ms = std::max(0LL, beat.ttl.count() - pttl.integer);
    }
    if (const auto it = held.find(row.consumer); it != held.end()) row.held = it->second;
    seen.insert(row.consumer);
    info.workers.push_back(std::move(row));
  }
  for (const auto& [consumer, count] : held) {  // holding tasks, no heartbeat: dead
    if (seen.count(consumer) != 0) continue;
    WorkerRow row;
    row.consumer = consumer;
    split_worker_name(consumer, row.host, row.pid);
    row.held = count;
    row.alive = false;
    info.workers.push_back(std::move(row));
  }
  std::sort(info.workers.begin(), info.workers.end(),
            [](const WorkerRow& a, const WorkerRow& b) { return a.consumer < b.consumer; });
  return info;
}

void print_info_table(const Info& info, std::ostream& out) {
  const auto alive = std::count_if(info.workers.begin(), info.workers.end(),
                                   [](const WorkerRow& w) { return w.alive; });
  out << "namespace '" << info.ns << "' on redis " << info.redis << " db " << info.db << "\n";
  out << "tasks: " << info.queued << " queued, " << info.running << " running, " << info.done
      << " done, " << info.failed << " failed";
  if (info.exhausted != 0) out << " (" << info.exhausted << " after their workers died)";
  out << "\n";
  out << "workers: " << alive << " alive";
  if (static_cast<std::size_t>(alive) != info.workers.size()) {
    out << ", " << info.workers.size() - static_cast<std::size_t>(alive)
        << " dead holding tasks (to be claimed by the others)";
  }
  out << "\n";
  if (info.workers.empty()) return;
  std::vector<std::vector<std::string>> rows{
      {"WORKER", "HOST", "PID", "CONCURRENCY", "RUNNING", "DONE", "LAST HEARTBEAT"}};
  for (const WorkerRow& w : info.workers) {
    rows.push_back({w.consumer, w.host, w.pid > 0 ? std::to_string(w.pid) : "-",
                    w.concurrency > 0 ? std::to_string(w.concurrency) : "-", std::to_string(w.held),
                    w.done ? std::to_string(*w.done) : "-",
                    !w.alive              ? "expired (dead)"
                    : w.last_heartbeat_ms ? seconds_ago(*w.last_heartbeat_ms)
                                          : "-"});
  }
  out << "\n";
  print_table(rows, out);
}

void print_info_json(const Info& info, std::ostream& out) {
  out << "{\"namespace\":" << json_string(info.ns) << ",\"redis\":" << json_string(info.redis)
      << ",\"db\":" << info.db << ",\"tasks\":{\"queued\":" << info.queued
      << ",\"running\":" << info.running << ",\"done\":" << info.done
      << ",\"failed\":" << info.failed << ",\"exhausted\":" << info.exhausted << "},\"workers\":[";
  bool first = true;
  for (const WorkerRow& w : info.workers) {
    out << (std::exchange(first, false) ? "" : ",") << "{\"consumer\":" << json_string(w.consumer)
        << ",\"host\":" << json_string(w.host) << ",\"pid\":" << json_number(w.pid > 0, w.pid)
        << ",\"concurrency\":" << json_number(w.concurrency > 0, w.concurrency)
        << ",\"running\":" << w.held
        << ",\"done\":" << json_number(w.done.has_value(), w.done.value_or(0))
        << ",\"last_heartbeat_ms\":"
        << json_number(w.last_heartbeat_ms.has_value(), w.last_heartbeat_ms.value_or(0));
    out << ",\"alive\":" << (w.alive ? "true" : "false") << "}";
  }
  out << "]}\n";
}

}  // namespace concur_cluster
