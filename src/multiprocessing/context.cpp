// Start methods, contexts and main_guard (context.hpp).
#include "concur/multiprocessing/context.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "process_impl.hpp"

namespace concur::multiprocessing {
namespace detail {

namespace {
std::mutex g_method_mutex;
std::optional<StartMethod> g_method;
std::atomic<bool> g_guard_called{false};
const char* g_argv0 = "concur-child";
}  // namespace

StartMethod default_method() {
  std::lock_guard lock(g_method_mutex);
  if (!g_method) g_method = StartMethod::forkserver;
  return *g_method;
}

void force_start_method(StartMethod m) noexcept {
  std::lock_guard lock(g_method_mutex);
  g_method = m;
}

bool main_guard_called() noexcept { return g_guard_called.load(); }
const char* program_argv0() noexcept { return g_argv0; }

}  // namespace detail

std::string_view to_string(StartMethod m) noexcept {
  switch (m) {
    case StartMethod::fork:
      return "fork";
    case StartMethod::spawn:
      return "spawn";
    case StartMethod::forkserver:
      return "forkserver";
  }
  return "?";
}

StartMethod start_method_from_string(std::string_view name) {
  if (name == "fork") return StartMethod::fork;
  if (name == "spawn") return StartMethod::spawn;
  if (name == "forkserver") return StartMethod::forkserver;
  throw ValueError("cannot find context for '" + std::string(name) + "'");
}

namespace {
constexpr Context g_default_context(std::nullopt);
constexpr ForkContext g_fork_context;
constexpr SpawnContext g_spawn_context;
constexpr ForkserverContext g_forkserver_context;
}  // namespace

const Context& get_context() { return g_default_context; }

const Context& get_context(std::string_view method) {
  switch (start_method_from_string(method)) {
    case StartMethod::fork:
      return g_fork_context;
    case StartMethod::spawn:
      return g_spawn_context;
    case StartMethod::forkserver:
      return g_forkserver_context;
  }
  return g_default_context;
}

void set_start_method(std::string_view method, bool force) {
  const StartMethod m = start_method_from_string(method);
  std::lock_guard lock(detail::g_method_mutex);
  if (detail::g_method && !force) throw RuntimeError("context has already been set");
  detail::g_method = m;
}

std::optional<std::string> get_start_method(bool allow_none) {
  if (allow_none) {
    std::lock_guard lock(detail::g_method_mutex);
    if (!detail::g_method) return std::nullopt;
    return std::string(to_string(*detail::g_method));
  }
  return std::string(to_string(detail::default_method()));
}

std::string get_start_method() { return *get_start_method(false); }

std::vector<std::string> get_all_start_methods() { return {"forkserver", "spawn", "fork"}; }

void set_forkserver_preload(const std::vector<std::string>& /*modules*/) {}

// ---- Context ------------------------------------------------------------------------------

std::string Context::get_start_method(bool allow_none) const {
  if (method_) return std::string(to_string(*method_));
  auto m = multiprocessing::get_start_method(allow_none);
  return m ? *m : std::string();
}

void Context::set_start_method(std::string_view method, bool force) const {
  if (method_) throw ValueError("cannot set start method of concrete context");
  multiprocessing::set_start_method(method, force);
}

const Context& Context::get_context() const {
  if (method_) return *this;
  return multiprocessing::get_context(to_string(detail::default_method()));
}

const Context& Context::get_context(std::string_view method) const {
  return multiprocessing::get_context(method);
}

std::vector<std::string> Context::get_all_start_methods() const {
  return multiprocessing::get_all_start_methods();
}

int Context::cpu_count() const noexcept { return multiprocessing::cpu_count(); }

Process Context::make(ProcessOptions options, std::unique_ptr<detail::Target> target) const {
  if (method_) return multiprocessing::Process(*method_, std::move(options), std::move(target));
  multiprocessing::Process p(std::move(options));
  p.target_ = std::move(target);
  return p;
}

// ---- main_guard ---------------------------------------------------------------------------

namespace {
struct SwitchEntry {
  std::string prefix;
  detail::MainSwitch handler;
};
std::mutex& switches_mu() {
  static std::mutex mu;
  return mu;
}
std::vector<SwitchEntry>& switches() {
  static std::vector<SwitchEntry> list;
  return list;
}
}  // namespace

void detail::add_main_switch(std::string_view prefix, MainSwitch handler) {
  std::lock_guard lock(switches_mu());
  switches().push_back(SwitchEntry{std::string(prefix), handler});
}

void main_guard(int argc, char** argv) {
  if (argc >= 1 && argv != nullptr && argv[0] != nullptr) detail::g_argv0 = argv[0];
  detail::g_guard_called.store(true);
  if (argc >= 3 && argv[1] != nullptr && argv[2] != nullptr) {
    if (std::strcmp(argv[1], "--concur-mp-child") == 0) {
      ::unsetenv("CONCUR_MP_CHILD");  // NOLINT(concurrency-mt-unsafe): first thing in main
      detail::run_child(std::atoi(argv[2]));
    }
    if (std::strcmp(argv[1], "--concur-mp-forkserver") == 0) {
      ::unsetenv("CONCUR_MP_CHILD");  // NOLINT(concurrency-mt-unsafe): first thing in main
      detail::run_forkserver(std::atoi(argv[2]));
    }
  }
  if (argv == nullptr) return;
  std::vector<SwitchEntry> registered;
  {
    std::lock_guard lock(switches_mu());
    registered = switches();
  }
  for (int i = 1; i < argc && argv[i] != nullptr; ++i) {
    const std::string_view arg(argv[i]);
    for (const SwitchEntry& s : registered) {
      if (arg.substr(0, s.prefix.size()) == s.prefix) {
        const int status = s.handler(arg.substr(s.prefix.size()), argc, argv);
        std::exit(status);  // NOLINT(concurrency-mt-unsafe): the program ends here
      }
    }
  }
}

}  // namespace concur::multiprocessing
