// The README's multiprocessing example: a Queue, a Value and a Lock shared with a child
// started by the default method (forkserver). The tour's main() calls main_guard first.
#include <concur/multiprocessing.hpp>
#include <iostream>
#include <optional>
#include <string>

#include "tour.hpp"

// expect: got message 0
// expect: got message 1
// expect: got message 2
// expect: exitcode 0, count 3

namespace mp = concur::mp;

namespace {

void writer(mp::Queue<std::optional<std::string>> q, mp::Value<int> count, mp::Lock lock) {
  for (int i = 0; i < 3; ++i) q.put("message " + std::to_string(i));
  q.put(std::nullopt);       // the end marker
  std::scoped_lock g(lock);  // with lock:
  count.set(count.value() + 3);
}

}  // namespace

CONCUR_TOUR_PART(multiprocessing_readme, "the README example: Process, Queue, Value, Lock") {
  mp::Queue<std::optional<std::string>> q;
  mp::Value<int> count(0);
  mp::Lock lock;
  mp::Process p(mp::fn<&writer>, q, count, lock);
  p.start();
  while (auto msg = q.get(std::chrono::seconds(5))) std::cout << "got " << *msg << "\n";
  p.join();
  std::cout << "exitcode " << *p.exitcode() << ", count " << count.value() << "\n";
}
