// The README's first example.
#include <concur/futures.hpp>
#include <iostream>
#include <vector>

#include "tour.hpp"

// expect: 0 1 4 9 16 25 36 49 64 81
// expect: 2\*\*8 = 256
CONCUR_TOUR_PART(futures_readme, "the README example: submit, map, result") {
  concur::futures::ThreadPoolExecutor pool({.max_workers = 4});
  auto f = pool.submit(
      [](int b, int e) {
        int r = 1;
        while (e--) r *= b;
        return r;
      },
      2, 8);
  std::vector<int> xs{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (int sq : pool.map([](int x) { return x * x; }, xs)) std::cout << sq << " ";
  std::cout << "\n2**8 = " << f.result() << "\n";
}
