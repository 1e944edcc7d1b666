// Queue, SimpleQueue, JoinableQueue across raw fork()ed processes: load with several
// producers and consumers, handles, and processes SIGKILLed at the worst moments.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "concur/multiprocessing/queues.hpp"
#include "multiprocessing/fork_child.hpp"
#include "multiprocessing/handle_crossing.hpp"
#include "multiprocessing/handles.hpp"
#include "support/leak_check.hpp"

namespace mp = concur::multiprocessing;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(Queue, ManyProducersAndConsumersGetEveryMessageOnceInProducerOrder) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 2;
  constexpr int kPerProducer = 20000;
  mp::Queue<std::pair<int, int>> q(0,
                                   std::size_t{16} * 1024);  // small: producers often wait for room
  mp::Queue<std::vector<std::int64_t>> results;
  std::vector<std::unique_ptr<concur::testing::ForkChild>> kids;
  for (int c = 0; c < kConsumers; ++c) {
    kids.push_back(std::make_unique<concur::testing::ForkChild>([&] {
      std::vector<std::int64_t> count(kProducers, 0), sum(kProducers, 0);
      std::vector<int> last(kProducers, -1);
      for (;;) {
        const auto [p, i] = q.get(seconds(30));
        if (p < 0) break;
        if (i <= last[static_cast<std::size_t>(p)]) return 1;  // out of order or twice
        last[static_cast<std::size_t>(p)] = i;
        ++count[static_cast<std::size_t>(p)];
        sum[static_cast<std::size_t>(p)] += i;
      }
      count.insert(count.end(), sum.begin(), sum.end());
      results.put(count);
      return 0;
    }));
  }
  std::vector<std::unique_ptr<concur::testing::ForkChild>> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(std::make_unique<concur::testing::ForkChild>([&, p] {
      for (int i = 0; i < kPerProducer; ++i) q.put({p, i}, seconds(30));
      return 0;
    }));
  }
  for (auto& p : producers) EXPECT_TRUE(p->ok());
  for (int c = 0; c < kConsumers; ++c) q.put({-1, -1});
  std::vector<std::int64_t> count(kProducers, 0), sum(kProducers, 0);
  for (int c = 0; c < kConsumers; ++c) {
    const auto r = results.get(seconds(30));
    ASSERT_EQ(r.size(), 2u * kProducers);
    for (int p = 0; p < kProducers; ++p) {
      count[static_cast<std::size_t>(p)] += r[static_cast<std::size_t>(p)];
      sum[static_cast<std::size_t>(p)] +=
          r[static_cast<std::size_t>(kProducers) + static_cast<std::size_t>(p)];
    }
  }
  for (auto& k : kids) EXPECT_TRUE(k->ok());
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_EQ(count[static_cast<std::size_t>(p)], kPerProducer);
    EXPECT_EQ(sum[static_cast<std::size_t>(p)],
              std::int64_t{kPerProducer} * (kPerProducer - 1) / 2);
  }
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(Queue, LargeMessagesThroughABoundedQueue) {
  mp::Queue<std::string> q(8);
  concur::testing::ForkChild consumer([&] {
    for (int i = 0; i < 20; ++i) {
      const std::string s = q.get(seconds(30));
      if (s.size() != (4u << 20) + static_cast<std::size_t>(i)) return 1;
      if (s.front() != static_cast<char>('a' + i) || s.back() != static_cast<char>('a' + i))
        return 2;
    }
    return 0;
  });
  for (int i = 0; i < 20; ++i) {
    q.put(std::string((4u << 20) + static_cast<std::size_t>(i), static_cast<char>('a' + i)));
  }
  EXPECT_TRUE(consumer.ok());
  EXPECT_TRUE(q.empty());
}

TEST(Queue, AProducerKilledWhileBlockedOnAFullQueueChangesNothing) {
  mp::Queue<int> q(1);
  q.put(1);
  concur::testing::ForkChild blocked([&] {
    q.put(2);  // blocks: the queue is full
    return 0;
  });
  // Let it reach its sleep, then kill it (a kill at any moment must be harmless).
  ASSERT_FALSE(concur::testing::eventually([] { return false; }, milliseconds(50)));
  blocked.kill();
  EXPECT_NE(blocked.join(), 0);
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.get(seconds(5)), 1);
  q.put(3, seconds(5));
  EXPECT_EQ(q.get(seconds(5)), 3);
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(Queue, AProducerKilledHoldingTheLockMidMessageLeavesTheQueueUsable) {
  mp::Queue<std::string> q(0, 4096);
  concur::testing::ForkChild doomed([&] {
    q.put(std::string(64u << 20, 'x'));  // streams; blocks holding the write lock
    return 0;
  });
  // The first chunk is visible as soon as it is published; the writer then waits for room
  // while it holds the write lock.
  ASSERT_TRUE(concur::testing::eventually([&] { return !q.empty(); }, milliseconds(20000)));
  doomed.kill();
  EXPECT_NE(doomed.join(), 0);
  EXPECT_EQ(q.qsize(), 0u);    // the cut message was never counted
  q.put("after", seconds(5));  // takes the dead writer's lock, ends its message
  EXPECT_EQ(q.get(seconds(5)), "after");
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_TRUE(q.empty());
}

