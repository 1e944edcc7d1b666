// multiprocessing: Manager(), the documentation's example. A manager's server process holds a
// dict and a list; a child process changes both through proxies, the parent prints them.
//
//   from multiprocessing import Process, Manager
//
//   def f(d, l):
//       d[1] = '1'
//       d['2'] = 2
//       d[0.25] = None
//       l.reverse()
//
//   if __name__ == '__main__':
//       with Manager() as manager:
//           d = manager.dict()
//           l = manager.list(range(10))
//           p = Process(target=f, args=(d, l))
//           p.start()
//           p.join()
//           print(d)
//           print(l)
//
// Typed in C++: the dict's keys and values are variants of the types Python's example mixes
// (std::monostate for None). The manager is shut down at scope end (Python's `with`).
// Python prints {1: '1', '2': 2, 0.25: None} (a dict keeps its insertion order), as here.
#include <cstddef>
#include <iostream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "concur/multiprocessing.hpp"
#include "concur/multiprocessing/managers.hpp"
#include "tour.hpp"

// expect: ===.\{1: '1', '2': 2, 0\.25: None\}
// expect: \[9, 8, 7, 6, 5, 4, 3, 2, 1, 0\]

namespace mp = concur::mp;
namespace mm = concur::mp::managers;

namespace {

using Key = std::variant<int, double, std::string>;
using Val = std::variant<std::monostate, int, std::string>;  // std::monostate: None

void f(const mm::DictProxy<Key, Val>& d, const mm::ListProxy<int>& l) {
  d[1] = "1";
  d["2"] = 2;
  d[0.25] = std::monostate{};
  l.reverse();
}
// Started as mp::fn<&f>, which registers it under a name of its own (a plain
// CONCUR_REGISTER(f) would clash with the other tour parts' `f`).

// Python's repr of the values above.
struct Repr {
  std::ostream& os;
  void operator()(std::monostate /*none*/) const { os << "None"; }
  void operator()(int v) const { os << v; }
  void operator()(double v) const { os << v; }
  void operator()(const std::string& v) const { os << '\'' << v << '\''; }
};

std::string repr(const std::vector<std::pair<Key, Val>>& items) {
  std::ostringstream os;
  os << '{';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) os << ", ";
    std::visit(Repr{os}, items[i].first);
    os << ": ";
    std::visit(Repr{os}, items[i].second);
  }
  os << '}';
  return os.str();
}

std::string repr(const std::vector<int>& items) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < items.size(); ++i) os << (i > 0 ? ", " : "") << items[i];
  os << ']';
  return os.str();
}

}  // namespace

CONCUR_TOUR_PART(multiprocessing_managers, "Manager(): a process fills a shared dict and list") {
  auto manager = mp::Manager();
  auto d = manager.dict<Key, Val>();
  auto l = manager.list<int>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});  // list(range(10))

  mp::Process p(mp::fn<&f>, d, l);
  p.start();
  p.join();

  std::cout << repr(d.items()) << "\n";
  std::cout << repr(l.tolist()) << "\n";
}
