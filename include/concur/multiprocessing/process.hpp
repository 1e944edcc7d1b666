// concur/multiprocessing/process.hpp: multiprocessing.Process and the module functions about
// processes (current_process, parent_process, active_children, cpu_count), plus sys.exit's
// counterpart for a child (mp::exit / SystemExit).
//
// What it does
//   A Process runs its `run()` in a new OS process once `start()` is called. The default
//   run() calls the target given to the constructor with the bound arguments (decayed
//   copies). How the child starts depends on the start method (context.hpp):
//
//     method       the child is                         target and arguments
//     fork         a copy of this process (fork())      anything invocable; nothing encoded
//     spawn        a fresh run of this program          must cross (codec.hpp, registry.hpp)
//     forkserver   a fork of a fresh server process     must cross
//     (default: forkserver; see context.hpp)
//
//   What crosses under spawn/forkserver: captureless lambdas and trivially copyable
//   closures (no ceremony), `mp::fn<&work>` (a function, no ceremony), a function pointer
//   `&work` registered with CONCUR_REGISTER(work), and as arguments every Picklable value,
//   including process-shared objects (Queue, Lock, Value...: their fds travel by
//   SCM_RIGHTS). A string literal argument is stored as std::string when the target
//   accepts one (a `const char*` would not cross); other pointers never cross.
//   `mp::Process` (method chosen at start() time) checks this at start():
//   TypeError on this side, naming the types, if it cannot cross. A Process made by a
//   statically typed context (`mp::SpawnContext{}.Process(...)`,
//   `mp::ForkserverContext{}.Process(...)`) checks it at compile time (static_assert); one
//   made by `mp::ForkContext{}.Process(...)` or `get_context("fork").Process(...)` accepts
//   anything.
//
// Subclasses
//   A subclass overriding run() chooses its start method with the protected constructors
//   Process(const Context&, ProcessOptions) and Process(StartMethod, ProcessOptions) (or
//   takes the default one). Under fork the object itself runs in the copy. Under spawn and
//   forkserver the child is a fresh program, so, as CPython pickles the Process object, the
//   child rebuilds it: a subclass registered with CONCUR_REGISTER_PROCESS(W) is
//   default-constructed in the child, its fields listed by `concur_fields()` are assigned
//   from their encodings, and its run() is called (see register_process below). An
//   unregistered subclass is TypeError at start() under spawn/forkserver, before any
//   process exists.
//
//     state       pid()     exitcode()   is_alive()   sentinel()
//     initial     nullopt   nullopt      false        ValueError
//     started     set       nullopt      true         pidfd (readable when it exits)
//     ended       set       code         false        pidfd
//     closed      ValueError  code       ValueError   ValueError
//
//   exitcode: 0 when run() returns; 1 when it throws (the child prints
//   "Process <name>:\n<type>: <what>" to its stderr, flushed, before it exits); the code
//   given to mp::exit(code); -N when the child was killed by signal N.
//
// What blocks
//   start() returns once the child exists (spawn/forkserver: once it has read its
//   bootstrap and set up its lifeline). join(timeout) waits for the child's end, at most
//   `timeout` (omitted: forever), and returns true if it ended. The destructor of a
//   started, not joined Process waits for its child (see Lifetime).
//
// What throws
//   start() twice: RuntimeError("cannot start a process twice"); start() in a daemonic
//   process: ValueError("daemonic processes are not allowed to have children"); an
//   unregistered function pointer or a target that cannot cross (spawn/forkserver):
//   ValueError / TypeError, before any process is made; spawn/forkserver in a program whose
//   main() did not call main_guard: RuntimeError naming main_guard; OS failures:
//   concur::OSError naming the call. join()/sentinel() before start(): ValueError("can
//   only join a started process" / "process not started") — Python uses AssertionError
//   for join; join() of current_process(): ValueError. close() while the child runs:
//   ValueError; after close(), start/join/is_alive/terminate/kill/pid/ident/sentinel:
//   ValueError("process object is closed") (name, daemon, exitcode, repr still answer).
//   terminate()/kill() before start(): ValueError. set_daemon() once started: RuntimeError.
//   A negative timeout: ValueError (concur's rule; Python treats join(-1) as join(0)).
//   A moved-from Process may only be destroyed or assigned to.
//
// Reaping (no zombies, no stray signals)
//   Each child has a pidfd: join() polls it, then reaps exactly this child with
//   waitid(P_PIDFD) (never waitpid(-1), no SIGCHLD handler); terminate()/kill() use
//   pidfd_send_signal, so they never hit a reused pid. exitcode() and is_alive() reap
//   without blocking, as Python's poll() (they are const: the reaping state is guarded by
//   the Process's lock). Under forkserver the server is the parent: it reaps and sends the
//   status back. If the application lets the kernel reap our children (SIGCHLD set to
//   SIG_IGN, SA_NOCLDWAIT) or reaps them itself (waitpid(-1)), the end is still seen (the
//   pidfd) but the status is lost: exitcode() is 0 and status_lost() true, as subprocess's
//   Popen reports it (CPython's Popen sets returncode 0 on ChildProcessError; CPython's
//   Process would report the child as running forever).
//
// A child never outlives its parent (unlike Python)
//   Each child holds the read end of a lifeline pipe whose write end only its parent
//   holds; the kernel sends the child SIGKILL when that pipe loses its last writer (an
//   O_ASYNC/F_SETSIG owner signal: no thread in the child), i.e. when the parent process
//   ends in any way. A child started from the parent's main thread also gets
//   PR_SET_PDEATHSIG(SIGKILL) (fork, spawn), and checks getppid() after setting it. A
//   child may choose another signal, or none (Python's behaviour: it survives as an
//   orphan), with set_parent_death_signal().
//
// Daemons (as Python)
//   `daemon` defaults to the creating process's flag. At normal exit of a process (return
//   from main, std::exit; for a child, when its run() ends) its daemonic children are
//   terminated and its other children joined (Python's _exit_function). A daemonic
//   process may not start children.
//
// Lifetime
//   Destroying a Process whose child still runs waits for it: a daemonic child is first
//   terminated (SIGTERM), then joined; a non-daemonic one is joined. Move-assigning to a
//   Process does the same to the process it held, then takes the other one's (Python has
//   no assignment of processes; this keeps the destructor's guarantee: no zombie, no lost
//   child). (Python leaves the
//   child running and joins non-daemonic ones at exit; waiting here means no zombie and
//   no child the program has lost track of.) A joined Process has dropped its target and
//   arguments (they were dropped right after start()). close() releases the pidfd.
//
// Memory ordering
//   Everything the parent did before start() is visible to the child (fork: a copy;
//   spawn/forkserver: the encoded arguments). Effects of the child on shared objects
//   happen-before join() returns true.
//
// Python parity
//   Process(group, target, name, args, kwargs, *, daemon) is Process(target, args...) or
//   Process({.name, .daemon}, target, args...); keyword arguments are bound in a lambda.
//   Properties are functions: name()/set_name(), daemon()/set_daemon(), pid() and ident()
//   (std::optional<int>), exitcode() (std::optional<int>), sentinel(), authkey() (a
//   concur::Bytes), status_lost() (beyond Python, see Reaping). join()
//   returns whether the child ended (Python returns None). Default names are
//   "Process-N" under every method (Python: "ForkProcess-N" for a ForkContext's, ...),
//   "Process-1:2" for the second child of Process-1, as Python. sys.exit(x) in a child is
//   mp::exit(x) (below). No traceback: the type and what() of the exception.
//
// Example
//   namespace mp = concur::mp;
//   int main(int argc, char** argv) {
//     mp::main_guard(argc, argv);  // first: a spawned child never runs the rest of main
//     mp::Process p([](int n) { std::printf("child %d got %d\n", getpid(), n); }, 42);
//     p.start();
//     p.join();
//     return *p.exitcode();  // 0
//   }
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "concur/bytes.hpp"
#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/process_target.hpp"
#include "concur/timeout.hpp"

