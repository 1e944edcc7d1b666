// concur/multiprocessing/managers/shared_types.hpp: the objects a SyncManager's server holds
// (Python's dict, list, Namespace, Value, Array, queue.Queue, and threading's locks, events,
// conditions and barriers), each with the table of methods its proxy calls
// (concur/multiprocessing/managers/sync_manager.hpp). Users reach them through proxies;
// a custom manager may register them too (their `methods()`).
//
// Timeouts cross as milliseconds (negative: forever). Errors are Python's, as the codec
// carries them back: a missing key or index is std::out_of_range ("KeyError: ...",
// "IndexError: ..."), a missing Namespace attribute ValueError ("AttributeError: ..."), a
// release of an unlocked lock RuntimeError, a broken barrier BrokenBarrierError.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "concur/bytes.hpp"
#include "concur/exceptions.hpp"
#include "concur/multiprocessing/managers/queue.hpp"
#include "concur/multiprocessing/managers/registry.hpp"
#include "concur/threading/barrier.hpp"
#include "concur/threading/condition.hpp"
#include "concur/threading/event.hpp"
#include "concur/threading/lock.hpp"
#include "concur/threading/rlock.hpp"
#include "concur/threading/semaphore.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing::managers {

namespace detail {
inline Timeout from_ms(std::int64_t ms) {
  return ms < 0 ? Timeout(forever) : Timeout(std::chrono::milliseconds(ms));
}
inline std::size_t index_of(std::int64_t i, std::size_t size, const char* what) {
  const auto n = static_cast<std::int64_t>(size);
  const std::int64_t j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) throw std::out_of_range(std::string("IndexError: ") + what);
  return static_cast<std::size_t>(j);
}
}  // namespace detail

/// Python's dict, in insertion order.
template <class K, class V>
class SharedDict {
 public:
  SharedDict() = default;
  explicit SharedDict(std::vector<std::pair<K, V>> items) { update(std::move(items)); }

  void setitem(K k, V v) {
    auto it = index_.find(k);
    if (it != index_.end()) {
      items_[it->second].second = std::move(v);
    } else {
      index_.emplace(k, items_.size());
      items_.emplace_back(std::move(k), std::move(v));
    }
  }
  V getitem(K k) const { return items_[at(k)].second; }
  V get(K k, V fallback) const {
    auto it = index_.find(k);
    return it == index_.end() ? fallback : items_[it->second].second;
  }
  V setdefault(K k, V fallback) {
    auto it = index_.find(k);
    if (it != index_.end()) return items_[it->second].second;
    setitem(k, fallback);
    return fallback;
  }
  bool contains(K k) const { return index_.count(k) != 0; }
  void delitem(K k) { (void)pop(std::move(k)); }
  V pop(K k) {
    const std::size_t i = at(k);
    V v = std::move(items_[i].second);
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
    index_.erase(k);
    for (auto& [key, pos] : index_)
      if (pos > i) --pos;
    return v;
  }
  std::int64_t len() const { return static_cast<std::int64_t>(items_.size()); }
  std::vector<K> keys() const {
    std::vector<K> out;
    for (const auto& kv : items_) out.push_back(kv.first);
    return out;
  }
  std::vector<V> values() const {
    std::vector<V> out;
    for (const auto& kv : items_) out.push_back(kv.second);
    return out;
  }
  std::vector<std::pair<K, V>> items() const { return items_; }
  void update(std::vector<std::pair<K, V>> items) {
    for (auto& [k, v] : items) setitem(std::move(k), std::move(v));
  }
  void clear() {
    items_.clear();
    index_.clear();
  }

  static Methods<SharedDict> methods() {
    return Methods<SharedDict>()
        .template def<&SharedDict::setitem>("__setitem__")
        .template def<&SharedDict::getitem>("__getitem__")
        .template def<&SharedDict::get>("get")
        .template def<&SharedDict::setdefault>("setdefault")
        .template def<&SharedDict::contains>("__contains__")
        .template def<&SharedDict::delitem>("__delitem__")
        .template def<&SharedDict::pop>("pop")
        .template def<&SharedDict::len>("__len__")
        .template def<&SharedDict::keys>("keys")
        .template def<&SharedDict::values>("values")
        .template def<&SharedDict::items>("items")
        .template def<&SharedDict::update>("update")
        .template def<&SharedDict::clear>("clear");
  }

