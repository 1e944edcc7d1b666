// Thread and the module-level functions of concur::threading (see
// concur/threading/thread.hpp). Every OS call of the module is here.
//
// Each thread has a ThreadState, shared by its Thread object, by "views" (Thread
// objects that only look at the state: what current_thread() and enumerate()
// return) and by the OS thread itself, which runs the state's `body`. The
// registry (never destroyed, so daemon threads may use it during exit) maps
// every live thread to its view.
#include "concur/threading/thread.hpp"

#include <cxxabi.h>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <typeinfo>
#include <unordered_map>

#include "concur/threading/detail/local.hpp"
#include "os/futex.hpp"

namespace concur::threading {

namespace detail {

struct ThreadState {
  enum class Kind { kThread, kMain, kDummy };
  Kind kind = Kind::kThread;
  std::string cls = "Thread";  // class name for repr, fixed at start()

  mutable std::mutex m;  // guards name, handle, os_alive
  std::string name;
  pthread_t handle{};
  bool os_alive = false;  // handle names a running thread

  std::atomic<bool> daemon{false};
  std::atomic<int> phase{0};              // 0 initial, 1 started, 2 stopped
  std::atomic<std::uint32_t> running{0};  // set once the OS thread runs
  std::atomic<std::uint32_t> ended{0};    // set once everything is done
  std::atomic<std::uint64_t> ident{0};
  std::atomic<std::uint64_t> native_id{0};

  concur::threading::detail::UniqueFunction
      body;  // written before pthread_create, then the thread's
};

}  // namespace detail

using detail::ThreadState;

struct ThreadAccess {
  static std::shared_ptr<Thread> view(std::shared_ptr<ThreadState> st) {
    return std::shared_ptr<Thread>(new Thread(std::move(st)));
  }
  static const std::shared_ptr<ThreadState>& state(const Thread& t) { return t.state_; }
};

namespace {

using concur::os::futex_wait;
using concur::os::futex_wake;

struct Registry {
  std::mutex m;
  std::unordered_map<ThreadState*, std::shared_ptr<Thread>> live;
  std::shared_ptr<Thread> main_view;
  std::size_t stack_size = 0;
  std::atomic<std::uint64_t> thread_counter{0};
  std::atomic<std::uint64_t> dummy_counter{0};
  std::mutex hook_m;
  ExceptHook hook;
};

std::uint64_t self_ident() noexcept { return static_cast<std::uint64_t>(pthread_self()); }
bool on_main_thread() noexcept { return gettid() == getpid(); }

void after_fork_in_child() noexcept;

Registry& reg() {
  // Never destroyed: daemon threads may still use it while the process exits.
  static Registry* r = [] {
    auto* reg = new Registry;
    auto st = std::make_shared<ThreadState>();
    st->kind = ThreadState::Kind::kMain;
    st->cls = "_MainThread";
    st->name = "MainThread";
    st->phase.store(1);
    st->running.store(1);
    if (on_main_thread()) {
      st->ident.store(self_ident());
      st->native_id.store(concur::os::current_native_thread_id());
      st->handle = pthread_self();
      st->os_alive = true;
    }
    reg->main_view = ThreadAccess::view(st);
    reg->live.emplace(st.get(), reg->main_view);
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
    return reg;
  }();
  return *r;
}

// The calling thread's view; for dummy threads also its registration.
struct TlsCurrent {
  std::shared_ptr<Thread> view;
  bool dummy = false;
  ~TlsCurrent() {
    if (!dummy) return;
    const auto& st = ThreadAccess::state(*view);
    {
      std::scoped_lock g(st->m);
      st->os_alive = false;
    }
    {
      auto& r = reg();
      std::scoped_lock g(r.m);
      r.live.erase(st.get());
    }
    st->phase.store(2);
    st->ended.store(1, std::memory_order_release);
    futex_wake(st->ended, INT_MAX);
  }
};
thread_local TlsCurrent tls_current;

// Registers the main thread while the program starts (this runs on it).
[[maybe_unused]] const bool g_main_registered = [] {
  (void)reg();
  return true;
}();

void after_fork_in_child() noexcept {
  // Only the forking thread exists in the child: the others are stopped as far
  // as anyone can see, so that nothing waits for them. Their locks may have
  // been held at the fork: make them anew.
  Registry& r = reg();
  new (&r.m) std::mutex;
  new (&r.hook_m) std::mutex;
  const std::uint64_t me = self_ident();
  for (auto it = r.live.begin(); it != r.live.end();) {
    ThreadState* st = it->first;
    if (st->ident.load() == me || st->kind == ThreadState::Kind::kMain) {
      ++it;
      continue;
    }
    new (&st->m) std::mutex;
    st->os_alive = false;
    st->phase.store(2);
    st->ended.store(1);
    it = r.live.erase(it);
  }
}

std::string demangle(const char* mangled) {
  int status = 0;
  char* out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = (status == 0 && out) ? out : mangled;
  std::free(out);
  return s;
}

std::string short_class_name(const std::type_info& ti) {
  std::string s = demangle(ti.name());
  const auto pos = s.rfind("::");
  return pos == std::string::npos ? s : s.substr(pos + 2);
}

// "TYPE: what()" for any exception.
void describe(const std::exception_ptr& e, std::string& type, std::string& what) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    type = demangle(typeid(x).name());
    what = x.what();
  } catch (...) {
    const std::type_info* ti = abi::__cxa_current_exception_type();
    type = ti ? demangle(ti->name()) : "unknown exception";
    what.clear();
  }
}

