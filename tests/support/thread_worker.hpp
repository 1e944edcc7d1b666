// A cluster worker for the distributed tests: distributed::serve() on a thread of the test
// process (fast heartbeats and polls, no signal handling), stopped and joined at scope end.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <thread>

#include "concur/distributed.hpp"

namespace concur::testing {

class ThreadWorker {
 public:
  explicit ThreadWorker(const std::string& url, int concurrency = 2, int prefetch = 4)
      : thread_([url, concurrency, prefetch](std::stop_token stop) {
          (void)distributed::serve({.url = url,
                                    .concurrency = concurrency,
                                    .prefetch = prefetch,
                                    .stop = stop,
                                    .handle_signals = false,
                                    .poll_interval = std::chrono::milliseconds(50),
                                    .heartbeat_ttl = std::chrono::milliseconds(600)});
        }) {}
  ~ThreadWorker() {
    thread_.request_stop();
    thread_.join();
  }
  ThreadWorker(const ThreadWorker&) = delete;
  ThreadWorker& operator=(const ThreadWorker&) = delete;

 private:
  std::jthread thread_;
};

}  // namespace concur::testing
