// src/os/signals.hpp: signal masks around calls that may raise SIGPIPE. Internal.
#pragma once

namespace concur::os {

/// Blocks SIGPIPE in the calling thread for its lifetime; on destruction consumes
/// a SIGPIPE raised meanwhile (sigtimedwait, zero timeout) unless one was already
/// pending before, then restores the thread's mask. The process-wide disposition is
/// never touched.
class SigpipeBlock {
 public:
  SigpipeBlock() noexcept;
  ~SigpipeBlock();
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  alignas(8) unsigned char old_mask_[128];
  bool was_pending_ = false;
  bool was_blocked_ = false;
};

}  // namespace concur::os