void write_stderr(const std::string& text) {
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

void report_uncaught(const std::exception_ptr& e, Thread* thread) noexcept {
  try {
    ExceptHookArgs args;
    std::string what;
    describe(e, args.exc_type, what);
    args.exc_value = e;
    args.thread = thread;
    try {
      excepthook(args);
    } catch (...) {
      std::string type, msg;
      describe(std::current_exception(), type, msg);
      write_stderr("Exception in threading.excepthook:\n" + type + ": " + msg + "\n");
    }
  } catch (...) {
    write_stderr("Exception in threading.excepthook: (could not report)\n");
  }
}

void wait_ended(const ThreadState& st) noexcept {
  while (st.ended.load(std::memory_order_acquire) == 0) futex_wait(st.ended, 0, Deadline{});
}

// At exit: join every non-daemon concur thread still running (Python's
// threading._shutdown).
void join_at_exit() {
  auto& r = reg();
  const std::uint64_t me = self_ident();
  for (;;) {
    std::shared_ptr<Thread> victim;
    {
      std::scoped_lock g(r.m);
      for (const auto& [st, view] : r.live) {
        if (st->kind == ThreadState::Kind::kThread && !st->daemon.load() &&
            st->ident.load() != me && st->ended.load(std::memory_order_acquire) == 0) {
          victim = view;
          break;
        }
      }
    }
    if (!victim) return;
    wait_ended(*ThreadAccess::state(*victim));
  }
}

void* thread_entry(void* arg) {
  std::shared_ptr<ThreadState> st = std::move(*static_cast<std::shared_ptr<ThreadState>*>(arg));
  delete static_cast<std::shared_ptr<ThreadState>*>(arg);
  auto& r = reg();
  {
    std::scoped_lock g(r.m);
    tls_current.view = r.live.at(st.get());
  }
  std::string name;
  {
    std::scoped_lock g(st->m);
    st->handle = pthread_self();
    st->os_alive = true;
    name = st->name;
  }
  concur::os::set_current_thread_name(name.c_str());
  st->ident.store(self_ident(), std::memory_order_relaxed);
  st->native_id.store(concur::os::current_native_thread_id(), std::memory_order_relaxed);
  st->running.store(1, std::memory_order_release);
  futex_wake(st->running, INT_MAX);

  try {
    if (st->body) st->body();
  } catch (...) {
    report_uncaught(std::current_exception(), tls_current.view.get());
  }
  try {
    st->body = nullptr;  // drop the target and its arguments now
  } catch (...) {
    report_uncaught(std::current_exception(), tls_current.view.get());
  }
  threading::detail::local_thread_exit();
  {
    std::scoped_lock g(st->m);
    st->os_alive = false;
  }
  {
    std::scoped_lock g(r.m);
    r.live.erase(st.get());
  }
  st->phase.store(2, std::memory_order_release);
  st->ended.store(1, std::memory_order_release);
  futex_wake(st->ended, INT_MAX);
  return nullptr;
}

std::once_flag g_atexit_once;

}  // namespace

namespace detail {
// For concur::multiprocessing: a child process joins its non-daemon threads before it
// ends (Python's threading._shutdown in Process._bootstrap).
void join_non_daemon_threads() { join_at_exit(); }
}  // namespace detail

