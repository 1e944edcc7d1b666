// concur/multiprocessing/detail/region.hpp: a block of memory shared between processes.
//
// Internal to concur::multiprocessing: what queues, connections, locks, Value and Array
// live in. A Region is a memfd (memfd_create(MFD_CLOEXEC), so no name in /dev/shm and
// nothing to leak: it is freed with its last fd and mapping), reserved up front with
// posix_fallocate (a full tmpfs is an error at creation, never a SIGBUS on first
// touch) and mapped MAP_SHARED. Contents start zeroed. Hold it by shared_ptr: copies of an
// object share one mapping. Under `fork` a child inherits the mapping; under spawn and
// forkserver it crosses as its fd (encode/decode, inside an FdSink/FdSource).
//
// Rules for what goes inside (each process maps it at its own address): offsets, never
// pointers; atomics through std::atomic_ref on always-lock-free types; process-shared
// pthread objects only.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

#include "concur/multiprocessing/codec.hpp"

namespace concur::multiprocessing::detail {

class Region {
 public:
  /// A new zero-filled shared block of `size` bytes (> 0). `what` names it in errors and
  /// in /proc/<pid>/maps ("memfd:concur-<what>"). Throws concur::OSError naming the
  /// failed call (ENOSPC when /dev/shm-backed memory is full, EMFILE, ...).
  static std::shared_ptr<Region> create(std::size_t size, const char* what);
  /// Maps the memfd `fd` (the Region keeps a dup; the caller keeps `fd`). Size from fstat.
  static std::shared_ptr<Region> attach(int fd, const char* what);

  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  [[nodiscard]] void* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// The T constructed at byte `offset` (the caller placed it there).
  template <class T>
  [[nodiscard]] T* at(std::size_t offset = 0) const noexcept {
    return std::launder(reinterpret_cast<T*>(static_cast<std::byte*>(data_) + offset));
  }

  /// Writes a reference to this region (its fd index in the current FdSink): throws
  /// RuntimeError outside a sink (see src/multiprocessing/handles.hpp).
  void encode(Buffer& out, const char* what) const;
  /// The region that `encode` referred to, mapped here (from the current FdSource).
  static std::shared_ptr<Region> decode(Reader& in, const char* what);

 private:
  Region(int fd, void* data, std::size_t size) noexcept : fd_(fd), data_(data), size_(size) {}
  int fd_;
  void* data_;
  std::size_t size_;
};

}  // namespace concur::multiprocessing::detail
