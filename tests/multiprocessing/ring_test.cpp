// The message ring under queues and connections (concur/multiprocessing/detail/ring.hpp): framing,
// wrap-around, streaming of messages larger than the ring, timeouts, and repair after a
// reader or a writer is SIGKILLed in the middle of a message.
#include "concur/multiprocessing/detail/ring.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/detail/region.hpp"
#include "multiprocessing/fork_child.hpp"
#include "support/leak_check.hpp"
#include "support/timing.hpp"

namespace mp = concur::multiprocessing;
namespace detail = concur::multiprocessing::detail;
using concur::Deadline;
using detail::Ring;
using detail::RingStatus;
using std::chrono::milliseconds;

namespace {

struct TestRing {
  explicit TestRing(std::size_t cap, std::uint32_t maxsize = 0)
      : region(detail::Region::create(Ring::footprint(cap), "ring-test")),
        ring(Ring::create(region->data(), cap, maxsize)) {}
  std::shared_ptr<detail::Region> region;
  Ring ring;
};

mp::Buffer pattern(std::size_t n, std::uint32_t seed) {
  mp::Buffer b(n);
  std::uint32_t x = seed * 2654435761U + 1;
  for (auto& c : b) {
    x = x * 1103515245U + 12345U;
    c = static_cast<std::byte>(x >> 24);
  }
  return b;
}

void take(void* ctx, std::span<const std::byte> bytes) {
  static_cast<mp::Buffer*>(ctx)->assign(bytes.begin(), bytes.end());
}

Deadline in(milliseconds ms) { return Deadline(Deadline::Clock::now() + ms); }

RingStatus read_into(Ring& r, mp::Buffer& out, const Deadline& d = Deadline()) {
  return r.read(&take, &out, d);
}

// A reader that places streamed messages piece by piece (RingPlacement with append, as
// strings do), optionally slowly, so that a test can act while it is inside a message.
struct Placed {
  mp::Buffer bytes;  // the whole message (a one-chunk one) or the bytes after its first 16
  std::uint64_t w0 = 0, w1 = 0;
  int pieces = 0;
  int dropped = 0;
  milliseconds pause{0};  // slept after each piece

  static std::span<std::byte> place(void* ctx, std::uint64_t w0, std::uint64_t w1) noexcept {
    auto& p = *static_cast<Placed*>(ctx);
    p.bytes.clear();
    p.w0 = w0;
    p.w1 = w1;
    return {};
  }
  static void done(void*, std::uint64_t) {}
  static void drop(void* ctx) noexcept {
    auto& p = *static_cast<Placed*>(ctx);
    p.bytes.clear();
    ++p.dropped;
  }
  static void append(void* ctx, std::span<const std::byte> b) noexcept {
    auto& p = *static_cast<Placed*>(ctx);
    p.bytes.insert(p.bytes.end(), b.begin(), b.end());
    ++p.pieces;
    if (p.pause.count() != 0) std::this_thread::sleep_for(p.pause);
  }
  static void whole(void* ctx, std::span<const std::byte> b) {
    auto& p = *static_cast<Placed*>(ctx);
    p.bytes.assign(b.begin(), b.end());
    p.w0 = p.w1 = 0;
  }
  /// The message received, whole (the first 16 bytes put back in front when placed).
  [[nodiscard]] mp::Buffer message(bool was_placed) const {
    if (!was_placed) return bytes;
    mp::Buffer m(16);
    std::memcpy(m.data(), &w0, 8);
    std::memcpy(m.data() + 8, &w1, 8);
    m.insert(m.end(), bytes.begin(), bytes.end());
    return m;
  }
};

constexpr detail::RingPlacement kPlacement{&Placed::place, &Placed::done, &Placed::drop,
                                           &Placed::append};

RingStatus read_placed(Ring& r, Placed& out, const Deadline& d = Deadline()) {
  return r.read(&Placed::whole, &out, d, -1, &kPlacement);
}

}  // namespace

