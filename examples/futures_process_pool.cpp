// concurrent.futures: the documentation's ProcessPoolExecutor example. is_prime runs in the
// worker processes (one per CPU); map gives the results in the order of PRIMES.
//
//   PRIMES = [112272535095293, 112582705942171, 112272535095293, 115280095190773,
//             115797848077099, 1099726899285419]
//
//   def is_prime(n):
//       if n < 2: return False
//       if n == 2: return True
//       if n % 2 == 0: return False
//       sqrt_n = int(math.floor(math.sqrt(n)))
//       for i in range(3, sqrt_n + 1, 2):
//           if n % i == 0: return False
//       return True
//
//   def main():
//       with concurrent.futures.ProcessPoolExecutor() as executor:
//           for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
//               print('%d is prime: %s' % (number, prime))
//
// The same lines as Python's, True and False spelled as Python prints them. The tour's
// main() calls mp::main_guard first (examples/tour.cpp): `if __name__ == '__main__':`.
#include <cmath>
#include <cstddef>
#include <iostream>
#include <vector>

#include "concur/futures/process_pool.hpp"
#include "concur/multiprocessing.hpp"
#include "tour.hpp"

// The six lines, in PRIMES' order (`.` matches the newline between two lines):
// expect: 112272535095293 is prime: True.112582705942171 is prime: True.112272535095293
// expect: 112272535095293 is prime: True.115280095190773 is prime: True.115797848077099
// expect: 115797848077099 is prime: True.1099726899285419 is prime: False

namespace {

const std::vector<long> PRIMES = {112272535095293, 112582705942171, 112272535095293,
                                  115280095190773, 115797848077099, 1099726899285419};

bool is_prime(long n) {
  if (n < 2) return false;
  if (n == 2) return true;
  if (n % 2 == 0) return false;
  const auto sqrt_n = static_cast<long>(std::floor(std::sqrt(static_cast<double>(n))));
  for (long i = 3; i <= sqrt_n; i += 2) {
    if (n % i == 0) return false;
  }
  return true;
}
CONCUR_REGISTER(is_prime);

}  // namespace

CONCUR_TOUR_PART(futures_process_pool, "ProcessPoolExecutor: is_prime over PRIMES with map") {
  concur::futures::ProcessPoolExecutor executor;  // with ... as executor: (~ = shutdown)
  std::size_t i = 0;
  for (bool prime : executor.map(&is_prime, PRIMES)) {  // zip(PRIMES, executor.map(...))
    std::cout << PRIMES[i++] << " is prime: " << (prime ? "True" : "False") << "\n";
  }
}
