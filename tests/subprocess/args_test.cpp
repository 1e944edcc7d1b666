// Args, repr helpers, CompletedProcess printing, exception texts.
#include <gtest/gtest.h>

#include <concur/subprocess.hpp>
#include <sstream>

namespace sp = concur::subprocess;
using namespace std::chrono_literals;

namespace {

TEST(Args, ListAndStringForms) {
  sp::Args list{"ls", "-l"};
  EXPECT_FALSE(list.is_string());
  EXPECT_EQ(list.list(), (std::vector<std::string>{"ls", "-l"}));
  EXPECT_EQ(list.repr(), "['ls', '-l']");
  EXPECT_EQ(list.str(), "['ls', '-l']");
  sp::Args one{"ls"};  // a braced list stays a list
  EXPECT_FALSE(one.is_string());
  sp::Args str = "exit 1";
  EXPECT_TRUE(str.is_string());
  EXPECT_EQ(str.repr(), "'exit 1'");
  EXPECT_EQ(str.str(), "exit 1");
  sp::Args path = std::filesystem::path("/bin/true");
  EXPECT_TRUE(path.is_string());
  EXPECT_EQ(path.list().front(), "/bin/true");
  sp::Args vec = std::vector<std::string>{"a"};
  EXPECT_FALSE(vec.is_string());
}

TEST(Args, PythonRepr) {
  EXPECT_EQ(sp::repr_str("it's"), "\"it's\"");
  EXPECT_EQ(sp::repr_str("a'b\"c"), "'a\\'b\"c'");
  EXPECT_EQ(sp::repr_str("tab\there\n"), "'tab\\there\\n'");
  EXPECT_EQ(sp::repr_bytes("hi\n"), "b'hi\\n'");
  EXPECT_EQ(sp::repr_bytes(std::string("\x00\xff", 2)), "b'\\x00\\xff'");
  EXPECT_EQ(sp::repr_bytes("back\\slash"), "b'back\\\\slash'");
}

TEST(Args, CompletedProcessRepr) {
  sp::CompletedProcess cp{sp::Args{"echo", "hi"}, 0, "hi\n", "", false};
  EXPECT_EQ(cp.repr(),
            "CompletedProcess(args=['echo', 'hi'], returncode=0, stdout=b'hi\\n', stderr=b'')");
  sp::CompletedProcess none{"exit 3", 3, std::nullopt, std::nullopt, false};
  std::ostringstream os;
  os << none;
  EXPECT_EQ(os.str(), "CompletedProcess(args='exit 3', returncode=3)");
  sp::CompletedProcess text{sp::Args{"x"}, 0, "a", std::nullopt, true};
  EXPECT_EQ(text.repr(), "CompletedProcess(args=['x'], returncode=0, stdout='a')");
  EXPECT_THROW(none.check_returncode(), sp::CalledProcessError);
}

TEST(Args, ExceptionTexts) {
  sp::TimeoutExpired t(sp::Args{"sleep", "9"}, 2.5s, "so far");
  EXPECT_STREQ(t.what(), "Command '['sleep', '9']' timed out after 2.5 seconds");
  EXPECT_EQ(t.output(), "so far");
  EXPECT_EQ(t.stderr_, std::nullopt);
  sp::TimeoutExpired whole("sleep 9", 3s);
  EXPECT_STREQ(whole.what(), "Command 'sleep 9' timed out after 3 seconds");
  sp::CalledProcessError k(-9, sp::Args{"x"});
  EXPECT_STREQ(k.what(), "Command '['x']' died with <Signals.SIGKILL: 9>.");
  EXPECT_EQ(sp::signal_name(15), "SIGTERM");
  EXPECT_EQ(sp::signal_name(0), "");
  // The hierarchy.
  EXPECT_THROW(throw sp::TimeoutExpired("x", 1s), sp::SubprocessError);
  EXPECT_THROW(throw sp::CalledProcessError(1, "x"), std::runtime_error);
}

}  // namespace
