// tour: runs the examples of every module (see tour.hpp).
#include "tour.hpp"

#include <exception>
#include <iostream>
#include <string>

#include "concur/multiprocessing/context.hpp"

int main(int argc, char** argv) {
  // First: a child started by spawn/forkserver runs its target here and never returns.
  concur::multiprocessing::main_guard(argc, argv);
  auto& parts = tour::parts();
  if (argc > 1 && std::string(argv[1]) == "--list") {
    for (const auto& [name, part] : parts) std::cout << name << "  " << part.title << "\n";
    return 0;
  }
  int failures = 0;
  auto run = [&](const std::string& name, const tour::Part& part) {
    std::cout << "=== " << name << ": " << part.title << " ===\n" << std::flush;
    try {
      part.run();
    } catch (const std::exception& e) {
      std::cout << "!!! " << name << " failed: " << e.what() << "\n";
      ++failures;
    }
    std::cout << "\n" << std::flush;
  };
  if (argc == 1) {
    for (const auto& [name, part] : parts) run(name, part);
  } else {
    for (int i = 1; i < argc; ++i) {
      const auto it = parts.find(argv[i]);
      if (it == parts.end()) {
        std::cerr << "tour: no part named " << argv[i] << " (tour --list)\n";
        return 2;
      }
      run(it->first, it->second);
    }
  }
  return failures ? 1 : 0;
}
