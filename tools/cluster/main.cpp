// concur-cluster: looks at and empties the queue of a concur::distributed namespace, in the
// spirit of `rq info` / `celery inspect` and `rq empty` / `celery purge`.
//
//   concur-cluster [--url URL] [--password PW] [--namespace NS] [--timeout S] info [--json]
//   concur-cluster [...] purge [--all] [--yes] [--json]
//
// The connection options may also come after the subcommand, and from the environment:
// CONCUR_REDIS_URL, CONCUR_REDIS_PASSWORD (better than --password, which `ps` shows),
// CONCUR_NAMESPACE. Every connect and command is bounded by --timeout (5 s): an unreachable
// Redis is an error, never a hang.
//
// Exit codes: 0 done; 1 Redis could not be reached, refused the password or answered an
// error, or a purge was not confirmed; 2 a usage error (bad option, malformed URL, purge
// without --yes when standard input is not a terminal).
//
// The design (what it reads and removes): docs/design/0007-distributed.md §8.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <iostream>
#include <optional>
#include <string>

#include "cluster.hpp"
#include "concur/distributed/errors.hpp"
#include "concur/exceptions.hpp"
#include "os/terminal.hpp"

namespace {

namespace cc = concur_cluster;
namespace detail = concur::distributed::detail;

constexpr const char* kFooter =
    R"(Environment: CONCUR_REDIS_URL, CONCUR_REDIS_PASSWORD, CONCUR_NAMESPACE.
Exit codes: 0 done; 1 Redis unreachable, password refused, an error reply, or a purge not
confirmed; 2 usage error.)";

struct Options {
  std::string url = "redis://127.0.0.1:6379/0";
  std::string password;
  std::string ns = "concur";
  double timeout = 5.0;
  bool json = false;
  bool all = false;
  bool yes = false;
};

int fail(const std::string& message, int code) {
  std::cerr << "concur-cluster: " << message << "\n";
  return code;
}

// Asks on the terminal; true for "y" or "yes".
bool confirm(const cc::Target& target, bool all) {
  const cc::Info info = cc::read_info(target);
  std::cerr << "Remove the " << info.queued << " queued task(s) of namespace '" << target.ns
            << "' on redis " << info.redis;
  if (all) {
    std::cerr << ", then delete all " << cc::keys_with_prefix(target, target.keys.prefix()).size()
              << " key(s) of the namespace (results lists, heartbeats, counters)";
  }
  std::cerr << "? [y/N] " << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line == "y" || line == "Y" || line == "yes";
}

int run(const Options& o, CLI::App* info_cmd, CLI::App* purge_cmd) {
  if (o.ns.empty()) return fail("--namespace must not be empty", 2);
  detail::RedisAddress address = detail::parse_url(o.url);  // ValueError: exit 2
  if (!o.password.empty()) address.password = o.password;
  const auto timeout =
      std::chrono::milliseconds(std::max<long long>(1, std::llround(o.timeout * 1000.0)));
  detail::Redis redis(address, {timeout, timeout});
  const cc::Target target{redis, detail::Keys(o.ns), o.ns};
  if (info_cmd->parsed()) {
    const cc::Info info = cc::read_info(target);
    if (o.json) {
      cc::print_info_json(info, std::cout);
    } else {
      cc::print_info_table(info, std::cout);
    }
    return 0;
  }
  if (purge_cmd->parsed()) {
    if (!o.yes) {
      if (!concur::os::is_terminal(0)) {
        return fail(
            "purge: refusing to remove anything without --yes (standard input is not "
            "a terminal to ask on)",
            2);
      }
      if (!confirm(target, o.all)) {
        std::cerr << "Nothing removed.\n";
        return 1;
      }
    }
    // With --all the results lists go too: answering the purged tasks would be lost.
    cc::PurgeResult result = cc::purge_queued(target, !o.all);
    if (o.all) cc::delete_namespace(target, result);
    if (o.json) {
      cc::print_purge_json(result, o.ns, o.all, std::cout);
    } else {
      cc::print_purge_text(result, o.ns, o.all, std::cout);
    }
    return 0;
  }
  return 2;  // CLI11 requires a subcommand: not reached
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Looks at and empties the task queue of a concur::distributed namespace.",
               "concur-cluster"};
  app.footer(kFooter);
  app.set_version_flag("--version", "concur-cluster " CONCUR_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // the options below may follow the subcommand
  Options o;
  app.add_option("--url", o.url, "redis://[[user]:password@]host[:port][/db]")
      ->envname("CONCUR_REDIS_URL")
      ->capture_default_str();
  app.add_option("--password", o.password,
                 "Redis password (overrides the URL's; the environment variable keeps it out "
                 "of `ps`)")
      ->envname("CONCUR_REDIS_PASSWORD");
  app.add_option("-n,--namespace", o.ns, "the namespace of the executors and workers")
      ->envname("CONCUR_NAMESPACE")
      ->capture_default_str();
  app.add_option("--timeout", o.timeout, "seconds each connect and command may take")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  CLI::App* info = app.add_subcommand(
      "info",
      "workers (host, pid, concurrency, tasks running and done, last heartbeat) and "
      "task counts (queued, running, done, failed)");
  info->add_flag("--json", o.json, "one JSON object instead of the table");

  CLI::App* purge = app.add_subcommand(
      "purge",
      "removes the queued tasks (those no worker took yet; their clients get a RuntimeError "
      "for each) and prints what was removed; asks first on a terminal, else needs --yes");
  purge->add_flag("--all", o.all,
                  "also delete every key of the namespace (results lists, heartbeats, "
                  "counters): for a namespace no client uses any more");
  purge->add_flag("-y,--yes", o.yes, "do not ask");
  purge->add_flag("--json", o.json, "one JSON object instead of the text");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints the help, the version or the error
    return rc == 0 ? 0 : 2;
  }
  try {
    return run(o, info, purge);
  } catch (const concur::ValueError& e) {  // a malformed URL
    return fail(e.what(), 2);
  } catch (const concur::PermissionError& e) {  // AUTH refused
    return fail(
        std::string(e.what()) + " (is the password right? --password or CONCUR_REDIS_PASSWORD)", 1);
  } catch (const concur::TimeoutError& e) {
    return fail(std::string("cannot reach Redis: ") + e.what(), 1);
  } catch (const concur::OSError& e) {  // ConnectionRefusedError, ...
    return fail(std::string("cannot reach Redis: ") + e.what(), 1);
  } catch (const concur::distributed::RedisError& e) {
    std::string what = e.what();
    if (what.find("NOAUTH") != std::string::npos) {
      what += " (Redis wants a password: --password or CONCUR_REDIS_PASSWORD)";
    }
    return fail(what, 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
