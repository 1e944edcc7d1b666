// concur/multiprocessing/context.hpp: start methods and contexts (Python's get_context,
// set_start_method, get_start_method, get_all_start_methods), and main_guard, the rule
// every program that starts processes follows.
//
// The rule (Python's `if __name__ == "__main__":`)
//   int main(int argc, char** argv) {
//     concur::mp::main_guard(argc, argv);   // the first statement of main
//     ...
//   }
//   or, equivalently:  CONCUR_MAIN(argc, argv) { ...body of main... }
//
//   `spawn` and `forkserver` start a child by running this program again (from
//   /proc/self/exe) with a hidden flag; main_guard sees the flag, runs the child's target
//   (every static initialiser has run, so every function the child may be asked to call
//   is registered) and exits: the child never runs the rest of main. In a normal run it
//   records that it was called and returns at once.
//   A program whose main does not call main_guard gets RuntimeError from start() under
//   spawn/forkserver (never a fork bomb): in the parent if main_guard was never called
//   there, and in a child that reached user code without passing main_guard (such a child
//   also refuses to start processes).
//
// Start methods
//   fork        a copy of this process; any target. Unsafe when other threads run (a lock
//               held by another thread stays held in the child): the first fork of a
//               multi-threaded process calls the fork warning hook (default: one line on
//               stderr, once per process), as CPython 3.12's DeprecationWarning.
//   spawn       a fresh run of the program (posix_spawn of /proc/self/exe); slow (exec +
//               static initialisation), safe with threads.
//   forkserver  (the default) a server process started once by spawn, single-threaded,
//               forks each child on request; fast and safe with threads. It is stopped at
//               exit and by detail::stop_services().
//   Targets under spawn/forkserver must cross a process boundary (process.hpp).
//
// Contexts
//   get_context() is the default context: its Process() uses the method set by
//   set_start_method (or forkserver) at start() time. get_context("fork"|"spawn"|
//   "forkserver") returns a context fixed to that method; its set_start_method throws
//   ValueError (Python's rule). The typed contexts ForkContext, SpawnContext and
//   ForkserverContext do the same, and SpawnContext/ForkserverContext::Process rejects a
//   target that cannot cross at compile time.
//
//     mp::get_context("fork").Process(target, args...)     // a Process started by fork
//     mp::SpawnContext{}.Process(mp::fn<&work>, 1, 2)        // compile-time checked
//
// What throws
//   set_start_method(m) when a method was already set and !force: RuntimeError("context
//   has already been set"); an unknown name: ValueError("cannot find context for '<m>'").
//   get_start_method() fixes the default (forkserver) if none was set, as Python's
//   get_start_method(allow_none=False); get_start_method(true) returns nullopt then.
//
// Thread safety: all functions may be called from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "concur/multiprocessing/process.hpp"

namespace concur::multiprocessing {

/// "fork", "spawn", "forkserver".
std::string_view to_string(StartMethod m) noexcept;
/// The method named `name`; ValueError("cannot find context for '<name>'") otherwise.
StartMethod start_method_from_string(std::string_view name);

class Context {
 public:
  /// The method this context starts processes with (the default context: the current
  /// default, fixing it as get_start_method() does).
  [[nodiscard]] std::string get_start_method(bool allow_none = false) const;
  /// The default context: set the program's start method (RuntimeError if already set and
  /// !force). Another context: ValueError.
  void set_start_method(std::string_view method, bool force = false) const;
  /// This context (a fixed one), or the default one's current context.
  [[nodiscard]] const Context& get_context() const;
  /// A fixed context for `method`.
  [[nodiscard]] const Context& get_context(std::string_view method) const;
  /// Python's get_all_start_methods: {"forkserver", "spawn", "fork"} (default first).
  [[nodiscard]] std::vector<std::string> get_all_start_methods() const;
  [[nodiscard]] int cpu_count() const noexcept;
  /// nullopt for the default context.
  [[nodiscard]] std::optional<StartMethod> method() const noexcept { return method_; }

  /// A Process that starts with this context's method. Under spawn/forkserver the target
  /// must cross (checked at start(): TypeError); under a fixed fork context it may be
  /// anything invocable.
  template <class F, class... Args>
  requires(!std::is_same_v<std::decay_t<F>, ProcessOptions> &&
           detail::bindable<F, Args...>) class Process Process(F&& target, Args&&... args) const {
    return make(ProcessOptions{},
                detail::make_target(std::forward<F>(target), std::forward<Args>(args)...));
  }
  template <class F, class... Args>
  requires detail::bindable<F, Args...>
  class Process Process(ProcessOptions options,  // NOLINT(performance-unnecessary-value-param)
                        F&& target, Args&&... args) const {
    return make(std::move(options),
                detail::make_target(std::forward<F>(target), std::forward<Args>(args)...));
  }

