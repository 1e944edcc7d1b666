// multiprocessing: synchronisation between processes with a Lock (the Python docs'
// example). Ten processes each print one line while holding the lock, so lines never
// interleave. The lock is robust: had a process died holding it, the next acquirer would
// get it with owner_died() true (Python's would deadlock).
//
//   Python                                      C++
//   lock = Lock()                               mp::Lock lock;
//   Process(target=f, args=(lock, num)).start() procs.emplace_back(mp::fn<&f>, lock, num);
//   l.acquire(); try: ... finally: l.release()  std::scoped_lock g(l);
//
// The children start with the default method (forkserver); the Lock crosses as a handle
// (its shared memory's fd travels with the start request), as it would under spawn, and is
// simply inherited under fork.
#include <iostream>
#include <mutex>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "tour.hpp"

// expect: hello world 0
// expect: hello world 1
// expect: hello world 2
// expect: hello world 3
// expect: hello world 4
// expect: hello world 5
// expect: hello world 6
// expect: hello world 7
// expect: hello world 8
// expect: hello world 9

namespace mp = concur::mp;

namespace {

void f(mp::Lock l, int i) {
  std::scoped_lock g(l);
  std::cout << "hello world " << i << std::endl;  // flushed while the lock is held
}

}  // namespace

CONCUR_TOUR_PART(multiprocessing_lock, "ten processes, one Lock") {
  mp::Lock lock;
  std::vector<mp::Process> procs;
  procs.reserve(10);
  for (int num = 0; num < 10; ++num) {
    procs.emplace_back(mp::fn<&f>, lock, num);
    procs.back().start();
  }
  for (auto& p : procs) p.join();
}
