// multiprocessing.Pool: the second face of the process-pool engine (pool.hpp).
#include "concur/multiprocessing/pool.hpp"

#include <csignal>
#include <cstdint>
#include <string>

namespace concur::multiprocessing {
namespace {

futures::ProcessPoolOptions executor_options(PoolOptions& options) {
  if (options.maxtasksperchild && *options.maxtasksperchild > INT32_MAX) {
    throw ValueError("maxtasksperchild must be a positive int or None");
  }
  return futures::ProcessPoolOptions{
      .max_workers = options.processes,
      .mp_context = options.context,
      .initializer = std::move(options.initializer),
      .max_tasks_per_child = options.maxtasksperchild
                                 ? std::optional<int>(static_cast<int>(*options.maxtasksperchild))
                                 : std::nullopt,
      .on_worker_death = options.on_worker_death,
  };
}

}  // namespace

Pool::Pool(PoolOptions options)
    : ProcessPoolExecutor(executor_options(options), futures::detail::WorkerStart::all_at_once) {}

Pool::~Pool() {
  try {
    terminate();
    join();
  } catch (...) {  // from a done callback: the engine's destructor decides
  }
}

void Pool::check_running() const {
  std::lock_guard lock(state_mu_);
  if (state_ != State::run) throw ValueError("Pool not running");
}

void Pool::bad_chunksize(long chunksize) {
  throw ValueError("Chunksize must be 1+, not " + std::to_string(chunksize));
}

long Pool::default_chunksize(std::size_t n) const noexcept {
  const auto per = static_cast<std::size_t>(processes()) * 4;
  return static_cast<long>(n / per + (n % per != 0 ? 1 : 0));
}

void Pool::close() {
  {
    std::lock_guard lock(state_mu_);
    if (state_ != State::run) return;
    state_ = State::close;
  }
  shutdown(false);
}

void Pool::terminate() {
  {
    std::lock_guard lock(state_mu_);
    if (state_ == State::terminate) return;
    state_ = State::terminate;
  }
  stop_workers(SIGTERM);
}

void Pool::join() { (void)join(Timeout{}); }

bool Pool::join(Timeout timeout) {
  {
    std::lock_guard lock(state_mu_);
    if (state_ == State::run) throw ValueError("Pool is still running");
  }
  return join_workers(timeout);
}

}  // namespace concur::multiprocessing
