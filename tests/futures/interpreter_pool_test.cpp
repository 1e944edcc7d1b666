// InterpreterPoolExecutor's own guarantees: each worker's state is private (a task sees only
// the Ctx of the worker running it), arguments and results are copies, Shared values are not,
// the Ctx lives and dies in its worker, a library that is not thread-safe is safe behind it, and
// the pool used through an Executor& sends calls as registry requests.
#include <gtest/gtest.h>

#include <atomic>
#include <concur/futures.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace cf = concur::futures;
using cf::Future;

namespace {

std::uint64_t this_thread_key() {
  return static_cast<std::uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
}

// A stand-in for a library that is not thread-safe: a handle that must never be entered by two
// threads at once, nor by any thread but the one that opened it (as many C libraries require).
class LegacyParser {
 public:
  LegacyParser() : owner_(std::this_thread::get_id()) {}
  int parse(const std::string& text) {
    if (std::this_thread::get_id() != owner_) throw std::logic_error("used from another thread");
    if (in_use_.exchange(true)) throw std::logic_error("entered twice at once");
    int digits = 0;
    for (char c : text) {
      scratch_.push_back(c);  // unsynchronised internal state
      if (c >= '0' && c <= '9') ++digits;
    }
    scratch_.clear();
    ++calls_;
    in_use_.store(false);
    return digits;
  }
  [[nodiscard]] int calls() const { return calls_; }

 private:
  std::thread::id owner_;
  std::atomic<bool> in_use_{false};
  std::string scratch_;
  int calls_ = 0;
};

struct ParserCtx {
  LegacyParser parser;  // neither copyable nor movable: built in place in its worker
};

}  // namespace

TEST(InterpreterPoolExecutor, EachWorkerHasItsOwnContext) {
  struct Ctx {
    int id = 0;
  };
  std::atomic<int> next_id{0};
  cf::InterpreterPoolExecutor<Ctx> pool(
      {.max_workers = 4, .initializer = [&next_id] { return Ctx{next_id++}; }});
  std::vector<Future<std::tuple<int, std::uint64_t, std::uint64_t>>> fs;
  for (int i = 0; i < 400; ++i)
    fs.push_back(pool.submit([](Ctx& c) {
      std::this_thread::yield();
      return std::tuple<int, std::uint64_t, std::uint64_t>(
          c.id, reinterpret_cast<std::uintptr_t>(&c), this_thread_key());
    }));
  std::map<std::uint64_t, std::set<int>> ids_by_thread;
  std::map<int, std::set<std::uint64_t>> threads_by_id;
  std::set<std::uint64_t> addresses;
  for (auto& f : fs) {
    const auto& [id, address, thread] = f.result(10s);
    ids_by_thread[thread].insert(id);
    threads_by_id[id].insert(thread);
    addresses.insert(address);
  }
  // One Ctx per worker, seen by that worker only.
  for (const auto& [thread, ids] : ids_by_thread) EXPECT_EQ(ids.size(), 1U);
  for (const auto& [id, threads] : threads_by_id) EXPECT_EQ(threads.size(), 1U);
  EXPECT_EQ(addresses.size(), ids_by_thread.size());
  pool.shutdown();
  EXPECT_EQ(next_id.load(), pool.stats().threads);
}

TEST(InterpreterPoolExecutor, ArgumentsAndResultsAreCopies) {
  struct Ctx {
    std::string name = "worker state";
  };
  cf::InterpreterPoolExecutor<Ctx> pool({.max_workers = 2});
  std::vector<int> xs(1000, 7);
  const auto caller_data = reinterpret_cast<std::uintptr_t>(xs.data());
  auto arg_data = pool.submit(
      [](std::vector<int> v) { return reinterpret_cast<std::uintptr_t>(v.data()); }, xs);
  EXPECT_NE(arg_data.result(10s), caller_data);
  // The result is a copy made after the call: not the worker's own string.
  auto r = pool.submit([](Ctx& c) {
    return std::pair<std::string, std::uint64_t>(c.name,
                                                 reinterpret_cast<std::uintptr_t>(c.name.data()));
  });
  const auto& [name, worker_data] = r.result(10s);
  EXPECT_EQ(name, "worker state");
  EXPECT_NE(reinterpret_cast<std::uintptr_t>(name.data()), worker_data);
}

