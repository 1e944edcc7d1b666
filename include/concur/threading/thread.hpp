// concur/threading/thread.hpp: threading.Thread and the module functions about
// threads (current_thread, main_thread, active_count, enumerate, get_ident,
// get_native_id, excepthook, stack_size).
//
// What it does
//   A Thread runs its `run()` on a new OS thread once `start()` is called. The
//   default run() calls the target given to the constructor with the bound
//   arguments (decayed copies, as std::thread makes; pass std::ref to share);
//   a subclass may override run() instead. The OS sees the thread's name
//   (/proc/self/task/*/comm, first 15 bytes).
//
//     state     ident()/native_id()   is_alive()   repr
//     initial   nullopt               false        <Thread(Thread-1, initial)>
//     started   set                   true         <Thread(Thread-1, started 1402...)>
//     stopped   set                   false        <Thread(Thread-1, stopped 1402...)>
//
// What blocks
//   start() waits until the new thread runs (so ident(), native_id() are set
//   when it returns). join(timeout) waits for the thread to end, for at most
//   `timeout` (omitted = forever). Destroying a *subclass* object whose run()
//   is still going waits for it (see Lifetime).
//
// What throws
//   start() twice: RuntimeError("threads can only be started once"); the OS
//   refusing a thread: RuntimeError("can't start new thread: ..."). join()
//   before start(): RuntimeError("cannot join thread before it is started");
//   join() of the calling thread: RuntimeError("cannot join current thread");
//   of a thread not made by concur: RuntimeError("cannot join a dummy thread").
//   set_daemon() once started: RuntimeError("cannot set daemon status of active
//   thread"). Negative timeout: ValueError.
//
// Exceptions escaping run()
//   go to the thread exception hook (set_excepthook; by default it prints
//   "Exception in thread NAME:" and the exception's type and what() to stderr)
//   and end that thread only, never the program. An exception thrown by the
//   hook itself is printed as "Exception in threading.excepthook:".
//
// Memory ordering
//   Everything before start() happens-before run() begins; everything run()
//   did happens-before join() returns (or is_alive() reads false).
//
// Lifetime
//   - A Thread made from a target keeps running when its Thread object is
//     destroyed (as in Python, where dropping the last reference does not stop
//     a thread): the target and its arguments live with the OS thread and are
//     destroyed by it, as soon as run() returns. `Thread(f).start();` is fine.
//   - A subclass's run() uses the object: ~Thread waits for run() to return,
//     but the subclass's own members are destroyed before ~Thread runs, so a
//     subclass object must not be destroyed while run() may still use them
//     (join() first, or call join() in the subclass's destructor).
//   - At normal program exit (return from main, std::exit) every non-daemon
//     Thread still running is joined by an atexit handler registered when the
//     first Thread starts, before the handlers and static destructors
//     registered earlier than that run.
//   - Daemon threads are not waited for: they keep running while exit()
//     destroys objects with static storage duration, and the kernel stops them
//     when the process ends. They must not use such objects (concur's own
//     internal state is never destroyed, and std::cout/cerr stay usable), or
//     they must be stopped before exit. std::quick_exit / _exit join nothing.
//
// Python parity
//   - Thread(group=None, target, name, args, kwargs, *, daemon) is
//     Thread(target, args...), Thread({.name, .daemon}, target, args...), or a
//     subclass calling Thread() / Thread({.name, .daemon}) and overriding run().
//     Keyword arguments are bound like the others (lambdas capture them).
//   - The `name` and `daemon` properties are name()/set_name() and
//     daemon()/set_daemon(); ident() and native_id() are std::optional (None
//     before start). getName/setName/isDaemon/setDaemon (deprecated) are not
//     provided.
//   - A default name is "Thread-N"; C++ cannot name a target, so there is no
//     " (target)" suffix.
//   - join(timeout) returns !is_alive() (Python returns None).
//   - current_thread(), main_thread() return a Thread& valid in the calling
//     thread as long as the thread it names runs (the main one: always);
//     enumerate() returns shared_ptr<Thread>. These are views on the thread
//     (same name, ident, daemon, is_alive, join), not the subclass object that
//     started it: compare them with ==, which compares the threads.
//   - A thread not started by concur (std::thread, ...) is a dummy thread
//     ("Dummy-N", daemon, cannot be joined), as in Python.
//   - There is no SystemExit, no traceback, no settrace/setprofile: the hook
//     gets the exception and a type name instead of a traceback object.
//
// Example
//   using namespace concur::threading;
//   Thread t({.name = "worker"}, [](int n) { std::cout << current_thread().name() << n; }, 42);
//   t.start();
//   t.join();
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/threading/detail/function.hpp"
#include "concur/threading/rlock.hpp"
#include "concur/timeout.hpp"

