// Managers, concur's guarantees beyond CPython's tests: typed calls, bad keys and bad
// requests refused without stopping the server, faults (a client or the server killed),
// proxies crossing to children, method_to_typeid, serving from this process.
#include "concur/multiprocessing/managers.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "support/mp_process_util.hpp"

namespace mp = concur::mp;
namespace mm = concur::mp::managers;
using namespace std::chrono_literals;

namespace mp_managers_impl {

struct Counter {
  std::int64_t n = 0;
  std::int64_t add(std::int64_t k) { return n += k; }
  std::int64_t value() const { return n; }
  std::vector<std::string> split(std::string s) const {
    std::vector<std::string> out;
    for (char c : s) out.emplace_back(1, c);
    return out;
  }
  Counter twin() const { return Counter{n}; }
};

void setup(mm::Registry& r) {
  r.register_<Counter>(
      "Counter", [](std::int64_t start) { return Counter{start}; },
      mm::Methods<Counter>()
          .def<&Counter::add>("add")
          .def<&Counter::value>("value")
          .def<&Counter::split>("split")
          .def<&Counter::twin>("twin", "Counter"));
  auto q = std::make_shared<mm::SharedQueue<std::int64_t>>();
  r.register_<mm::SharedQueue<std::int64_t>>(
      "queue", [q] { return q; }, mm::queue_methods<std::int64_t>(), {.concurrent = true});
}

void add_in_child(mm::Proxy<Counter> c, std::int64_t k) { c.call<&Counter::add>(k); }
CONCUR_REGISTER(add_in_child);

void block_on_get(mm::QueueProxy<std::int64_t> q) { q.get(); }
CONCUR_REGISTER(block_on_get);

// Starts a manager, reports its server's pid, waits to be killed.
void manager_then_wait(concur::testing::proc::WriteEnd w) {
  mm::BaseManager m(mm::setup<&setup>);
  m.start();
  w.write(std::to_string(*m.process()->pid()));
  for (;;) ::pause();
}

// True once `pid` has ended (gone, or a zombie not yet reaped by its new parent).
bool ended_within(pid_t pid, std::chrono::seconds bound) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  const bool ended = ::poll(&p, 1, static_cast<int>(bound.count() * 1000)) == 1;
  ::close(fd);
  return ended;
}

TEST(Manager, TypedCallsAndFactoryArguments) {
  mm::BaseManager m(mm::setup<&setup>);
  m.start();
  auto c = m.create<mm::Proxy<Counter>>("Counter", std::int64_t{40});
  EXPECT_EQ(c.call<&Counter::add>(2), 42);
  EXPECT_EQ(c.call<&Counter::value>(), 42);
  EXPECT_EQ(c.call<&Counter::split>("ab"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.token().typeid_, "Counter");
  EXPECT_EQ(m.number_of_objects(), 1u);
}

TEST(Manager, MethodToTypeidReturnsAProxy) {
  mm::BaseManager m(mm::setup<&setup>);
  m.start();
  auto c = m.create<mm::Proxy<Counter>>("Counter", std::int64_t{5});
  auto twin = c.callmethod_proxy<mm::Proxy<Counter>>("twin");  // stays on the server
  EXPECT_EQ(twin.call<&Counter::add>(1), 6);
  EXPECT_EQ(c.call<&Counter::value>(), 5);  // another object
  EXPECT_EQ(twin.token().typeid_, "Counter");
  EXPECT_EQ(m.number_of_objects(), 2u);
  EXPECT_THROW(c.call<&Counter::twin>(), concur::TypeError);  // a proxy, not a value
}

TEST(Manager, BadRequestsAreErrorsAndTheServerGoesOn) {
  mm::BaseManager m(mm::setup<&setup>);
  m.start();
  auto c = m.create<mm::Proxy<Counter>>("Counter", std::int64_t{1});
  EXPECT_THROW(c.callmethod<std::int64_t>("add", 1), concur::ValueError);  // int, not int64
  EXPECT_THROW(c.callmethod<void>("nope"), concur::ValueError);
  EXPECT_THROW(m.create<mm::Proxy<Counter>>("Nope"), concur::ValueError);
  EXPECT_THROW(m.create<mm::Proxy<Counter>>("Counter", std::string("x")), concur::ValueError);
  EXPECT_EQ(c.callmethod<std::int64_t>("add", std::int64_t{1}), 2);
}

TEST(Manager, WrongKeyIsAuthenticationError) {
  mm::BaseManager m(mm::setup<&setup>, {.authkey = concur::Bytes("right")});
  m.start();
  mm::BaseManager other(mm::setup<&setup>,
                        {.address = m.address(), .authkey = concur::Bytes("wrong")});
  EXPECT_THROW(other.connect(), mp::AuthenticationError);
  mm::BaseManager good(mm::setup<&setup>,
                       {.address = m.address(), .authkey = concur::Bytes("right")});
  good.connect();
  EXPECT_EQ(good.create<mm::Proxy<Counter>>("Counter", std::int64_t{3}).call<&Counter::value>(), 3);
}

TEST(Manager, GarbageAfterAuthenticationDoesNotStopTheServer) {
  const concur::Bytes key("fuzz");
  mm::BaseManager m(mm::setup<&setup>, {.authkey = key});
  m.start();
  auto c = m.create<mm::Proxy<Counter>>("Counter", std::int64_t{0});
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    auto conn = mp::connection::Client<concur::Bytes>(m.address(), {.authkey = key});
    std::vector<std::byte> frame(rng() % 64);
    for (auto& b : frame) b = static_cast<std::byte>(rng());
    if (!frame.empty() && round % 2 == 0) frame[0] = std::byte{1};  // a "call", mangled
    conn.send_bytes(frame);
    if (conn.poll(5s)) {
      const concur::Bytes reply = conn.recv_bytes();
      ASSERT_GE(reply.size(), 1u);
      EXPECT_EQ(reply.data()[0], std::byte{1});  // an error reply
    }
  }
  EXPECT_EQ(c.call<&Counter::add>(1), 1);
}

