// concur/threading/timer.hpp: threading.Timer, a Thread that runs a function
// after an interval unless cancelled first.
//
// What it does
//   Timer(interval, function, args...) is a Thread; once start()ed it waits
//   `interval`, then calls function(args...) unless cancel() was called before.
//   The arguments are decayed copies made at construction, fresh per timer.
//
// What blocks / throws
//   As Thread (start twice: RuntimeError). A negative interval: ValueError.
//   cancel() never blocks and never throws. An exception escaping the function
//   goes to the thread exception hook.
//
// Memory ordering
//   cancel() happens-before the timer thread's check: a cancel() that returns
//   before the interval ends guarantees the function never runs. Once the
//   function has started, cancel() has no effect (as in Python).
//
// Lifetime
//   Like a target Thread: the Timer object may be destroyed while it waits; the
//   function still runs (use cancel() to stop it). Non-daemon timers are joined
//   at exit like any Thread, so a pending timer delays exit until it fires.
//
// Python parity
//   Timer(interval, function, args=None, kwargs=None) → Timer(interval,
//   function, args...) or Timer({.name, .daemon}, interval, function, args...);
//   interval is any std::chrono duration. `finished` (an Event in Python) is
//   finished() here: set when the timer is cancelled or done.
//
// Example
//   concur::threading::Timer t(std::chrono::milliseconds(30), [] { std::cout << "hello\n"; });
//   t.start();   // "hello" after 30 ms, unless t.cancel() comes first
#pragma once

#include <memory>
#include <utility>

#include "concur/threading/detail/function.hpp"
#include "concur/threading/event.hpp"
#include "concur/threading/thread.hpp"
#include "concur/timeout.hpp"

namespace concur::threading {

class Timer : public Thread {
 public:
  template <class F, class... Args>
  requires concur::threading::detail::bindable_target<F, Args...> Timer(Timeout interval,
                                                                        F&& function,
                                                                        Args&&... args)
      : Timer(ThreadOptions{}, interval, std::forward<F>(function), std::forward<Args>(args)...) {}

  template <class F, class... Args>
  requires concur::threading::detail::bindable_target<F, Args...> Timer(ThreadOptions options,
                                                                        Timeout interval,
                                                                        F&& function,
                                                                        Args&&... args)
      : Timer(std::move(options), interval, std::make_shared<Event>(),
              concur::threading::detail::bind_target(std::forward<F>(function),
                                                     std::forward<Args>(args)...)) {}

  /// Stops the timer if it is still waiting.
  void cancel() noexcept { finished_->set(); }
  /// Set when the timer was cancelled or its function has run.
  [[nodiscard]] Event& finished() noexcept { return *finished_; }

 private:
  Timer(ThreadOptions options, Timeout interval, std::shared_ptr<Event> finished,
        concur::threading::detail::UniqueFunction function)
      : Thread(SelfContained{}, std::move(options),
               [interval, finished, fn = std::move(function)]() mutable {
                 struct Done {
                   Event& e;
                   ~Done() { e.set(); }
                 } done{*finished};
                 if (!finished->wait(interval)) fn();
               }),
        finished_(std::move(finished)) {}

  std::shared_ptr<Event> finished_;
};

}  // namespace concur::threading
