// Conformance: multiprocessing.managers.BaseManager and its proxies (CPython's
// _test_multiprocessing._TestMyManager, _TestRemoteManager, _TestManagerRestart and
// TestInitializers), under every start method where the server's start matters.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/managers.hpp"
#include "support/mp_process_util.hpp"

namespace mp = concur::mp;
namespace mm = concur::mp::managers;
using namespace std::chrono_literals;

namespace mp_managers_conf {

// CPython's FooBar: f() and g() exposed, _h() private; g() raises ValueError.
struct FooBar {
  std::string f() { return "f()"; }
  void g() { throw concur::ValueError("g() raised ValueError"); }
  std::string h() { return "_h()"; }
};

void foobar_setup(mm::Registry& r) {
  r.register_<FooBar>(
      "Foo", [] { return FooBar{}; },
      mm::Methods<FooBar>().def<&FooBar::f>("f").def<&FooBar::g>("g"));
  // Python's exposed=('f', '_h'): a private name exposed on purpose.
  r.register_<FooBar>(
      "Bar", [] { return FooBar{}; },
      mm::Methods<FooBar>().def<&FooBar::f>("f").def<&FooBar::h>("_h"));
}

// The seed's QueueManager: one queue made in the server, served by name.
void queue_setup(mm::Registry& r) {
  auto q = std::make_shared<mm::SharedQueue<std::string>>();
  r.register_<mm::SharedQueue<std::string>>("get_queue", [q] { return q; },
                                            mm::queue_methods<std::string>(), {.concurrent = true});
}

// A server-side state the initializer sets (CPython's TestInitializers).
std::string g_server_state = "unset";
struct State {
  std::string get() const { return g_server_state; }
};
void state_setup(mm::Registry& r) {
  r.register_<State>(
      "State", [] { return State{}; }, mm::Methods<State>().def<&State::get>("get"));
}
void set_state(std::string s) { g_server_state = std::move(s); }
CONCUR_REGISTER(set_state);

void remote_client(mm::Token token, concur::Bytes key, std::string item) {
  mm::BaseManager m(mm::setup<&queue_setup>, {.address = token.address, .authkey = key});
  m.connect();
  m.create<mm::QueueProxy<std::string>>("get_queue").put(item);
}
CONCUR_REGISTER(remote_client);

class ManagerMethods : public ::testing::TestWithParam<std::string> {
 protected:
  // CPython's tests give the server SHUTDOWN_TIMEOUT (support.SHORT_TIMEOUT, 30 s) to exit
  // after the shutdown request: a sanitizer build on a loaded machine can take over the
  // default second, and the SIGTERM that follows would read as a wrong exit code.
  mm::ManagerOptions options() const {
    return {.ctx = mp::get_context(GetParam()), .shutdown_timeout = 30s};
  }
};
INSTANTIATE_TEST_SUITE_P(Methods, ManagerMethods, ::testing::Values("fork", "spawn", "forkserver"),
                         concur::testing::proc::method_name);

// _TestMyManager.test_mymanager: exposed methods are reachable, others are not, and a
// method's ValueError comes back as ValueError.
TEST_P(ManagerMethods, MyManagerExposedMethodsOnly) {
  mm::BaseManager manager(mm::setup<&foobar_setup>, options());
  manager.start();
  auto foo = manager.create<mm::Proxy<FooBar>>("Foo");
  auto bar = manager.create<mm::Proxy<FooBar>>("Bar");
  EXPECT_EQ(foo.callmethod<std::string>("f"), "f()");
  EXPECT_THROW(foo.callmethod<void>("g"), concur::ValueError);
  EXPECT_THROW(foo.callmethod<std::string>("_h"), concur::ValueError);  // not exposed
  EXPECT_EQ(bar.callmethod<std::string>("f"), "f()");
  EXPECT_EQ(bar.callmethod<std::string>("_h"), "_h()");
  EXPECT_THROW(bar.callmethod<void>("g"), concur::ValueError);  // not exposed on Bar
  manager.shutdown();
  ASSERT_NE(manager.process(), nullptr);
  EXPECT_EQ(manager.process()->exitcode(), 0);
}

// _TestMyManager.test_mymanager_context: scope end shuts the server down (exit code 0).
TEST_P(ManagerMethods, ScopeEndShutsDown) {
  std::optional<int> pid;
  {
    mm::BaseManager manager(mm::setup<&foobar_setup>, options());
    manager.start();
    pid = manager.process()->pid();
    EXPECT_EQ(manager.create<mm::Proxy<FooBar>>("Foo").call<&FooBar::f>(), "f()");
  }
  ASSERT_TRUE(pid.has_value());
  EXPECT_TRUE(mp::active_children().empty());
}

// TestInitializers.test_manager_initializer: the initializer runs in the server.
TEST_P(ManagerMethods, InitializerRunsInTheServer) {
  mm::BaseManager manager(mm::setup<&state_setup>, options());
  manager.start({&set_state, std::string("initialized")});
  EXPECT_EQ(manager.create<mm::Proxy<State>>("State").call<&State::get>(), "initialized");
  EXPECT_EQ(g_server_state, "unset");  // not here
}

// _TestRemoteManager.test_remote: a server on TCP with an authkey; another process
// connect()s and shares the same queue.
TEST(ManagerRemote, AnotherProcessConnectsOverTcp) {
  const concur::Bytes key("remote-key");
  mm::BaseManager manager(mm::setup<&queue_setup>, {.address = {"127.0.0.1", 0}, .authkey = key});
  manager.start();
  EXPECT_EQ(manager.address().family(), "AF_INET");
  EXPECT_NE(manager.address().port(), 0);
  auto q = manager.create<mm::QueueProxy<std::string>>("get_queue");
  mp::Process p(mp::fn<&remote_client>, q.token(), key, std::string("hello world"));
  p.start();
  EXPECT_EQ(q.get(10s), "hello world");
  ASSERT_TRUE(p.join(10s));
  EXPECT_EQ(p.exitcode(), 0);
}

// _TestManagerRestart.test_rapid_restart: a new manager on the address of one just shut down.
TEST(ManagerRestart, RapidRestartOnTheSameAddress) {
  mm::BaseManager first(mm::setup<&queue_setup>, {.address = {"127.0.0.1", 0}});
  first.start();
  const auto address = first.address();
  first.create<mm::QueueProxy<std::string>>("get_queue").put("x");
  first.shutdown();
  mm::BaseManager second(mm::setup<&queue_setup>, {.address = address});
  second.start();
  EXPECT_EQ(second.address(), address);
  EXPECT_TRUE(second.create<mm::QueueProxy<std::string>>("get_queue").empty());
}

// multiprocessing docs, "Managers": using a manager before start() or connect() is an error.
TEST(BaseManager, CreateBeforeStartIsProcessError) {
  mm::BaseManager manager(mm::setup<&foobar_setup>);
  EXPECT_THROW(manager.create<mm::Proxy<FooBar>>("Foo"), mp::ProcessError);
  manager.start();
  EXPECT_THROW(manager.start(), mp::ProcessError);
}

}  // namespace mp_managers_conf
