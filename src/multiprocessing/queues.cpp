// Queue, SimpleQueue, JoinableQueue: the non-template part (concur/multiprocessing/queues.hpp).
#include "concur/multiprocessing/queues.hpp"

#include <cerrno>
#include <string>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/region.hpp"
#include "concur/multiprocessing/detail/ring.hpp"
#include "os/error.hpp"

namespace concur::multiprocessing::detail {

namespace {

Ring& ring_of(void* p) noexcept { return *static_cast<Ring*>(p); }

const char* name_of(QueueCore::Kind k) noexcept {
  switch (k) {
    case QueueCore::Kind::kSimple:
      return "SimpleQueue";
    case QueueCore::Kind::kJoinable:
      return "JoinableQueue";
    case QueueCore::Kind::kQueue:
      break;
  }
  return "Queue";
}

std::uint32_t checked_maxsize(long maxsize) {
  if (maxsize <= 0) return 0;
  if (static_cast<unsigned long>(maxsize) > Ring::kMaxCount) {
    throw concur::ValueError("Queue: maxsize " + std::to_string(maxsize) +
                             " is above the limit of " + std::to_string(Ring::kMaxCount));
  }
  return static_cast<std::uint32_t>(maxsize);
}

}  // namespace

Buffer& encode_scratch() noexcept {
  thread_local Buffer b;
  constexpr std::size_t kKeep = std::size_t{64} << 20;
  if (b.capacity() > kKeep) Buffer().swap(b);
  b.clear();
  return b;
}

QueueCore::QueueCore(Kind kind, long maxsize, std::size_t buffer_bytes) : kind_(kind) {
  const std::uint32_t max = checked_maxsize(maxsize);
  const std::size_t cap = Ring::round_capacity(buffer_bytes);
  region_ = Region::create(Ring::footprint(cap), name_of(kind));
  ring_ = new Ring(Ring::create(region_->data(), cap, max));
}

QueueCore::QueueCore(Kind kind, std::shared_ptr<Region> region)
    : kind_(kind), region_(std::move(region)) {
  if (region_->size() < Ring::footprint(Ring::kMinCapacity)) {
    throw concur::ValueError(std::string(name_of(kind)) + ": the shared region is too small");
  }
  Ring r = Ring::attach(region_->data());
  if (Ring::footprint(r.capacity()) > region_->size()) {
    throw concur::ValueError(std::string(name_of(kind)) + ": the shared region is truncated");
  }
  ring_ = new Ring(r);
}

QueueCore::~QueueCore() { delete static_cast<Ring*>(ring_); }

void QueueCore::check_open(const char* op) const {
  if (!closed_) return;
  if (kind_ == Kind::kSimple) {
    os::raise(EBADF, std::string("SimpleQueue.") + op + ": handle is closed");
  }
  throw concur::ValueError(std::string(name_of(kind_)) + " is closed");
}

void QueueCore::put(std::span<const std::byte> message, bool block, const Timeout& timeout) {
  put(std::span<const std::byte>(), message, block, timeout);
}

void QueueCore::put(std::span<const std::byte> prefix, std::span<const std::byte> body, bool block,
                    const Timeout& timeout) {
  check_open("put");
  used_ = true;
  const Deadline d = block ? Deadline(timeout) : Deadline(Deadline::Clock::now());
  if (ring_of(ring_).write(prefix, body, d) != RingStatus::kOk) throw concur::queue::Full();
}

void QueueCore::get(void (*take)(void*, std::span<const std::byte>), void* context, bool block,
                    const Timeout& timeout, const RingPlacement* placement) {
  check_open("get");
  const Deadline d = block ? Deadline(timeout) : Deadline(Deadline::Clock::now());
  if (ring_of(ring_).read(take, context, d, -1, placement) != RingStatus::kOk) {
    throw concur::queue::Empty();
  }
}

std::size_t QueueCore::qsize() const { return ring_of(ring_).qsize(); }

bool QueueCore::empty() const {
  // Python: a Queue's reader is closed by close() once its feeder thread ran (after a put);
  // a SimpleQueue's at close(). empty() then fails on the closed handle.
  if (closed_ && (kind_ == Kind::kSimple || used_)) {
    os::raise(EBADF, std::string(name_of(kind_)) + ".empty(): handle is closed");
  }
  return !ring_of(ring_).has_data();
}

bool QueueCore::full() const {
  const std::uint32_t max = ring_of(ring_).maxsize();
  return max != 0 && qsize() >= max;
}

long QueueCore::maxsize() const noexcept { return ring_of(ring_).maxsize(); }

void QueueCore::close() noexcept { closed_ = true; }

void QueueCore::join_thread() const {
  if (!closed_) {
    throw concur::ValueError(std::string(name_of(kind_)) +
                             ".join_thread() is only allowed after close()");
  }
}

// Python checks neither for a closed queue: the counters live on in shared memory.
void QueueCore::task_done() { ring_of(ring_).task_done(); }

bool QueueCore::join(const Timeout& timeout) { return ring_of(ring_).join(Deadline(timeout)); }

void QueueCore::encode(Buffer& out, const char* what) const { region_->encode(out, what); }

std::shared_ptr<QueueCore> QueueCore::decode(Reader& in, Kind kind, const char* what) {
  return std::make_shared<QueueCore>(kind, Region::decode(in, what));
}

}  // namespace concur::multiprocessing::detail
