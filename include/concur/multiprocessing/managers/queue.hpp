// concur/multiprocessing/managers/queue.hpp: a queue that lives in a manager's server, and
// its proxy: Python's queue.Queue as the seed's QueueManager serves it, and what
// SyncManager.Queue() returns.
//
//   r.register_<SharedQueue<int>>("get_task_queue", [q] { return q; }, queue_methods<int>(),
//                                 {.concurrent = true});
//   auto q = manager.create<QueueProxy<int>>("get_task_queue");
//   q.put(1);  q.get(std::chrono::seconds(1));
//
// SharedQueue<T> is Python's queue.Queue(maxsize) in the server process (a mutex and two
// condition variables); a get or put that waits blocks its connection's server thread and its
// caller, never other clients. Timeouts are concur::Timeout (forever by default); Empty and
// Full come back as concur::queue::Empty / Full.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "concur/multiprocessing/managers/proxy.hpp"
#include "concur/multiprocessing/managers/registry.hpp"
#include "concur/queue.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing::managers {

/// Python's queue.Queue(maxsize), for a server (maxsize <= 0: unbounded). Thread-safe.
template <class T>
class SharedQueue {
 public:
  static constexpr bool kConcurrent = true;  // a get waits for a put
  explicit SharedQueue(std::int64_t maxsize = 0) : maxsize_(maxsize) {}

  /// Waits for room (at most `timeout_ms`; negative: forever; Full after it).
  void put(T item, std::int64_t timeout_ms) {
    std::unique_lock lk(mu_);
    auto room = [&] {
      return maxsize_ <= 0 || static_cast<std::int64_t>(items_.size()) < maxsize_;
    };
    if (!wait(lk, not_full_, room, timeout_ms)) throw concur::queue::Full();
    items_.push_back(std::move(item));
    not_empty_.notify_one();
  }
  /// Waits for an item (at most `timeout_ms`; negative: forever; Empty after it).
  T get(std::int64_t timeout_ms) {
    std::unique_lock lk(mu_);
    if (!wait(
            lk, not_empty_, [&] { return !items_.empty(); }, timeout_ms))
      throw concur::queue::Empty();
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  std::int64_t qsize() const {
    std::lock_guard lk(mu_);
    return static_cast<std::int64_t>(items_.size());
  }
  /// The exposed methods: put, get, qsize.
  static Methods<SharedQueue> methods() {
    return Methods<SharedQueue>()
        .template def<&SharedQueue::put>("put")
        .template def<&SharedQueue::get>("get")
        .template def<&SharedQueue::qsize>("qsize");
  }

 private:
  template <class Pred>
  static bool wait(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, Pred ready,
                   std::int64_t timeout_ms) {
    if (timeout_ms < 0) {
      cv.wait(lk, ready);
      return true;
    }
    return cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), ready);
  }
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  std::int64_t maxsize_;
};

/// The exposed methods of SharedQueue<T> (for a registration of one).
template <class T>
Methods<SharedQueue<T>> queue_methods() {
  return SharedQueue<T>::methods();
}

/// A proxy of a SharedQueue<T>: Python's queue proxy (put, get, put_nowait, get_nowait,
/// qsize, empty).
template <class T>
class QueueProxy : public Proxy<SharedQueue<T>> {
 public:
  using Proxy<SharedQueue<T>>::Proxy;
  /// Waits for room in the server's queue (Full after `timeout`).
  void put(T item, const Timeout& timeout = forever) const {
    this->template call<&SharedQueue<T>::put>(std::move(item), millis(timeout));
  }
  void put_nowait(T item) const { this->template call<&SharedQueue<T>::put>(std::move(item), 0); }
  /// Waits for an item (Empty after `timeout`).
  T get(const Timeout& timeout = forever) const {
    return this->template call<&SharedQueue<T>::get>(millis(timeout));
  }
  T get_nowait() const { return this->template call<&SharedQueue<T>::get>(0); }
  [[nodiscard]] std::int64_t qsize() const { return this->template call<&SharedQueue<T>::qsize>(); }
  [[nodiscard]] bool empty() const { return qsize() == 0; }

 private:
  static std::int64_t millis(const Timeout& t) {
    if (t.is_forever()) return -1;
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.duration()).count();
  }
};

}  // namespace concur::multiprocessing::managers
