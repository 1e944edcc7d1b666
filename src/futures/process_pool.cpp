// ProcessPoolExecutor: the futures face of the process-pool engine
// (src/multiprocessing/pool/engine.hpp).
#include "concur/futures/process_pool.hpp"

#include <atomic>
#include <csignal>
#include <string>
#include <utility>

#include "multiprocessing/pool/engine.hpp"
#include "os/futex.hpp"

namespace concur::futures {
namespace {

std::atomic<int> g_pool_counter{1};

detail::EngineOptions engine_options(ProcessPoolOptions& options, detail::WorkerStart start,
                                     const char* face) {
  if (options.max_workers && *options.max_workers <= 0)
    throw ValueError(start == detail::WorkerStart::on_demand
                         ? "max_workers must be greater than 0"
                         : "Number of processes must be at least 1");
  if (options.max_tasks_per_child) {
    if (*options.max_tasks_per_child <= 0) {
      throw ValueError(start == detail::WorkerStart::on_demand
                           ? "max_tasks_per_child must be >= 1"
                           : "maxtasksperchild must be a positive int or None");
    }
    const auto method = options.mp_context ? options.mp_context->method() : std::nullopt;
    if (start == detail::WorkerStart::on_demand && method == multiprocessing::StartMethod::fork) {
      throw ValueError(
          "max_tasks_per_child is incompatible with the 'fork' multiprocessing start method; "
          "supply a different mp_context.");
    }
  }
  detail::EngineOptions e;
  e.processes = options.max_workers.value_or(static_cast<int>(os::cpu_count()));
  e.context = options.mp_context;
  e.initializer = options.initializer.request();
  e.max_tasks_per_worker = options.max_tasks_per_child.value_or(0);
  e.on_death = options.on_worker_death;
  e.start = start;
  e.name = std::string(face) + "-" + std::to_string(g_pool_counter.fetch_add(1));
  return e;
}

}  // namespace

ProcessPoolExecutor::ProcessPoolExecutor(ProcessPoolOptions options)
    : ProcessPoolExecutor(std::move(options), detail::WorkerStart::on_demand) {}

ProcessPoolExecutor::ProcessPoolExecutor(ProcessPoolOptions options, detail::WorkerStart start)
    : engine_(std::make_unique<detail::ProcessPoolEngine>(engine_options(
          options, start,
          start == detail::WorkerStart::on_demand ? "ProcessPoolExecutor" : "Pool"))) {}

ProcessPoolExecutor::~ProcessPoolExecutor() {
  try {
    shutdown(true);
  } catch (...) {  // from a done callback: the engine's destructor decides
  }
}

void ProcessPoolExecutor::submit_task(concur::futures::detail::StateBase* task) {
  engine_->submit(task);
}

void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  if (cancel_futures) engine_->cancel_pending();
  engine_->close();
  if (wait) (void)engine_->join(Deadline{});
}

void ProcessPoolExecutor::terminate_workers() { stop_workers(SIGTERM); }
void ProcessPoolExecutor::kill_workers() { stop_workers(SIGKILL); }

void ProcessPoolExecutor::stop_workers(int signal) { engine_->stop_workers(signal); }

bool ProcessPoolExecutor::join_workers(Timeout timeout) { return engine_->join(Deadline(timeout)); }

int ProcessPoolExecutor::max_workers() const noexcept { return engine_->processes(); }
std::vector<int> ProcessPoolExecutor::pids() const { return engine_->pids(); }
bool ProcessPoolExecutor::broken() const noexcept { return engine_->broken(); }

}  // namespace concur::futures
