// mp::Event: a futex word counting the flag's transitions, in shared memory.
// See concur/multiprocessing/event.hpp for the contract.
#include "concur/multiprocessing/event.hpp"

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

Event::Event() : ref_(new_block(sizeof(detail::EventState), "Event")) {
  auto* s = new (ref_.region->at<detail::EventState>(0)) detail::EventState{};
  s->word.store(0, std::memory_order_relaxed);
  s->sleepers.store(0, std::memory_order_relaxed);
  detail::store(s->magic, detail::kEventMagic);
}

bool Event::is_set() const noexcept {
  return (state().word.load(std::memory_order_acquire) & 1U) != 0;
}

void Event::set() noexcept {
  detail::EventState& s = state();
  std::uint32_t w = s.word.load(std::memory_order_relaxed);
  while ((w & 1U) == 0) {
    if (s.word.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
      if (s.sleepers.load(std::memory_order_seq_cst) != 0) wake_word(s.word, INT_MAX);
      return;
    }
  }
}

void Event::clear() noexcept {
  detail::EventState& s = state();
  std::uint32_t w = s.word.load(std::memory_order_relaxed);
  while ((w & 1U) != 0) {
    if (s.word.compare_exchange_weak(w, w + 1, std::memory_order_seq_cst,
                                     std::memory_order_relaxed))
      return;
  }
}

bool Event::wait(Timeout timeout) {
  detail::EventState& s = state();
  const std::uint32_t seen = s.word.load(std::memory_order_acquire);
  if (seen & 1U) return true;
  const Deadline deadline(timeout);
  if (!deadline.expired() && detail::spin_while_equal(s.word, seen)) return true;
  s.sleepers.fetch_add(1, std::memory_order_seq_cst);
  while (s.word.load(std::memory_order_seq_cst) == seen) {
    if (!wait_word(s.word, seen, deadline)) break;
  }
  s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  return s.word.load(std::memory_order_acquire) != seen;
}

std::string Event::repr() const { return is_set() ? "<Event: set>" : "<Event: unset>"; }

void Event::concur_encode_handle(Buffer& out) const { detail::encode_ref(out, ref_, "Event"); }
Event Event::concur_decode_handle(Reader& in) {
  return Event(detail::decode_ref(in, sizeof(detail::EventState), detail::kEventMagic, "Event"));
}

}  // namespace concur::multiprocessing
