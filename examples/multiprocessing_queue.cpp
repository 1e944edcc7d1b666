// multiprocessing: a writer process and a reader process share a Queue (Python's
// "Exchanging objects between processes": q = Queue(); Process(target=f, args=(q,))).
//
//   def writer(q):                       def reader(q):
//       for i in range(3):                   while (msg := q.get()) != 'DONE':
//           q.put(f'message {i}')                print('reader got:', msg)
//       q.put('DONE')
//
// Here the end marker is an empty optional, and the queue is an argument of each Process:
// it crosses to the children as a handle to the same shared memory.
#include <cstdio>
#include <optional>
#include <string>

#include "concur/multiprocessing.hpp"
#include "tour.hpp"

// expect: reader got: message 0
// expect: reader got: message 1
// expect: reader got: message 2
// expect: reader done after 3 messages
// expect: writer exitcode 0, reader exitcode 0
// expect: queue empty: true

namespace mp = concur::mp;

namespace {
using Messages = mp::Queue<std::optional<std::string>>;

void writer(Messages q) {
  for (int i = 0; i < 3; ++i) q.put("message " + std::to_string(i));
  q.put(std::nullopt);  // DONE
}

void reader(Messages q) {
  int n = 0;
  while (auto msg = q.get()) {
    std::printf("reader got: %s\n", msg->c_str());
    ++n;
  }
  std::printf("reader done after %d messages\n", n);
  std::fflush(stdout);
}
CONCUR_REGISTER(writer);
CONCUR_REGISTER(reader);
}  // namespace

CONCUR_TOUR_PART(multiprocessing_queue, "a writer and a reader process share a Queue") {
  std::fflush(stdout);  // the children inherit stdout: nothing buffered may be printed twice
  Messages q;
  mp::Process w(&writer, q);  // the default method (forkserver): q crosses as a handle
  mp::Process r(&reader, q);
  r.start();
  w.start();
  w.join();
  r.join();
  std::printf("writer exitcode %d, reader exitcode %d\n", *w.exitcode(), *r.exitcode());
  std::printf("queue empty: %s\n", q.empty() ? "true" : "false");
}
