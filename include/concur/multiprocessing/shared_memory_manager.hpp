// concur/multiprocessing/shared_memory_manager.hpp: Python's
// multiprocessing.managers.SharedMemoryManager — segments whose lifetime is a scope: every
// SharedMemory and ShareableList made through the manager is unlinked at shutdown().
//
//   namespace mgr = concur::multiprocessing::managers;
//   {
//     mgr::SharedMemoryManager smm;
//     smm.start();
//     auto m = smm.SharedMemory(1024);          // a new segment, attachable by name
//     auto sl = smm.ShareableList({1, "two"});  // likewise
//     ... hand m.name(), m or sl to other processes ...
//   }  // scope exit = shutdown(): both names are unlinked; attaching now: FileNotFoundError
//
// How: start() forks a small server process (the resource tracker's code, see
// src/multiprocessing/tracker.hpp, named "concur-smm") connected by a socket that only this
// manager holds. Each segment made through the manager is created here (untracked by
// the program's resource tracker) and its name registered with the server. shutdown()
// closes the socket; the server reads EOF, unlinks every name, exits, and is reaped
// (shutdown() returns after that, so the names are gone when it returns). If the program
// dies instead, the server reads the same EOF and does the same. The server ignores
// SIGINT (and SIGTERM, SIGHUP), holds no fd of the program's but its socket and stderr,
// and lives in its own process group: a Ctrl-C cannot lose the cleanup.
//
// Mappings already made stay usable after shutdown() (unlink removes only the names),
// until closed.
//
// Errors: SharedMemory()/ShareableList() before start() or after shutdown(): ValueError;
// start() twice: ProcessError("Already started server"); start() after shutdown():
// ProcessError("Manager has shut down"); size <= 0: ValueError (as SharedMemory);
// concur::OSError naming socketpair/fork when the server cannot be started. A manager
// used in another process than the one that started it (a fork child holding a copy):
// ValueError; its fd was closed there at fork, so children never keep the server alive.
//
// Thread safety: the methods may be called from several threads.
//
// Python parity: SharedMemoryManager() → SharedMemoryManager; start(); SharedMemory(size);
// ShareableList(sequence); shutdown(); `with` → scope. Not provided: address/authkey,
// connect(), get_server() (the server speaks no RPC: it only records names), and passing
// the manager itself to another process (pass the segments instead).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <vector>

#include "concur/multiprocessing/shareable_list.hpp"
#include "concur/multiprocessing/shared_memory.hpp"

namespace concur::multiprocessing::managers {

class SharedMemoryManager {
 public:
  SharedMemoryManager() = default;
  /// shutdown(). Never throws.
  ~SharedMemoryManager();
  SharedMemoryManager(const SharedMemoryManager&) = delete;
  SharedMemoryManager& operator=(const SharedMemoryManager&) = delete;

  /// Starts the server process.
  void start();
  /// Unlinks every segment made through this manager and stops the server (waits for
  /// it: at most 5 s, then SIGKILL). Idempotent; a no-op before start().
  void shutdown() noexcept;
  /// True between start() and shutdown().
  [[nodiscard]] bool started() const noexcept;

  /// A new segment of `size` bytes with a generated name, unlinked at shutdown().
  [[nodiscard]] shared_memory::SharedMemory SharedMemory(std::int64_t size);
  /// A new ShareableList of `items`, its segment unlinked at shutdown().
  [[nodiscard]] shared_memory::ShareableList ShareableList(
      const std::vector<shared_memory::Item>& items = {});
  [[nodiscard]] shared_memory::ShareableList ShareableList(
      std::initializer_list<shared_memory::Item> items) {
    return ShareableList(std::vector<shared_memory::Item>(items));
  }

  /// The server's pid while started, else -1 (tests).
  [[nodiscard]] pid_t server_pid() const noexcept;

 private:
  enum class State { initial, started, shut_down };
  void register_name(const std::string& name);
  mutable std::mutex mutex_;
  State state_ = State::initial;
  int fd_ = -1;
  pid_t pid_ = -1;
  pid_t owner_ = -1;
};

}  // namespace concur::multiprocessing::managers
