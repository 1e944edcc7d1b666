// multiprocessing: sharing state with Value and Array (the Python docs' shared-memory
// example). A child process writes a double and negates every element of an int array;
// the parent sees both after join().
//
//   Python                                      C++
//   num = Value('d', 0.0)                       mp::Value<double> num(0.0);
//   arr = Array('i', range(10))                 mp::Array<int> arr(std::views::iota(0, 10));
//   p = Process(target=f, args=(num, arr))      mp::Process p(mp::fn<&f>, num, arr);
//   num.value = 3.1415927                       n.set(3.1415927);
//   arr[i] = -arr[i]                            a.set(i, -a.get(i));
//
// The child starts with the default method (forkserver: a fresh copy of the program, see
// examples/multiprocessing_process.cpp): num and arr cross as handles to the same shared
// memory (their memfds travel with the start request), never as copies.
#include <cstddef>
#include <iomanip>
#include <iostream>
#include <ranges>

#include "concur/multiprocessing.hpp"
#include "tour.hpp"

// expect: 3\.1415927
// expect: \[0, -1, -2, -3, -4, -5, -6, -7, -8, -9\]

namespace mp = concur::mp;

namespace {

void f(mp::Value<double> n, mp::Array<int> a) {
  n.set(3.1415927);
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto at = static_cast<std::ptrdiff_t>(i);
    a.set(at, -a.get(at));
  }
}

}  // namespace

CONCUR_TOUR_PART(multiprocessing_value_array, "shared memory: Value and Array") {
  mp::Value<double> num(0.0);
  mp::Array<int> arr(std::views::iota(0, 10));

  mp::Process p(mp::fn<&f>, num, arr);
  p.start();
  p.join();

  std::cout << std::setprecision(8) << num.value() << "\n";
  std::cout << "[";
  const auto values = arr.to_vector();  // arr[:]
  for (std::size_t i = 0; i < values.size(); ++i) std::cout << (i ? ", " : "") << values[i];
  std::cout << "]\n";
}
