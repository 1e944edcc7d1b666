// tools/cluster/cluster.hpp: concur-cluster's parts (info.cpp, purge.cpp, output.cpp), for
// main.cpp. What the tool reads and writes is the protocol of src/distributed/protocol.hpp
// (docs/design/0007-distributed.md §2, §8).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "distributed/protocol.hpp"
#include "distributed/redis.hpp"

namespace concur_cluster {

namespace detail = concur::distributed::detail;

/// The Redis and the namespace a command works on.
struct Target {
  detail::Redis& redis;
  detail::Keys keys;
  std::string ns;
};

// --- info ------------------------------------------------------------------------------------

/// One worker: a heartbeat key, or a consumer of the group holding tasks without one (dead).
struct WorkerRow {
  std::string consumer;  ///< its consumer name in the group, "host:pid:<random>"
  std::string host;
  long long pid = 0;    ///< 0: unknown
  int concurrency = 0;  ///< 0: unknown (a dead worker's)
  long long held = 0;   ///< tasks it holds (pending in the group): running or waiting for a thread
  std::optional<std::uint64_t> done;           ///< tasks it ran (as of its last heartbeat)
  std::optional<long long> last_heartbeat_ms;  ///< how long ago it beat last
  bool alive = true;                           ///< false: its heartbeat expired
};

struct Info {
  std::string ns;
  std::string redis;  ///< host:port
  int db = 0;
  long long queued = 0;   ///< in the stream, not yet delivered to a worker
  long long running = 0;  ///< delivered, not yet answered (pending in the group)
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  std::uint64_t exhausted = 0;
  std::vector<WorkerRow> workers;  ///< by consumer name
};

Info read_info(const Target& target);
void print_info_table(const Info& info, std::ostream& out);
void print_info_json(const Info& info, std::ostream& out);

// --- purge -----------------------------------------------------------------------------------

struct PurgeResult {
  std::uint64_t removed = 0;                         ///< queued tasks removed
  std::map<std::string, std::uint64_t> by_function;  ///< removed tasks by function name
  std::uint64_t answered = 0;                        ///< of those, answered to their client
  std::uint64_t clients = 0;                         ///< the clients answered
  std::vector<std::string> deleted_keys;             ///< with --all
};

/// The keys that start with `prefix` (SCAN MATCH), sorted, each once.
std::vector<std::string> keys_with_prefix(const Target& target, std::string_view prefix);
/// Removes the tasks no worker took yet, atomically per batch (a Lua script: a task is either
/// removed or delivered, never both). With `answer`, each removed task's client gets a
/// RuntimeError for it, so its future fails instead of waiting forever.
PurgeResult purge_queued(const Target& target, bool answer);
/// Deletes every key of the namespace (after purge_queued); adds them to `result`.
void delete_namespace(const Target& target, PurgeResult& result);
void print_purge_text(const PurgeResult& result, const std::string& ns, bool all,
                      std::ostream& out);
void print_purge_json(const PurgeResult& result, const std::string& ns, bool all,
                      std::ostream& out);

// --- output ----------------------------------------------------------------------------------

/// `text` as a JSON string literal (quotes included).
std::string json_string(std::string_view text);
/// Rows as a table: columns padded to their widest cell, two spaces apart.
void print_table(const std::vector<std::vector<std::string>>& rows, std::ostream& out);
/// SCAN's MATCH pattern for keys starting with `prefix` (glob characters escaped).
std::string glob_prefix(std::string_view prefix);

}  // namespace concur_cluster
