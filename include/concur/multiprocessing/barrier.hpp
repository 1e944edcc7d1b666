// concur/multiprocessing/barrier.hpp: multiprocessing.Barrier, a rendezvous for threads
// of any processes.
//
// What it does
//   `parties` threads call wait(); the last to arrive runs the action (if any) and
//   releases them all, each with its arrival index. A mp::Barrier object is a handle to the
//   barrier in shared memory (copies share the same barrier).
//
// What blocks: wait(), for at most its timeout (the barrier's default when omitted).
//
// What throws: Barrier(parties < 1): ValueError; wait() on a broken barrier, or one that
//   breaks while waiting: BrokenBarrierError (the table below).
//
// Robustness: a party that dies holding the internal lock or waiting in the current round
//   breaks the barrier for the others; one that dies before it arrives is not detected
//   (give cross-process barriers a timeout).
//
// Cost: wait() spins briefly (a few microseconds; none on one CPU, under load, or with more
//   parties than CPUs) before it sleeps.
//
// The rules every process-shared primitive follows (handles, how they cross to a child
// process, what happens when a process dies, the deliberate deviations from Python, memory
// ordering, lifetime): concur/multiprocessing/synchronize.hpp, which includes this header.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

/// multiprocessing.Barrier: a rendezvous for `parties` threads of any processes.
///
///   event                        waiters get              the barrier becomes
///   last party arrives           their index (after the   ready for the next round
///                                action ran)
///   action throws                BrokenBarrierError       broken (the last arrival
///                                                         gets the action's exception)
///   a wait() times out           BrokenBarrierError       broken
///   abort()                      BrokenBarrierError       broken
///   reset()                      BrokenBarrierError       ready, not broken
///   a party dies waiting, or     BrokenBarrierError       broken
///   holding the internal lock    (within ~100 ms)
///   (see above)
///
/// wait() returns the arrival index 0 .. parties-1; throws BrokenBarrierError while
/// broken. Barrier(parties < 1): ValueError.
class Barrier {
 public:
  using concur_handle_tag = void;

  explicit Barrier(int parties, Timeout timeout = {});
  /// `action` runs once per round, in the process of the last arrival, before anyone is
  /// released: a function registered for mp::encode_call, or a captureless / trivially
  /// copyable lambda (it crosses to spawned children by name, see registry.hpp). It is
  /// called as an lvalue with no arguments.
  template <class F>
  requires(!std::is_convertible_v<F, Timeout> && std::is_invocable_v<std::decay_t<F>&>)
      Barrier(int parties, const F& action, Timeout timeout = {})
      : Barrier(parties, encode_call(action), timeout) {}

  /// Waits with the barrier's default timeout. Returns the arrival index.
  int wait();
  int wait(Timeout timeout);
  /// Back to the initial state; parties waiting now get BrokenBarrierError.
  void reset();
  /// Breaks the barrier: waiting and future wait() calls throw until reset().
  void abort();

  [[nodiscard]] int parties() const noexcept;
  [[nodiscard]] int n_waiting() const noexcept;
  [[nodiscard]] bool broken() const noexcept;
  /// "<Barrier: waiters=2/3>" or "<Barrier: broken>".
  [[nodiscard]] std::string repr() const;

  void concur_encode_handle(Buffer& out) const;
  static Barrier concur_decode_handle(Reader& in);

 private:
  Barrier(int parties, const Buffer& action, Timeout timeout);
  explicit Barrier(detail::SharedRef ref) noexcept : ref_(std::move(ref)) {}
  [[nodiscard]] detail::BarrierState& state() const noexcept {
    return ref_.state<detail::BarrierState>();
  }
  int wait_until(const Deadline& deadline);
  void lock_internal();
  void probe(int my_slot);
  int take_slot(std::uint32_t gen) noexcept;
  void after_lock() noexcept;
  void end_round(std::uint8_t outcome) noexcept;
  detail::SharedRef ref_;
};

}  // namespace concur::multiprocessing
