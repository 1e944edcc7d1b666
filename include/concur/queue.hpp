// concur/queue.hpp: the exceptions of Python's `queue` module, shared by every queue
// of concur (multiprocessing's Queue, SimpleQueue and JoinableQueue).
//
//   try { q.get_nowait(); } catch (const concur::queue::Empty&) { ... }
//
// Python parity: queue.Empty and queue.Full derive from Exception; here from
// std::runtime_error. multiprocessing raises these same two types, as Python does.
#pragma once

#include <stdexcept>
#include <string>

namespace concur::queue {

/// A non-blocking get, or a get whose timeout expired, found the queue empty.
struct Empty : std::runtime_error {
  Empty() : std::runtime_error("queue.Empty") {}
  explicit Empty(const std::string& what) : std::runtime_error(what) {}
};

/// A non-blocking put, or a put whose timeout expired, found the queue full.
struct Full : std::runtime_error {
  Full() : std::runtime_error("queue.Full") {}
  explicit Full(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace concur::queue
