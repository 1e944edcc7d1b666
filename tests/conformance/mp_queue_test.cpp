// Conformance: multiprocessing.Queue, JoinableQueue and SimpleQueue (CPython's
// _test_multiprocessing._TestQueue and TestSimpleQueue), with children started by mp::Process under
// the default start method (forkserver: the queues cross as handles) and, where said, under fork.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "support/timing.hpp"

namespace mp = concur::multiprocessing;
using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace concur::testing;  // timing: kT, expect_takes_about, expect_immediate

namespace {

constexpr auto kImmediate = milliseconds(60);  // 20 ms lock grace at most, plus slack

void consume_n(mp::Queue<int> q, int n) {
  for (int i = 0; i < n; ++i) (void)q.get(seconds(30));
}
CONCUR_REGISTER(consume_n);

}  // namespace

// CPython _test_multiprocessing._TestQueue.test_put: Queue(maxsize=6) starts empty and not full;
// six puts in every call form fill it; non-blocking puts raise Full at once (the timeout is ignored
// when not blocking); a blocking put with timeout T raises Full after about T; a consumer drains
// it.
TEST(Queue, PutOnFullQueue) {
  mp::Queue<int> q(6);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  q.put(1);
  q.put(2, true);
  q.put(3, true, concur::forever);
  q.put(4, false);
  q.put(5, false, seconds(1));
  q.put_nowait(6);
  EXPECT_TRUE(q.full());  // no flush delay: put is synchronous
  EXPECT_EQ(q.qsize(), 6u);
  expect_immediate(kImmediate, [&] { EXPECT_THROW(q.put(7, false), concur::queue::Full); });
  expect_immediate(kImmediate,
                   [&] { EXPECT_THROW(q.put(7, false, concur::forever), concur::queue::Full); });
  expect_immediate(kImmediate, [&] { EXPECT_THROW(q.put_nowait(7), concur::queue::Full); });
  expect_immediate(kImmediate, [&] { EXPECT_THROW(q.put(7, false, kT), concur::queue::Full); });
  expect_takes_about(kT, [&] { EXPECT_THROW(q.put(7, true, kT), concur::queue::Full); });
  expect_takes_about(kT, [&] { EXPECT_THROW(q.put(7, kT), concur::queue::Full); });
  mp::Process consumer(&consume_n, q, 6);
  consumer.start();
  EXPECT_TRUE(consumer.join(seconds(30)));
  EXPECT_EQ(consumer.exitcode(), 0);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
}

// CPython _test_multiprocessing._TestQueue.test_get, test_timeout: an empty Queue raises Empty at
// once for non-blocking gets and after about T for timed ones; with items (put by a child) every
// get form returns them in FIFO order.
TEST(Queue, GetOnEmptyQueueAndFifo) {
  mp::Queue<int> q;
  expect_immediate(kImmediate, [&] { EXPECT_THROW(q.get(false), concur::queue::Empty); });
  expect_immediate(kImmediate, [&] { EXPECT_THROW(q.get_nowait(), concur::queue::Empty); });
  expect_immediate(kImmediate, [&] { EXPECT_THROW(q.get(false, kT), concur::queue::Empty); });
  expect_takes_about(kT, [&] { EXPECT_THROW(q.get(true, kT), concur::queue::Empty); });
  expect_takes_about(kT, [&] { EXPECT_THROW(q.get(kT), concur::queue::Empty); });
  mp::Process producer(
      [](mp::Queue<int> qq) {
        for (int i = 1; i <= 4; ++i) qq.put(i);
      },
      q);
  producer.start();
  EXPECT_TRUE(producer.join(seconds(30)));
  EXPECT_EQ(q.get(true, concur::forever), 1);
  EXPECT_EQ(q.get(true), 2);
  EXPECT_EQ(q.get(seconds(1)), 3);
  EXPECT_EQ(q.get_nowait(), 4);
}

// CPython _test_multiprocessing._TestQueue.test_fork: 10 items put by the parent, then 10 by a
// child: the parent receives all 20 in order, and the queue is then empty (under the default method
// and under fork).
TEST(Queue, ParentAndChildItemsInOrder) {
  for (const char* method : {"forkserver", "spawn", "fork"}) {
    mp::Queue<int> q;
    for (int i = 0; i < 10; ++i) q.put(i);
    auto child = mp::get_context(method).Process(
        [](mp::Queue<int> qq) {
          for (int i = 10; i < 20; ++i) qq.put(i);
        },
        q);
    child.start();
    EXPECT_TRUE(child.join(seconds(30))) << method;
    for (int i = 0; i < 20; ++i) EXPECT_EQ(q.get(seconds(5)), i) << method;
    EXPECT_TRUE(q.empty());
    EXPECT_THROW(q.get(false), concur::queue::Empty);
  }
}

// CPython _test_multiprocessing._TestQueue.test_qsize: qsize() tracks puts and gets, 0→1→2→1→0
// (exact here).
TEST(Queue, Qsize) {
  mp::Queue<std::string> q;
  EXPECT_EQ(q.qsize(), 0u);
  q.put("a");
  EXPECT_EQ(q.qsize(), 1u);
  q.put("b");
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(q.get(), "b");
  EXPECT_EQ(q.qsize(), 0u);
}