TEST(Manager, ProxyCrossesToAChildUnderEveryMethod) {
  mm::BaseManager m(mm::setup<&setup>);
  m.start();
  auto c = m.create<mm::Proxy<Counter>>("Counter", std::int64_t{0});
  for (const char* method : {"fork", "spawn", "forkserver"}) {
    auto p = mp::get_context(method).Process(mp::fn<&add_in_child>, c, std::int64_t{10});
    p.start();
    ASSERT_TRUE(p.join(20s)) << method;
    EXPECT_EQ(p.exitcode(), 0) << method;
  }
  EXPECT_EQ(c.call<&Counter::value>(), 30);
}

TEST(Manager, AKilledClientLeavesTheServerServing) {
  mm::BaseManager m(mm::setup<&setup>);
  m.start();
  auto q = m.create<mm::QueueProxy<std::int64_t>>("queue");
  mp::Process p(mp::fn<&block_on_get>, q);
  p.start();
  std::this_thread::sleep_for(200ms);  // let it block in the server (not required: any point works)
  p.kill();
  ASSERT_TRUE(p.join(10s));
  q.put(7);
  // The killed client's get may have taken 7 (a call in flight is not undone) or not.
  q.put(8);
  const std::int64_t first = q.get(5s);
  EXPECT_TRUE(first == 7 || first == 8);
  EXPECT_EQ(m.create<mm::Proxy<Counter>>("Counter", std::int64_t{2}).call<&Counter::value>(), 2);
}

TEST(Manager, AKilledServerIsAnErrorNotAHang) {
  mm::BaseManager m(mm::setup<&setup>);
  m.start();
  auto c = m.create<mm::Proxy<Counter>>("Counter", std::int64_t{0});
  const auto before = std::chrono::steady_clock::now();
  ::kill(*m.process()->pid(), SIGKILL);
  ASSERT_TRUE(m.process()->join(10s));
  EXPECT_ANY_THROW(c.call<&Counter::add>(1));  // EOFError on the open connection
  EXPECT_ANY_THROW(c.call<&Counter::add>(1));  // a new one is refused
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
}

// A manager's server never outlives the process that started it (SIGKILLed: no shutdown).
TEST(Manager, TheServerDiesWithItsParent) {
  concur::testing::proc::LinePipe pipe;
  auto middle = mp::get_context("fork").Process(&manager_then_wait, pipe.writer);
  middle.start();
  const auto line = pipe.read_line();
  middle.kill();
  ASSERT_TRUE(middle.join(20s));
  ASSERT_TRUE(line.has_value());
  const pid_t server = std::stoi(*line);
  EXPECT_TRUE(ended_within(server, 20s)) << "the manager server " << server << " survived";
}

