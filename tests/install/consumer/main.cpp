#include <concur/concur.hpp>
#include <iostream>

int main() {
  concur::futures::ThreadPoolExecutor pool({.max_workers = 2});
  auto f = pool.submit([](int x) { return x * 2; }, 21);
  std::cout << "consumer: " << f.result() << "\n";
}
