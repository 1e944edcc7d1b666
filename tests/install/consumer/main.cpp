#include <concur/concur.hpp>

#include <iostream>

int main() {


  std::cout << "consumer: " << 42 << "\n";
}
