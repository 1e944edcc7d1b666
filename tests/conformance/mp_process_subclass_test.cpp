// Conformance: a multiprocessing.Process subclass overriding run(), under fork, spawn and
// forkserver (CPython's _test_multiprocessing._TestSubclassingProcess.test_subclassing and
// its _UpperCaser: a Process subclass holding both ends of a Pipe, whose run() upper-cases
// what it receives until it gets None). CPython pickles the object for spawn/forkserver;
// here the registered subclass is rebuilt from its fields in the child.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <optional>
#include <string>
#include <tuple>

#include "concur/multiprocessing.hpp"
#include "support/mp_process_util.hpp"

namespace mp = concur::mp;
using concur::testing::proc::method_name;
using namespace std::chrono_literals;

namespace {

using Message = std::optional<std::string>;  // nullopt: Python's None, "stop"

class UpperCaser : public mp::Process {
 public:
  UpperCaser() = default;
  explicit UpperCaser(const mp::Context& ctx) : Process(ctx) {
    std::tie(child_conn_, parent_conn_) = mp::Pipe<Message>();
  }
  void run() override {
    parent_conn_->close();
    for (;;) {
      Message s = child_conn_->recv();
      if (!s) break;
      for (auto& ch : *s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      child_conn_->send(s);
    }
    child_conn_->close();
  }
  std::string submit(const std::string& s) {
    parent_conn_->send(s);
    if (!parent_conn_->poll(20s)) return "(no answer)";
    return parent_conn_->recv().value_or("(None)");
  }
  void stop() {
    parent_conn_->send(std::nullopt);
    parent_conn_->close();
    child_conn_->close();
  }
  auto concur_fields() { return std::tie(child_conn_, parent_conn_); }

 private:
  // Optional only so that the child's default-constructed object holds no pipe of its own
  // before its fields are assigned.
  std::optional<mp::Connection<Message>> child_conn_;
  std::optional<mp::Connection<Message>> parent_conn_;
};
CONCUR_REGISTER_PROCESS(UpperCaser);

class ProcessSubclass : public concur::testing::proc::StartMethodTest {};

}  // namespace

// test_subclassing: start, two round trips, stop, join.
TEST_P(ProcessSubclass, TestSubclassing) {
  UpperCaser uppercaser(ctx());
  uppercaser.set_daemon(true);
  uppercaser.start();
  EXPECT_EQ(uppercaser.submit("hello"), "HELLO");
  EXPECT_EQ(uppercaser.submit("world"), "WORLD");
  uppercaser.stop();
  ASSERT_TRUE(uppercaser.join(20s));
  EXPECT_EQ(uppercaser.exitcode(), 0);
}

INSTANTIATE_TEST_SUITE_P(Methods, ProcessSubclass, ::testing::Values("fork", "spawn", "forkserver"),
                         method_name);
