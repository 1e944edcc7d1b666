// threading: producer / consumer on a bounded buffer with a Condition.
#include <deque>
#include <iostream>
#include <mutex>
#include <string>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: producer: made 20 items
// expect: consumer: got 20 items, sum 210, buffer never above 3
// expect: consumer: got "STOP"

namespace th = concur::threading;

CONCUR_TOUR_PART(threading_condition, "producer/consumer with Condition") {
  constexpr std::size_t kCapacity = 3;
  th::Condition cond;
  std::deque<int> buffer;  // guarded by cond's lock; -1 means stop
  std::size_t high_water = 0;

  th::Thread producer({.name = "producer"}, [&] {
    for (int i = 1; i <= 20; ++i) {
      std::scoped_lock g(cond);
      cond.wait_for([&] { return buffer.size() < kCapacity; });
      buffer.push_back(i);
      high_water = std::max(high_water, buffer.size());
      cond.notify_all();
    }
    std::cout << "producer: made 20 items\n" << std::flush;
    std::scoped_lock g(cond);
    cond.wait_for([&] { return buffer.size() < kCapacity; });
    buffer.push_back(-1);
    cond.notify_all();
  });

  int count = 0, sum = 0;
  th::Thread consumer({.name = "consumer"}, [&] {
    for (;;) {
      std::scoped_lock g(cond);
      cond.wait_for([&] { return !buffer.empty(); });
      const int item = buffer.front();
      buffer.pop_front();
      cond.notify_all();
      if (item < 0) break;
      ++count;
      sum += item;
    }
  });
  producer.start();
  consumer.start();
  producer.join();
  consumer.join();
  std::cout << "consumer: got " << count << " items, sum " << sum << ", buffer never above "
            << high_water << "\n";
  std::cout << "consumer: got \"STOP\"\n";
}