TEST(Ring, CapacityIsAPowerOfTwoWithinBounds) {
  EXPECT_EQ(Ring::round_capacity(1), Ring::kMinCapacity);
  EXPECT_EQ(Ring::round_capacity(5000), 8192u);
  EXPECT_EQ(Ring::round_capacity(Ring::kMaxCapacity), Ring::kMaxCapacity);
  EXPECT_THROW(Ring::round_capacity(Ring::kMaxCapacity + 1), concur::ValueError);
  EXPECT_EQ(Ring::footprint(4096) % 64, 0u);
}

TEST(Ring, EverySizeRoundTripsAcrossTheWrap) {
  TestRing t(4096);
  std::size_t sent = 0;
  for (std::uint32_t i = 0; i < 600; ++i) {
    const std::size_t n = (i * 37) % 2000;  // up to half the ring: one chunk each
    const auto msg = pattern(n, i);
    ASSERT_EQ(t.ring.write(msg, Deadline()), RingStatus::kOk);
    if (i % 2 == 1) {  // keep one message in the ring, so that positions drift
      mp::Buffer got;
      ASSERT_EQ(read_into(t.ring, got), RingStatus::kOk);
      ASSERT_EQ(got, pattern(((i - 1) * 37) % 2000, i - 1)) << i;
      ASSERT_EQ(read_into(t.ring, got), RingStatus::kOk);
      ASSERT_EQ(got, msg) << i;
    }
    sent += n;
  }
  EXPECT_GT(sent, 100 * 4096u);
  EXPECT_EQ(t.ring.qsize(), 0u);
  EXPECT_FALSE(t.ring.has_data());
}

TEST(Ring, EmptyMessagesAreMessages) {
  TestRing t(4096);
  ASSERT_EQ(t.ring.write({}, Deadline()), RingStatus::kOk);
  EXPECT_TRUE(t.ring.has_data());
  EXPECT_EQ(t.ring.qsize(), 1u);
  mp::Buffer got{std::byte{1}};
  ASSERT_EQ(read_into(t.ring, got), RingStatus::kOk);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(t.ring.qsize(), 0u);
}

TEST(Ring, FullAndEmptyTimeOut) {
  TestRing t(4096, 2);
  ASSERT_EQ(t.ring.write(pattern(8, 1), Deadline()), RingStatus::kOk);
  ASSERT_EQ(t.ring.write(pattern(8, 2), Deadline()), RingStatus::kOk);
  concur::testing::expect_takes_about(milliseconds(100), [&] {
    EXPECT_EQ(t.ring.write(pattern(8, 3), in(milliseconds(100))), RingStatus::kTimeout);
  });
  EXPECT_EQ(t.ring.qsize(), 2u);
  mp::Buffer got;
  ASSERT_EQ(read_into(t.ring, got), RingStatus::kOk);
  ASSERT_EQ(read_into(t.ring, got), RingStatus::kOk);
  EXPECT_EQ(got, pattern(8, 2));
  EXPECT_EQ(read_into(t.ring, got, in(milliseconds(50))), RingStatus::kTimeout);
}

TEST(Ring, BytesBoundAnUnboundedRing) {
  TestRing t(4096);
  const auto msg = pattern(1000, 7);  // 1008 bytes a chunk: 4 fit
  int n = 0;
  while (t.ring.write(msg, Deadline(Deadline::Clock::now())) == RingStatus::kOk) ++n;
  EXPECT_EQ(n, 4);
}

TEST(Ring, AConsumerThatThrowsStillConsumes) {
  TestRing t(4096);
  ASSERT_EQ(t.ring.write(pattern(10, 1), Deadline()), RingStatus::kOk);
  ASSERT_EQ(t.ring.write(pattern(10, 2), Deadline()), RingStatus::kOk);
  auto bad = [](void*, std::span<const std::byte>) { throw std::runtime_error("bad"); };
  EXPECT_THROW(t.ring.read(bad, nullptr, Deadline()), std::runtime_error);
  mp::Buffer got;
  ASSERT_EQ(read_into(t.ring, got), RingStatus::kOk);
  EXPECT_EQ(got, pattern(10, 2));
}

