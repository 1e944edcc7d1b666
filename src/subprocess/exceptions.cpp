// SubprocessError's family, signal names, CompletedProcess.
#include "concur/subprocess/exceptions.hpp"

#include <signal.h>

#include <charconv>
#include <sstream>

#include "concur/subprocess/completed_process.hpp"

namespace concur::subprocess {

namespace {

struct SignalName {
  int signum;
  const char* name;
};
// Python's signal.Signals on Linux (aliases such as SIGIOT, SIGPOLL, SIGCLD resolve
// to these names).
constexpr SignalName kSignals[] = {
    {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
    {SIGILL, "SIGILL"},       {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},
    {SIGBUS, "SIGBUS"},       {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
    {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
#ifdef SIGSTKFLT
    {SIGSTKFLT, "SIGSTKFLT"},
#endif
    {SIGCHLD, "SIGCHLD"},     {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"},
    {SIGTSTP, "SIGTSTP"},     {SIGTTIN, "SIGTTIN"}, {SIGTTOU, "SIGTTOU"},
    {SIGURG, "SIGURG"},       {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
    {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"},
    {SIGIO, "SIGIO"},
#ifdef SIGPWR
    {SIGPWR, "SIGPWR"},
#endif
    {SIGSYS, "SIGSYS"},
};

std::string seconds_text(double s) {
  // Python prints the number it was given (0.1 -> "0.1", 3 -> "3"): the shortest
  // fixed form that round-trips.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, s, std::chars_format::fixed);
  return std::string(buf, res.ptr);
}

}  // namespace

std::string signal_name(int signum) {
  for (const auto& s : kSignals)
    if (s.signum == signum) return s.name;
  if (signum == SIGRTMIN) return "SIGRTMIN";
  if (signum == SIGRTMAX) return "SIGRTMAX";
  return "";
}

namespace {
std::string called_message(int returncode, const Args& cmd) {
  std::string out = "Command '" + cmd.str() + "' ";
  if (returncode < 0) {
    const int sig = -returncode;
    const std::string name = signal_name(sig);
    if (!name.empty())
      out += "died with <Signals." + name + ": " + std::to_string(sig) + ">.";
    else
      out += "died with unknown signal " + std::to_string(sig) + ".";
  } else {
    out += "returned non-zero exit status " + std::to_string(returncode) + ".";
  }
  return out;
}
}  // namespace

CalledProcessError::CalledProcessError(int rc, Args command, std::optional<std::string> stdout_data,
                                       std::optional<std::string> stderr_data)
    : SubprocessError(called_message(rc, command)),
      returncode(rc),
      cmd(std::move(command)),
      stdout_(std::move(stdout_data)),
      stderr_(std::move(stderr_data)) {}

TimeoutExpired::TimeoutExpired(Args command, std::chrono::duration<double> after,
                               std::optional<std::string> stdout_data,
                               std::optional<std::string> stderr_data)
    : SubprocessError("Command '" + command.str() + "' timed out after " +
                      seconds_text(after.count()) + " seconds"),
      cmd(std::move(command)),
      timeout(after),
      stdout_(std::move(stdout_data)),
      stderr_(std::move(stderr_data)) {}

void CompletedProcess::check_returncode() const {
  if (returncode != 0) throw CalledProcessError(returncode, args, stdout_, stderr_);
}

std::string CompletedProcess::repr() const {
  std::string out =
      "CompletedProcess(args=" + args.repr() + ", returncode=" + std::to_string(returncode);
  const auto value = [&](const std::string& s) { return text ? repr_str(s) : repr_bytes(s); };
  if (stdout_) out += ", stdout=" + value(*stdout_);
  if (stderr_) out += ", stderr=" + value(*stderr_);
  out += ")";
  return out;
}

std::ostream& operator<<(std::ostream& os, const CompletedProcess& cp) { return os << cp.repr(); }

}  // namespace concur::subprocess