  explicit constexpr Context(std::optional<StartMethod> method) noexcept : method_(method) {}

 protected:
  [[nodiscard]] class Process make(ProcessOptions options,
                                   std::unique_ptr<detail::Target> target) const;

 private:
  std::optional<StartMethod> method_;
};

/// A context fixed to fork: any invocable target.
class ForkContext : public Context {
 public:
  constexpr ForkContext() noexcept : Context(StartMethod::fork) {}
};

/// A context fixed to a method that encodes the target: the target and the arguments must
/// cross (compile-time check).
template <StartMethod M>
class EncodingContext : public Context {
 public:
  constexpr EncodingContext() noexcept : Context(M) {}

  template <class F, class... Args>
  requires(!std::is_same_v<std::decay_t<F>, ProcessOptions> &&
           detail::bindable<F, Args...>) class Process Process(F&& target, Args&&... args) const {
    return Process(ProcessOptions{}, std::forward<F>(target), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  requires detail::bindable<F, Args...>
  class Process Process(ProcessOptions options, F&& target, Args&&... args) const {
    static_assert(detail::bound_target_crosses<F, Args...>(),
                  "concur::multiprocessing: under spawn/forkserver the target and its "
                  "arguments must cross a process boundary: a captureless lambda, a trivially "
                  "copyable closure, mp::fn<&function>, or a CONCUR_REGISTERed function "
                  "pointer, with Picklable arguments (see codec.hpp); use ForkContext for "
                  "anything else");
    return make(std::move(options),
                detail::make_target(std::forward<F>(target), std::forward<Args>(args)...));
  }
};
using SpawnContext = EncodingContext<StartMethod::spawn>;
using ForkserverContext = EncodingContext<StartMethod::forkserver>;

/// The default context (Python: multiprocessing itself / get_context()).
const Context& get_context();
/// The context fixed to `method` ("fork", "spawn", "forkserver"); ValueError otherwise.
const Context& get_context(std::string_view method);
/// Sets the program's default start method (RuntimeError("context has already been set")
/// when one was set and !force).
void set_start_method(std::string_view method, bool force = false);
/// The default start method's name; fixes it (forkserver) if none was set, unless
/// allow_none (then nullopt).
std::optional<std::string> get_start_method(bool allow_none);
std::string get_start_method();
/// {"forkserver", "spawn", "fork"}: every method available, the default first.
std::vector<std::string> get_all_start_methods();
/// Kept for parity: the server is already a copy of this program, nothing to preload.
void set_forkserver_preload(const std::vector<std::string>& modules);

/// The hook called before a fork in a multi-threaded process (`message` says so). Default:
/// prints "concur::multiprocessing: DeprecationWarning: <message>" to stderr, once per
/// process. An empty hook restores the default. Returns the previous hook.
using ForkWarningHook = std::function<void(const std::string& message)>;
ForkWarningHook set_fork_warning_hook(ForkWarningHook hook);

/// See "The rule" above. Returns at once in a normal run; in a child started by spawn or
/// forkserver (or in the forkserver itself) it never returns. Nor does it when an argument
/// is a switch a linked module registered (detail::add_main_switch): the program then does
/// what the switch says and exits, never running the rest of main. concur::distributed
/// registers `--concur-worker=<redis url>`: the program serves as a cluster worker
/// (concur/distributed/serve.hpp).
void main_guard(int argc, char** argv);

namespace detail {
/// Runs instead of main when main_guard sees its switch: `value` is what follows the
/// prefix; argc/argv are main's (for other options). Returns the exit status.
using MainSwitch = int (*)(std::string_view value, int argc, char** argv);
/// Registers `handler` for arguments starting with `prefix` (e.g. "--concur-worker="),
/// at static initialisation. The first argument matching a registered prefix wins.
void add_main_switch(std::string_view prefix, MainSwitch handler);
}  // namespace detail

}  // namespace concur::multiprocessing

/// `CONCUR_MAIN(argc, argv) { body }` defines main(argc, argv) whose first statement is
/// concur::mp::main_guard(argc, argv), then body. (The arguments are declarator names, so
/// they cannot be parenthesised.)
// NOLINTBEGIN(bugprone-macro-parentheses)
#define CONCUR_MAIN(argc, argv)                        \
  int concur_user_main(int argc, char** argv);         \
  int main(int argc, char** argv) {                    \
    ::concur::multiprocessing::main_guard(argc, argv); \
    return concur_user_main(argc, argv);               \
  }                                                    \
  int concur_user_main(int argc, char** argv)
// NOLINTEND(bugprone-macro-parentheses)
