// Conformance: multiprocessing.Manager() / SyncManager and its proxies (CPython's
// _test_multiprocessing._TestContainers and TestSyncManagerTypes; the multiprocessing docs'
// "Proxy Objects" section).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/managers.hpp"
#include "support/mp_process_util.hpp"

namespace mp = concur::mp;
namespace mm = concur::mp::managers;
using namespace std::chrono_literals;

namespace mp_sync_manager_conf {

// Children of TestSyncManagerTypes: each changes the object, the parent checks.
void child_event(mm::EventProxy e) {
  if (!e.is_set()) mp::exit(1);
  e.clear();
}
CONCUR_REGISTER(child_event);
void child_lock(mm::LockProxy l) { l.acquire(); }
CONCUR_REGISTER(child_lock);
void child_semaphore(mm::SemaphoreProxy s) { s.acquire(); }
CONCUR_REGISTER(child_semaphore);
void child_barrier(mm::BarrierProxy b) { b.wait(10s); }
CONCUR_REGISTER(child_barrier);
void child_queue(mm::QueueProxy<int> q) {
  if (q.qsize() != 2) mp::exit(1);
  (void)q.get();
  (void)q.get();
  if (!q.empty()) mp::exit(2);
}
CONCUR_REGISTER(child_queue);
void child_joinable(mm::JoinableQueueProxy<int> q) {
  (void)q.get();
  q.task_done();
}
CONCUR_REGISTER(child_joinable);
void child_list(mm::ListProxy<int> l) {
  if (l.pop() != 5) mp::exit(1);
}
CONCUR_REGISTER(child_list);
void child_dict(mm::DictProxy<std::string, int> d) {
  if (d.pop("x") != 5) mp::exit(1);
}
CONCUR_REGISTER(child_dict);
void child_value(mm::ValueProxy<int> v) { v.set(2); }
CONCUR_REGISTER(child_value);
void child_array(mm::ArrayProxy<int> a) { a.setitem(0, 42); }
CONCUR_REGISTER(child_array);

class SyncManagerTypes : public ::testing::TestWithParam<std::string> {
 protected:
  template <class... A>
  void run_child(A&&... args) {
    auto p = mp::get_context(GetParam()).Process(std::forward<A>(args)...);
    p.start();
    ASSERT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  mm::SyncManager manager_ = mp::Manager();
};
INSTANTIATE_TEST_SUITE_P(Methods, SyncManagerTypes,
                         ::testing::Values("fork", "spawn", "forkserver"),
                         concur::testing::proc::method_name);

// TestSyncManagerTypes.test_event: the child clears the event.
TEST_P(SyncManagerTypes, Event) {
  auto e = manager_.Event();
  e.set();
  run_child(mp::fn<&child_event>, e);
  EXPECT_FALSE(e.is_set());
}

// TestSyncManagerTypes.test_lock: the child acquires, the parent releases; a second
// release raises RuntimeError.
TEST_P(SyncManagerTypes, Lock) {
  auto l = manager_.Lock();
  run_child(mp::fn<&child_lock>, l);
  EXPECT_TRUE(l.locked());
  l.release();
  EXPECT_THROW(l.release(), concur::RuntimeError);
}

// TestSyncManagerTypes.test_semaphore: the child's acquire is seen by the parent.
TEST_P(SyncManagerTypes, Semaphore) {
  auto s = manager_.Semaphore(1);
  run_child(mp::fn<&child_semaphore>, s);
  EXPECT_EQ(s.get_value(), 0);
  s.release();
}

// TestSyncManagerTypes.test_barrier: parent and child pass a barrier of two.
TEST_P(SyncManagerTypes, Barrier) {
  auto b = manager_.Barrier(2);
  auto p = mp::get_context(GetParam()).Process(mp::fn<&child_barrier>, b);
  p.start();
  b.wait(10s);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

// TestSyncManagerTypes.test_queue: qsize 2 in the child, drained there.
TEST_P(SyncManagerTypes, Queue) {
  auto q = manager_.Queue<int>(2);
  q.put(1);
  q.put(2);
  EXPECT_THROW(q.put_nowait(3), concur::queue::Full);
  run_child(mp::fn<&child_queue>, q);
  EXPECT_TRUE(q.empty());
  EXPECT_THROW((void)q.get_nowait(), concur::queue::Empty);
}

// TestSyncManagerTypes.test_joinable_queue: task_done in the child; join returns here.
TEST_P(SyncManagerTypes, JoinableQueue) {
  auto q = manager_.JoinableQueue<int>();
  q.put(1);
  run_child(mp::fn<&child_joinable>, q);
  EXPECT_TRUE(q.join(5s));
  EXPECT_THROW(q.task_done(), concur::ValueError);
}

// TestSyncManagerTypes.test_list / test_dict / test_value / test_array.
TEST_P(SyncManagerTypes, ListDictValueArray) {
  auto l = manager_.list<int>({5});
  run_child(mp::fn<&child_list>, l);
  EXPECT_EQ(l.len(), 0);
  auto d = manager_.dict<std::string, int>({{"x", 5}});
  run_child(mp::fn<&child_dict>, d);
  EXPECT_EQ(d.len(), 0);
  auto v = manager_.Value<int>(1);
  run_child(mp::fn<&child_value>, v);
  EXPECT_EQ(v.get(), 2);
  auto a = manager_.Array<int>({0, 1});
  run_child(mp::fn<&child_array>, a);
  EXPECT_EQ(a.tolist(), (std::vector<int>{42, 1}));
}

// _TestContainers.test_list: extend, slicing, index errors.
TEST(SyncManagerContainers, List) {
  auto manager = mp::Manager();
  auto a = manager.list<int>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(a.getslice(2, 5), (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(a.getslice(-3, 100), (std::vector<int>{7, 8, 9}));
  a.extend({10, 11});
  EXPECT_EQ(a.len(), 12);
  EXPECT_EQ(a[-1], 11);
  a.setitem(0, 100);
  EXPECT_EQ(a[0], 100);
  EXPECT_EQ(a.index(5), 5);
  EXPECT_EQ(a.count(5), 1);
  a.remove(5);
  EXPECT_THROW(a.remove(5), concur::ValueError);
  EXPECT_THROW((void)a[100], std::out_of_range);
  a.reverse();
  EXPECT_EQ(a[0], 11);
}

// _TestContainers.test_list_proxy_in_list: a change through an inner proxy is seen
// through the outer one.
TEST(SyncManagerContainers, ListProxyInList) {
  auto manager = mp::Manager();
  auto inner = manager.list<int>({1, 2});
  auto outer = manager.list<mm::ListProxy<int>>({inner});
  outer[0].append(3);
  EXPECT_EQ(inner.tolist(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(outer[0].token(), inner.token());
}

// _TestContainers.test_dict and test_dict_proxy_nested: nested dict proxies; clearing the
// outer dict leaves an inner proxy held elsewhere intact.
TEST(SyncManagerContainers, DictAndNestedDicts) {
  auto manager = mp::Manager();
  auto d = manager.dict<int, std::string>();
  for (int i = 0; i < 5; ++i) d[i] = std::string(1, static_cast<char>('a' + i));
  EXPECT_EQ(d.keys(), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(std::string(d[2]), "c");
  EXPECT_EQ(d.get(9, "none"), "none");
  EXPECT_THROW((void)d.getitem(9), std::out_of_range);
  EXPECT_TRUE(d.contains(4));
  EXPECT_EQ(d.pop(4), "e");
  EXPECT_EQ(d.len(), 4);

  auto pets = manager.dict<std::string, int>({{"ferrets", 2}, {"hamsters", 4}});
  auto supplies = manager.dict<std::string, int>({{"water", 10}, {"feed", 3}});
  auto pets_supplies = manager.dict<std::string, mm::DictProxy<std::string, int>>();
  pets_supplies["pets"] = pets;
  pets_supplies["supplies"] = supplies;
  pets_supplies.getitem("pets")["ferrets"] = 3;
  EXPECT_EQ(int(pets["ferrets"]), 3);
  supplies["water"] = 7;
  EXPECT_EQ(int(pets_supplies.getitem("supplies")["water"]), 7);
  pets_supplies.clear();
  EXPECT_EQ(pets_supplies.len(), 0);
  EXPECT_EQ(int(supplies["water"]), 7);
}

// _TestContainers.test_nested_queue: a queue proxy inside a dict proxy.
TEST(SyncManagerContainers, NestedQueue) {
  auto manager = mp::Manager();
  auto d = manager.dict<std::string, mm::QueueProxy<int>>();
  d["q"] = manager.Queue<int>();
  d.getitem("q").put(5);
  EXPECT_EQ(d.getitem("q").get(5s), 5);
}

// "Proxy Objects": a plain value read from a dict proxy is a copy; storing it back is
// what changes the dict.
TEST(SyncManagerContainers, ValuesAreCopiedInAndOut) {
  auto manager = mp::Manager();
  auto d = manager.dict<std::string, std::vector<int>>();
  d["a"] = std::vector<int>{};
  std::vector<int> a = d["a"];
  a.push_back(1);
  EXPECT_TRUE(d.getitem("a").empty());
  d["a"] = a;
  EXPECT_EQ(d.getitem("a"), (std::vector<int>{1}));
}

// _TestContainers.test_namespace: attributes set, read and deleted; names listed.
TEST(SyncManagerContainers, Namespace) {
  auto manager = mp::Manager();
  auto n = manager.Namespace();
  n.set("name", std::string("Bob"));
  n.set("job", 7);
  EXPECT_EQ(n.get<std::string>("name"), "Bob");
  EXPECT_EQ(n.get<int>("job"), 7);
  EXPECT_THROW((void)n.get<int>("name"), concur::ValueError);  // holds a string
  n.del("job");
  EXPECT_FALSE(n.has("job"));
  EXPECT_THROW((void)n.get<int>("job"), concur::ValueError);
  EXPECT_EQ(n.names(), (std::vector<std::string>{"name"}));
}

// threading.RLock semantics through the server: the owner is the calling thread.
TEST(SyncManagerContainers, RLockAndCondition) {
  auto manager = mp::Manager();
  auto r = manager.RLock();
  EXPECT_TRUE(r.acquire());
  EXPECT_TRUE(r.acquire());
  std::thread other([&] { EXPECT_THROW(r.release(), concur::RuntimeError); });
  other.join();
  r.release();
  r.release();
  auto c = manager.Condition();
  c.acquire();
  EXPECT_FALSE(c.wait(50ms));  // nobody notifies: times out, holding the lock again
  c.release();
  auto b = manager.BoundedSemaphore(1);
  EXPECT_THROW(b.release(), concur::ValueError);
}

}  // namespace mp_sync_manager_conf