// CPython _test_multiprocessing._TestQueue.test_task_done: a JoinableQueue served by 4 worker
// processes calling task_done() per item: join() returns only once all 10 are done; one task_done()
// too many raises ValueError.
TEST(Queue, JoinableQueueTaskDoneAndJoin) {
  mp::JoinableQueue<int> q;
  mp::Queue<int> done;
  std::vector<mp::Process> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back(
        [](mp::JoinableQueue<int> jq, mp::Queue<int> out) {
          for (;;) {
            const int x = jq.get(seconds(30));
            if (x < 0) {
              jq.task_done();
              return;
            }
            out.put(x);
            jq.task_done();
          }
        },
        q, done);
    workers.back().start();
  }
  for (int i = 0; i < 10; ++i) q.put(i);
  EXPECT_TRUE(q.join(seconds(30)));
  EXPECT_EQ(done.qsize(), 10u);  // join returned after every item was marked done
  for (int w = 0; w < 4; ++w) q.put(-1);
  q.join();
  for (auto& p : workers) EXPECT_TRUE(p.join(seconds(30)));
  EXPECT_THROW(q.task_done(), concur::ValueError);
}

// CPython _test_multiprocessing._TestQueue.test_queue_feeder_donot_stop_onexc,
// test_queue_feeder_on_queue_feeder_error: Python's feeder thread reports an unpicklable object
// asynchronously. Here put is synchronous: a value that cannot cross at all is a compile error (a
// static_assert of the codec; shown by the concept), and one whose encoding fails at run time (a
// handle outside inheritance) throws from put itself; the queue keeps working and its size
// accounting stays right (maxsize=1: the next item fills it, then it is empty again).
TEST(Queue, AnItemThatFailsToEncodeLeavesTheQueueWorking) {
  static_assert(!mp::Picklable<int*>);  // mp::Queue<int*> does not compile
  static_assert(!mp::Picklable<std::string_view>);
  mp::Queue<std::vector<mp::Queue<int>>> q(1);
  mp::Queue<int> inner;
  EXPECT_THROW(q.put({inner}), concur::RuntimeError);
  EXPECT_EQ(q.qsize(), 0u);
  q.put({});
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_TRUE(q.full());
  EXPECT_TRUE(q.get(seconds(1)).empty());
  EXPECT_TRUE(q.empty());
}

// CPython _test_multiprocessing._TestQueue.test_closed_queue_empty_exceptions: close() and
// join_thread() of an unused Queue are no-ops and empty() still works; once the queue has been used
// (put), closed and joined, empty() raises OSError.
TEST(Queue, ClosedQueueEmpty) {
  {
    mp::Queue<int> q;
    q.close();
    q.join_thread();
    EXPECT_TRUE(q.empty());
    mp::JoinableQueue<int> j;
    j.close();
    j.join_thread();
    EXPECT_TRUE(j.empty());
  }
  mp::Queue<int> q;
  mp::JoinableQueue<int> j;
  q.put(1);
  j.put(1);
  for (mp::Queue<int>* x : {&q, static_cast<mp::Queue<int>*>(&j)}) {
    x->close();
    x->join_thread();
    try {
      (void)x->empty();
      FAIL() << "expected OSError";
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string(e.what()).find("is closed"), std::string::npos) << e.what();
    }
  }
}

// CPython _test_multiprocessing._TestQueue.test_closed_queue_put_get_exceptions: put and get on a
// closed Queue or JoinableQueue raise ValueError("is closed").
TEST(Queue, ClosedQueuePutGet) {
  mp::Queue<int> q;
  mp::JoinableQueue<int> j;
  q.close();
  j.close();
  for (mp::Queue<int>* x : {&q, static_cast<mp::Queue<int>*>(&j)}) {
    try {
      x->put(1);
      FAIL() << "expected ValueError";
    } catch (const concur::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("is closed"), std::string::npos);
    }
    EXPECT_THROW((void)x->get(), concur::ValueError);
    EXPECT_THROW((void)x->get_nowait(), concur::ValueError);
  }
}

// CPython docs, Queue.close() and Queue.join_thread(); the comment in
// _test_multiprocessing._TestQueue.test_fork: Python's producer waits at exit for its feeder to
// flush; join_thread() is allowed only after close(). Here put is synchronous: what a child put is
// in the queue when put returned, so it is there after the child exited; join_thread() before
// close() is a ValueError (Python: AssertionError), after close() it returns at once.
TEST(Queue, NothingToFlushAtExit) {
  mp::Queue<std::string> q;
  mp::Process producer([](mp::Queue<std::string> qq) { qq.put(std::string(100000, 'x')); }, q);
  producer.start();
  EXPECT_TRUE(producer.join(seconds(30)));
  EXPECT_EQ(producer.exitcode(), 0);
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(q.get(seconds(1)).size(), 100000u);
  EXPECT_THROW(q.join_thread(), concur::ValueError);
  q.close();
  expect_immediate(kImmediate, [&] { q.join_thread(); });
}

// CPython _test_multiprocessing.TestSimpleQueue.test_empty, test_close, test_empty_exceptions:
// SimpleQueue's empty() reflects items put by another process, items come back in order; closing
// twice is fine; after close() empty() raises OSError even unused.
TEST(Queue, SimpleQueue) {
  mp::SimpleQueue<int> q;
  EXPECT_TRUE(q.empty());
  mp::Process producer(
      [](mp::SimpleQueue<int> qq) {
        qq.put(1);
        qq.put(2);
      },
      q);
  producer.start();
  EXPECT_TRUE(producer.join(seconds(30)));
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get(), 2);
  EXPECT_TRUE(q.empty());
  q.close();
  q.close();
  EXPECT_THROW((void)q.empty(), std::system_error);
  mp::SimpleQueue<int> unused;
  unused.close();
  try {
    (void)unused.empty();
    FAIL() << "expected OSError";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("is closed"), std::string::npos);
  }
}