TEST(Manager, ShutdownWithLiveProxies) {
  mm::BaseManager m(mm::setup<&setup>);
  m.start();
  auto c = m.create<mm::Proxy<Counter>>("Counter", std::int64_t{0});
  m.shutdown();
  EXPECT_ANY_THROW(c.call<&Counter::add>(1));
  EXPECT_THROW(m.create<mm::Proxy<Counter>>("Counter", std::int64_t{0}), mp::ProcessError);
  m.shutdown();  // idempotent
}

// Opening a connection is bounded by ManagerOptions::connect_timeout: a server that
// accepts (the kernel's backlog does) and never answers is TimeoutError, and the proxies
// carry the bound with them, also across processes.
TEST(Manager, ConnectTimeoutBoundsAServerThatNeverAnswers) {
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(sock, 4), 0);
  ASSERT_EQ(::getsockname(sock, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  mm::BaseManager m(mm::setup<&setup>, {.address = {"127.0.0.1", ntohs(sa.sin_port)},
                                        .authkey = concur::Bytes("k"),
                                        .connect_timeout = 300ms});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(m.connect(), concur::TimeoutError);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 180ms);
  EXPECT_LT(took, 3s);
  ::close(sock);

  mm::BaseManager real(mm::setup<&setup>, {.connect_timeout = 250ms});
  real.start();
  auto c = real.create<mm::Proxy<Counter>>("Counter", std::int64_t{0});
  EXPECT_EQ(c.connect_timeout(), 250ms);
  EXPECT_EQ(mp::loads<mm::Proxy<Counter>>(mp::dumps(c)).connect_timeout(), 250ms);
}

// A local server that authenticates and then never answers the shared-memory upgrade: the
// same bound, not a hang.
TEST(Manager, ConnectTimeoutBoundsAnUnansweredUpgrade) {
  const concur::Bytes key("k");
  mp::connection::Listener listener({.authkey = key});
  std::optional<mp::Connection<concur::Bytes>> held;
  std::thread server([&] { held.emplace(listener.accept<concur::Bytes>(10s)); });
  mm::BaseManager m(mm::setup<&setup>,
                    {.address = listener.address(), .authkey = key, .connect_timeout = 300ms});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(m.connect(), concur::TimeoutError);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 180ms);
  EXPECT_LT(took, 3s);
  server.join();
  ASSERT_TRUE(held.has_value());
  held->close();
}

// Each connection's handshake runs on its own thread: clients that connect and stay
// silent (each would hold the handshake for its 10 s bound) do not delay another client.
TEST(Manager, SilentClientsDelayNoOtherClient) {
  mm::BaseManager m(mm::setup<&setup>, {.authkey = concur::Bytes("k")});
  m.start();
  std::vector<mp::Connection<concur::Bytes>> silent;
  for (int i = 0; i < 3; ++i) silent.push_back(mp::connection::Client<concur::Bytes>(m.address()));
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t got = 0;
  std::thread t([&] {  // a thread of its own: a connection of its own
    got = m.create<mm::Proxy<Counter>>("Counter", std::int64_t{4}).call<&Counter::add>(1);
  });
  t.join();
  EXPECT_EQ(got, 5);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // the old accept loop: 30 s
  for (auto& c : silent) c.close();
}

TEST(ManagerServer, ServeForeverInThisProcessUntilStop) {
  mm::BaseManager m(mm::setup<&setup>, {.authkey = concur::Bytes("k")});
  mm::Server server = m.get_server();
  std::thread t([&] { server.serve_forever(); });
  {
    mm::BaseManager client(mm::setup<&setup>,
                           {.address = server.address(), .authkey = concur::Bytes("k")});
    client.connect();
    EXPECT_EQ(client.create<mm::Proxy<Counter>>("Counter", std::int64_t{9}).call<&Counter::add>(1),
              10);
    EXPECT_EQ(server.number_of_objects(), 1u);
  }
  server.stop();
  t.join();
}

}  // namespace mp_managers_impl
