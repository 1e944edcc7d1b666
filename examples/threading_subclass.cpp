// threading: a Thread subclass overriding run().
#include <iostream>
#include <string>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: <Squares\(squares, initial\)>
// expect: squares of 1\.\.5 computed in thread squares: 1 4 9 16 25
// expect: <Squares\(squares, stopped [0-9]+\)>

namespace th = concur::threading;

namespace {
class Squares : public th::Thread {
 public:
  explicit Squares(int n) : Thread({.name = "squares"}), n_(n) {}
  // run() uses members: join before the members go away.
  ~Squares() override { join(); }

  void run() override {
    where_ = th::current_thread().name();
    for (int i = 1; i <= n_; ++i) {
      result_ += ' ';
      result_ += std::to_string(i * i);
    }
  }
  const std::string& result() const { return result_; }
  const std::string& where() const { return where_; }

 private:
  int n_;
  std::string result_;
  std::string where_;
};
}  // namespace

CONCUR_TOUR_PART(threading_subclass, "a Thread subclass overriding run()") {
  Squares t(5);
  std::cout << t.repr() << "\n";
  t.start();
  t.join();
  std::cout << "squares of 1..5 computed in thread " << t.where() << ":" << t.result() << "\n";
  std::cout << t.repr() << "\n";
}
