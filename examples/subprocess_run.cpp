// subprocess tour, part 1: run() — the classic tutorial's first steps.
//
// Python:
//   r = subprocess.run(["ls", "-l", "/"], capture_output=True, text=True)
//   print(r.returncode, r.stdout.splitlines()[0])
//   print(subprocess.run(["echo", "hello"], capture_output=True))
//   try:
//       subprocess.run("exit 1", shell=True, check=True)
//   except subprocess.CalledProcessError as e:
//       print(e)
#include <concur/subprocess.hpp>
#include <iostream>

#include "tour.hpp"

// clang-format off
// expect: ls -l / exited with 0
// expect: first line: total [0-9]+
// expect: CompletedProcess\(args=\['echo', 'hello'\], returncode=0, stdout=b'hello\\n', stderr=b''\)
// expect: CalledProcessError: Command 'exit 1' returned non-zero exit status 1\.
// expect: returncode 1
// expect: TimeoutExpired: Command '\['sleep', '10'\]' timed out after 0\.2 seconds
// clang-format on
CONCUR_TOUR_PART(subprocess_run, "subprocess.run: capture, check, CompletedProcess, timeout") {
  namespace subprocess = concur::subprocess;
  using namespace std::chrono_literals;

  // ls -l, captured as text.
  auto r = subprocess::run({"ls", "-l", "/"}, {.capture_output = true, .text = true});
  std::cout << "ls -l / exited with " << r.returncode << "\n";
  std::cout << "first line: " << r.stdout_->substr(0, r.stdout_->find('\n')) << "\n";

  // A CompletedProcess prints like Python's repr.
  std::cout << subprocess::run({"echo", "hello"}, {.capture_output = true}) << "\n";

  // check=true turns a failure into CalledProcessError.
  try {
    subprocess::run("exit 1", {.shell = true, .check = true});
  } catch (const subprocess::CalledProcessError& e) {
    std::cout << "CalledProcessError: " << e.what() << "\n";
    std::cout << "returncode " << e.returncode << "\n";
  }

  // A timeout kills the child and throws.
  try {
    subprocess::run({"sleep", "10"}, {.timeout = 200ms});
  } catch (const subprocess::TimeoutExpired& e) {
    std::cout << "TimeoutExpired: " << e.what() << "\n";
  }
}
