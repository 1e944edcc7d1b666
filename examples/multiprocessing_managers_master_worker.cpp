// multiprocessing.managers: the seed's distributed processes. A master serves a task queue and
// a result queue through a BaseManager at an address with an authkey, puts ten random numbers
// and reads ten results; a worker connects to that address with the same authkey, takes the
// numbers and puts back their squares. The code of both is examples/seed_queue.hpp.
//
// Here both run on loopback: the master in this process (its manager's server is a child
// process), the worker in an mp::Process started once the master listens, as a program on
// another machine would connect. Run them as two programs (or on two machines) with
//
//   build/dev/examples/concur-seed-queue master 127.0.0.1 5000 abc
//   build/dev/examples/concur-seed-queue worker 127.0.0.1 5000 abc     # another terminal
//
// (tests/multiprocessing/managers_seed_test.cpp does, also with the worker in a network
// namespace of its own.)
#include <chrono>
#include <optional>
#include <string>

#include "concur/bytes.hpp"
#include "concur/exceptions.hpp"
#include "concur/multiprocessing.hpp"
#include "seed_queue.hpp"
#include "tour.hpp"

// expect: ===.Serving on 127\.0\.0\.1:[0-9]+
// expect: Connect to server 127\.0\.0\.1:[0-9]+\.\.\.
// expect: Put task [0-9]+\.\.\.
// expect: Try get results\.\.\.
// expect: run task [0-9]+ \* [0-9]+\.\.\.
// expect: Result: [0-9]+ \* [0-9]+ = [0-9]+
// expect: master exit\.
// expect: worker exit\.

namespace mp = concur::mp;

namespace {

void seed_worker(const std::string& host, int port, const concur::Bytes& authkey) {
  if (seed::worker(host, port, authkey) != 0) mp::exit(1);
}
CONCUR_REGISTER(seed_worker);

}  // namespace

CONCUR_TOUR_PART(multiprocessing_managers_master_worker,
                 "BaseManager: the seed's master and worker, sharing two queues over TCP") {
  const std::string host = "127.0.0.1";
  const concur::Bytes authkey("abc");
  std::optional<mp::Process> worker;
  const int rc = seed::master(host, 0, authkey, [&](int port) {
    worker.emplace(mp::fn<&seed_worker>, host, port, authkey);
    worker->start();
  });
  if (worker && !worker->join(std::chrono::seconds(20))) {
    worker->kill();
    worker->join();
    throw concur::RuntimeError("the worker did not finish within 20 s");
  }
  if (rc != 0 || !worker || worker->exitcode() != 0)
    throw concur::RuntimeError("the master or the worker failed");
}
