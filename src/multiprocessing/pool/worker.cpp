// A process pool's worker: runs the initializer, then the calls the engine sends, one at a
// time, and answers each (protocol.hpp).
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/process.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "concur/multiprocessing/shared_memory.hpp"
#include "multiprocessing/pool/arena.hpp"
#include "multiprocessing/pool/protocol.hpp"

namespace concur::multiprocessing::detail::pool {
namespace {

/// Sends `reply` for call `id`: in the frame, or through a segment when it is large.
void send_reply(Connection<Bytes>& results, ReplyArenas& arenas, std::uint32_t slot,
                std::uint64_t id, const Buffer& reply) {
  Buffer frame;
  if (reply.size() < kLargePayload) {
    frame.reserve(16 + reply.size());
    put(frame, Frame::kResult);
    put(frame, slot);
    put(frame, id);
    frame.insert(frame.end(), reply.begin(), reply.end());
  } else {
    Placed placed = arenas.place(reply);
    if (placed.one_shot) placed.one_shot->close();  // the engine reads and unlinks it
    put(frame, Frame::kResultShm);
    put(frame, slot);
    put(frame, id);
    put(frame, static_cast<std::uint64_t>(reply.size()));
    put(frame, static_cast<std::uint8_t>(placed.kept ? 1 : 0));
    frame.insert(frame.end(), reinterpret_cast<const std::byte*>(placed.name.data()),
                 reinterpret_cast<const std::byte*>(placed.name.data() + placed.name.size()));
  }
  results.send_bytes(frame);
}

/// Runs the call a task frame carries; returns its id and reply.
std::pair<std::uint64_t, Buffer> run_task(Frame kind, FrameReader& in, MappedArenas& mapped) {
  const auto id = in.get<std::uint64_t>();
  if (kind == Frame::kTask) return {id, invoke(in.rest())};
  const auto size = in.get<std::uint64_t>();
  const bool kept = in.get<std::uint8_t>() != 0;
  const std::string name = in.rest_string();
  if (kept) return {id, invoke(payload_of(mapped.get(name), size))};
  SharedMemory segment(name, false, 0, false);  // one-shot: the engine unlinks it
  Buffer reply = invoke(payload_of(segment, size));
  segment.close();
  return {id, std::move(reply)};
}

}  // namespace

void worker_main(std::uint32_t slot, std::int64_t max_tasks, Buffer initializer,
                 Connection<Bytes> tasks, Connection<Bytes> results) {
  if (!initializer.empty()) {
    Buffer reply = invoke(initializer);
    if (reply.size() > 2 && reply[2] == kReplyException) {
      Buffer frame;
      put(frame, Frame::kInitFailed);
      put(frame, slot);
      frame.insert(frame.end(), reply.begin(), reply.end());
      results.send_bytes(frame);
      multiprocessing::exit(1);
    }
    Buffer frame;  // a worker that dies before this died in its initializer
    put(frame, Frame::kReady);
    put(frame, slot);
    results.send_bytes(frame);
  }
  MappedArenas requests;  // the engine's request segments, mapped once
  ReplyArenas replies;
  for (std::int64_t done = 0; max_tasks <= 0 || done < max_tasks; ++done) {
    Bytes message;
    try {
      message = tasks.recv_bytes();
    } catch (const EOFError&) {
      return;  // the engine is gone
    }
    FrameReader in(message);
    const auto kind = in.get<Frame>();
    if (kind == Frame::kExit) return;
    if (kind != Frame::kTask && kind != Frame::kTaskShm) {
      throw ValueError("concur: unexpected process-pool frame");
    }
    auto [id, reply] = run_task(kind, in, requests);
    send_reply(results, replies, slot, id, reply);
  }
}

}  // namespace concur::multiprocessing::detail::pool
