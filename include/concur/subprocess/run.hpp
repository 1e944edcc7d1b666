// concur/subprocess/run.hpp: run, call, check_call, check_output, getoutput,
// getstatusoutput.
//
//   auto r = subprocess::run({"ls", "-l"}, {.capture_output = true, .text = true});
//   int rc = subprocess::call({"true"});
//   std::string out = subprocess::check_output({"echo", "hi"});          // "hi\n"
//   std::string who = subprocess::getoutput("whoami");                   // no '\n'
//   auto [status, text] = subprocess::getstatusoutput("exit 3");         // {3, ""}
//
// Blocking: each call starts a child and blocks until it has exited and every
// captured pipe has reached EOF, for at most `timeout`. When the timeout passes,
// the child is killed (SIGKILL; with start_new_session or process_group=0 its
// whole process group, so grandchildren holding the pipes die
// too), reaped, the pipes are drained for at most 250 ms (grandchildren outside
// the group may keep them open) and TimeoutExpired is thrown with the output
// read so far. Any other exception also kills and reaps the child first.
//
// Errors: as Popen (ValueError/TypeError before spawning; concur::OSError when
// the program cannot start), CalledProcessError when check is set (check_call,
// check_output: always) and the returncode is not 0, TimeoutExpired.
//
// Python parity:
// - On a timeout Python kills only the child and does not drain; concur also kills
//   the child's process group when the child leads one, and drains for <= 250 ms, so
//   TimeoutExpired may carry a little more output.
// - call/check_call take RunOptions: input, capture_output and check are a TypeError
//   there (Python: unexpected keyword argument).
// - check_output: `.input = std::nullopt` cannot express Python's explicit
//   `input=None` (empty stdin); pass `.input = ""`.
// - getoutput/getstatusoutput have no encoding/errors parameters (no codecs).
// - KeyboardInterrupt handling does not exist in C++; any exception leaving these
//   calls kills and reaps the child first.
#pragma once

#include <string>
#include <utility>

#include "concur/subprocess/args.hpp"
#include "concur/subprocess/completed_process.hpp"
#include "concur/subprocess/options.hpp"

namespace concur::subprocess {

/// Runs the command, waits for it, returns a CompletedProcess. `input` implies
/// stdin=PIPE; capture_output means stdout_=stderr_=PIPE (ValueError with either
/// set, or with input together with stdin_). Python parity: same semantics.
CompletedProcess run(Args args, RunOptions options = {});

/// Runs the command and returns its returncode. Uses the Popen fields and timeout of
/// `options`; input, capture_output and check are a TypeError (as Python's
/// unexpected keyword arguments).
int call(Args args, const RunOptions& options = {});

/// call(), then CalledProcessError on a non-zero returncode; returns 0.
int check_call(Args args, const RunOptions& options = {});

/// run() with stdout_=PIPE and check=true; returns stdout (newlines translated in
/// text mode). Setting stdout_ or capture_output is a ValueError, check a
/// TypeError (Python: "stdout argument not allowed, it will be overridden.").
/// Python parity: an input of std::nullopt means "inherit stdin"; pass "" for
/// an empty stdin (Python's explicit input=None).
std::string check_output(Args args, RunOptions options = {});

/// Python's getstatusoutput(cmd): runs `cmd` with the shell, stderr merged into
/// stdout, text mode; returns {returncode, output without one trailing '\n'}.
std::pair<int, std::string> getstatusoutput(const std::string& cmd);

/// getstatusoutput(cmd).second.
std::string getoutput(const std::string& cmd);

}  // namespace concur::subprocess