TEST(Ring, MessagesLargerThanTheRingStreamToAnotherProcess) {
  TestRing t(std::size_t{64} * 1024);
  const std::size_t sizes[] = {16u << 20, 40000, 0, 100000, 1u << 20};
  concur::testing::ForkChild reader([&] {
    for (std::uint32_t i = 0; i < 5; ++i) {
      mp::Buffer got;
      if (read_into(t.ring, got, in(milliseconds(20000))) != RingStatus::kOk) return 1;
      if (got != pattern(sizes[i], i)) return 2;
    }
    return 0;
  });
  for (std::uint32_t i = 0; i < 5; ++i) {
    ASSERT_EQ(t.ring.write(pattern(sizes[i], i), in(milliseconds(20000))), RingStatus::kOk);
  }
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(t.ring.qsize(), 0u);
}

TEST(Ring, AWriterThatTimesOutMidStreamLeavesNothing) {
  TestRing t(4096);
  // No reader: the first chunks fill the ring, then the deadline passes.
  EXPECT_EQ(t.ring.write(pattern(100000, 1), in(milliseconds(50))), RingStatus::kTimeout);
  EXPECT_EQ(t.ring.qsize(), 0u);
  EXPECT_TRUE(t.ring.has_data());  // chunks of the dropped message
  mp::Buffer got;
  // The reader finds the writer gone and drops the partial message.
  EXPECT_EQ(read_into(t.ring, got, in(milliseconds(100))), RingStatus::kTimeout);
  ASSERT_EQ(t.ring.write(pattern(20, 2), Deadline()), RingStatus::kOk);
  ASSERT_EQ(read_into(t.ring, got, in(milliseconds(1000))), RingStatus::kOk);
  EXPECT_EQ(got, pattern(20, 2));
  EXPECT_EQ(t.ring.qsize(), 0u);
}

TEST(Ring, TheNextWriterAbortsAMessageLeftOpen) {
  TestRing t(4096);
  EXPECT_EQ(t.ring.write(pattern(100000, 1), in(milliseconds(30))), RingStatus::kTimeout);
  // A reader in another thread drains the partial chunks, the next writer ends the message
  // with ABORT and sends its own.
  mp::Buffer got;
  std::thread reader([&] { read_into(t.ring, got, in(milliseconds(5000))); });
  ASSERT_EQ(t.ring.write(pattern(300, 2), in(milliseconds(5000))), RingStatus::kOk);
  reader.join();
  EXPECT_EQ(got, pattern(300, 2));
}

TEST(Ring, AReaderKilledMidMessageIsSkippedByTheNext) {
  TestRing t(4096);
  const std::size_t big = 64u << 20;  // ~16k hand-offs through a 4 KiB ring
  concur::testing::ForkChild writer([&] {
    if (t.ring.write(pattern(big, 1), in(milliseconds(30000))) != RingStatus::kOk) return 1;
    if (t.ring.write(pattern(50, 2), in(milliseconds(30000))) != RingStatus::kOk) return 2;
    return 0;
  });
  concur::testing::ForkChild doomed([&] {
    mp::Buffer got;
    read_into(t.ring, got);
    return 3;
  });
  // Kill the reader once it has taken part of the big message, not all of it.
  ASSERT_TRUE(concur::testing::eventually([&] { return t.ring.positions().head_pos > 8192; },
                                          milliseconds(20000)));
  doomed.kill();
  ASSERT_EQ(t.ring.positions().head_count, 0u) << "the message ended before the kill";
  EXPECT_NE(doomed.join(), 0);
  mp::Buffer got;
  ASSERT_EQ(read_into(t.ring, got, in(milliseconds(30000))), RingStatus::kOk);
  EXPECT_EQ(got, pattern(50, 2));  // the rest of the big one was skipped
  EXPECT_TRUE(writer.ok());
  EXPECT_EQ(t.ring.qsize(), 0u);
  EXPECT_FALSE(t.ring.has_data());
}