namespace concur::threading {

namespace detail {
struct ThreadState;
}  // namespace detail

/// Python's keyword arguments `name` and `daemon`.
struct ThreadOptions {
  std::string name = {};                      ///< empty: "Thread-N"
  std::optional<bool> daemon = std::nullopt;  ///< nullopt: the creating thread's daemon flag
};

class Thread {
 public:
  /// For subclasses that override run().
  Thread() : Thread(ThreadOptions{}) {}
  explicit Thread(ThreadOptions options);

  /// Runs target(args...) on the new thread.
  template <class F, class... Args>
  requires concur::threading::detail::bindable_target<F, Args...>
  explicit Thread(F&& target, Args&&... args)
      : Thread(ThreadOptions{}, std::forward<F>(target), std::forward<Args>(args)...) {}

  template <class F, class... Args>
  requires concur::threading::detail::bindable_target<F, Args...> Thread(ThreadOptions options,
                                                                         F&& target, Args&&... args)
      : Thread(std::move(options)) {
    set_target(concur::threading::detail::bind_target(std::forward<F>(target),
                                                      std::forward<Args>(args)...));
  }

  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  virtual ~Thread();

  /// Starts the thread. Throws RuntimeError when called twice.
  void start();
  /// What the thread runs: the target, unless a subclass overrides it.
  virtual void run();
  /// Waits for the thread to end, at most `timeout`. Returns !is_alive().
  bool join(Timeout timeout = {});
  /// True from start() until run() has returned and the thread's local<T>
  /// values are destroyed.
  [[nodiscard]] bool is_alive() const noexcept;

  [[nodiscard]] std::string name() const;
  /// Renames the thread; the OS sees the new name at once if it runs.
  void set_name(std::string name);
  [[nodiscard]] bool daemon() const noexcept;
  /// Throws RuntimeError once the thread started.
  void set_daemon(bool daemonic);
  /// get_ident() of the thread; nullopt before start().
  [[nodiscard]] std::optional<std::uint64_t> ident() const noexcept;
  /// The kernel's thread id (gettid); nullopt before start().
  [[nodiscard]] std::optional<std::uint64_t> native_id() const noexcept;
  /// "<Thread(NAME, started 1402... daemon)>" and so on.
  [[nodiscard]] std::string repr() const;

  /// Same thread (views from current_thread()/enumerate() compare equal to the
  /// Thread that started it).
  friend bool operator==(const Thread& a, const Thread& b) noexcept { return a.state_ == b.state_; }

 protected:
  /// For subclasses whose run() is not overridden and which hand a
  /// self-contained target (one that does not use the object) to the base:
  /// then the object may be destroyed while the thread runs (Timer does this).
  struct SelfContained {};
  Thread(SelfContained, ThreadOptions options, concur::threading::detail::UniqueFunction target);

 private:
  friend struct detail::ThreadState;
  friend struct ThreadAccess;
  explicit Thread(std::shared_ptr<detail::ThreadState> state) noexcept;  // a view
  void set_target(concur::threading::detail::UniqueFunction target);

  std::shared_ptr<detail::ThreadState> state_;
  concur::threading::detail::UniqueFunction target_;
  bool self_contained_ = false;
  bool view_ = false;
  bool uses_object_ = false;  // the OS thread runs this->run()
};

/// The Thread object of the calling thread (a dummy thread for a thread that
/// concur did not start). Valid in the calling thread while it runs.
Thread& current_thread();
/// The Thread of the main thread (named "MainThread").
Thread& main_thread();
/// Number of threads alive now: the main thread, started and not yet ended
/// concur threads, and dummy threads that called current_thread().
std::size_t active_count();
/// The threads alive now (as counted by active_count()).
std::vector<std::shared_ptr<Thread>> enumerate();
/// The kernel's id of the calling thread (gettid).
std::uint64_t get_native_id() noexcept;

/// Python's threading.stack_size([size]): the stack size of threads started
/// later. Returns the previous setting (0 = the system default). `size` must be
/// 0 or at least 32 KiB, else ValueError.
std::size_t stack_size();
std::size_t stack_size(std::size_t size);

/// What the thread exception hook receives (Python's ExceptHookArgs).
struct ExceptHookArgs {
  std::string exc_type;          ///< the exception's dynamic type, demangled
  std::exception_ptr exc_value;  ///< the exception
  Thread* thread = nullptr;      ///< the thread (valid during the call), or null
};
using ExceptHook = std::function<void(const ExceptHookArgs&)>;

/// Calls the current hook (Python: threading.excepthook(args)).
void excepthook(const ExceptHookArgs& args);
/// Python's threading.__excepthook__: prints "Exception in thread NAME:" then
/// "TYPE: what()" to stderr.
void default_excepthook(const ExceptHookArgs& args);
/// Replaces the hook (Python: threading.excepthook = hook); an empty hook
/// restores the default. Returns the previous one. Thread-safe.
ExceptHook set_excepthook(ExceptHook hook);
/// The current hook.
ExceptHook get_excepthook();

}  // namespace concur::threading
