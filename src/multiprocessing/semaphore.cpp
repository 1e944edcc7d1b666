// mp::Semaphore and BoundedSemaphore: a futex word of permits in shared memory.
// See concur/multiprocessing/semaphore.hpp for the contract.
#include "concur/multiprocessing/semaphore.hpp"

#include <pthread.h>

#include <climits>
#include <cstdint>
#include <new>
#include <string>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "synchronize_impl.hpp"

namespace concur::multiprocessing {

namespace {
using detail::new_block;
using detail::wait_word;
using detail::wake_word;
}  // namespace

namespace {
constexpr std::uint32_t kBoundedSemaphoreMagic = 0x4253454d;  // "BSEM"

std::uint32_t checked_value(std::int64_t value) {
  if (value < 0) throw ValueError("semaphore initial value must be >= 0");
  if (value > static_cast<std::int64_t>(UINT32_MAX) - 1)
    throw ValueError("semaphore initial value must be < 2**32 - 1, got " + std::to_string(value));
  return static_cast<std::uint32_t>(value);
}
}  // namespace

Semaphore::Semaphore(std::int64_t value) : Semaphore(value, false) {}

Semaphore::Semaphore(std::int64_t value, bool bounded) {
  const std::uint32_t v = checked_value(value);
  ref_ = new_block(sizeof(detail::SemaphoreState), bounded ? "BoundedSemaphore" : "Semaphore");
  auto* s = new (ref_.region->at<detail::SemaphoreState>(0)) detail::SemaphoreState{};
  s->bound = bounded ? v : 0;
  s->value.store(v, std::memory_order_relaxed);
  s->sleepers.store(0, std::memory_order_relaxed);
  detail::store(s->magic, bounded ? kBoundedSemaphoreMagic : detail::kSemaphoreMagic);
}

namespace {
bool try_take(detail::SemaphoreState& s) noexcept {
  std::uint32_t v = s.value.load(std::memory_order_relaxed);
  while (v != 0) {
    if (s.value.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
      return true;
  }
  return false;
}
}  // namespace

bool Semaphore::acquire_slow(const Deadline& deadline) {
  detail::SemaphoreState& s = state();
  for (;;) {
    if (try_take(s)) return true;
    s.sleepers.fetch_add(1, std::memory_order_seq_cst);
    bool in_time = true;
    if (s.value.load(std::memory_order_seq_cst) == 0) in_time = wait_word(s.value, 0, deadline);
    s.sleepers.fetch_sub(1, std::memory_order_relaxed);
    if (!in_time) return try_take(s);
  }
}

bool Semaphore::acquire_for(bool blocking, Timeout timeout) {
  if (try_take(state())) return true;
  return blocking && acquire_slow(Deadline(timeout));
}

void Semaphore::release(std::int64_t n) {
  if (n < 1) throw ValueError("n must be one or more");
  detail::SemaphoreState& s = state();
  const bool bounded = detail::load(s.magic) == kBoundedSemaphoreMagic;
  const std::uint64_t limit = bounded ? s.bound : UINT32_MAX - 1;
  std::uint32_t v = s.value.load(std::memory_order_relaxed);
  std::uint32_t next = 0;
  do {
    if (static_cast<std::uint64_t>(v) + static_cast<std::uint64_t>(n) > limit) {
      if (bounded) throw ValueError("semaphore or lock released too many times");
      throw ValueError("semaphore value would exceed 2**32 - 2");
    }
    next = v + static_cast<std::uint32_t>(n);
  } while (!s.value.compare_exchange_weak(v, next, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  if (s.sleepers.load(std::memory_order_seq_cst) != 0)
    wake_word(s.value, n > INT_MAX ? INT_MAX : static_cast<int>(n));
}

std::int64_t Semaphore::get_value() const noexcept {
  return static_cast<std::int64_t>(state().value.load(std::memory_order_relaxed));
}

std::string Semaphore::repr() const {
  const detail::SemaphoreState& s = state();
  if (detail::load(s.magic) == kBoundedSemaphoreMagic)
    return "<BoundedSemaphore(value=" + std::to_string(get_value()) +
           ", maxvalue=" + std::to_string(s.bound) + ")>";
  return "<Semaphore(value=" + std::to_string(get_value()) + ")>";
}

void Semaphore::concur_encode_handle(Buffer& out) const {
  detail::encode_ref(
      out, ref_,
      detail::load(state().magic) == kBoundedSemaphoreMagic ? "BoundedSemaphore" : "Semaphore");
}
Semaphore Semaphore::concur_decode_handle(Reader& in) {
  return Semaphore(
      detail::decode_ref(in, sizeof(detail::SemaphoreState), detail::kSemaphoreMagic, "Semaphore"));
}
BoundedSemaphore BoundedSemaphore::concur_decode_handle(Reader& in) {
  return BoundedSemaphore(detail::decode_ref(in, sizeof(detail::SemaphoreState),
                                             kBoundedSemaphoreMagic, "BoundedSemaphore"));
}

}  // namespace concur::multiprocessing
