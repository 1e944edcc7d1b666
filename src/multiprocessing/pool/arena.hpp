// Shared-memory segments for a process pool's large payloads (protocol.hpp), kept and reused:
// a segment made once is written again for later payloads, and its reader keeps it mapped,
// so a stream of large calls costs no segment creation, no mapping and no page fault after
// the first ones. Internal.
//
// A segment starts with a 64-byte header whose first word says whether it is in use; the
// payload follows. Requests (engine -> workers) come from the engine's RequestArenas: a
// segment is in use from the hand-out until the call's job ends, which only the engine knows
// (a call taken back from a dead worker is sent again from the same segment). Replies (a
// worker -> the engine) come from the worker's ReplyArenas: the engine clears the in-use
// word once it has decoded the reply. A payload that fits no free kept segment, once kKeep are
// kept, goes through a one-shot segment, which its reader unlinks (as before this file).
// Kept segments are unlinked by the engine: its own when it ends, a worker's when that worker
// is seen dead.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "concur/multiprocessing/shared_memory.hpp"

namespace concur::multiprocessing::detail::pool {

inline constexpr std::size_t kArenaHeader = 64;
/// Kept segments at most, per engine for requests and per worker for replies.
inline constexpr std::size_t kKeep = 4;
/// The smallest kept segment (payload bytes): a few large payloads share one size.
inline constexpr std::size_t kArenaMin = std::size_t{1} << 20;

using shared_memory::SharedMemory;

inline std::atomic_ref<std::uint32_t> in_use(const SharedMemory& segment) {
  return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(segment.buf().data()));
}

inline void unlink_quietly(SharedMemory& segment) noexcept {
  segment.close();
  try {
    segment.unlink();
  } catch (...) {  // already gone
  }
}

/// Where a large payload was written: its segment's name, and whether the segment is kept
/// (the reader keeps it mapped) or one-shot (the reader unlinks it).
struct Placed {
  std::string name;
  bool kept = false;
  int index = -1;                        // RequestArenas: the kept segment, to release
  std::optional<SharedMemory> one_shot;  // the one-shot segment (its writer's handle)
};

/// Writes `payload` into `segment` after the header.
inline void fill(SharedMemory& segment, std::span<const std::byte> payload) {
  std::memcpy(segment.buf().data() + kArenaHeader, payload.data(), payload.size());
}

inline SharedMemory make_segment(std::size_t payload) {
  return SharedMemory(std::nullopt, true, static_cast<std::int64_t>(kArenaHeader + payload));
}

/// The engine's segments for requests. Thread-safe.
class RequestArenas {
 public:
  RequestArenas() = default;
  RequestArenas(const RequestArenas&) = delete;
  RequestArenas& operator=(const RequestArenas&) = delete;
  ~RequestArenas() {
    for (auto& a : arenas_) unlink_quietly(a.segment);
  }

  Placed place(std::span<const std::byte> payload) {
    Placed p;
    {
      std::lock_guard lock(mu_);
      for (std::size_t i = 0; i < arenas_.size(); ++i) {
        if (!arenas_[i].busy && capacity(arenas_[i].segment) >= payload.size()) {
          arenas_[i].busy = true;
          p.index = static_cast<int>(i);
          break;
        }
      }
      if (p.index < 0 && arenas_.size() < kKeep) {
        arenas_.push_back({make_segment(std::max(payload.size(), kArenaMin)), true});
        p.index = static_cast<int>(arenas_.size() - 1);
      }
      if (p.index >= 0) {
        // Written under the lock's protection of `busy`: no one else writes this segment.
        fill(arenas_[static_cast<std::size_t>(p.index)].segment, payload);
        p.name = arenas_[static_cast<std::size_t>(p.index)].segment.name();
        p.kept = true;
        return p;
      }
    }
    p.one_shot.emplace(make_segment(payload.size()));
    fill(*p.one_shot, payload);
    p.name = p.one_shot->name();
    return p;
  }

  /// The job that used kept segment `index` ended.
  void release(int index) noexcept {
    std::lock_guard lock(mu_);
    arenas_[static_cast<std::size_t>(index)].busy = false;
  }

 private:
  static std::size_t capacity(const SharedMemory& s) { return s.size() - kArenaHeader; }
  struct Arena {
    SharedMemory segment;
    bool busy = false;
  };
  std::mutex mu_;
  std::vector<Arena> arenas_;
};

/// A worker's segments for replies. One thread.
class ReplyArenas {
 public:
  Placed place(std::span<const std::byte> payload) {
    Placed p;
    for (auto& s : kept_) {
      if (s.size() - kArenaHeader >= payload.size() &&
          in_use(s).load(std::memory_order_acquire) == 0) {
        in_use(s).store(1, std::memory_order_relaxed);
        fill(s, payload);
        p.name = s.name();
        p.kept = true;
        return p;
      }
    }
    if (kept_.size() < kKeep) {
      kept_.push_back(make_segment(std::max(payload.size(), kArenaMin)));
      SharedMemory& s = kept_.back();
      in_use(s).store(1, std::memory_order_relaxed);
      fill(s, payload);
      p.name = s.name();
      p.kept = true;
      return p;
    }
    p.one_shot.emplace(make_segment(payload.size()));
    fill(*p.one_shot, payload);
    p.name = p.one_shot->name();
    return p;
  }

 private:
  std::vector<SharedMemory> kept_;  // unlinked by the engine when this worker is seen dead
};

/// Segments a reader keeps mapped, by name: a worker's view of the engine's request
/// segments, the engine's view of one worker's reply segments. One thread.
class MappedArenas {
 public:
  /// The segment `name`, mapped once.
  SharedMemory& get(const std::string& name) {
    auto it = mapped_.find(name);
    if (it == mapped_.end()) it = mapped_.emplace(name, SharedMemory(name, false, 0, false)).first;
    return it->second;
  }
  /// Unmaps every segment; also unlinks them (the engine, for a dead worker's replies).
  void clear(bool unlink) noexcept {
    for (auto& [name, s] : mapped_) {
      if (unlink) {
        unlink_quietly(s);
      } else {
        s.close();
      }
    }
    mapped_.clear();
  }

 private:
  std::map<std::string, SharedMemory> mapped_;
};

/// The payload of `size` bytes in a segment (ValueError when it is shorter).
inline std::span<const std::byte> payload_of(const SharedMemory& s, std::uint64_t size) {
  if (s.size() < kArenaHeader || s.size() - kArenaHeader < size) {
    throw ValueError("concur: a process-pool segment is shorter than its payload");
  }
  return s.buf().subspan(kArenaHeader, static_cast<std::size_t>(size));
}

}  // namespace concur::multiprocessing::detail::pool