 private:
  std::size_t at(const K& k) const {
    auto it = index_.find(k);
    if (it == index_.end()) throw std::out_of_range("KeyError: the key is not in the dict");
    return it->second;
  }
  std::vector<std::pair<K, V>> items_;
  std::map<K, std::size_t> index_;
};

/// Python's list.
template <class T>
class SharedList {
 public:
  SharedList() = default;
  explicit SharedList(std::vector<T> items) : items_(std::move(items)) {}

  void append(T x) { items_.push_back(std::move(x)); }
  void extend(std::vector<T> xs) {
    for (auto& x : xs) items_.push_back(std::move(x));
  }
  void insert(std::int64_t i, T x) {
    const auto n = static_cast<std::int64_t>(items_.size());
    const std::int64_t j = std::clamp(i < 0 ? i + n : i, std::int64_t{0}, n);
    items_.insert(items_.begin() + j, std::move(x));
  }
  T getitem(std::int64_t i) const {
    return items_[detail::index_of(i, items_.size(), "list index out of range")];
  }
  void setitem(std::int64_t i, T x) {
    items_[detail::index_of(i, items_.size(), "list assignment index out of range")] = std::move(x);
  }
  void delitem(std::int64_t i) { (void)pop(i); }
  T pop(std::int64_t i) {
    if (items_.empty()) throw std::out_of_range("IndexError: pop from empty list");
    const std::size_t j = detail::index_of(i, items_.size(), "pop index out of range");
    T x = std::move(items_[j]);
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(j));
    return x;
  }
  /// Python's l[start:stop] (negative counts from the end; clamped).
  std::vector<T> getslice(std::int64_t start, std::int64_t stop) const {
    const auto n = static_cast<std::int64_t>(items_.size());
    auto clamp = [n](std::int64_t i) { return std::clamp(i < 0 ? i + n : i, std::int64_t{0}, n); };
    const std::int64_t a = clamp(start);
    const std::int64_t b = std::max(a, clamp(stop));
    return std::vector<T>(items_.begin() + a, items_.begin() + b);
  }
  std::int64_t len() const { return static_cast<std::int64_t>(items_.size()); }
  std::vector<T> tolist() const { return items_; }
  void reverse() { std::reverse(items_.begin(), items_.end()); }
  void clear() { items_.clear(); }
  std::int64_t index(T x) const requires std::equality_comparable<T> {
    auto it = std::find(items_.begin(), items_.end(), x);
    if (it == items_.end()) throw ValueError("list.index(x): x not in list");
    return it - items_.begin();
  }
  std::int64_t count(T x) const requires std::equality_comparable<T> {
    return std::count(items_.begin(), items_.end(), x);
  }
  void remove(T x) requires std::equality_comparable<T> {
    auto it = std::find(items_.begin(), items_.end(), x);
    if (it == items_.end()) throw ValueError("list.remove(x): x not in list");
    items_.erase(it);
  }

  static Methods<SharedList> methods() {
    auto m = Methods<SharedList>()
                 .template def<&SharedList::append>("append")
                 .template def<&SharedList::extend>("extend")
                 .template def<&SharedList::insert>("insert")
                 .template def<&SharedList::getitem>("__getitem__")
                 .template def<&SharedList::setitem>("__setitem__")
                 .template def<&SharedList::delitem>("__delitem__")
                 .template def<&SharedList::pop>("pop")
                 .template def<&SharedList::getslice>("getslice")
                 .template def<&SharedList::len>("__len__")
                 .template def<&SharedList::tolist>("tolist")
                 .template def<&SharedList::reverse>("reverse")
                 .template def<&SharedList::clear>("clear");
    if constexpr (std::equality_comparable<T>) {
      return std::move(m)
          .template def<&SharedList::index>("index")
          .template def<&SharedList::count>("count")
          .template def<&SharedList::remove>("remove");
    } else {
      return m;
    }
  }

 private:
  std::vector<T> items_;
};

