// src/multiprocessing/managers/protocol.hpp: a manager's requests and replies on the wire
// (docs/design/0006-managers.md §2). Internal.
//
//   request = kind:u8  id:u64  name:str  args (the rest: dumps of the argument tuple)
//   reply   = kind:u8  payload (kReturn: dumps of the result, or nothing for void;
//                               kError: encode_exception; kProxy: typeid:str id:u64)
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/managers/proxy.hpp"

namespace concur::multiprocessing::managers::detail {

inline Buffer encode_request(Request kind, std::uint64_t id, std::string_view name,
                             std::span<const std::byte> args) {
  Buffer out;
  out.reserve(16 + name.size() + args.size());
  out.push_back(static_cast<std::byte>(kind));
  encode(out, id);
  encode(out, std::string(name));
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

struct ParsedRequest {
  Request kind{};
  std::uint64_t id = 0;
  std::string name;
  std::span<const std::byte> args;
};

/// Throws ValueError on a malformed request (never reads out of bounds).
inline ParsedRequest parse_request(std::span<const std::byte> bytes) {
  Reader in(bytes);
  ParsedRequest r;
  const auto kind = static_cast<std::uint8_t>(in.take(1)[0]);
  if (kind < 1 || kind > 6)
    throw ValueError("manager: unknown request kind " + std::to_string(kind));
  r.kind = static_cast<Request>(kind);
  r.id = decode<std::uint64_t>(in);
  r.name = decode<std::string>(in);
  r.args = in.take(in.remaining());
  return r;
}

}  // namespace concur::multiprocessing::managers::detail
