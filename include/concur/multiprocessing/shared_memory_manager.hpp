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
// Other processes (Python's address, authkey and connect()): start() also serves the
// manager at address() (default: a fresh abstract Unix socket, which leaves no file behind
// even if this process is killed; or the address given) with authkey (default:
// current_process().authkey()), from a thread of this process, through the managers'
// Server (managers/base_manager.hpp: mutual HMAC handshake, nothing but registered names).
// Another process makes SharedMemoryManager({.address, .authkey}) and connect()s; its
// SharedMemory(size) and ShareableList(...) create the segment in that process (tracked by
// its own resource tracker meanwhile), hand the name and the segment's identity (device
// and inode) to this manager, and only once this manager has registered it with its
// "concur-smm" server do they untrack it: the segment then lives until this manager's
// shutdown (or death), whatever becomes of the connected process, and a crash in between
// loses nothing (one of the two trackers unlinks it). The manager checks the identity
// against its own /dev/shm, so a name from another machine (over TCP) is refused
// (FileNotFoundError) rather than mistaken for a local segment: shared memory is local to
// a machine, and so is this manager. list_segments() names what the manager will unlink.
//
// Mappings already made stay usable after shutdown() (unlink removes only the names),
// until closed.
//
// Errors: SharedMemory()/ShareableList() before start()/connect() or after shutdown():
// ValueError; start() twice, or start() and connect(): ProcessError("Already started
// server"); start() after shutdown(): ProcessError("Manager has shut down"); size <= 0:
// ValueError (as SharedMemory); concur::OSError naming socketpair/fork when the server
// cannot be started, or the address when it cannot listen there. A connected manager:
// connect() with nothing at the address: ConnectionRefusedError / FileNotFoundError; a
// wrong key: AuthenticationError; the owner shut down or gone: EOFError / ConnectionError
// (the segment being made is unlinked, nothing is left behind); TimeoutError when opening
// the connection takes more than connect_timeout. A manager used in another process than
// the one that started it (a fork child holding a copy): ValueError; its fd was closed
// there at fork, so children never keep the server alive.
//
// Thread safety: the methods may be called from several threads.
//
// Python parity: SharedMemoryManager(address, authkey) → SharedMemoryManager({.address,
// .authkey}); start(); connect(); address; SharedMemory(size); ShareableList(sequence);
// shutdown(); `with` → scope. Not provided: get_server() (the owner serves from a thread of
// its own process), passing the manager itself to another process (pass its address, or the
// segments). Better than Python: a segment made by a connected process is not unlinked by
// that process's resource tracker when it exits (CPython's long-standing surprise); it is
// the manager's.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "concur/bytes.hpp"
#include "concur/multiprocessing/listener.hpp"
#include "concur/multiprocessing/shareable_list.hpp"
#include "concur/multiprocessing/shared_memory.hpp"

namespace concur::multiprocessing::managers {

struct SharedMemoryManagerOptions {
  /// Where start() serves / where connect() finds the manager. Empty: start() picks a fresh
  /// abstract Unix socket (read it back with address()).
  connection::Address address{};
  /// nullopt: current_process().authkey().
  std::optional<Bytes> authkey{};
  /// Bounds opening the connection to the manager (connect() and the requests after it).
  std::chrono::milliseconds connect_timeout{30000};
};

class SharedMemoryManager {
 public:
  SharedMemoryManager();
  explicit SharedMemoryManager(SharedMemoryManagerOptions options);
  /// shutdown(). Never throws.
  ~SharedMemoryManager();
  SharedMemoryManager(const SharedMemoryManager&) = delete;
  SharedMemoryManager& operator=(const SharedMemoryManager&) = delete;

  /// Starts the server process and serves at address() (see above).
  void start();
  /// Uses the manager another process start()ed at the options' address (Python:
  /// connect()): checks it answers, within connect_timeout.
  void connect();
  /// A manager this one started: stops serving, unlinks every segment made through it (also
  /// by connected processes) and stops the server process (waits for it: at most 5 s, then
  /// SIGKILL). A connected one: forgets the connection (the owner's segments stay).
  /// Idempotent; a no-op before start()/connect().
  void shutdown() noexcept;
  /// True between start() or connect() and shutdown().
  [[nodiscard]] bool started() const noexcept;
  /// Where the manager serves (start: with the name it chose); the options' address before.
  [[nodiscard]] connection::Address address() const;
  /// The names the manager will unlink at shutdown (Python: the server's list_segments).
  [[nodiscard]] std::vector<std::string> list_segments() const;

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
  enum class State { initial, started, connected, shut_down };
  struct Owner;   // the serving side of a started manager
  struct Remote;  // the connection of a connected one
  /// Hands a segment made here to the manager (ValueError when not started/connected) and,
  /// once it has it, untracks it here when `tracked_here`; on any failure the caller
  /// unlinks the segment.
  void adopt(const std::string& name, bool tracked_here);
  [[nodiscard]] bool usable() const noexcept;
  [[nodiscard]] bool owns() const noexcept;
  mutable std::mutex mutex_;
  SharedMemoryManagerOptions options_;
  State state_ = State::initial;
  pid_t owner_ = -1;
  std::unique_ptr<Owner> own_;
  std::unique_ptr<Remote> remote_;
};

}  // namespace concur::multiprocessing::managers
