// The smallest concur program (placeholder until the futures tour lands).
#include "tour.hpp"
#include <iostream>
// expect: hello
CONCUR_TOUR_PART(futures_hello, "hello") { std::cout << "hello\n"; }
