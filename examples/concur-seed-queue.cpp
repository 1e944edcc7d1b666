// concur-seed-queue: the seed's task_master.py and task_worker.py as one program with two
// modes (the code of both: examples/seed_queue.hpp).
//
//   concur-seed-queue master [HOST [PORT [AUTHKEY]]]   serves at HOST:PORT, puts ten tasks,
//                                                      reads ten results, exits
//   concur-seed-queue worker [HOST [PORT [AUTHKEY]]]   connects to HOST:PORT, answers tasks
//                                                      until the task queue stays empty
//
// Defaults are the seed's: 127.0.0.1, port 5000, authkey "abc". PORT 0 makes the master pick
// a free port (it prints "Serving on HOST:PORT" first). Exit code 0 when all went well, 1
// when a result was missing or wrong, 2 for a usage error, 3 for an exception (printed).
//
// (Not a tour part: its file name has no "_", so examples/CMakeLists.txt builds it alone.)
#include <exception>
#include <iostream>
#include <string>

#include "concur/bytes.hpp"
#include "concur/multiprocessing.hpp"
#include "seed_queue.hpp"

int main(int argc, char** argv) {
  // First: the manager's server may be started by spawn or forkserver, which run it here.
  concur::mp::main_guard(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (argc > 5 || (mode != "master" && mode != "worker")) {
    std::cerr << "usage: concur-seed-queue master|worker [HOST [PORT [AUTHKEY]]]\n";
    return 2;
  }
  const std::string host = argc > 2 ? argv[2] : "127.0.0.1";
  int port = 5000;
  if (argc > 3) {
    try {
      port = std::stoi(argv[3]);
    } catch (const std::exception&) {
      port = -1;
    }
    if (port < 0 || port > 65535) {
      std::cerr << "concur-seed-queue: bad port " << argv[3] << "\n";
      return 2;
    }
  }
  const concur::Bytes authkey(argc > 4 ? argv[4] : "abc");
  try {
    return mode == "master" ? seed::master(host, port, authkey) : seed::worker(host, port, authkey);
  } catch (const concur::mp::AuthenticationError& e) {  // the authkeys differ
    std::cerr << "concur-seed-queue " << mode << ": AuthenticationError: " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "concur-seed-queue " << mode << ": " << e.what() << "\n";
    return 3;
  }
}
