// multiprocessing tour: shared_memory — Python's first SharedMemory example, with the
// second process a real one (it attaches by name, as from another terminal).
//
// Python:
//   shm_a = shared_memory.SharedMemory(create=True, size=10)
//   buffer = shm_a.buf
//   buffer[:4] = bytearray([22, 33, 44, 55]); buffer[4] = 100
//   # another process (here a Process given the name):
//   shm_b = shared_memory.SharedMemory(shm_a.name)
//   array.array('b', shm_b.buf[:5])       # array('b', [22, 33, 44, 55, 100])
//   shm_b.buf[:5] = b'howdy'
//   shm_b.close()
//   # back in the first:
//   bytes(shm_a.buf[:5])                  # b'howdy'
//   shm_a.close(); shm_a.unlink()
#include <concur/multiprocessing.hpp>
#include <cstring>
#include <iostream>

#include "tour.hpp"

// clang-format off
// expect: created SharedMemory\('psm_[0-9a-f]+', size=10\)
// expect: child sees \[22, 33, 44, 55, 100\]
// expect: parent sees b'howdy'
// expect: ShareableList\(\['howdy', 3\.5, 42, None, True\], name='psm_[0-9a-f]+'\)
// expect: after the child: \['HOWDY', 3\.5, 43, None, True\]
// expect: unlinked
// clang-format on
CONCUR_TOUR_PART(multiprocessing_shared_memory,
                 "multiprocessing.shared_memory: SharedMemory and ShareableList by name") {
  namespace mp = concur::multiprocessing;
  namespace shm = mp::shared_memory;

  shm::SharedMemory shm_a(std::nullopt, /*create=*/true, /*size=*/10);
  std::cout << "created " << shm_a << "\n" << std::flush;
  auto buffer = shm_a.buf();
  for (int i = 0; i < 4; ++i) buffer[static_cast<std::size_t>(i)] = std::byte(22 + 11 * i);
  buffer[4] = std::byte{100};

  // Another process attaches by name, reads, and writes. (The tour's main() does not call
  // mp::main_guard, so it starts children by fork; with main_guard any method works.)
  const auto& ctx = mp::get_context("fork");
  auto reader = ctx.Process(
      [](std::string name) {
        shm::SharedMemory shm_b(name);
        std::cout << "child sees [";
        for (std::size_t i = 0; i < 5; ++i) {
          std::cout << (i ? ", " : "") << static_cast<int>(shm_b.buf()[i]);
        }
        std::cout << "]\n" << std::flush;
        std::memcpy(shm_b.buf().data(), "howdy", 5);
        shm_b.close();
      },
      shm_a.name());
  reader.start();
  reader.join();
  std::cout << "parent sees b'" << std::string(reinterpret_cast<const char*>(buffer.data()), 5)
            << "'\n";
  shm_a.close();
  shm_a.unlink();  // once, by the creator

  // A ShareableList: fixed slots that change in place, seen by every process.
  shm::ShareableList sl({"howdy", 3.5, 42, shm::Item{}, true});
  std::cout << sl << "\n" << std::flush;
  auto writer = ctx.Process(
      [](shm::ShareableList other) {  // the list itself (spawn: by name)
        other.set(0, "HOWDY");
        other.set(2, std::get<std::int64_t>(other[2]) + 1);
      },
      sl);
  writer.start();
  writer.join();
  std::cout << "after the child: [";
  bool first = true;
  for (const shm::Item& item : sl) {
    std::cout << (first ? "" : ", ") << shm::repr(item);
    first = false;
  }
  std::cout << "]\n";
  sl.shm().close();
  sl.shm().unlink();
  std::cout << "unlinked\n";
}
