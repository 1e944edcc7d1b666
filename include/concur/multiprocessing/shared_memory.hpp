// concur/multiprocessing/shared_memory.hpp: Python's multiprocessing.shared_memory.SharedMemory,
// a named block of memory that any process can attach to by name.
//
//   namespace shm = concur::multiprocessing::shared_memory;
//   shm::SharedMemory a(std::nullopt, /*create=*/true, /*size=*/512);  // a new "/psm_1a2b3c4d"
//   std::memcpy(a.buf().data(), "hello", 5);
//   shm::SharedMemory b(a.name());             // another process: attach by name
//   // b.buf()[0..5) == "hello"; b.size() == 512
//   b.close();
//   a.close();
//   a.unlink();                                // the creator removes the name
//
// What it is: a POSIX shared memory object (shm_open, a file in /dev/shm), mapped
// MAP_SHARED, read-write. Writes through one handle are visible through every other
// handle of the segment, in every process, with no synchronisation of their own: order
// them with a Lock, an Event, a Queue or a join(), as in Python.
//
// Construction: SharedMemory(name, create, size, track), or SharedMemory({.name = ...,
// .create = ..., .size = ..., .track = ...}) with designated initialisers.
//   - create == true: a new segment of `size` bytes (> 0). With a name, exactly that name
//     (FileExistsError if it exists); without one (std::nullopt), a fresh "/psm_<8 hex
//     digits>", retried with another one on a collision (never FileExistsError). The pages
//     are reserved up front with posix_fallocate, so a full /dev/shm is an error here
//     (concur::OSError ENOSPC naming posix_fallocate) and never a SIGBUS on first touch.
//     Contents start zeroed. Permissions 0600. The name appears whole: the segment is
//     made unnamed in /dev/shm (O_TMPFILE), sized, registered with the resource tracker
//     with its inode, and only then named, atomically (linkat, which fails if the name
//     exists). So an attacher never finds it empty, and a creator killed at any moment
//     leaves nothing in /dev/shm that its tracker will not remove; the tracker never
//     removes a segment of that name that the creator did not make (a FileExistsError
//     creation, even one killed half-way, leaves the existing segment alone). Where
//     O_TMPFILE or /proc is refused (old kernels, a chroot without /proc), creation falls
//     back to shm_open(O_CREAT | O_EXCL), and a creator killed before registering leaks
//     its segment, as in CPython. See docs/design/0004-multiprocessing.md, section 9.
//   - create == false: attaches to the existing segment `name` (FileNotFoundError if there
//     is none); `size` is ignored (size() is the segment's real size).
//   - track: whether this process's resource tracker removes the segment if the program
//     dies without unlink() (see src/multiprocessing/tracker.hpp). Default: track when
//     creating, not when attaching (a tracker that unlinks segments merely
//     attached to deletes other programs' data, CPython gh-82300).
// Errors: ValueError for size < 0, create with size 0, attach without a name, an empty
// name, a name with a NUL; FileExistsError; FileNotFoundError; the OSError family naming
// the call otherwise (shm_open EINVAL for a name with an inner '/', ENAMETOOLONG over 255
// bytes; EMFILE; mmap; posix_fallocate ENOSPC). Nothing is left in /dev/shm by a failed
// creation. A name that exists is FileExistsError whatever the size asked (never ENOSPC).
//
// What blocks: nothing waits on other processes. The first tracked creation of a program
// forks its resource tracker (one small helper process, "concur-rtracker", that exits by
// itself once every process of the program is gone).
//
// Names: name() never has the leading '/' (as Python's .name); a name given with one is
// accepted, and the same segment is meant with or without it.
//
// Copies: a SharedMemory is a reference, as a Python object is: copies share one mapping,
// and close() through any of them closes it for all. The mapping is closed (munmap) when
// the last copy goes away; the segment itself lives until unlink().
//
// After close(): buf() is an empty span (never a dangling one); name(), size(), unlink()
// and the textual form still work. Python raises on the closed buffer instead.
//
// Crossing to another process (Python pickles it by name): SharedMemory is Picklable; it
// is encoded as its name alone, and decoding attaches (untracked) to that name, so
// FileNotFoundError if it was unlinked in between. It may be a Process argument under
// every start method (under fork the child inherits the mapping itself) and may go
// through a Queue or a Pipe.
//
// Thread safety: the methods may be called from several threads; the bytes of buf() are
// the caller's to synchronise.
//
// Python parity: SharedMemory(name=None, create=False, size=0, *, track=True) →
// SharedMemory(std::optional<std::string> name, bool create, std::int64_t size,
// std::optional<bool> track); .name → name(); .size → size(); .buf (memoryview) →
// buf() (std::span<std::byte>, a view like memoryview: concur::Bytes(shm.buf()) copies it,
// conn.send_bytes(shm.buf()) sends it); close(); unlink(); repr → repr() / operator<<
// ("SharedMemory('psm_1a2b3c4d', size=512)"). Differences: attaching does not track by
// default (Python 3.13 tracks unless track=False); unlink() always unregisters from this
// process's tracker (Python: only when tracked); buf() after close() is empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "concur/multiprocessing/codec.hpp"

namespace concur::multiprocessing::shared_memory {

class SharedMemory {
 public:
  /// Named arguments, as Python's keywords: SharedMemory({.create = true, .size = 512}).
  struct Options {
    std::optional<std::string> name{};
    bool create = false;
    std::int64_t size = 0;
    std::optional<bool> track{};  // default: create
  };

  /// Creates (create == true) or attaches to (create == false) a segment; see above.
  explicit SharedMemory(std::optional<std::string> name, bool create = false, std::int64_t size = 0,
                        std::optional<bool> track = std::nullopt);
  explicit SharedMemory(const Options& options);

  /// The name, without the leading '/'.
  [[nodiscard]] const std::string& name() const noexcept;
  /// The size in bytes: the requested size when created, the real size when attached.
  [[nodiscard]] std::size_t size() const noexcept;
  /// The mapped bytes; empty once closed.
  [[nodiscard]] std::span<std::byte> buf() const noexcept;
  /// True once close() was called (through any copy).
  [[nodiscard]] bool closed() const noexcept;
  /// True when this handle registered the segment with the resource tracker.
  [[nodiscard]] bool tracked() const noexcept;

  /// Unmaps the segment for this handle and its copies. Idempotent; never throws. The
  /// segment itself stays (see unlink()).
  void close() noexcept;
  /// Removes the name (shm_unlink): no one can attach any more; handles already attached
  /// keep working until closed, and the memory is freed with the last mapping. Also
  /// unregisters it (the segment this handle created or attached, by name and inode) from
  /// this process's resource tracker. A second unlink() of the same name raises
  /// FileNotFoundError. May be called before or after close().
  void unlink();

  /// "SharedMemory('<name>', size=<size>)".
  [[nodiscard]] std::string repr() const;
  friend std::ostream& operator<<(std::ostream& os, const SharedMemory& m);

  // Crossing by name (codec.hpp): the name alone; decoding attaches, untracked.
  using concur_handle_tag = void;
  void concur_encode_handle(Buffer& out) const;
  static SharedMemory concur_decode_handle(Reader& in);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

namespace detail {
/// Test hook: where auto-generated names come from ("/psm_..." with the slash). Returns
/// the previous source; nullptr restores the default (random).
using NameSource = std::string (*)();
NameSource set_name_source(NameSource source) noexcept;
}  // namespace detail

}  // namespace concur::multiprocessing::shared_memory