TEST(InterpreterPoolExecutor, SharedValueIsNotCopied) {
  cf::InterpreterPoolExecutor<> pool({.max_workers = 3});
  auto table = cf::shared(std::vector<double>(100'000, 1.5));
  const auto original = reinterpret_cast<std::uintptr_t>(table->data());
  std::vector<Future<std::pair<std::uint64_t, double>>> fs;
  for (int i = 0; i < 30; ++i)
    fs.push_back(pool.submit(
        [](cf::Shared<std::vector<double>> t, int k) {
          return std::pair<std::uint64_t, double>(reinterpret_cast<std::uintptr_t>(t->data()),
                                                  (*t)[static_cast<std::size_t>(k)]);
        },
        table, i));
  for (auto& f : fs) {
    EXPECT_EQ(f.result(10s).first, original);
    EXPECT_EQ(f.result(10s).second, 1.5);
  }
}

TEST(InterpreterPoolExecutor, ContextIsDestroyedInItsWorkerAtShutdown) {
  struct Log {
    std::mutex mu;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> built_destroyed;  // thread keys
  };
  static Log log;
  struct Ctx {
    std::uint64_t built_on = this_thread_key();
    Ctx() = default;
    Ctx(const Ctx&) = delete;
    Ctx& operator=(const Ctx&) = delete;
    ~Ctx() {
      std::lock_guard lock(log.mu);
      log.built_destroyed.emplace_back(built_on, this_thread_key());
    }
  };
  {
    std::lock_guard lock(log.mu);
    log.built_destroyed.clear();
  }
  int threads = 0;
  {
    cf::InterpreterPoolExecutor<Ctx> pool({.max_workers = 2});
    std::vector<Future<int>> fs;
    for (int i = 0; i < 20; ++i) fs.push_back(pool.submit([](Ctx&, int x) { return x; }, i));
    for (auto& f : fs) f.result(10s);
    threads = pool.stats().threads;
  }
  std::lock_guard lock(log.mu);
  ASSERT_EQ(static_cast<int>(log.built_destroyed.size()), threads);
  for (const auto& [built, destroyed] : log.built_destroyed) EXPECT_EQ(built, destroyed);
}

// The use case: a library that is not thread-safe, one instance per worker, hammered by many
// tasks at once (under ThreadSanitizer too).
TEST(InterpreterPoolExecutor, NotThreadSafeLibraryOneInstancePerWorker) {
  cf::InterpreterPoolExecutor<ParserCtx> pool({.max_workers = 4});
  std::vector<std::string> docs;
  for (int i = 0; i < 500; ++i) docs.push_back("doc " + std::to_string(i * 7919));
  long total = 0;
  for (int digits : pool.map(
           {.timeout = 30s, .chunksize = 7},
           [](ParserCtx&c, std::string d) { return c.parser.parse(d); }, docs))
    total += digits;
  long want = 0;
  for (const auto& d : docs)
    for (char c : d) want += (c >= '0' && c <= '9') ? 1 : 0;
  EXPECT_EQ(total, want);
  // Every worker used its own parser only.
  std::vector<Future<int>> calls;
  for (int i = 0; i < 8; ++i)
    calls.push_back(pool.submit([](ParserCtx& c) { return c.parser.calls(); }));
  for (auto& f : calls) EXPECT_GE(f.result(10s), 0);
}

TEST(InterpreterPoolExecutor, ThroughAnExecutorReferenceCallsCrossAsRequests) {
  cf::InterpreterPoolExecutor<> pool({.max_workers = 2});
  cf::Executor& ex = pool;
  auto f = ex.submit([](int a, int b) { return a * b; }, 6, 7);
  EXPECT_EQ(f.result(10s), 42);
  auto g = ex.submit([](int a) -> int { throw concur::ValueError("no " + std::to_string(a)); }, 3);
  try {
    g.result(10s);
    ADD_FAILURE() << "no exception";
  } catch (const cf::ExecutionFailed& e) {
    EXPECT_EQ(e.type_name(), "concur::ValueError");
    EXPECT_EQ(e.message(), "no 3");
  }
  // A call that cannot cross is refused at submit.
  std::string s = "state";
  EXPECT_THROW(ex.submit([s] { return s.size(); }), concur::TypeError);
  std::vector<int> xs{1, 2, 3};
  std::vector<int> got;
  for (int r : ex.map(
           {.timeout = 10s}, [](int x) { return x + 1; }, xs))
    got.push_back(r);
  EXPECT_EQ(got, (std::vector<int>{2, 3, 4}));
}

TEST(InterpreterPoolExecutor, MapGivesTheWorkersContext) {
  struct Ctx {
    int base = 100;
  };
  cf::InterpreterPoolExecutor<Ctx> pool({.max_workers = 2});
  std::vector<int> xs{1, 2, 3, 4, 5};
  std::vector<int> got;
  for (int r : pool.map(
           {.timeout = 10s, .buffersize = 2}, [](Ctx&c, int x) { return c.base + x; }, xs))
    got.push_back(r);
  EXPECT_EQ(got, (std::vector<int>{101, 102, 103, 104, 105}));
}