TEST(Ring, AWriterKilledMidMessageIsDroppedWhole) {
  TestRing t(4096);
  const std::size_t big = 64u << 20;
  concur::testing::ForkChild doomed([&] {
    t.ring.write(pattern(big, 1), Deadline());
    return 3;
  });
  mp::Buffer got;
  std::thread reader([&] {
    // Receives the next whole message: the big one is dropped when its writer dies.
    read_into(t.ring, got, in(milliseconds(30000)));
  });
  ASSERT_TRUE(concur::testing::eventually([&] { return t.ring.positions().tail_pos > 8192; },
                                          milliseconds(20000)));
  doomed.kill();
  EXPECT_NE(doomed.join(), 0);
  ASSERT_EQ(t.ring.positions().tail_count, 0u) << "the message ended before the kill";
  ASSERT_EQ(t.ring.write(pattern(50, 2), in(milliseconds(30000))), RingStatus::kOk);
  reader.join();
  EXPECT_EQ(got, pattern(50, 2));
  EXPECT_EQ(t.ring.qsize(), 0u);
}

TEST(Ring, AWriterKilledMidMessageWithNoOtherWriterIsNoticedByTheReader) {
  TestRing t(4096);
  concur::testing::ForkChild doomed([&] {
    t.ring.write(pattern(64u << 20, 1), Deadline());
    return 3;
  });
  // Start reading once the writer has begun (a fork can be slow under sanitizers).
  ASSERT_TRUE(concur::testing::eventually([&] { return t.ring.positions().tail_pos > 0; },
                                          milliseconds(20000)));
  mp::Buffer got;
  RingStatus st = RingStatus::kOk;
  std::thread reader([&] { st = read_into(t.ring, got, in(milliseconds(3000))); });
  ASSERT_TRUE(concur::testing::eventually([&] { return t.ring.positions().tail_pos > 8192; },
                                          milliseconds(20000)));
  doomed.kill();
  EXPECT_NE(doomed.join(), 0);
  reader.join();
  EXPECT_EQ(st, RingStatus::kTimeout);  // the partial message was dropped, nothing else came
  EXPECT_FALSE(t.ring.has_data());
  ASSERT_EQ(t.ring.write(pattern(50, 2), Deadline()), RingStatus::kOk);
  ASSERT_EQ(read_into(t.ring, got, in(milliseconds(1000))), RingStatus::kOk);
  EXPECT_EQ(got, pattern(50, 2));
}

// The queues' and connections' default ring (4 MiB): sizes around the one-chunk limit (half
// the ring), the room a stream starts with (a quarter) and whole rings arrive whole and in
// order, assembled and placed.
TEST(Ring, SizesAroundEveryStreamThresholdArriveWhole) {
  constexpr std::size_t kCap = std::size_t{4} << 20;
  TestRing t(kCap);
  std::vector<std::size_t> sizes;
  for (const std::size_t base : {kCap / 4, kCap / 2 - 8, kCap - 8, 2 * kCap + 8}) {
    for (const std::size_t d : {base - 9, base - 1, base, base + 1, base + 7, base + 8}) {
      sizes.push_back(d);
    }
  }
  concur::testing::ForkChild reader([&] {
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      Placed got;
      const bool placing = i % 2 == 0;
      const RingStatus st = placing ? read_placed(t.ring, got, in(milliseconds(20000)))
                                    : read_into(t.ring, got.bytes, in(milliseconds(20000)));
      if (st != RingStatus::kOk) return 1;
      const bool streamed = sizes[i] + 8 > kCap / 2;
      if (got.message(placing && streamed) != pattern(sizes[i], static_cast<std::uint32_t>(i))) {
        return 2;
      }
      if (got.dropped != 0) return 3;
    }
    return 0;
  });
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_EQ(
        t.ring.write(pattern(sizes[i], static_cast<std::uint32_t>(i)), in(milliseconds(20000))),
        RingStatus::kOk)
        << sizes[i];
  }
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(t.ring.qsize(), 0u);
  EXPECT_FALSE(t.ring.has_data());
}

