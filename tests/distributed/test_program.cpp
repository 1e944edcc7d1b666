// A user's program in both roles, for tests/distributed/executor_test.cpp: run normally it is
// a client (`concur_distributed_test_program <redis url>` submits cube(1..5) and prints the
// results); run with --concur-worker=<redis url>, mp::main_guard makes it a worker instead
// (distributed::serve until SIGTERM), so main's body never runs.
#include <chrono>
#include <cstdio>

#include "concur/distributed.hpp"
#include "concur/multiprocessing.hpp"

int cube(int n) { return n * n * n; }
CONCUR_REGISTER(cube);

int main(int argc, char** argv) {
  concur::mp::main_guard(argc, argv);  // --concur-worker=<url>: serves, then exits
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <redis url> | --concur-worker=<redis url>\n", argv[0]);
    return 2;
  }
  concur::distributed::Executor ex({.url = argv[1]});
  for (int i = 1; i <= 5; ++i)
    std::printf("%d\n", ex.submit(&cube, i).result(std::chrono::seconds(20)));
  return 0;
}
