// src/distributed/protocol.hpp: what clients and workers write to Redis, and where.
// Internal; the design is docs/design/0007-distributed.md.
//
//   {ns}:tasks            a stream; consumer group "workers". Entry fields:
//                           client  the submitting client's id (its results key's suffix)
//                           task    the task's number at that client (decimal)
//                           call    the registry request (BoundCall::encode: the function's
//                                   registered name, then its codec-encoded arguments)
//                           max     runs at most, counting those whose worker died (decimal)
//   {ns}:results:<client> a list of ResultMessage (below), one per answered task, pushed
//                         by workers with an expiry refreshed on each push (a client that
//                         died leaves nothing behind for long); the client pops them.
//   {ns}:worker:<consumer> a worker's heartbeat, "host:pid concurrency=N ttl=T done=D"
//                         (Heartbeat below), refreshed while it serves, with an expiry: a
//                         consumer of the group whose heartbeat expired is dead, and its
//                         pending tasks are claimed by the others.
//   {ns}:stats            a hash of counters workers add to (HINCRBY) as they answer:
//                           done       tasks answered
//                           failed     of those, answered with an exception
//                           exhausted  of those, given up after max_attempts runs on workers
//                                      that died
//                         Read by concur-cluster info; no expiry (purge --all deletes it).
//
// Every key holds the hash tag {ns}, so all of one namespace lives in one Redis Cluster
// slot (one shard), and commands may touch several keys at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "concur/multiprocessing/codec.hpp"
#include "distributed/redis.hpp"

namespace concur::distributed::detail {

/// The consumer group every worker of a namespace reads in.
inline constexpr std::string_view kGroup = "workers";

/// The keys of one namespace.
struct Keys {
  explicit Keys(std::string_view ns);
  std::string tasks;  ///< "{ns}:tasks"
  std::string stats;  ///< "{ns}:stats"
  /// "{ns}:results:<client>".
  [[nodiscard]] std::string results(std::string_view client) const;
  /// "{ns}:worker:<consumer>".
  [[nodiscard]] std::string worker(std::string_view consumer) const;
  /// "{ns}:", which every key of the namespace starts with.
  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }

 private:
  std::string prefix_;  // "{ns}:"
};

/// A task as a stream entry's fields (what a client XADDs and a worker reads back).
struct TaskEntry {
  std::string id;      ///< the stream entry id (set when read; "*" when added)
  std::string client;  ///< empty in a malformed entry
  std::optional<std::uint64_t> task;
  std::string call;      ///< the request bytes
  int max_attempts = 0;  ///< runs at most (0: not given)
  /// Runs so far, each by a worker that died (the delivery count when claimed; 0 when read).
  int runs = 0;
  /// Set when the task was claimed from dead workers max_attempts times: why it is not run
  /// again (its answer is then a RuntimeError saying so).
  std::string exhausted;

  /// Reads an entry of an XREADGROUP/XRANGE reply ([id, [field, value, ...]]). Unknown
  /// fields are ignored; missing or malformed ones are left empty, for the caller to answer
  /// or drop. Never throws but std::bad_alloc.
  static TaskEntry from_reply(const Reply& entry);
};

/// One answer on a client's results list: which task, which worker ran it, and the reply
/// bytes registry.hpp's invoke made (a value or an exception).
struct ResultMessage {
  std::uint64_t task = 0;
  std::string worker;  ///< "host:pid"
  multiprocessing::Buffer reply;

  /// The bytes pushed on the list (the codec's header and fingerprint, then the fields).
  [[nodiscard]] multiprocessing::Buffer encode() const;
  /// Throws ValueError for bytes that are not an encoded ResultMessage.
  static ResultMessage decode(std::string_view bytes);
};

/// A worker's heartbeat value: "host:pid concurrency=N ttl=T done=D". Fields a reader does
/// not know are ignored; an older worker's "host:pid concurrency=N" parses with ttl 0 and
/// no done.
struct Heartbeat {
  std::string worker;  ///< "host:pid"
  int concurrency = 0;
  std::chrono::milliseconds ttl{0};   ///< the key's expiry when set (0: not given)
  std::optional<std::uint64_t> done;  ///< tasks run by this serve() so far

  [[nodiscard]] std::string encode() const;
  /// Never throws but std::bad_alloc; what cannot be read stays at its default.
  static Heartbeat parse(std::string_view value);
};

/// What a worker adds to {ns}:stats for the tasks it answered in one round trip.
struct TaskCounts {
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  std::uint64_t exhausted = 0;

  /// Counts one answer: `reply` is invoke()'s reply; `exhausted`, whether the task was given
  /// up after max_attempts runs.
  void add(const multiprocessing::Buffer& reply, bool exhausted_task) noexcept;
  /// Appends one HINCRBY per counter that is not zero; returns how many (replies to read,
  /// and to ignore when they are errors: the counters are advisory).
  std::size_t append(Redis& redis, const Keys& keys) const;
};

/// The registered name of the function a task's call bytes name (BoundCall::encode's
/// header); empty when the bytes are not a request.
std::string_view call_function_name(std::string_view call) noexcept;

/// An invoke() reply carrying `error`: the answer to a task that is not run.
multiprocessing::Buffer error_reply(const std::exception_ptr& error);

/// Creates the consumer group of `keys.tasks` (and the stream) unless it exists. The group
/// starts at the stream's beginning, so tasks added before any worker came are run.
void ensure_group(Redis& redis, const Keys& keys);

/// A byte buffer viewed as a Redis argument.
inline std::string_view as_chars(const multiprocessing::Buffer& b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// "host:pid" of this process.
std::string this_worker_name();

}  // namespace concur::distributed::detail
