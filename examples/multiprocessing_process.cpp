// multiprocessing: a Process running a function in a child process (the Python docs' first
// Process example, with its info() helper).
//
// The program's main() starts with concur::mp::main_guard(argc, argv) (examples/tour.cpp):
// the default start method, forkserver, runs children from a fresh copy of the program,
// which must not run main's body again — Python's `if __name__ == '__main__':`.
// "module name" has no C++ counterpart: both sides say "main". The parent process id is
// mp::parent_process()->pid() in the child (under forkserver getppid() would name the
// server, which forked it).
#include <unistd.h>

#include <iostream>
#include <string>

#include "concur/multiprocessing.hpp"
#include "tour.hpp"

// expect: main line
// expect: function f
// expect: module name: main
// expect: parent process: [0-9]+
// expect: process id: [0-9]+
// expect: hello bob
// expect: the child's parent is this process: yes
// expect: exitcode: 0

namespace mp = concur::mp;

namespace {

void info(const std::string& title) {
  const mp::ParentProcess* parent = mp::parent_process();
  std::cout << title << "\n"
            << "module name: main\n"
            << "parent process: " << (parent != nullptr ? parent->pid() : ::getppid()) << "\n"
            << "process id: " << ::getpid() << "\n"
            << std::flush;
}

void f(std::string name, int main_pid) {
  info("function f");
  std::cout << "hello " << name << "\n";
  std::cout << "the child's parent is this process: "
            << (mp::parent_process()->pid() == main_pid ? "yes" : "no") << "\n"
            << std::flush;
}

}  // namespace

CONCUR_TOUR_PART(multiprocessing_process, "a Process, its pid and its parent's") {
  info("main line");
  mp::Process p(mp::fn<&f>, std::string("bob"), static_cast<int>(::getpid()));
  p.start();
  p.join();
  std::cout << "exitcode: " << *p.exitcode() << "\n";
}