namespace concur::multiprocessing {

/// How a child process starts (context.hpp).
enum class StartMethod { fork, spawn, forkserver };

class Context;
class Process;

namespace detail {
struct ProcessState;
struct ProcessAccess;

/// Encodes a registered Process subclass (its concur_fields()) as a registry call request.
using ProcessEncoder = void (*)(const Process& self, Buffer& out);
/// Registers the encoder of the subclass `type` (register_process<W>).
void add_process_class(const std::type_info& type, ProcessEncoder encode);
/// In a child rebuilding a registered subclass: the next Process constructed in this
/// thread is a view of the calling process (current_process()), not a new one.
void rebuild_next_process_as_current(bool on) noexcept;
}  // namespace detail

/// Python's keyword arguments `name` and `daemon`.
struct ProcessOptions {
  std::string name = {};                      ///< empty: "Process-N"
  std::optional<bool> daemon = std::nullopt;  ///< nullopt: the creating process's flag
};

class Process {
 public:
  /// For subclasses overriding run() (default start method; see Subclasses), or a no-op.
  Process() : Process(ProcessOptions{}) {}
  explicit Process(ProcessOptions options);

  /// Runs target(args...) in the child. The start method is the default one
  /// (get_start_method()) at start() time.
  template <class F, class... Args,
            class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, ProcessOptions> &&
                                     !std::is_base_of_v<Process, std::decay_t<F>> &&
                                     detail::bindable<F, Args...>>>
  explicit Process(F&& target, Args&&... args)
      : Process(ProcessOptions{}, std::forward<F>(target), std::forward<Args>(args)...) {}