/// Python's Namespace: named attributes, each holding one encoded value (dumps of it).
class SharedNamespace {
 public:
  void setattr(std::string name, Bytes value) { attrs_[std::move(name)] = std::move(value); }
  Bytes getattr(const std::string& name) const {
    auto it = attrs_.find(name);
    if (it == attrs_.end())
      throw ValueError("AttributeError: 'Namespace' object has no attribute '" + name + "'");
    return it->second;
  }
  void delattr(const std::string& name) {
    if (attrs_.erase(name) == 0)
      throw ValueError("AttributeError: 'Namespace' object has no attribute '" + name + "'");
  }
  bool hasattr(const std::string& name) const { return attrs_.count(name) != 0; }
  /// The attribute names, sorted (Python's repr lists the public ones).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : attrs_) out.push_back(k);
    return out;
  }
  static Methods<SharedNamespace> methods() {
    return Methods<SharedNamespace>()
        .def<&SharedNamespace::setattr>("__setattr__")
        .def<&SharedNamespace::getattr>("__getattribute__")
        .def<&SharedNamespace::delattr>("__delattr__")
        .def<&SharedNamespace::hasattr>("hasattr")
        .def<&SharedNamespace::names>("names");
  }

 private:
  std::map<std::string, Bytes> attrs_;
};

/// Python's manager Value(typecode, value): get() and set().
template <class T>
class SharedValue {
 public:
  explicit SharedValue(T v) : v_(std::move(v)) {}
  T get() const { return v_; }
  void set(T v) { v_ = std::move(v); }
  static Methods<SharedValue> methods() {
    return Methods<SharedValue>()
        .template def<&SharedValue::get>("get")
        .template def<&SharedValue::set>("set");
  }

 private:
  T v_;
};

/// Python's manager Array(typecode, sequence): a fixed-size sequence.
template <class T>
class SharedArray {
 public:
  explicit SharedArray(std::vector<T> items) : items_(std::move(items)) {}
  T getitem(std::int64_t i) const {
    return items_[detail::index_of(i, items_.size(), "array index out of range")];
  }
  void setitem(std::int64_t i, T x) {
    items_[detail::index_of(i, items_.size(), "array assignment index out of range")] =
        std::move(x);
  }
  std::int64_t len() const { return static_cast<std::int64_t>(items_.size()); }
  std::vector<T> tolist() const { return items_; }
  static Methods<SharedArray> methods() {
    return Methods<SharedArray>()
        .template def<&SharedArray::getitem>("__getitem__")
        .template def<&SharedArray::setitem>("__setitem__")
        .template def<&SharedArray::len>("__len__")
        .template def<&SharedArray::tolist>("tolist");
  }

 private:
  std::vector<T> items_;
};

/// Python's queue.Queue with task_done and join (manager JoinableQueue).
template <class T>
class SharedJoinableQueue : public SharedQueue<T> {
 public:
  explicit SharedJoinableQueue(std::int64_t maxsize = 0) : SharedQueue<T>(maxsize) {}
  void put(T item, std::int64_t timeout_ms) {
    {
      std::lock_guard lk(mu_);
      ++unfinished_;
    }
    try {
      SharedQueue<T>::put(std::move(item), timeout_ms);
    } catch (...) {
      task_done_unchecked();
      throw;
    }
  }
  void task_done() {
    std::lock_guard lk(mu_);
    if (unfinished_ <= 0) throw ValueError("task_done() called too many times");
    if (--unfinished_ == 0) all_done_.notify_all();
  }
  /// Waits until every item put has been task_done() (at most `timeout_ms`: false after it).
  bool join(std::int64_t timeout_ms) {
    std::unique_lock lk(mu_);
    auto done = [&] { return unfinished_ == 0; };
    if (timeout_ms < 0) {
      all_done_.wait(lk, done);
      return true;
    }
    return all_done_.wait_for(lk, std::chrono::milliseconds(timeout_ms), done);
  }
  static Methods<SharedJoinableQueue> methods() {
    return Methods<SharedJoinableQueue>()
        .template def<&SharedJoinableQueue::put>("put")
        .template def<&SharedJoinableQueue::get>("get")
        .template def<&SharedJoinableQueue::qsize>("qsize")
        .template def<&SharedJoinableQueue::task_done>("task_done")
        .template def<&SharedJoinableQueue::join>("join");
  }

 private:
  void task_done_unchecked() {
    std::lock_guard lk(mu_);
    if (--unfinished_ == 0) all_done_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable all_done_;
  std::int64_t unfinished_ = 0;
};

/// threading.Lock / RLock in the server: acquired and released by the calling connection's
/// server thread (one per client thread), so an RLock's owner is the client thread.
template <class L>
class SharedLock {
 public:
  static constexpr bool kConcurrent = true;  // blocking calls wait for one another
  bool acquire(bool blocking, std::int64_t timeout_ms) {
    if (!blocking) return lock_.acquire(false);
    return lock_.acquire(detail::from_ms(timeout_ms));
  }
  void release() { lock_.release(); }
  bool locked() const { return lock_.locked(); }
  static Methods<SharedLock> methods() {
    return Methods<SharedLock>()
        .template def<&SharedLock::acquire>("acquire")
        .template def<&SharedLock::release>("release")
        .template def<&SharedLock::locked>("locked");
  }

