// Process-shared objects cross as references to their shared memory
// (src/multiprocessing/handles.hpp, multiprocessing/detail/region.hpp): inside an FdSink/FdSource
// pair, never by value, never elsewhere.
#include "multiprocessing/handles.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <tuple>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/region.hpp"

namespace mp = concur::multiprocessing;
namespace detail = concur::multiprocessing::detail;

namespace {

// The smallest process-shared object: a counter in a Region.
class Counter {
 public:
  using concur_handle_tag = void;
  Counter() : region_(detail::Region::create(sizeof(std::uint64_t), "Counter")) {}
  std::uint64_t add(std::uint64_t n) {
    return std::atomic_ref(*region_->at<std::uint64_t>()).fetch_add(n) + n;
  }
  [[nodiscard]] std::uint64_t value() const {
    return std::atomic_ref(*region_->at<std::uint64_t>()).load();
  }
  void concur_encode_handle(mp::Buffer& out) const { region_->encode(out, "Counter"); }
  static Counter concur_decode_handle(mp::Reader& in) {
    return Counter(detail::Region::decode(in, "Counter"));
  }

 private:
  explicit Counter(std::shared_ptr<detail::Region> r) : region_(std::move(r)) {}
  std::shared_ptr<detail::Region> region_;
};

static_assert(mp::Picklable<Counter>);
static_assert(mp::Picklable<std::tuple<int, Counter, std::vector<Counter>>>);

}  // namespace

TEST(Region, CreateIsZeroedAndSized) {
  auto r = detail::Region::create(4096 * 3 + 5, "test");
  EXPECT_EQ(r->size(), 4096u * 3 + 5);
  const auto* b = static_cast<const unsigned char*>(r->data());
  for (std::size_t i = 0; i < r->size(); ++i) ASSERT_EQ(b[i], 0u);
  EXPECT_GE(r->fd(), 3);
}

TEST(Region, ZeroSizeIsValueError) {
  EXPECT_THROW(detail::Region::create(0, "test"), concur::ValueError);
}

TEST(Region, AttachSharesTheBytes) {
  auto a = detail::Region::create(64, "test");
  auto b = detail::Region::attach(a->fd(), "test");
  EXPECT_NE(a->fd(), b->fd());
  EXPECT_EQ(b->size(), 64u);
  *a->at<int>(8) = 42;
  EXPECT_EQ(*b->at<int>(8), 42);
}

TEST(Handles, CrossAsReferencesInsideASinkAndSource) {
  Counter c;
  c.add(5);
  mp::Buffer bytes;
  std::vector<int> fds;
  {
    detail::FdSink sink;
    EXPECT_TRUE(detail::exporting_fds());
    mp::encode(bytes, std::make_tuple(7, c, c));  // the same fd twice: one entry
    fds = sink.fds();
  }
  EXPECT_FALSE(detail::exporting_fds());
  ASSERT_EQ(fds.size(), 1u);
  detail::FdSource source(fds);
  mp::Reader in(bytes);
  auto [n, c1, c2] = mp::decode<std::tuple<int, Counter, Counter>>(in);
  EXPECT_EQ(n, 7);
  EXPECT_EQ(c1.add(1), 6u);
  EXPECT_EQ(c2.add(1), 7u);
  EXPECT_EQ(c.value(), 7u);
}

TEST(Handles, OutsideASinkIsARuntimeErrorNamingInheritance) {
  Counter c;
  mp::Buffer bytes;
  try {
    mp::encode(bytes, c);
    FAIL() << "expected RuntimeError";
  } catch (const concur::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("Counter objects should only be shared between "
                                         "processes through inheritance"),
              std::string::npos)
        << e.what();
  }
}

TEST(Handles, DecodeWithoutSourceOrBadIndexIsValueError) {
  Counter c;
  mp::Buffer bytes;
  {
    detail::FdSink sink;
    mp::encode(bytes, c);
  }
  {
    mp::Reader in(bytes);
    EXPECT_THROW(mp::decode<Counter>(in), concur::ValueError);
  }
  {
    detail::FdSource none(std::span<const int>{});
    mp::Reader in(bytes);
    EXPECT_THROW(mp::decode<Counter>(in), concur::ValueError);
  }
}

TEST(Handles, AForkedChildWritesWhatTheParentReads) {
  Counter c;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (int i = 0; i < 1000; ++i) c.add(1);
    _exit(0);
  }
  for (int i = 0; i < 1000; ++i) c.add(1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(c.value(), 2000u);
}

namespace {
int g_stops = 0;
void count_stop() noexcept { ++g_stops; }
}  // namespace

TEST(Services, InheritedFdsAndStoppers) {
  EXPECT_EQ(detail::inherited_fd("test.key"), -1);
  detail::set_inherited_fd("test.key", 2);
  EXPECT_EQ(detail::inherited_fd("test.key"), 2);
  detail::set_inherited_fd("test.key", 1);
  EXPECT_EQ(detail::inherited_fd("test.key"), 1);
  EXPECT_EQ(detail::inherited_fds().size(), 1u);
  detail::set_inherited_fd("test.key", -1);
  EXPECT_EQ(detail::inherited_fd("test.key"), -1);
  detail::add_service_stopper(&count_stop);
  detail::add_service_stopper(&count_stop);
  g_stops = 0;
  detail::stop_services();
  EXPECT_EQ(g_stops, 1);
}
