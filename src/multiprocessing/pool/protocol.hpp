// The frames between a process pool's engine and its workers (docs/design/0005-process-pools.md
// §3). Internal.
//
// Each frame is one message on a shared-memory Connection (connection.hpp), sent with
// send_bytes and read with recv_bytes: a kind byte, then fixed fields in native byte order,
// then the payload.
//
//   engine -> worker (one Pipe per worker)
//     kTask      u64 id, registry request
//     kTaskShm   u64 id, u64 size, u8 kept, segment name   (a request of kLargePayload bytes
//                                                           or more; arena.hpp)
//     kExit                                          (finish: no more tasks)
//   workers (and the engine's watcher) -> engine (one Pipe shared by all)
//     kResult    u32 slot, u64 id, registry reply
//     kResultShm u32 slot, u64 id, u64 size, u8 kept, segment name
//     kInitFailed u32 slot, registry reply (the initializer's exception)
//     kReady     u32 slot                            (the initializer ran; only with one)
//     kDied      u32 slot                            (the watcher saw the worker's pidfd)
//     kStop                                          (the engine ends its result thread)
//
// A payload of kLargePayload bytes or more travels through a shared-memory segment
// (arena.hpp): one copy in, none through the ring, decoded in place; segments are kept and
// reused, so a stream of large calls makes no new segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/connection.hpp"

namespace concur::multiprocessing::detail::pool {

enum class Frame : std::uint8_t {
  kTask = 1,
  kTaskShm,
  kExit,
  kResult,
  kResultShm,
  kInitFailed,
  kDied,
  kStop,
  kReady,
};

inline constexpr std::size_t kLargePayload = std::size_t{64} << 10;

/// Reads the fields of a frame in order; ValueError on a short frame.
class FrameReader {
 public:
  explicit FrameReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  template <class T>
  T get() {
    if (bytes_.size() - pos_ < sizeof(T)) {
      throw ValueError("concur: truncated process-pool frame");
    }
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  [[nodiscard]] std::span<const std::byte> rest() const noexcept { return bytes_.subspan(pos_); }
  [[nodiscard]] std::string rest_string() const {
    const auto r = rest();
    return {reinterpret_cast<const char*>(r.data()), r.size()};
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

template <class T>
void put(Buffer& out, const T& v) {
  const std::size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

/// The worker's entry point (worker.cpp), run in each worker process.
void worker_main(std::uint32_t slot, std::int64_t max_tasks, Buffer initializer,
                 Connection<Bytes> tasks, Connection<Bytes> results);

}  // namespace concur::multiprocessing::detail::pool
