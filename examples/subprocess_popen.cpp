// subprocess tour, part 2: Popen — feeding stdin, communicate, a pipeline.
//
// Python:
//   p = subprocess.Popen(["tr", "a-z", "A-Z"], stdin=PIPE, stdout=PIPE, text=True)
//   out, err = p.communicate("hello from the parent\n", timeout=10)
//
//   ls = subprocess.Popen(["ls", "/"], stdout=PIPE)
//   grep = subprocess.Popen(["grep", "-c", "."], stdin=ls.stdout, stdout=PIPE)
//   ls.stdout.close()          # so that ls gets SIGPIPE if grep exits
//   out, _ = grep.communicate(timeout=10)
#include <concur/subprocess.hpp>
#include <iostream>

#include "tour.hpp"

// expect: child said: HELLO FROM THE PARENT
// expect: returncode 0
// expect: line by line: one\|two\|
// expect: entries in /: [0-9]+
// expect: ls returncode 0, grep returncode 0
CONCUR_TOUR_PART(subprocess_popen, "subprocess.Popen: stdin, communicate, ls / | grep -c .") {
  namespace subprocess = concur::subprocess;
  using namespace std::chrono_literals;

  // Feed a child's stdin and collect its output, without deadlock whatever the sizes.
  subprocess::Popen p({"tr", "a-z", "A-Z"},
                      {.stdin_ = subprocess::PIPE, .stdout_ = subprocess::PIPE, .text = true});
  auto [out, err] = p.communicate("hello from the parent\n", 10s);
  std::cout << "child said: " << *out;
  std::cout << "returncode " << *p.returncode() << "\n";

  // The pipe ends are small file objects.
  subprocess::Popen cat({"cat"}, {.stdin_ = subprocess::PIPE, .stdout_ = subprocess::PIPE});
  cat.stdin_.write("one\ntwo\n");
  cat.stdin_.close();
  std::cout << "line by line: ";
  for (std::string line; !(line = cat.stdout_.readline()).empty();)
    std::cout << line.substr(0, line.size() - 1) << "|";
  std::cout << "\n";
  cat.wait(10s);

  // A two-process pipeline: ls / | grep -c .
  subprocess::Popen ls({"ls", "/"}, {.stdout_ = subprocess::PIPE});
  subprocess::Popen grep({"grep", "-c", "."}, {.stdin_ = ls.stdout_, .stdout_ = subprocess::PIPE});
  ls.stdout_.close();  // the parent's copy: EOF and SIGPIPE must reach the children
  auto [count, _] = grep.communicate(10s);
  std::cout << "entries in /: " << *count;
  std::cout << "ls returncode " << ls.wait(10s) << ", grep returncode " << *grep.returncode()
            << "\n";
}
