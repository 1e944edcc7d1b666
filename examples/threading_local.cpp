// threading: local<T>, per-thread data in one object.
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: thread t1 sees its own value: t1-data \(made for it on first use\)
// expect: thread t3 sees its own value: t3-data
// expect: main still sees: main-data
// expect: values made: 4, alive now: 1

namespace th = concur::threading;

namespace {
int made = 0, alive = 0;
std::mutex counts;
struct Data {
  std::string value = "(unset)";
  Data() {
    std::scoped_lock g(counts);
    ++made;
    ++alive;
  }
  ~Data() {
    std::scoped_lock g(counts);
    --alive;
  }
};
}  // namespace

CONCUR_TOUR_PART(threading_local, "local: per-thread data") {
  th::local<Data> mydata;  // Python: mydata = threading.local()
  mydata->value = "main-data";
  std::mutex print;
  std::vector<std::unique_ptr<th::Thread>> ts;
  for (int i = 1; i <= 3; ++i) {
    std::string name = "t";
    name += std::to_string(i);
    ts.push_back(std::make_unique<th::Thread>(th::ThreadOptions{.name = name}, [&] {
      const std::string me = th::current_thread().name();
      const bool fresh = mydata->value == "(unset)";
      mydata->value = me;
      mydata->value += "-data";
      std::scoped_lock g(print);
      std::cout << "thread " << me << " sees its own value: " << mydata->value
                << (fresh ? " (made for it on first use)" : "") << "\n";
    }));
    ts.back()->start();
    ts.back()->join();  // one at a time, so the output is in order
  }
  std::cout << "main still sees: " << mydata->value << "\n";
  std::scoped_lock g(counts);
  std::cout << "values made: " << made << ", alive now: " << alive << "\n";
}
