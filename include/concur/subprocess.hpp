// concur/subprocess.hpp: Python's subprocess module in C++ (namespace
// concur::subprocess).
//
//   #include <concur/subprocess.hpp>
//   namespace subprocess = concur::subprocess;
//
//   auto r = subprocess::run({"ls", "-l"}, {.capture_output = true, .text = true});
//   std::cout << *r.stdout_;
//
//   subprocess::Popen ls({"ls", "/"}, {.stdout_ = subprocess::PIPE});
//   subprocess::Popen count({"grep", "-c", "."}, {.stdin_ = ls.stdout_,
//                                                 .stdout_ = subprocess::PIPE});
//   ls.stdout_.close();   // so that ls gets SIGPIPE if grep stops reading
//   auto [out, err] = count.communicate(std::chrono::seconds(10));
//
// Python → C++:
//   subprocess.run / call / check_call /    run / call / check_call / check_output /
//   check_output / getoutput /              getoutput / getstatusoutput
//   getstatusoutput
//   keyword arguments                       RunOptions / PopenOptions (designated
//                                           initializers, in Python's order)
//   stdin= / stdout= / stderr=              .stdin_ / .stdout_ / .stderr_
//   PIPE, STDOUT, DEVNULL                   PIPE, STDOUT, DEVNULL (same values)
//   CompletedProcess(.stdout, .stderr)      CompletedProcess(.stdout_, .stderr_)
//   Popen(.stdin, .stdout, .stderr)         Popen(.stdin_, .stdout_, .stderr_: PipeFile)
//   Popen.pid / returncode / args           pid() / returncode() / args()
//   SubprocessError, CalledProcessError,    the same names (subprocess/exceptions.hpp)
//   TimeoutExpired
//   FileNotFoundError, PermissionError      concur::FileNotFoundError, PermissionError
//                                           (the OSError family, concur/exceptions.hpp)
//   bytes / str                             std::string (text=true: newline
//                                           translation only)
//   None                                    std::nullopt / an empty PipeFile
//
// Headers: args.hpp (Args), redirect.hpp (PIPE, STDOUT, DEVNULL, Redirect),
// options.hpp (PopenOptions, RunOptions), pipe_file.hpp (PipeFile), popen.hpp
// (Popen), completed_process.hpp, run.hpp, exceptions.hpp.
#pragma once

#include "concur/subprocess/args.hpp"
#include "concur/subprocess/completed_process.hpp"
#include "concur/subprocess/exceptions.hpp"
#include "concur/subprocess/options.hpp"
#include "concur/subprocess/pipe_file.hpp"
#include "concur/subprocess/popen.hpp"
#include "concur/subprocess/redirect.hpp"
#include "concur/subprocess/run.hpp"