 private:
  L lock_;
};

/// threading.Semaphore / BoundedSemaphore in the server.
template <class S>
class SharedSemaphore {
 public:
  static constexpr bool kConcurrent = true;  // blocking calls wait for one another
  explicit SharedSemaphore(std::int64_t value) : sem_(value) {}
  bool acquire(bool blocking, std::int64_t timeout_ms) {
    if (!blocking) return sem_.acquire(false);
    return sem_.acquire(detail::from_ms(timeout_ms));
  }
  void release(std::int64_t n) { sem_.release(n); }
  std::int64_t get_value() const { return sem_.value(); }
  static Methods<SharedSemaphore> methods() {
    return Methods<SharedSemaphore>()
        .template def<&SharedSemaphore::acquire>("acquire")
        .template def<&SharedSemaphore::release>("release")
        .template def<&SharedSemaphore::get_value>("get_value");
  }

 private:
  S sem_;
};

/// threading.Event in the server.
class SharedEvent {
 public:
  static constexpr bool kConcurrent = true;  // blocking calls wait for one another
  void set() { e_.set(); }
  void clear() { e_.clear(); }
  bool is_set() const { return e_.is_set(); }
  bool wait(std::int64_t timeout_ms) { return e_.wait(detail::from_ms(timeout_ms)); }
  static Methods<SharedEvent> methods() {
    return Methods<SharedEvent>()
        .def<&SharedEvent::set>("set")
        .def<&SharedEvent::clear>("clear")
        .def<&SharedEvent::is_set>("is_set")
        .def<&SharedEvent::wait>("wait");
  }

 private:
  threading::Event e_;
};

/// threading.Condition (over an RLock) in the server.
class SharedCondition {
 public:
  static constexpr bool kConcurrent = true;  // blocking calls wait for one another
  bool acquire(bool blocking, std::int64_t timeout_ms) {
    if (!blocking) return lock_.acquire(false);
    return lock_.acquire(detail::from_ms(timeout_ms));
  }
  void release() { lock_.release(); }
  bool wait(std::int64_t timeout_ms) { return cond_.wait(detail::from_ms(timeout_ms)); }
  void notify(std::int64_t n) { cond_.notify(static_cast<int>(n)); }
  void notify_all() { cond_.notify_all(); }
  static Methods<SharedCondition> methods() {
    return Methods<SharedCondition>()
        .def<&SharedCondition::acquire>("acquire")
        .def<&SharedCondition::release>("release")
        .def<&SharedCondition::wait>("wait")
        .def<&SharedCondition::notify>("notify")
        .def<&SharedCondition::notify_all>("notify_all");
  }

 private:
  threading::RLock lock_;
  threading::Condition cond_{lock_};
};

/// threading.Barrier in the server.
class SharedBarrier {
 public:
  static constexpr bool kConcurrent = true;  // blocking calls wait for one another
  explicit SharedBarrier(std::int64_t parties) : b_(static_cast<int>(parties)) {}
  std::int64_t wait(std::int64_t timeout_ms) {
    return timeout_ms < 0 ? b_.wait() : b_.wait(detail::from_ms(timeout_ms));
  }
  void reset() { b_.reset(); }
  void abort() { b_.abort(); }
  std::int64_t parties() const { return b_.parties(); }
  std::int64_t n_waiting() const { return b_.n_waiting(); }
  bool broken() const { return b_.broken(); }
  static Methods<SharedBarrier> methods() {
    return Methods<SharedBarrier>()
        .def<&SharedBarrier::wait>("wait")
        .def<&SharedBarrier::reset>("reset")
        .def<&SharedBarrier::abort>("abort")
        .def<&SharedBarrier::parties>("parties")
        .def<&SharedBarrier::n_waiting>("n_waiting")
        .def<&SharedBarrier::broken>("broken");
  }

 private:
  threading::Barrier b_;
};

}  // namespace concur::multiprocessing::managers
