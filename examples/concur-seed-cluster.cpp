// concur-seed-cluster: the seed's task_master.py and task_worker.py on the cluster, as one
// program with two modes (the code of both: examples/seed_cluster.hpp).
//
//   concur-seed-cluster master URL [NAMESPACE [SECONDS]]
//                                                submits ten n * n tasks through the Redis at
//                                                URL, prints the ten results (waiting at most
//                                                SECONDS, default 30, for each), exits
//   concur-seed-cluster worker URL [NAMESPACE]   runs tasks until SIGTERM / SIGINT (start two
//                                                or more, on any machines that reach Redis)
//
// URL is redis://[[user]:password@]host[:port][/db]; CONCUR_REDIS_PASSWORD, when set, gives
// the password instead (kept out of `ps`). NAMESPACE defaults to "concur". Exit code 0 when
// all went well, 1 when a result was missing or wrong, 2 for a usage error, 3 for an
// exception (printed: Redis unreachable, password refused, ...).
//
// (Not a tour part: its file name has no "_", so examples/CMakeLists.txt builds it alone.)
#include <charconv>
#include <chrono>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

#include "concur/multiprocessing.hpp"
#include "seed_cluster.hpp"

int main(int argc, char** argv) {
  concur::mp::main_guard(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  int seconds = 30;
  if (argc == 5 && mode == "master") {
    const std::string_view s(argv[4]);
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), seconds);
    if (ec != std::errc() || end != s.data() + s.size() || seconds < 1) argc = 0;  // usage
  }
  if (argc < 3 || argc > (mode == "master" ? 5 : 4) || (mode != "master" && mode != "worker")) {
    std::cerr << "usage: concur-seed-cluster master URL [NAMESPACE [SECONDS]]\n"
                 "       concur-seed-cluster worker URL [NAMESPACE]\n";
    return 2;
  }
  const std::string url = argv[2];
  const std::string ns = argc > 3 ? argv[3] : "concur";
  try {
    return mode == "master" ? seed_cluster::master(url, ns, std::chrono::seconds(seconds))
                            : seed_cluster::worker(url, ns);
  } catch (const std::exception& e) {
    std::cerr << "concur-seed-cluster " << mode << ": " << e.what() << "\n";
    return 3;
  }
}
