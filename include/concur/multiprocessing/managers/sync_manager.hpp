// concur/multiprocessing/managers/sync_manager.hpp: Python's multiprocessing.Manager() and
// SyncManager: a server process holding shared dicts, lists, namespaces, queues, values,
// arrays, locks, semaphores, conditions, events and barriers, with a typed proxy for each.
//
//   auto manager = mp::Manager();                       // started; shut down at scope end
//   auto d = manager.dict<std::string, int>();
//   auto l = manager.list<int>();
//   mp::Process p([](auto d, auto l) { d["x"] = 1; l.append(2); }, d, l);   // (fork)
//   p.start(); p.join();
//   d["x"];  l.tolist();                                 // 1, {2}
//
// Every proxy crosses to other processes (a Process argument under every start method, a
// value in another proxied container: a DictProxy<std::string, ListProxy<int>> holds list
// proxies, and a change through one is seen through every proxy of that list). Values are
// copied in and out, as in Python: changing a value read from a dict changes nothing until
// it is stored back.
//
// Typed: manager.dict<K, V>() serves a SharedDict<K, V> (shared_types.hpp). Each type used
// with a SyncManager is registered at static initialisation in every process of the
// program, so the server (started under any start method) knows it; another program that
// connect()s must use the same types.
//
// Blocking: each proxy method is one round trip to the server and waits as the object's
// method does there (a Lock's acquire, a Queue's get, an Event's wait, a Barrier's wait),
// with Python's timeouts (concur::Timeout). A blocked call occupies its connection's server
// thread only: other client threads go on.
//
// Differences from Python, deliberate: typed proxies; dict and list slices and iteration are
// spelled keys()/items()/tolist()/getslice(); Namespace attributes are typed at use
// (ns.set("x", 1), ns.get<int>("x")); Pool() is not served (use a process pool).
#pragma once

#include <cstdint>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "concur/multiprocessing/managers/base_manager.hpp"
#include "concur/multiprocessing/managers/proxy.hpp"
#include "concur/multiprocessing/managers/queue.hpp"
#include "concur/multiprocessing/managers/shared_types.hpp"

namespace concur::multiprocessing::managers {

namespace detail {

using BuiltinAdder = void (*)(Registry&);
/// Adds a built-in type to every SyncManager's registry (once per adder). Returns true.
bool add_builtin(BuiltinAdder adder) noexcept;
/// The SyncManager's setup: every built-in type registered so far.
void sync_setup(Registry& r);

/// The typeid of built-in server type S: the same in every process of one build.
template <class S>
std::string builtin_typeid() {
  return std::string("sync:") + typeid(S).name();
}

/// Registers S (with factory F taking Args) at static initialisation when odr-used.
template <class S, class... Args>
struct Builtin {
  static void add(Registry& r) {
    r.register_<S>(builtin_typeid<S>(),
                   [](Args... args) { return std::make_shared<S>(std::move(args)...); },
                   S::methods(), {.concurrent = kConcurrent});
  }
  static constexpr bool kConcurrent = [] {
    if constexpr (requires { S::kConcurrent; }) {
      return S::kConcurrent;
    } else {
      return false;
    }
  }();
  static inline const bool registered = add_builtin(&Builtin::add);
};

inline std::int64_t millis(const Timeout& t) {
  if (t.is_forever()) return -1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.duration()).count();
}

}  // namespace detail

/// Python's DictProxy. d[k] = v, d[k] (KeyError: std::out_of_range), get, setdefault,
/// contains, erase/pop, len/size, keys, values, items, update, clear.
template <class K, class V>
class DictProxy : public Proxy<SharedDict<K, V>> {
  using S = SharedDict<K, V>;

 public:
  using Proxy<S>::Proxy;

  /// d[k]: reads (conversion to V) or writes (assignment) one item, one round trip each.
  class Item {
   public:
    Item(const DictProxy& d, K k) : d_(d), k_(std::move(k)) {}
    Item& operator=(V v) {
      d_.setitem(k_, std::move(v));
      return *this;
    }
    operator V() const { return d_.getitem(k_); }  // NOLINT(google-explicit-constructor)
    [[nodiscard]] V get() const { return d_.getitem(k_); }

   private:
    const DictProxy& d_;
    K k_;
  };
  Item operator[](K k) const { return Item(*this, std::move(k)); }