  template <class F, class... Args, class = std::enable_if_t<detail::bindable<F, Args...>>>
  Process(ProcessOptions options, F&& target, Args&&... args) : Process(std::move(options)) {
    target_ = detail::make_target(std::forward<F>(target), std::forward<Args>(args)...);
  }

  /// Takes over `other`'s process (any state); `other` may then only be destroyed or
  /// assigned to.
  Process(Process&& other) noexcept;
  /// Does to this Process what its destructor does (a running child is waited for, a
  /// daemonic one terminated first; the pidfd is released), then takes over `other`'s
  /// process. Never throws. Self-assignment does nothing.
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  /// Waits for a running child (terminating it first if daemonic), then closes.
  virtual ~Process();

  /// Starts the child (see the table above). Throws as described at the top.
  void start();
  /// What the child runs: the target, unless a subclass overrides it (see Subclasses).
  virtual void run();
  /// Waits for the child to end, at most `timeout`. True if it ended.
  bool join(Timeout timeout = {});
  /// True from start() until the child has ended (reaps it without blocking).
  [[nodiscard]] bool is_alive() const;
  /// SIGTERM to the child (nothing if it already ended).
  void terminate();
  /// SIGKILL to the child (nothing if it already ended).
  void kill();
  /// Releases the pidfd and what the Process holds. ValueError while the child runs.
  /// Idempotent.
  void close();

  /// The exit code (see the top), nullopt before start() and while the child runs.
  /// Reaps the child without blocking (const: the reaping state is guarded by the
  /// Process's lock). 0 with status_lost() when the status was lost.
  [[nodiscard]] std::optional<int> exitcode() const;
  /// True when the child ended but its exit status was lost: the application let the
  /// kernel reap it (SIGCHLD set to SIG_IGN, SA_NOCLDWAIT) or reaped it itself. exitcode()
  /// is then 0, as subprocess's Popen::returncode (Popen::status_lost()).
  [[nodiscard]] bool status_lost() const;
  /// The child's pid, nullopt before start(). ident() is the same.
  [[nodiscard]] std::optional<int> pid() const;
  [[nodiscard]] std::optional<int> ident() const { return pid(); }
  /// A pidfd of the child: readable (poll POLLIN) exactly when the child has ended.
  /// ValueError before start(). Owned by the Process (valid until close()).
  [[nodiscard]] int sentinel() const;

  [[nodiscard]] std::string name() const;
  void set_name(std::string name);
  [[nodiscard]] bool daemon() const;
  /// RuntimeError once started.
  void set_daemon(bool daemonic);
  /// The authentication key (32 random bytes in the main process, inherited by
  /// children; set_authkey changes this Process's before start).
  [[nodiscard]] Bytes authkey() const;
  void set_authkey(Bytes key);
  /// The start method this Process uses (nullopt: the default one, read at start()).
  [[nodiscard]] std::optional<StartMethod> start_method() const;
  /// "<Process name='Process-1' pid=123 parent=120 started>" and so on.
  [[nodiscard]] std::string repr() const;

 protected:
  /// For subclasses: a Process started with `context`'s method (a fixed context such as
  /// get_context("spawn") or mp::SpawnContext{}; the default context: the default method
  /// at start() time). Under spawn/forkserver a subclass must be registered
  /// (CONCUR_REGISTER_PROCESS) and rebuildable from its fields (see below).
  explicit Process(const Context& context, ProcessOptions options = {});
  /// The same with the start method named directly.
  explicit Process(StartMethod method, ProcessOptions options = {});

