// The function registry: calls by name in-process, and across a real fork()ed process.
#include "concur/multiprocessing/registry.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "concur/futures/errors.hpp"

namespace {

namespace mp = concur::multiprocessing;

int add(int a, int b) { return a + b; }
std::string greet(const std::string& name, std::optional<int> times) {
  std::string out;
  for (int i = 0; i < times.value_or(1); ++i) out += "hello " + name + ";";
  return out;
}
std::map<std::string, int> count_words(const std::vector<std::string>& words) {
  std::map<std::string, int> out;
  for (const auto& w : words) ++out[w];
  return out;
}
int divide(int a, int b) {
  if (b == 0) throw concur::ValueError("division by zero");
  return a / b;
}
void fail_pool() { throw concur::futures::BrokenProcessPool("a worker died"); }
struct Custom : std::exception {
  const char* what() const noexcept override { return "custom failure"; }
};
void fail_custom() { throw Custom(); }
int unregistered(int x) { return x; }
int counter = 0;
void bump(int by) noexcept { counter += by; }

}  // namespace

CONCUR_REGISTER(add);
CONCUR_REGISTER(greet);
CONCUR_REGISTER(count_words);
CONCUR_REGISTER(divide);
CONCUR_REGISTER(fail_pool);
CONCUR_REGISTER(fail_custom);
CONCUR_REGISTER_AS(bump, "registry_test.bump");

namespace {

template <class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

TEST(Registry, NamesAndLookup) {
  const mp::RegisteredFunction* f = mp::find_function("add");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->name, "add");
  EXPECT_EQ(f->args_type, "std::tuple<int, int>");
  EXPECT_FALSE(f->ambiguous);
  EXPECT_EQ(mp::function_name(reinterpret_cast<const void*>(&add)), "add");
  EXPECT_EQ(mp::function_name(reinterpret_cast<const void*>(&bump)), "registry_test.bump");
  EXPECT_EQ(mp::find_function("nope"), nullptr);
  // Registering the same function again is harmless; another function under a taken
  // name makes the name unusable rather than silently calling the wrong one.
  EXPECT_EQ(mp::register_function<&add>("add"), "add");
  EXPECT_EQ(mp::register_function<&divide>("registry_test.clash"), "registry_test.clash");
  mp::register_function<&add>("registry_test.clash");
  EXPECT_TRUE(mp::find_function("registry_test.clash")->ambiguous);
  auto reply = mp::invoke(mp::encode_call_by_name("registry_test.clash", 1, 2));
  EXPECT_NE(message_of([&] { mp::decode_result<int>(reply); }).find("two different functions"),
            std::string::npos);
}

TEST(Registry, CallInProcess) {
  EXPECT_EQ(mp::decode_result<int>(mp::invoke(mp::encode_call<&add>(2, 3))), 5);
  EXPECT_EQ(mp::decode_result<std::string>(mp::invoke(mp::encode_call<&greet>("ada", 2))),
            "hello ada;hello ada;");
  EXPECT_EQ(mp::decode_result<std::string>(
                mp::invoke(mp::encode_call<&greet>(std::string("bob"), std::nullopt))),
            "hello bob;");
  const auto words = mp::decode_result<std::map<std::string, int>>(
      mp::invoke(mp::encode_call(&count_words, std::vector<std::string>{"a", "b", "a"})));
  EXPECT_EQ(words, (std::map<std::string, int>{{"a", 2}, {"b", 1}}));
  EXPECT_EQ(mp::decode_result<int>(mp::invoke(mp::encode_call(add, 40, 2))), 42);
  counter = 0;
  mp::decode_result<void>(mp::invoke(mp::encode_call<&bump>(7)));
  EXPECT_EQ(counter, 7);
  // By name, as a caller that does not link the function would.
  EXPECT_EQ(mp::decode_result<int>(mp::invoke(mp::encode_call_by_name("add", 1, 1))), 2);
}

int triple(int x) { return 3 * x; }  // never registered by name
std::string shout(const std::string& s) { return s + "!"; }

TEST(Registry, TemplateFormRegistersByItself) {
  EXPECT_EQ(mp::decode_result<int>(mp::invoke(mp::encode_call<&triple>(5))), 15);
  const std::string_view name = mp::function_name(reinterpret_cast<const void*>(&triple));
  EXPECT_EQ(name.substr(0, 3), "fn:");
  EXPECT_NE(name.find("triple"), std::string_view::npos) << name;
  // Once registered that way, the runtime pointer is known too.
  EXPECT_EQ(mp::decode_result<int>(mp::invoke(mp::encode_call(&triple, 2))), 6);
  // A function also registered by CONCUR_REGISTER keeps working under both names.
  EXPECT_EQ(mp::decode_result<int>(mp::invoke(mp::encode_call_by_name("add", 2, 2))), 4);
  EXPECT_EQ(mp::decode_result<std::string>(mp::invoke(mp::encode_call<&shout>("hey"))), "hey!");
}

