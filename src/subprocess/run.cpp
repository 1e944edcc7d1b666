// run, call, check_call, check_output, getoutput, getstatusoutput.
#include "concur/subprocess/run.hpp"

#include <chrono>

#include "concur/exceptions.hpp"
#include "concur/subprocess/exceptions.hpp"
#include "concur/subprocess/popen.hpp"

namespace concur::subprocess {

namespace {

// After a timeout, pipes are drained for at most this long once the child is dead:
// grandchildren outside its process group may hold them open.
constexpr auto kDrainGrace = std::chrono::milliseconds(250);

PopenOptions popen_options(const RunOptions& o) {
  PopenOptions p;
  p.stdin_ = o.stdin_;
  p.stdout_ = o.stdout_;
  p.stderr_ = o.stderr_;
  p.shell = o.shell;
  p.cwd = o.cwd;
  p.text = o.text;
  p.env = o.env;
  p.executable = o.executable;
  p.close_fds = o.close_fds;
  p.pass_fds = o.pass_fds;
  p.start_new_session = o.start_new_session;
  p.process_group = o.process_group;
  p.restore_signals = o.restore_signals;
  p.pipesize = o.pipesize;
  return p;
}

// Kills (the group of) a child that overstayed and reaps it; never throws.
void kill_and_reap(Popen& p) noexcept {
  try {
    detail::PopenAccess::kill_for_timeout(p);
    p.wait();
  } catch (...) {  // the destructor still kills and reaps
  }
}

}  // namespace

CompletedProcess run(Args args, RunOptions o) {
  if (o.input && o.stdin_.is_set())
    throw ValueError("stdin and input arguments may not both be used.");
  if (o.capture_output && (o.stdout_.is_set() || o.stderr_.is_set()))
    throw ValueError("stdout and stderr arguments may not be used with capture_output.");
  PopenOptions po = popen_options(o);
  if (o.input) po.stdin_ = PIPE;
  if (o.capture_output) po.stdout_ = po.stderr_ = PIPE;

  Popen p(std::move(args), std::move(po));
  CommunicateResult res;
  try {
    res = p.communicate(std::move(o.input), o.timeout);
  } catch (const TimeoutExpired& e) {
    kill_and_reap(p);
    try {
      p.communicate(kDrainGrace);
    } catch (...) {  // what was read is kept in p either way
    }
    throw TimeoutExpired(p.args(), e.timeout, detail::PopenAccess::raw_stdout(p),
                         detail::PopenAccess::raw_stderr(p));
  } catch (...) {
    kill_and_reap(p);
    throw;
  }
  const int rc = p.wait();
  if (o.check && rc != 0) throw CalledProcessError(rc, p.args(), res.stdout_, res.stderr_);
  return CompletedProcess{p.args(), rc, std::move(res.stdout_), std::move(res.stderr_), o.text};
}

int call(Args args, const RunOptions& o) {
  if (o.input) throw TypeError("call() got an unexpected keyword argument 'input'");
  if (o.capture_output)
    throw TypeError("call() got an unexpected keyword argument 'capture_output'");
  if (o.check) throw TypeError("call() got an unexpected keyword argument 'check'");
  Popen p(std::move(args), popen_options(o));
  try {
    return p.wait(o.timeout);
  } catch (...) {
    kill_and_reap(p);
    throw;
  }
}

int check_call(Args args, const RunOptions& o) {
  Args cmd = args;
  const int rc = call(std::move(args), o);
  if (rc != 0) throw CalledProcessError(rc, std::move(cmd));
  return 0;
}

std::string check_output(Args args, RunOptions o) {
  if (o.stdout_.is_set() || o.capture_output)
    throw ValueError("stdout argument not allowed, it will be overridden.");
  if (o.check) throw TypeError("check_output() got multiple values for keyword argument 'check'");
  o.stdout_ = PIPE;
  o.check = true;
  return std::move(*run(std::move(args), std::move(o)).stdout_);
}

std::pair<int, std::string> getstatusoutput(const std::string& cmd) {
  int status = 0;
  std::string data;
  try {
    data = check_output(cmd, {.stderr_ = STDOUT, .shell = true, .text = true});
  } catch (const CalledProcessError& e) {
    data = e.stdout_.value_or("");
    status = e.returncode;
  }
  if (!data.empty() && data.back() == '\n') data.pop_back();
  return {status, std::move(data)};
}

std::string getoutput(const std::string& cmd) { return getstatusoutput(cmd).second; }

}  // namespace concur::subprocess