// ---- Thread -----------------------------------------------------------------

Thread::Thread(ThreadOptions options) : state_(std::make_shared<ThreadState>()) {
  auto& r = reg();
  state_->name = options.name.empty()
                     ? "Thread-" + std::to_string(r.thread_counter.fetch_add(1) + 1)
                     : std::move(options.name);
  state_->daemon.store(options.daemon ? *options.daemon : current_thread().daemon());
}

Thread::Thread(SelfContained, ThreadOptions options,
               concur::threading::detail::UniqueFunction target)
    : Thread(std::move(options)) {
  target_ = std::move(target);
  self_contained_ = true;
}

Thread::Thread(std::shared_ptr<ThreadState> state) noexcept
    : state_(std::move(state)), view_(true) {}

void Thread::set_target(concur::threading::detail::UniqueFunction target) {
  target_ = std::move(target);
}

Thread::~Thread() {
  if (view_ || !uses_object_) return;
  // run() belongs to this object: it must not outlive it.
  if (state_->phase.load() == 1 && state_->ident.load() != self_ident()) wait_ended(*state_);
}

void Thread::run() {
  concur::threading::detail::UniqueFunction target = std::move(target_);
  if (target) target();
}

void Thread::start() {
  int expected = 0;
  if (view_ || !state_->phase.compare_exchange_strong(expected, 1))
    throw RuntimeError("threads can only be started once");
  auto& r = reg();
  std::call_once(g_atexit_once, [] { std::atexit(join_at_exit); });
  state_->cls = short_class_name(typeid(*this));
  if (!self_contained_ && typeid(*this) != typeid(Thread)) {
    uses_object_ = true;
    state_->body = [this] { run(); };
  } else {
    state_->body = std::move(target_);
  }
  std::size_t stack = 0;
  {
    std::scoped_lock g(r.m);
    r.live.emplace(state_.get(), ThreadAccess::view(state_));
    stack = r.stack_size;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (stack != 0) pthread_attr_setstacksize(&attr, stack);
  auto* arg = new std::shared_ptr<ThreadState>(state_);
  pthread_t handle;
  const int err = pthread_create(&handle, &attr, thread_entry, arg);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    delete arg;
    {
      std::scoped_lock g(r.m);
      r.live.erase(state_.get());
    }
    if (uses_object_)
      state_->body = nullptr;
    else
      target_ = std::move(state_->body);  // keep the target for another start()
    uses_object_ = false;
    state_->phase.store(0);
    throw RuntimeError("can't start new thread: " + std::system_category().message(err));
  }
  while (state_->running.load(std::memory_order_acquire) == 0)
    futex_wait(state_->running, 0, Deadline{});
}

bool Thread::join(Timeout timeout) {
  if (state_->kind == ThreadState::Kind::kDummy) throw RuntimeError("cannot join a dummy thread");
  if (state_->phase.load() == 0) throw RuntimeError("cannot join thread before it is started");
  if (state_->ident.load() == self_ident() && state_->ended.load() == 0)
    throw RuntimeError("cannot join current thread");
  const Deadline deadline(timeout);
  while (state_->ended.load(std::memory_order_acquire) == 0) {
    if (!futex_wait(state_->ended, 0, deadline)) break;
  }
  return state_->ended.load(std::memory_order_acquire) != 0;
}

bool Thread::is_alive() const noexcept {
  return state_->phase.load(std::memory_order_acquire) == 1 &&
         state_->ended.load(std::memory_order_acquire) == 0;
}

std::string Thread::name() const {
  std::scoped_lock g(state_->m);
  return state_->name;
}

