// concur/multiprocessing/event.hpp: multiprocessing.Event, a flag processes can wait for.
//
// What it does
//   set() sets the flag and wakes every waiter of every process; clear() resets it;
//   wait() blocks until it is set. A mp::Event object is a handle to the flag in shared
//   memory (copies are handles to the same flag).
//
// What blocks: wait(), for at most `timeout` (omitted = forever).
//
// What throws: nothing but the creation of the shared block (concur::OSError) and a
//   negative timeout (ValueError).
//
// Robustness: an Event has no holder: a process's death does not affect it.
//
// Cost: wait() spins briefly (a few microseconds, none on one CPU or under load) before it
//   sleeps on the flag.
//
// The rules every process-shared primitive follows (handles, how they cross to a child
// process, what happens when a process dies, the deliberate deviations from Python, memory
// ordering, lifetime): concur/multiprocessing/synchronize.hpp, which includes this header.
#pragma once

#include <string>
#include <utility>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

/// multiprocessing.Event: a flag processes can wait for.
class Event {
 public:
  using concur_handle_tag = void;

  Event();
  [[nodiscard]] bool is_set() const noexcept;
  /// Sets the flag and wakes every waiter (of every process).
  void set() noexcept;
  void clear() noexcept;
  /// Blocks until the flag is set or the timeout passes; returns the flag (true also when
  /// a set() happened during the wait, even if clear() followed).
  bool wait(Timeout timeout = {});

  /// "<Event: set>" / "<Event: unset>".
  [[nodiscard]] std::string repr() const;

  void concur_encode_handle(Buffer& out) const;
  static Event concur_decode_handle(Reader& in);

 private:
  explicit Event(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  [[nodiscard]] detail::EventState& state() const noexcept {
    return ref_.state<detail::EventState>();
  }
  detail::SharedRef ref_;
};

}  // namespace concur::multiprocessing