TEST(Registry, ExceptionsComeBack) {
  auto reply = mp::invoke(mp::encode_call<&divide>(1, 0));
  EXPECT_THROW(mp::decode_result<int>(reply), concur::ValueError);
  EXPECT_EQ(message_of([&] { mp::decode_result<int>(reply); }), "division by zero");
  EXPECT_THROW(mp::decode_result<void>(mp::invoke(mp::encode_call<&fail_pool>())),
               concur::futures::BrokenProcessPool);
  try {
    mp::decode_result<void>(mp::invoke(mp::encode_call<&fail_custom>()));
    ADD_FAILURE() << "no exception";
  } catch (const mp::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "(anonymous namespace)::Custom");
    EXPECT_EQ(e.message(), "custom failure");
  }
}

TEST(Registry, BadCallsAreExceptionReplies) {
  // An unknown name.
  auto r1 = mp::invoke(mp::encode_call_by_name("no_such_function", 1));
  EXPECT_NE(message_of([&] { mp::decode_result<int>(r1); })
                .find("no function registered as "
                      "'no_such_function'"),
            std::string::npos);
  // Arguments of other types than the parameters (long, not int).
  auto r2 = mp::invoke(mp::encode_call_by_name("add", 1L, 2L));
  EXPECT_THROW(mp::decode_result<int>(r2), concur::TypeError);
  EXPECT_NE(message_of([&] { mp::decode_result<int>(r2); }).find("std::tuple<int, int>"),
            std::string::npos);
  // A malformed request, at every length.
  const auto good = mp::encode_call<&add>(1, 2);
  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<long>(n));
    const auto reply = mp::invoke(cut);
    EXPECT_THROW(mp::decode_result<int>(reply), concur::ValueError) << "at length " << n;
  }
  // Trailing bytes after the arguments.
  auto longer = good;
  longer.push_back(std::byte{0});
  EXPECT_THROW(mp::decode_result<int>(mp::invoke(longer)), concur::ValueError);
  // A malformed reply.
  EXPECT_THROW(mp::decode_result<int>(std::vector<std::byte>{std::byte{1}}), concur::ValueError);
  // A function pointer that was never registered: refused on the submitting side.
  EXPECT_THROW(mp::encode_call(&unregistered, 1), concur::ValueError);
}

TEST(Registry, Closures) {
  // A captureless lambda and a trivially copyable closure: registered automatically.
  auto square = [](int x) { return x * x; };
  EXPECT_EQ(mp::decode_result<int>(mp::invoke(mp::encode_call(square, 9))), 81);
  const int offset = 100;
  const double scale = 0.5;
  auto affine = [offset, scale](int x) { return static_cast<double>(x + offset) * scale; };
  EXPECT_EQ(mp::decode_result<double>(mp::invoke(mp::encode_call(affine, 2))), 51.0);
  const std::string_view name = mp::callable_name<decltype(affine), int>();
  EXPECT_EQ(name.substr(0, 8), "closure:");
  ASSERT_NE(mp::find_function(name), nullptr);
  auto thrower = [](const std::string& s) -> int { throw std::out_of_range(s); };
  EXPECT_THROW(mp::decode_result<int>(mp::invoke(mp::encode_call(thrower, std::string("i")))),
               std::out_of_range);
}

// --- Across a real process boundary ---------------------------------------------------

void write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw std::system_error(errno, std::generic_category(), "write");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// False on EOF before the first byte; throws on EOF in the middle.
bool read_exact(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::system_error(errno, std::generic_category(), "read");
    if (r == 0) {
      if (got == 0) return false;
      throw concur::EOFError("EOF inside a frame");
    }
    got += static_cast<std::size_t>(r);
  }
  return true;
}

void send_frame(int fd, const mp::Buffer& b) {
  const std::uint64_t n = b.size();
  write_all(fd, &n, sizeof n);
  write_all(fd, b.data(), b.size());
}

std::optional<mp::Buffer> recv_frame(int fd) {
  std::uint64_t n = 0;
  if (!read_exact(fd, &n, sizeof n)) return std::nullopt;
  mp::Buffer b(n);
  if (n != 0 && !read_exact(fd, b.data(), n)) throw concur::EOFError("EOF inside a frame");
  return b;
}

