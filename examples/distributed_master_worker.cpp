// distributed: the seed's master/worker on the cluster. The master submits ten n * n tasks
// (random n) through Redis; two worker processes run them; the master prints the results.
// The code of both is examples/seed_cluster.hpp.
//
// The Redis: CONCUR_REDIS_URL (and CONCUR_REDIS_PASSWORD) when set, else a private
// redis-server this part starts on a free loopback port with a random password, and stops at
// its end (tests/support/redis_server.hpp). The workers here are child processes
// (mp::Process) of this program; on other machines they are programs of their own:
//
//   build/dev/examples/concur-seed-cluster worker redis://:secret@10.0.0.5:6379/0   # 2+ times
//   build/dev/examples/concur-seed-cluster master redis://:secret@10.0.0.5:6379/0
//   build/dev/tools/cluster/concur-cluster --url redis://:secret@10.0.0.5:6379/0 info
//
// (tests/distributed/seed_cluster_test.cpp runs them as programs, also with each worker in a
// network namespace of its own.)
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing.hpp"
#include "seed_cluster.hpp"
#include "support/redis_server.hpp"
#include "tour.hpp"

// expect: Connect to redis://[^ ]+\.\.\.
// expect: Worker [0-9]+: connect to redis://[^ ]+\.\.\.
// expect: Put task [0-9]+\.\.\.
// expect: Try get results\.\.\.
// expect: run task [0-9]+ \* [0-9]+\.\.\.
// expect: Result: [0-9]+ \* [0-9]+ = [0-9]+
// expect: master exit\.
// expect: worker exit \([0-9]+ tasks\)\.

namespace mp = concur::mp;

namespace {

void cluster_worker(const std::string& url, const std::string& ns) {
  if (seed_cluster::worker(url, ns) != 0) mp::exit(1);
}
CONCUR_REGISTER(cluster_worker);

}  // namespace

CONCUR_TOUR_PART(distributed_master_worker,
                 "Executor and serve: the seed's master and two workers, through Redis") {
  std::optional<concur::testing::RedisServer> own;
  std::string url;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read only, before any thread is started
  if (const char* configured = std::getenv("CONCUR_REDIS_URL"); configured && *configured) {
    url = configured;
  } else {
    own.emplace();
    url = own->url();
    seed_cluster::say("Started a private redis-server on 127.0.0.1:" + std::to_string(own->port()) +
                      "\n");
  }
  // A namespace of this run's own: a shared Redis may serve others.
  const std::string ns = "tour-" + std::to_string(::getpid());
  std::vector<mp::Process> workers;
  for (int i = 0; i < 2; ++i) {
    workers.emplace_back(mp::fn<&cluster_worker>, url, ns);
    workers.back().start();
  }
  const int rc = seed_cluster::master(url, ns);
  bool stopped = true;
  for (mp::Process& w : workers) {  // SIGTERM: each finishes what it holds, then exits 0
    w.terminate();
    if (!w.join(std::chrono::seconds(20))) {
      w.kill();
      w.join();
      stopped = false;
    }
    stopped = stopped && w.exitcode() == 0;
  }
  if (rc != 0 || !stopped) throw concur::RuntimeError("the master or a worker failed");
}