void Thread::set_name(std::string name) {
  std::scoped_lock g(state_->m);
  state_->name = std::move(name);
  if (state_->os_alive) {
    char buf[16];
    std::strncpy(buf, state_->name.c_str(), sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    pthread_setname_np(state_->handle, buf);
  }
}

bool Thread::daemon() const noexcept { return state_->daemon.load(); }

void Thread::set_daemon(bool daemonic) {
  if (state_->phase.load() != 0) throw RuntimeError("cannot set daemon status of active thread");
  state_->daemon.store(daemonic);
}

std::optional<std::uint64_t> Thread::ident() const noexcept {
  if (state_->phase.load() == 0 && state_->kind == ThreadState::Kind::kThread) return std::nullopt;
  const std::uint64_t v = state_->ident.load(std::memory_order_relaxed);
  return v ? std::optional<std::uint64_t>(v) : std::nullopt;
}

std::optional<std::uint64_t> Thread::native_id() const noexcept {
  const std::uint64_t v = state_->native_id.load(std::memory_order_relaxed);
  return v ? std::optional<std::uint64_t>(v) : std::nullopt;
}

std::string Thread::repr() const {
  const int phase = state_->phase.load();
  std::string status = phase == 0 ? "initial" : "started";
  if (phase == 2 || state_->ended.load() != 0) status = "stopped";
  if (daemon()) status += " daemon";
  if (auto id = ident()) {
    status += ' ';
    status += std::to_string(*id);
  }
  // Built by appending: GCC 12 warns falsely (-Wrestrict) on "literal" + string at -O3.
  std::string out = "<";
  out += view_ || phase != 0 ? state_->cls : short_class_name(typeid(*this));
  out += '(';
  out += name();
  out += ", ";
  out += status;
  out += ")>";
  return out;
}

// ---- module functions -----------------------------------------------------------

std::uint64_t get_ident() noexcept { return self_ident(); }

std::uint64_t get_native_id() noexcept { return concur::os::current_native_thread_id(); }

Thread& current_thread() {
  if (tls_current.view) return *tls_current.view;
  auto& r = reg();
  if (on_main_thread()) {
    const auto& st = ThreadAccess::state(*r.main_view);
    if (st->ident.load() == 0) {
      {
        std::scoped_lock g(st->m);
        st->handle = pthread_self();
        st->os_alive = true;
      }
      st->native_id.store(concur::os::current_native_thread_id());
      st->ident.store(self_ident());
    }
    tls_current.view = r.main_view;
    return *tls_current.view;
  }
  // A thread concur did not start: a dummy thread, as Python makes.
  auto st = std::make_shared<ThreadState>();
  st->kind = ThreadState::Kind::kDummy;
  st->cls = "_DummyThread";
  st->name = "Dummy-" + std::to_string(r.dummy_counter.fetch_add(1) + 1);
  st->daemon.store(true);
  st->handle = pthread_self();
  st->os_alive = true;
  st->ident.store(self_ident());
  st->native_id.store(concur::os::current_native_thread_id());
  st->phase.store(1);
  st->running.store(1);
  auto view = ThreadAccess::view(st);
  {
    std::scoped_lock g(r.m);
    r.live.emplace(st.get(), view);
  }
  tls_current.view = std::move(view);
  tls_current.dummy = true;
  return *tls_current.view;
}

Thread& main_thread() { return *reg().main_view; }

std::size_t active_count() {
  auto& r = reg();
  std::scoped_lock g(r.m);
  return r.live.size();
}

std::vector<std::shared_ptr<Thread>> enumerate() {
  auto& r = reg();
  std::vector<std::shared_ptr<Thread>> out;
  std::scoped_lock g(r.m);
  out.reserve(r.live.size());
  for (const auto& [st, view] : r.live) out.push_back(view);
  return out;
}

std::size_t stack_size() {
  auto& r = reg();
  std::scoped_lock g(r.m);
  return r.stack_size;
}

std::size_t stack_size(std::size_t size) {
  if (size != 0 && size < 32768)
    throw ValueError("size not valid: " + std::to_string(size) + " bytes (0 or at least 32 KiB)");
  auto& r = reg();
  std::scoped_lock g(r.m);
  const std::size_t old = r.stack_size;
  r.stack_size = size;
  return old;
}

// ---- excepthook ---------------------------------------------------------------

void default_excepthook(const ExceptHookArgs& args) {
  std::string type, what;
  describe(args.exc_value, type, what);
  const std::string name = args.thread ? args.thread->name() : std::to_string(get_ident());
  write_stderr("Exception in thread " + name + ":\n" + type + ": " + what + "\n");
}

ExceptHook set_excepthook(ExceptHook hook) {
  auto& r = reg();
  std::scoped_lock g(r.hook_m);
  ExceptHook old = std::move(r.hook);
  r.hook = std::move(hook);
  if (!old) old = default_excepthook;
  return old;
}

ExceptHook get_excepthook() {
  auto& r = reg();
  std::scoped_lock g(r.hook_m);
  return r.hook ? r.hook : ExceptHook(default_excepthook);
}

void excepthook(const ExceptHookArgs& args) {
  ExceptHook hook = get_excepthook();
  hook(args);
}

}  // namespace concur::threading