// Reads every reply frame until EOF (closing `from`), then reaps the worker `pid`, which
// must have exited with 0.
void drain_and_reap(int from, pid_t pid, std::vector<mp::Buffer>& replies) {
  while (auto r = recv_frame(from)) replies.push_back(std::move(*r));
  ::close(from);
  int status = 0;
  pid_t waited;
  do {
    waited = ::waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  ASSERT_EQ(waited, pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The worker loop a pool process will run: frames in, invoke, frames out, until EOF.
[[noreturn]] void worker(int in_fd, int out_fd) {
  int code = 0;
  try {
    while (auto request = recv_frame(in_fd)) send_frame(out_fd, mp::invoke(*request));
  } catch (...) {
    code = 3;
  }
  ::_exit(code);
}

TEST(RegistryAcrossProcesses, ForkedWorkerInvokesByName) {
  int to_child[2];
  int from_child[2];
  ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    worker(to_child[0], from_child[1]);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);

  auto square = [](int x) { return x * x; };
  send_frame(to_child[1], mp::encode_call<&add>(20, 22));
  send_frame(to_child[1], mp::encode_call<&greet>("proc", 1));
  send_frame(to_child[1], mp::encode_call<&divide>(1, 0));
  send_frame(to_child[1], mp::encode_call(square, 12));
  send_frame(to_child[1], mp::encode_call_by_name("no_such_function"));
  send_frame(to_child[1], mp::encode_call<&triple>(7));
  ::close(to_child[1]);  // EOF: the worker exits after answering

  std::vector<mp::Buffer> replies;
  ASSERT_NO_FATAL_FAILURE(drain_and_reap(from_child[0], pid, replies));

  ASSERT_EQ(replies.size(), 6U);
  EXPECT_EQ(mp::decode_result<int>(replies[0]), 42);
  EXPECT_EQ(mp::decode_result<std::string>(replies[1]), "hello proc;");
  EXPECT_THROW(mp::decode_result<int>(replies[2]), concur::ValueError);
  EXPECT_EQ(message_of([&] { mp::decode_result<int>(replies[2]); }), "division by zero");
  EXPECT_EQ(mp::decode_result<int>(replies[3]), 144);
  EXPECT_THROW(mp::decode_result<void>(replies[4]), concur::ValueError);
  EXPECT_EQ(mp::decode_result<int>(replies[5]), 21);
}

// The premise of the spawn start method: a fresh exec of the same program (another
// address layout) has the same registry, filled before main. The parent execs this test
// binary, filtered to RegistryReExecChild.Serve, which serves requests from fd 100 and
// answers on fd 101; run directly (without the variable) that test is skipped.
constexpr const char* kServeVariable = "CONCUR_MP_TEST_SERVE";
constexpr int kChildIn = 100;
constexpr int kChildOut = 101;

TEST(RegistryReExecChild, Serve) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread touches the environment
  if (std::getenv(kServeVariable) == nullptr) GTEST_SKIP() << "runs only as a re-exec'd child";
  while (auto request = recv_frame(kChildIn)) send_frame(kChildOut, mp::invoke(*request));
  ::close(kChildIn);
  ::close(kChildOut);
}

TEST(RegistryAcrossProcesses, ReExecutedProgramHasTheSameRegistry) {
  int to_child[2];
  int from_child[2];
  ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], kChildIn);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], kChildOut);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::string filter = "--gtest_filter=RegistryReExecChild.Serve";
  std::string self = "/proc/self/exe";
  char* argv[] = {self.data(), filter.data(), nullptr};
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(std::string(kServeVariable) + "=1");
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]);
  ::close(from_child[1]);
  ASSERT_EQ(rc, 0);

  const int base = 1000;
  auto offset = [base](int x) { return x + base; };      // a closure: registered at static init
  send_frame(to_child[1], mp::encode_call<&triple>(7));  // auto-registered function
  send_frame(to_child[1], mp::encode_call_by_name("add", 20, 22));  // CONCUR_REGISTER
  send_frame(to_child[1], mp::encode_call(&count_words, std::vector<std::string>{"x", "x"}));
  send_frame(to_child[1], mp::encode_call(offset, 5));
  send_frame(to_child[1], mp::encode_call<&divide>(1, 0));
  ::close(to_child[1]);
  std::vector<mp::Buffer> replies;
  ASSERT_NO_FATAL_FAILURE(drain_and_reap(from_child[0], pid, replies));

  ASSERT_EQ(replies.size(), 5U);
  EXPECT_EQ(mp::decode_result<int>(replies[0]), 21);
  EXPECT_EQ(mp::decode_result<int>(replies[1]), 42);
  EXPECT_EQ((mp::decode_result<std::map<std::string, int>>(replies[2])),
            (std::map<std::string, int>{{"x", 2}}));
  EXPECT_EQ(mp::decode_result<int>(replies[3]), 1005);
  EXPECT_EQ(message_of([&] { mp::decode_result<int>(replies[4]); }), "division by zero");
}

}  // namespace