TEST(Queue, AReaderPlacingAStreamedStringDropsItWhenItsWriterDies) {
  // Strings are copied from the ring straight into the result (RingPlacement): a message cut
  // short by its writer's death must leave no partial string behind.
  mp::Queue<std::string> q(0, 4096);
  concur::testing::ForkChild doomed([&] {
    q.put(std::string(64u << 20, 'x'));
    return 0;
  });
  std::string got;
  std::thread reader([&] { got = q.get(seconds(30)); });
  ASSERT_TRUE(concur::testing::eventually([&] { return !q.empty(); }, milliseconds(20000)));
  (void)concur::testing::eventually([] { return false; }, milliseconds(20));
  doomed.kill();
  EXPECT_NE(doomed.join(), 0);
  q.put("after", seconds(30));
  reader.join();
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(got, "after");
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(Queue, AConsumerKilledMidMessageLeavesTheNextMessageToOthers) {
  mp::Queue<std::string> q(0, 4096);
  mp::Queue<int> started;
  concur::testing::ForkChild doomed([&] {
    started.put(1);
    (void)q.get();
    return 0;
  });
  ASSERT_EQ(started.get(seconds(10)), 1);
  std::thread producer([&] {
    try {
      q.put(std::string(64u << 20, 'x'), seconds(30));
    } catch (const concur::queue::Full&) {
    }
    q.put("next", seconds(30));
  });
  // The child is in get(); the 64 MiB message streams through 4 KiB for a while: kill the
  // child while it reads it (it may, rarely, not have taken the first chunk yet: then this
  // process receives the big message whole, which is right too).
  ASSERT_TRUE(concur::testing::eventually([&] { return !q.empty(); }, milliseconds(20000)));
  (void)concur::testing::eventually([] { return false; }, milliseconds(20));
  doomed.kill();
  EXPECT_NE(doomed.join(), 0);
  std::string first = q.get(seconds(30));
  if (first.size() == (64u << 20)) {
    EXPECT_EQ(first.find_first_not_of('x'), std::string::npos);
    first = q.get(seconds(30));
  }
  EXPECT_EQ(first, "next");  // never a part of the big message
  producer.join();
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(Queue, CopiesAndForkedChildrenShareTheQueue) {
  mp::Queue<int> q;
  mp::Queue<int> copy = q;
  EXPECT_TRUE(copy == q);
  copy.put(5);
  EXPECT_EQ(q.qsize(), 1u);
  concur::testing::ForkChild child([&] {
    q.put(q.get(seconds(5)) + 1);
    return 0;
  });
  EXPECT_TRUE(child.ok());
  EXPECT_EQ(copy.get(seconds(5)), 6);
}

TEST(Queue, CrossesAsAHandleInsideASinkAndSource) {
  mp::JoinableQueue<std::string> q;
  std::vector<int> fds;
  auto other = concur::testing::cross(q, &fds);
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_FALSE(other == q);  // another mapping of the same ring
  other.put("via handle");
  EXPECT_EQ(q.get(seconds(5)), "via handle");
  EXPECT_FALSE(q.join(milliseconds(10)));
  other.task_done();
  EXPECT_TRUE(q.join(milliseconds(10)));
}

TEST(Queue, AQueueCannotBePutOnAQueue) {
  mp::Queue<mp::Queue<int>> qq;
  mp::Queue<int> inner;
  try {
    qq.put(inner);
    FAIL() << "expected RuntimeError";
  } catch (const concur::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("only be shared between processes through inheritance"),
              std::string::npos);
  }
  EXPECT_EQ(qq.qsize(), 0u);
  EXPECT_TRUE(qq.empty());
}

TEST(Queue, LimitsAreValueErrors) {
  EXPECT_THROW(mp::Queue<int>(1L << 24), concur::ValueError);
  EXPECT_THROW(mp::Queue<int>(0, std::size_t{1} << 28), concur::ValueError);
  mp::Queue<int> q(-5);
  EXPECT_FALSE(q.full());
}

TEST(Queue, UnboundedIsBoundedByItsBuffer) {
  mp::Queue<int> q(0, 4096);  // 24 bytes an int: chunk header, type fingerprint, value
  int n = 0;
  try {
    for (;;) {
      q.put_nowait(n);
      ++n;
    }
  } catch (const concur::queue::Full&) {
  }
  EXPECT_EQ(n, 4096 / 24);
  EXPECT_FALSE(q.full());  // full() speaks of maxsize only
  EXPECT_EQ(q.get_nowait(), 0);
  q.put_nowait(n);
}

TEST(SimpleQueue, ThreadsAndProcesses) {
  mp::SimpleQueue<std::vector<int>> q;
  concur::testing::ForkChild child([&] {
    for (int i = 0; i < 100; ++i) q.put(std::vector<int>(static_cast<std::size_t>(i), i));
    return 0;
  });
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(q.get(seconds(10)), std::vector<int>(static_cast<std::size_t>(i), i));
  }
  EXPECT_TRUE(child.ok());
  EXPECT_TRUE(q.empty());
  EXPECT_THROW(q.get(milliseconds(20)), concur::queue::Empty);
}
