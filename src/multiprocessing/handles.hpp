// src/multiprocessing/handles.hpp: how process-shared objects cross to a new process.
//
// Internal to concur::multiprocessing. A process-shared object (a Queue, a Lock, a
// Value...) lives in shared memory reached through a file descriptor (a memfd). It crosses
// to a child as a reference: its concur_encode_handle writes an index into the list of fds
// that travel with the message (SCM_RIGHTS), and its concur_decode_handle maps the fd it
// finds at that index on the other side.
//
// The starting side (Process::start under spawn/forkserver) encodes the call inside an
// FdSink; every export_fd() in that scope appends to the sink, which the start code then
// sends. The child decodes inside an FdSource over the fds it received. Under `fork`
// nothing is encoded: the child inherits the mappings and the fds.
//
// Outside a sink (an object put on a Queue), export_fd throws RuntimeError: "<what>
// objects should only be shared between processes through inheritance" (Python's words).
//
// Services every child inherits (the resource tracker's pipe, ...): set_inherited_fd
// names an fd that the start code hands to every child under every start method, and
// installs under the same key in the child before the target runs.
//
// stop_services(): stops the library's helper processes of this process (forkserver,
// resource tracker) as at normal exit; the test harness calls it before it counts child
// processes and fds. Services register their stop function with add_service_stopper.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace concur::multiprocessing::detail {

/// Collects the fds exported on this thread while it is alive (nests: the innermost wins).
class FdSink {
 public:
  FdSink() noexcept;
  ~FdSink();
  FdSink(const FdSink&) = delete;
  FdSink& operator=(const FdSink&) = delete;
  /// The exported fds, in index order. Borrowed: their owners keep them open.
  [[nodiscard]] const std::vector<int>& fds() const noexcept { return fds_; }

 private:
  friend std::uint32_t export_fd(int fd, const char* what);
  std::vector<int> fds_;
  FdSink* prev_;
};

/// Makes `fds` (borrowed) the fds that import_fd returns on this thread while alive.
class FdSource {
 public:
  explicit FdSource(std::span<const int> fds) noexcept;
  ~FdSource();
  FdSource(const FdSource&) = delete;
  FdSource& operator=(const FdSource&) = delete;

 private:
  friend int import_fd(std::uint32_t index, const char* what);
  std::span<const int> fds_;
  FdSource* prev_;
};

/// Adds `fd` to the innermost FdSink of this thread (once: the same fd gives the same
/// index) and returns its index. Without a sink: RuntimeError naming `what`.
std::uint32_t export_fd(int fd, const char* what);
/// The fd at `index` of the innermost FdSource (borrowed: dup it to keep it). Without a
/// source, or out of range: ValueError naming `what`.
int import_fd(std::uint32_t index, const char* what);
/// True when an FdSink is active on this thread.
bool exporting_fds() noexcept;

/// Registers (fd >= 0) or removes (fd < 0) an fd that every child inherits under `key`.
/// The fd stays owned by the caller.
void set_inherited_fd(std::string_view key, int fd);
/// The fd registered (in this process) under `key`, or -1.
int inherited_fd(std::string_view key) noexcept;
/// Every registered (key, fd).
std::vector<std::pair<std::string, int>> inherited_fds();

/// Registers `stop`, called by stop_services() (in reverse order of registration).
/// Registering the same function twice is a no-op.
void add_service_stopper(void (*stop)() noexcept);
/// Stops the library's helper processes (forkserver, resource tracker) of this process.
/// Idempotent; services start again on their next use.
void stop_services() noexcept;

}  // namespace concur::multiprocessing::detail