  void setitem(K k, V v) const { this->template call<&S::setitem>(std::move(k), std::move(v)); }
  [[nodiscard]] V getitem(K k) const { return this->template call<&S::getitem>(std::move(k)); }
  [[nodiscard]] V get(K k, V fallback = V{}) const {
    return this->template call<&S::get>(std::move(k), std::move(fallback));
  }
  V setdefault(K k, V fallback = V{}) const {
    return this->template call<&S::setdefault>(std::move(k), std::move(fallback));
  }
  [[nodiscard]] bool contains(K k) const { return this->template call<&S::contains>(std::move(k)); }
  void erase(K k) const { this->template call<&S::delitem>(std::move(k)); }
  V pop(K k) const { return this->template call<&S::pop>(std::move(k)); }
  [[nodiscard]] std::int64_t len() const { return this->template call<&S::len>(); }
  [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(len()); }
  [[nodiscard]] std::vector<K> keys() const { return this->template call<&S::keys>(); }
  [[nodiscard]] std::vector<V> values() const { return this->template call<&S::values>(); }
  [[nodiscard]] std::vector<std::pair<K, V>> items() const {
    return this->template call<&S::items>();
  }
  void update(std::vector<std::pair<K, V>> items) const {
    this->template call<&S::update>(std::move(items));
  }
  void clear() const { this->template call<&S::clear>(); }
};

/// Python's ListProxy: append, extend, insert, l[i] via getitem/setitem, erase (del l[i]),
/// pop, getslice (l[a:b]), len/size, tolist, reverse, clear, index, count, remove.
template <class T>
class ListProxy : public Proxy<SharedList<T>> {
  using S = SharedList<T>;

 public:
  using Proxy<S>::Proxy;
  void append(T x) const { this->template call<&S::append>(std::move(x)); }
  void extend(std::vector<T> xs) const { this->template call<&S::extend>(std::move(xs)); }
  void insert(std::int64_t i, T x) const { this->template call<&S::insert>(i, std::move(x)); }
  [[nodiscard]] T getitem(std::int64_t i) const { return this->template call<&S::getitem>(i); }
  [[nodiscard]] T operator[](std::int64_t i) const { return getitem(i); }
  void setitem(std::int64_t i, T x) const { this->template call<&S::setitem>(i, std::move(x)); }
  void erase(std::int64_t i) const { this->template call<&S::delitem>(i); }
  T pop(std::int64_t i = -1) const { return this->template call<&S::pop>(i); }
  [[nodiscard]] std::vector<T> getslice(std::int64_t start, std::int64_t stop) const {
    return this->template call<&S::getslice>(start, stop);
  }
  [[nodiscard]] std::int64_t len() const { return this->template call<&S::len>(); }
  [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(len()); }
  [[nodiscard]] std::vector<T> tolist() const { return this->template call<&S::tolist>(); }
  void reverse() const { this->template call<&S::reverse>(); }
  void clear() const { this->template call<&S::clear>(); }
  [[nodiscard]] std::int64_t index(T x) const {
    return this->template call<&S::index>(std::move(x));
  }
  [[nodiscard]] std::int64_t count(T x) const {
    return this->template call<&S::count>(std::move(x));
  }
  void remove(T x) const { this->template call<&S::remove>(std::move(x)); }
};

/// Python's Namespace proxy: attributes set and read by name, each of its own type.
class NamespaceProxy : public Proxy<SharedNamespace> {
  using S = SharedNamespace;

 public:
  using Proxy<S>::Proxy;
  template <class T>
  void set(std::string name, const T& value) const {
    call<&S::setattr>(std::move(name), Bytes(dumps(value)));
  }
  /// The attribute's value (ValueError "AttributeError: ..." when there is none; ValueError
  /// naming both types when it holds another type than T).
  template <class T>
  [[nodiscard]] T get(std::string name) const {
    const Bytes b = call<&S::getattr>(std::move(name));
    return loads<T>(std::span<const std::byte>(b.data(), b.size()));
  }
  void del(std::string name) const { call<&S::delattr>(std::move(name)); }
  [[nodiscard]] bool has(std::string name) const { return call<&S::hasattr>(std::move(name)); }
  /// Python's repr lists public attributes: the names not starting with '_'.
  [[nodiscard]] std::vector<std::string> names() const { return call<&S::names>(); }
};

/// Python's manager Value proxy: get(), set(v) (Python's .value).
template <class T>
class ValueProxy : public Proxy<SharedValue<T>> {
  using S = SharedValue<T>;