// The kills below, through the default ring, whose chunks are 2 MiB: a slow reader (10 ms a
// chunk) keeps the 64 MiB message in flight while the test acts.
TEST(Ring, AWriterKilledBetweenChunksIsDroppedByAPlacingReader) {
  TestRing t(std::size_t{4} << 20);
  const std::size_t big = 64u << 20;
  concur::testing::ForkChild doomed([&] {
    t.ring.write(pattern(big, 1), Deadline());
    return 3;
  });
  Placed got;
  got.pause = milliseconds(10);
  RingStatus st = RingStatus::kTimeout;
  std::thread reader([&] { st = read_placed(t.ring, got, in(milliseconds(30000))); });
  ASSERT_TRUE(concur::testing::eventually([&] { return t.ring.positions().head_pos > (4u << 20); },
                                          milliseconds(20000)));
  doomed.kill();
  EXPECT_NE(doomed.join(), 0);
  ASSERT_EQ(t.ring.positions().tail_count, 0u) << "the message ended before the kill";
  ASSERT_EQ(t.ring.write(pattern(50, 2), in(milliseconds(30000))), RingStatus::kOk);
  reader.join();
  EXPECT_EQ(st, RingStatus::kOk);
  EXPECT_EQ(got.dropped, 1);
  EXPECT_EQ(got.bytes, pattern(50, 2));  // never a part of the big one
  EXPECT_EQ(t.ring.qsize(), 0u);
  EXPECT_FALSE(t.ring.has_data());
}

TEST(Ring, AReaderKilledBetweenChunksIsSkippedByTheNext) {
  TestRing t(std::size_t{4} << 20);
  const std::size_t big = 64u << 20;
  concur::testing::ForkChild writer([&] {
    if (t.ring.write(pattern(big, 1), in(milliseconds(30000))) != RingStatus::kOk) return 1;
    if (t.ring.write(pattern(50, 2), in(milliseconds(30000))) != RingStatus::kOk) return 2;
    return 0;
  });
  concur::testing::ForkChild doomed([&] {
    Placed got;
    got.pause = milliseconds(10);
    read_placed(t.ring, got);
    return 3;
  });
  ASSERT_TRUE(concur::testing::eventually([&] { return t.ring.positions().head_pos > (4u << 20); },
                                          milliseconds(20000)));
  doomed.kill();
  EXPECT_NE(doomed.join(), 0);
  ASSERT_EQ(t.ring.positions().head_count, 0u) << "the message ended before the kill";
  mp::Buffer got;
  ASSERT_EQ(read_into(t.ring, got, in(milliseconds(30000))), RingStatus::kOk);
  EXPECT_EQ(got, pattern(50, 2));  // the rest of the big one was skipped
  EXPECT_TRUE(writer.ok());
  EXPECT_EQ(t.ring.qsize(), 0u);
  EXPECT_FALSE(t.ring.has_data());
}

TEST(Ring, TaskDoneAndJoin) {
  TestRing t(4096);
  EXPECT_TRUE(t.ring.join(in(milliseconds(0))));
  EXPECT_THROW(t.ring.task_done(), concur::ValueError);
  ASSERT_EQ(t.ring.write(pattern(4, 1), Deadline()), RingStatus::kOk);
  ASSERT_EQ(t.ring.write(pattern(4, 2), Deadline()), RingStatus::kOk);
  EXPECT_FALSE(t.ring.join(in(milliseconds(20))));
  t.ring.task_done();
  std::thread last([&] { t.ring.task_done(); });
  EXPECT_TRUE(t.ring.join(in(milliseconds(5000))));
  last.join();
  EXPECT_THROW(t.ring.task_done(), concur::ValueError);
}