 private:
  friend struct detail::ProcessAccess;
  friend class Context;
  /// For contexts: a Process whose start method is fixed.
  Process(StartMethod method, ProcessOptions options, std::unique_ptr<detail::Target> target);
  explicit Process(std::shared_ptr<detail::ProcessState> state) noexcept;  // a view
  void start_checked();
  void release() noexcept;  // what the destructor does

  std::shared_ptr<detail::ProcessState> state_;
  std::unique_ptr<detail::Target> target_;
  bool view_ = false;
};

/// The Process object of the calling process: "MainProcess" in the main one; in a child,
/// its own name, daemon flag, authkey. is_alive() is true; join() is ValueError.
Process& current_process();

/// What a child knows about its parent (Python's _ParentProcess).
class ParentProcess {
 public:
  [[nodiscard]] int pid() const noexcept { return pid_; }
  [[nodiscard]] int ident() const noexcept { return pid_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// False once the parent has ended (its end of the lifeline closed).
  [[nodiscard]] bool is_alive() const;
  /// Waits for the parent to end, at most `timeout`; true if it did.
  bool join(Timeout timeout = {}) const;
  /// The child's end of the lifeline: readable (POLLHUP) once the parent has ended.
  [[nodiscard]] int sentinel() const noexcept { return fd_; }

  ParentProcess(int pid, std::string name, int fd) : pid_(pid), name_(std::move(name)), fd_(fd) {}

 private:
  int pid_;
  std::string name_;
  int fd_;
};

/// The parent of the calling process, or null in the main process (Python: None).
const ParentProcess* parent_process() noexcept;

/// The started children of the calling process that have not ended (reaps the ones that
/// did, as Python). The Process objects returned are views: they name the same child
/// (same pid, sentinel, join, terminate), and destroying them does nothing.
std::vector<Process> active_children();

/// The number of CPUs in the system (os.cpu_count(); not the affinity mask). >= 1.
int cpu_count() noexcept;

/// In a child: the signal the kernel sends it when its parent ends (default SIGKILL; 0:
/// none, the child survives as an orphan, as in Python). ValueError for a bad signal
/// number; no effect in the main process.
void set_parent_death_signal(int signum);

/// Python's SystemExit, thrown by mp::exit. It does not derive from std::exception (as
/// SystemExit is not an Exception), so `catch (const std::exception&)` does not stop it.
/// When it leaves a child's run(), the child exits with code() and prints message() (if
/// any) to stderr; elsewhere it is an ordinary exception.
class SystemExit {
 public:
  explicit SystemExit(int code = 0) noexcept : code_(code) {}
  explicit SystemExit(std::string message) : code_(1), message_(std::move(message)) {}
  [[nodiscard]] int code() const noexcept { return code_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  int code_;
  std::string message_;
};

/// sys.exit for the target of a Process: exit() and exit(false) → exitcode 0, exit(true) →
/// 1, exit(8) → 8, exit("text") → 1 with "text" on stderr. Throws SystemExit.
[[noreturn]] inline void exit(int code = 0) { throw SystemExit(code); }
[[noreturn]] inline void exit(const char* message) { throw SystemExit(std::string(message)); }
[[noreturn]] inline void exit(std::string message) { throw SystemExit(std::move(message)); }

namespace detail {

template <class W>
using process_fields_t = decltype(std::declval<W&>().concur_fields());

template <class Tuple>
struct decayed_fields;
template <class... T>
struct decayed_fields<std::tuple<T...>> {
  using type = std::tuple<std::remove_cvref_t<T>...>;
};

template <class W>
concept has_process_fields = requires(W& w) {
  typename decayed_fields<process_fields_t<W>>::type;
};

template <class W>
std::string_view process_class_name();

// The child side: a default-constructed W (its Process base is a view of this process),
// each field assigned from its encoding in order, then run(). Exceptions go to the child
// runner as from any target (exit code 1, or mp::exit's).
template <class W>
void invoke_process_object(Reader& in, Buffer& reply) {
  rebuild_next_process_as_current(true);
  struct Off {
    ~Off() { rebuild_next_process_as_current(false); }
  };
  std::optional<W> self;
  {
    Off off;
    self.emplace();
  }
  std::apply(
      [&in](auto&... field) {
        ((field = decode_value<std::remove_cvref_t<decltype(field)>>(in)), ...);
      },
      self->concur_fields());
  in.expect_end();
  self->run();
  reply.push_back(kReplyValue);
}

// The parent side: the request to rebuild W from its fields in the child.
template <class W>
void encode_process_object(const Process& p, Buffer& out) {
  // concur_fields() may be non-const (std::tie of the members): the fields are only read.
  auto& self =
      const_cast<W&>(static_cast<const W&>(p));  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  using Fields = typename decayed_fields<process_fields_t<W>>::type;
  begin_request(out, process_class_name<W>(), fingerprint_of<Fields>());
  std::apply([&out](const auto&... field) { (encode_value(out, field), ...); },
             self.concur_fields());
}

template <class W>
std::string_view add_process_class_of() {
  using Fields = typename decayed_fields<process_fields_t<W>>::type;
  const std::string_view name =
      add_function(std::string("process:") + typeid(W).name(), &invoke_process_object<W>, nullptr,
                   fingerprint_of<Fields>(), typeid(Fields).name());
  add_process_class(typeid(W), &encode_process_object<W>);
  return name;
}

// Initialised during static initialisation in every process of the program (odr-used by
// register_process<W>), as the registry's FunctionRegistration.
template <class W>
struct ProcessClassRegistration {
  static inline const std::string_view name = add_process_class_of<W>();
};

template <class W>
std::string_view process_class_name() {
  return ProcessClassRegistration<W>::name;
}

}  // namespace detail

/// Registers the Process subclass W so that it starts under spawn and forkserver too: the
/// child (a fresh run of the program) default-constructs a W, assigns it the fields W
/// lists, and calls its run() (CPython pickles the Process object; here the fields listed
/// cross through the codec, each Picklable: values, strings, containers, queues, pipes,
/// locks...). W must:
///   - derive from Process and override run();
///   - be default-constructible (the child's W is made so; its base Process then names the
///     child itself: name(), daemon(), pid() answer as current_process());
///   - list its fields in a public `auto concur_fields() { return std::tie(a_, b_); }`
///     (fields not listed keep their default value in the child).
/// Registration happens during static initialisation wherever this is instantiated (any
/// call, even one never executed; CONCUR_REGISTER_PROCESS(W) at namespace scope is the
/// usual way), so a re-executed child knows W before main runs. Under fork the object
/// itself runs in the copy (no registration needed). Returns the registry name.
///
///   class Greeter : public mp::Process {
///    public:
///     Greeter() = default;
///     Greeter(mp::Queue<std::string> q, std::string who)
///         : Process(mp::get_context("spawn")), q_(std::move(q)), who_(std::move(who)) {}
///     void run() override { q_.put("hello " + who_ + " from " + name()); }
///     auto concur_fields() { return std::tie(q_, who_); }
///    private:
///     mp::Queue<std::string> q_;
///     std::string who_;
///   };
///   CONCUR_REGISTER_PROCESS(Greeter);
template <class W>
std::string_view register_process() {
  static_assert(std::is_base_of_v<Process, W>,
                "concur::multiprocessing::register_process<W>: W must derive from mp::Process");
  static_assert(!std::is_same_v<decltype(&W::run), void (Process::*)()>,
                "concur::multiprocessing::register_process<W>: W must override run() (a Process "
                "that runs a target needs no registration)");
  static_assert(std::is_default_constructible_v<W>,
                "concur::multiprocessing::register_process<W>: W must be default-constructible "
                "(the child makes one, then assigns its fields)");
  static_assert(detail::has_process_fields<W>,
                "concur::multiprocessing::register_process<W>: W must list the fields that cross "
                "in a public `auto concur_fields() { return std::tie(field1_, field2_); }`");
  if constexpr (std::is_base_of_v<Process, W> && std::is_default_constructible_v<W> &&
                detail::has_process_fields<W>) {
    using Fields = typename detail::decayed_fields<detail::process_fields_t<W>>::type;
    static_assert(Picklable<Fields>,
                  "concur::multiprocessing::register_process<W>: a field listed in "
                  "concur_fields() cannot cross a process boundary (see codec.hpp)");
    if constexpr (Picklable<Fields>) return detail::process_class_name<W>();
  }
  return {};
}

}  // namespace concur::multiprocessing

/// Registers the Process subclass `W` (see register_process), at namespace scope.
#define CONCUR_REGISTER_PROCESS(W)                                    \
  [[maybe_unused]] static const ::std::string_view CONCUR_DETAIL_CAT( \
      concur_registered_process_, __COUNTER__) = ::concur::multiprocessing::register_process<W>()