 public:
  using Proxy<S>::Proxy;
  [[nodiscard]] T get() const { return this->template call<&S::get>(); }
  void set(T v) const { this->template call<&S::set>(std::move(v)); }
};

/// Python's manager Array proxy.
template <class T>
class ArrayProxy : public Proxy<SharedArray<T>> {
  using S = SharedArray<T>;

 public:
  using Proxy<S>::Proxy;
  [[nodiscard]] T getitem(std::int64_t i) const { return this->template call<&S::getitem>(i); }
  [[nodiscard]] T operator[](std::int64_t i) const { return getitem(i); }
  void setitem(std::int64_t i, T x) const { this->template call<&S::setitem>(i, std::move(x)); }
  [[nodiscard]] std::int64_t len() const { return this->template call<&S::len>(); }
  [[nodiscard]] std::vector<T> tolist() const { return this->template call<&S::tolist>(); }
};

/// Python's JoinableQueue proxy: a QueueProxy plus task_done and join.
template <class T>
class JoinableQueueProxy : public Proxy<SharedJoinableQueue<T>> {
  using S = SharedJoinableQueue<T>;

 public:
  using Proxy<S>::Proxy;
  void put(T item, const Timeout& timeout = forever) const {
    this->template call<&S::put>(std::move(item), detail::millis(timeout));
  }
  [[nodiscard]] T get(const Timeout& timeout = forever) const {
    return this->template call<&S::get>(detail::millis(timeout));
  }
  [[nodiscard]] std::int64_t qsize() const { return this->template call<&S::qsize>(); }
  void task_done() const { this->template call<&S::task_done>(); }
  /// Waits until every item put was task_done(); false when `timeout` passed first.
  bool join(const Timeout& timeout = forever) const {
    return this->template call<&S::join>(detail::millis(timeout));
  }
};

/// Proxies of threading.Lock and RLock: acquire(blocking, timeout), release, locked.
template <class L>
class LockProxyT : public Proxy<SharedLock<L>> {
  using S = SharedLock<L>;

 public:
  using Proxy<S>::Proxy;
  bool acquire(bool blocking = true, const Timeout& timeout = forever) const {
    return this->template call<&S::acquire>(blocking, detail::millis(timeout));
  }
  bool acquire(const Timeout& timeout) const { return acquire(true, timeout); }
  /// RuntimeError when not held (Lock) or not held by this thread (RLock).
  void release() const { this->template call<&S::release>(); }
  [[nodiscard]] bool locked() const { return this->template call<&S::locked>(); }
};
using LockProxy = LockProxyT<threading::Lock>;
using RLockProxy = LockProxyT<threading::RLock>;

/// Proxies of threading.Semaphore and BoundedSemaphore.
template <class Sem>
class SemaphoreProxyT : public Proxy<SharedSemaphore<Sem>> {
  using S = SharedSemaphore<Sem>;

 public:
  using Proxy<S>::Proxy;
  bool acquire(bool blocking = true, const Timeout& timeout = forever) const {
    return this->template call<&S::acquire>(blocking, detail::millis(timeout));
  }
  bool acquire(const Timeout& timeout) const { return acquire(true, timeout); }
  /// BoundedSemaphore: ValueError when released too many times.
  void release(std::int64_t n = 1) const { this->template call<&S::release>(n); }
  [[nodiscard]] std::int64_t get_value() const { return this->template call<&S::get_value>(); }
};
using SemaphoreProxy = SemaphoreProxyT<threading::Semaphore>;
using BoundedSemaphoreProxy = SemaphoreProxyT<threading::BoundedSemaphore>;

/// Python's Event proxy.
class EventProxy : public Proxy<SharedEvent> {
 public:
  using Proxy<SharedEvent>::Proxy;
  void set() const { call<&SharedEvent::set>(); }
  void clear() const { call<&SharedEvent::clear>(); }
  [[nodiscard]] bool is_set() const { return call<&SharedEvent::is_set>(); }
  bool wait(const Timeout& timeout = forever) const {
    return call<&SharedEvent::wait>(detail::millis(timeout));
  }
};

/// Python's Condition proxy (over the server's RLock): acquire, release, wait, notify.
class ConditionProxy : public Proxy<SharedCondition> {
  using S = SharedCondition;

