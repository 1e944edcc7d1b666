// What concur-cluster reads of the protocol (src/distributed/protocol.hpp): heartbeat
// values, the counters a worker adds, a task's function name.
#include "distributed/protocol.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/registry.hpp"

namespace {

namespace detail = concur::distributed::detail;
namespace mp = concur::multiprocessing;
using namespace std::chrono_literals;

TEST(Heartbeat, EncodesAndParses) {
  const detail::Heartbeat beat{"node1:4242", 4, 10000ms, 17};
  EXPECT_EQ(beat.encode(), "node1:4242 concurrency=4 ttl=10000 done=17");
  const detail::Heartbeat back = detail::Heartbeat::parse(beat.encode());
  EXPECT_EQ(back.worker, "node1:4242");
  EXPECT_EQ(back.concurrency, 4);
  EXPECT_EQ(back.ttl, 10000ms);
  EXPECT_EQ(back.done, 17U);
}

// An older worker's value has no ttl and no done; words a reader does not know, and values
// it cannot read, are left out, never an error.
TEST(Heartbeat, ParsesOlderAndUnknownValues) {
  const detail::Heartbeat old = detail::Heartbeat::parse("h:1 concurrency=2");
  EXPECT_EQ(old.worker, "h:1");
  EXPECT_EQ(old.concurrency, 2);
  EXPECT_EQ(old.ttl, 0ms);
  EXPECT_FALSE(old.done.has_value());
  const detail::Heartbeat odd =
      detail::Heartbeat::parse("h:1  future=x concurrency=-3 ttl=abc done=5x bare");
  EXPECT_EQ(odd.worker, "h:1");
  EXPECT_EQ(odd.concurrency, 0);
  EXPECT_EQ(odd.ttl, 0ms);
  EXPECT_FALSE(odd.done.has_value());
  EXPECT_TRUE(detail::Heartbeat::parse("").worker.empty());
}

int protocol_square(int n) { return n * n; }

TEST(TaskCounts, CountsValuesAndExceptions) {
  detail::TaskCounts counts;
  counts.add(mp::invoke(mp::encode_call<&protocol_square>(3)), false);
  counts.add(detail::error_reply(std::make_exception_ptr(concur::ValueError("no"))), false);
  counts.add(detail::error_reply(std::make_exception_ptr(concur::RuntimeError("died"))), true);
  counts.add({}, false);  // not a reply: counted as failed
  EXPECT_EQ(counts.done, 4U);
  EXPECT_EQ(counts.failed, 3U);
  EXPECT_EQ(counts.exhausted, 1U);
}

TEST(CallFunctionName, ReadsTheRequestHeader) {
  const mp::Buffer call = mp::encode_call_by_name("my::task", 1, std::string("x"));
  EXPECT_EQ(detail::call_function_name(detail::as_chars(call)), "my::task");
  EXPECT_EQ(detail::call_function_name(detail::as_chars(call).substr(0, 12)), "");  // truncated
  EXPECT_EQ(detail::call_function_name("not a request at all"), "");
  EXPECT_EQ(detail::call_function_name(""), "");
}

}  // namespace
