// concur/subprocess/completed_process.hpp: what run() returns.
//
//   auto r = subprocess::run({"echo", "hi"}, {.capture_output = true});
//   std::cout << r;   // CompletedProcess(args=['echo', 'hi'], returncode=0,
//                     //                  stdout=b'hi\n', stderr=b'')
//   r.check_returncode();  // throws CalledProcessError when returncode != 0
//
// Python parity: stdout_/stderr_ are std::nullopt when not captured (Python's
// None) and then left out of the repr, as in Python. Bytes and text are both
// std::string; `text` records which one run() produced, so that the repr prints
// b'...' or '...' as Python would.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "concur/subprocess/args.hpp"

namespace concur::subprocess {

struct CompletedProcess {
  Args args;                           ///< as given to run()
  int returncode = 0;                  ///< exit status, or -N after signal N
  std::optional<std::string> stdout_;  ///< captured stdout, or nullopt
  std::optional<std::string> stderr_;  ///< captured stderr, or nullopt
  bool text = false;                   ///< run in text mode (affects repr only)

  /// Throws CalledProcessError when returncode != 0.
  void check_returncode() const;
  /// Python's repr().
  [[nodiscard]] std::string repr() const;
};

/// Writes repr().
std::ostream& operator<<(std::ostream& os, const CompletedProcess& cp);

}  // namespace concur::subprocess