 public:
  using Proxy<S>::Proxy;
  bool acquire(bool blocking = true, const Timeout& timeout = forever) const {
    return call<&S::acquire>(blocking, detail::millis(timeout));
  }
  void release() const { call<&S::release>(); }
  /// Waits for a notify (the lock must be held by this thread); false after `timeout`.
  bool wait(const Timeout& timeout = forever) const {
    return call<&S::wait>(detail::millis(timeout));
  }
  void notify(std::int64_t n = 1) const { call<&S::notify>(n); }
  void notify_all() const { call<&S::notify_all>(); }
};

/// Python's Barrier proxy.
class BarrierProxy : public Proxy<SharedBarrier> {
  using S = SharedBarrier;

 public:
  using Proxy<S>::Proxy;
  /// BrokenBarrierError when the barrier is or gets broken (also after `timeout`).
  std::int64_t wait(const Timeout& timeout = forever) const {
    return call<&S::wait>(detail::millis(timeout));
  }
  void reset() const { call<&S::reset>(); }
  void abort() const { call<&S::abort>(); }
  [[nodiscard]] std::int64_t parties() const { return call<&S::parties>(); }
  [[nodiscard]] std::int64_t n_waiting() const { return call<&S::n_waiting>(); }
  [[nodiscard]] bool broken() const { return call<&S::broken>(); }
};

/// Python's SyncManager.
class SyncManager : public BaseManager {
 public:
  struct Started {};
  /// A manager not yet started (start() or connect() next).
  explicit SyncManager(ManagerOptions options = {})
      : BaseManager(setup<&detail::sync_setup>, std::move(options)) {}
  /// A started manager (what Manager() returns).
  SyncManager(ManagerOptions options, Started /*unused*/) : SyncManager(std::move(options)) {
    start();
  }

  template <class K, class V>
  DictProxy<K, V> dict(std::vector<std::pair<K, V>> items = {}) {
    return make<DictProxy<K, V>, SharedDict<K, V>>(std::move(items));
  }
  template <class T>
  ListProxy<T> list(std::vector<T> items = {}) {
    return make<ListProxy<T>, SharedList<T>>(std::move(items));
  }
  NamespaceProxy Namespace() { return make<NamespaceProxy, SharedNamespace>(); }
  template <class T>
  QueueProxy<T> Queue(std::int64_t maxsize = 0) {
    return make<QueueProxy<T>, SharedQueue<T>>(maxsize);
  }
  template <class T>
  JoinableQueueProxy<T> JoinableQueue(std::int64_t maxsize = 0) {
    return make<JoinableQueueProxy<T>, SharedJoinableQueue<T>>(maxsize);
  }
  template <class T>
  ValueProxy<T> Value(T value) {
    return make<ValueProxy<T>, SharedValue<T>>(std::move(value));
  }
  template <class T>
  ArrayProxy<T> Array(std::vector<T> items) {
    return make<ArrayProxy<T>, SharedArray<T>>(std::move(items));
  }
  LockProxy Lock() { return make<LockProxy, SharedLock<threading::Lock>>(); }
  RLockProxy RLock() { return make<RLockProxy, SharedLock<threading::RLock>>(); }
  SemaphoreProxy Semaphore(std::int64_t value = 1) {
    return make<SemaphoreProxy, SharedSemaphore<threading::Semaphore>>(value);
  }
  BoundedSemaphoreProxy BoundedSemaphore(std::int64_t value = 1) {
    return make<BoundedSemaphoreProxy, SharedSemaphore<threading::BoundedSemaphore>>(value);
  }
  EventProxy Event() { return make<EventProxy, SharedEvent>(); }
  ConditionProxy Condition() { return make<ConditionProxy, SharedCondition>(); }
  BarrierProxy Barrier(std::int64_t parties) { return make<BarrierProxy, SharedBarrier>(parties); }

 private:
  template <class P, class S, class... A>
  P make(A&&... args) {
    (void)detail::Builtin<S, std::decay_t<A>...>::registered;
    return create<P>(detail::builtin_typeid<S>(), std::forward<A>(args)...);
  }
};

/// Python: multiprocessing.Manager(): a started SyncManager.
inline SyncManager Manager(ManagerOptions options = {}) {
  return SyncManager(std::move(options), SyncManager::Started{});
}

}  // namespace concur::multiprocessing::managers

namespace concur::multiprocessing {
using managers::Manager;
using managers::SyncManager;
}  // namespace concur::multiprocessing
