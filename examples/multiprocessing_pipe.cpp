// multiprocessing: Python's Pipe example. The child sends [42, None, 'hello'] through its end
// of the pipe; the parent receives it.
//
//   def f(conn):
//       conn.send([42, None, 'hello'])
//       conn.close()
//   parent_conn, child_conn = Pipe()
//   p = Process(target=f, args=(child_conn,)); p.start()
//   print(parent_conn.recv())   # prints "[42, None, 'hello']"
//   p.join()
//
// A Connection is typed: [42, None, 'hello'] becomes a tuple<int, optional<int>, string>.
#include <cstdio>
#include <optional>
#include <string>
#include <tuple>

#include "concur/multiprocessing.hpp"
#include "tour.hpp"

// expect: \[42, None, 'hello'\]
// expect: child exitcode 0
// expect: after the child closed its end: EOFError

namespace mp = concur::mp;

namespace {
using Message = std::tuple<int, std::optional<int>, std::string>;

void f(mp::Connection<Message> conn) {
  conn.send({42, std::nullopt, "hello"});
  conn.close();
}
CONCUR_REGISTER(f);
}  // namespace

CONCUR_TOUR_PART(multiprocessing_pipe, "Pipe: the child sends [42, None, 'hello']") {
  std::fflush(stdout);
  auto [parent_conn, child_conn] = mp::Pipe<Message>();
  mp::Process p(&f, child_conn);
  p.start();
  child_conn.close();  // the child has its own copy
  const auto [n, none, s] = parent_conn.recv();
  std::printf("[%d, %s, '%s']\n", n, none ? std::to_string(*none).c_str() : "None", s.c_str());
  p.join();
  std::printf("child exitcode %d\n", *p.exitcode());
  try {
    (void)parent_conn.recv();
  } catch (const concur::EOFError&) {
    std::printf("after the child closed its end: EOFError\n");
  }
}
