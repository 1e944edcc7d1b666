// The authentication handshake of multiprocessing.connection (listener.hpp): CPython
// 3.12's deliver_challenge / answer_challenge, HMAC-SHA256 only, from OpenSSL's libcrypto.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

#include "concur/multiprocessing/errors.hpp"
#include "concur/multiprocessing/listener.hpp"

namespace concur::multiprocessing::connection::detail {

namespace {

using Core = multiprocessing::detail::ConnectionCore;

constexpr std::string_view kChallenge = "#CHALLENGE#";
constexpr std::string_view kWelcome = "#WELCOME#";
constexpr std::string_view kFailure = "#FAILURE#";
constexpr std::string_view kDigest = "{sha256}";
constexpr std::size_t kMessageLength = 40;       // random bytes of a challenge (CPython's)
constexpr std::size_t kMacLength = 32;           // SHA-256
constexpr std::size_t kMaxHandshakeFrame = 256;  // CPython's recv_bytes(256)

std::span<const std::byte> bytes_of(std::string_view s) noexcept {
  return std::as_bytes(std::span(s.data(), s.size()));
}

bool starts_with(std::span<const std::byte> b, std::string_view prefix) noexcept {
  return b.size() >= prefix.size() && std::memcmp(b.data(), prefix.data(), prefix.size()) == 0;
}

std::array<unsigned char, kMacLength> hmac_sha256(std::span<const std::byte> key,
                                                  std::span<const std::byte> message) {
  std::array<unsigned char, kMacLength> out{};
  unsigned len = 0;
  static const unsigned char kNoKey = 0;  // OpenSSL treats a null key as "no key given"
  const void* k = key.empty() ? &kNoKey : static_cast<const void*>(key.data());
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()),  // NOLINT: byte view
           message.size(), out.data(), &len) == nullptr ||
      len != kMacLength) {
    throw AuthenticationError("HMAC-SHA256 failed (OpenSSL)");
  }
  return out;
}

/// CPython's _verify_challenge for "{sha256}" + MAC answers: constant-time compare.
void verify(std::span<const std::byte> key, std::span<const std::byte> message,
            std::span<const std::byte> response) {
  if (!starts_with(response, kDigest)) {
    throw AuthenticationError("unsupported digest in the answer (only {sha256}; message length=" +
                              std::to_string(response.size()) + ")");
  }
  const auto mac = response.subspan(kDigest.size());
  if (mac.size() != kMacLength) {
    throw AuthenticationError("expected 32 byte sha256 digest, got " + std::to_string(mac.size()));
  }
  const auto expected = hmac_sha256(key, message);
  if (CRYPTO_memcmp(expected.data(), mac.data(), kMacLength) != 0) {
    throw AuthenticationError("digest received was wrong");
  }
}

}  // namespace

void deliver_challenge(Core& c, std::span<const std::byte> authkey) {
  // "{sha256}" + 40 random bytes; the answer's MAC covers all of it, prefix included.
  std::array<std::byte, kDigest.size() + kMessageLength> message{};
  std::memcpy(message.data(), kDigest.data(), kDigest.size());
  if (RAND_bytes(reinterpret_cast<unsigned char*>(message.data() + kDigest.size()),  // NOLINT
                 static_cast<int>(kMessageLength)) != 1) {
    throw AuthenticationError("RAND_bytes failed (OpenSSL)");
  }
  c.send(bytes_of(kChallenge), message);
  const Buffer response = c.recv_bytes(kMaxHandshakeFrame);
  try {
    verify(authkey, message, response);
  } catch (const AuthenticationError&) {
    try {
      c.send_bytes(bytes_of(kFailure));
    } catch (const std::exception&) {  // the peer may be gone: the refusal stands
    }
    throw;
  }
  c.send_bytes(bytes_of(kWelcome));
}

void answer_challenge(Core& c, std::span<const std::byte> authkey) {
  const Buffer m = c.recv_bytes(kMaxHandshakeFrame);
  const std::span<const std::byte> received(m);
  if (!starts_with(received, kChallenge)) {
    throw AuthenticationError(
        "protocol error, expected challenge (message length=" + std::to_string(m.size()) + ")");
  }
  const auto message = received.subspan(kChallenge.size());
  if (message.size() < 20) {
    throw AuthenticationError("challenge too short: " + std::to_string(message.size()) + " bytes");
  }
  if (!starts_with(message, kDigest)) {
    throw AuthenticationError(
        "unsupported challenge digest (only {sha256}; legacy HMAC-MD5 is "
        "not answered)");
  }
  const auto mac = hmac_sha256(authkey, message);
  c.send(bytes_of(kDigest), std::as_bytes(std::span(mac)));
  const Buffer reply = c.recv_bytes(kMaxHandshakeFrame);
  if (reply.size() != kWelcome.size() || !starts_with(reply, kWelcome)) {
    throw AuthenticationError("digest sent was rejected");
  }
}

}  // namespace concur::multiprocessing::connection::detail
