// threading: the bank-balance race condition, then its fixes with Lock and RLock.
//
// Two threads deposit and withdraw the same amounts, so the balance should end
// at 0. Without a lock each update is read / (yield) / write, and the other
// thread's updates in between are lost. The balance is a std::atomic read and
// written with relaxed loads and stores: the race is a logic race (lost
// updates), not undefined behaviour, so the program stays valid C++ and
// ThreadSanitizer-clean while it shows the bug.
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: without a lock: balance = -?[1-9][0-9]* \(expected 0\): updates were lost
// expect: with a Lock   : balance = 0
// expect: with an RLock : balance = 0 \(nested acquire in the same thread\)

namespace th = concur::threading;

namespace {
constexpr int kIterations = 20000;

long unsynchronised_run() {
  std::atomic<long> balance{0};
  auto update = [&](long amount) {
    for (int i = 0; i < kIterations; ++i) {
      const long seen = balance.load(std::memory_order_relaxed);  // read
      std::this_thread::yield();                                  // let the other run
      balance.store(seen + amount, std::memory_order_relaxed);    // write back
    }
  };
  th::Thread deposit(update, 100L), withdraw(update, -100L);
  deposit.start();
  withdraw.start();
  deposit.join();
  withdraw.join();
  return balance.load();
}

struct Account {
  th::RLock lock;
  long balance = 0;
  void add(long amount) {
    std::scoped_lock g(lock);
    balance += amount;
  }
  void transfer(long amount) {
    std::scoped_lock g(lock);  // held...
    add(amount);               // ...and taken again by add(): fine with an RLock
  }
};
}  // namespace

CONCUR_TOUR_PART(threading_race, "race condition, Lock and RLock") {
  long result = 0;
  int attempts = 0;
  while (result == 0 && attempts < 5) {  // a race is a matter of chance: retry if lucky
    result = unsynchronised_run();
    ++attempts;
  }
  std::cout << "without a lock: balance = " << result
            << " (expected 0): " << (result != 0 ? "updates were lost" : "lucky every time")
            << "\n";

  th::Lock lock;
  long balance = 0;
  auto locked_update = [&](long amount) {
    for (int i = 0; i < kIterations; ++i) {
      std::scoped_lock g(lock);
      const long seen = balance;
      std::this_thread::yield();
      balance = seen + amount;
    }
  };
  th::Thread d(locked_update, 100L), w(locked_update, -100L);
  d.start();
  w.start();
  d.join();
  w.join();
  std::cout << "with a Lock   : balance = " << balance << "\n";

  Account account;
  th::Thread d2([&] {
    for (int i = 0; i < kIterations; ++i) account.transfer(100);
  });
  th::Thread w2([&] {
    for (int i = 0; i < kIterations; ++i) account.transfer(-100);
  });
  d2.start();
  w2.start();
  d2.join();
  w2.join();
  std::cout << "with an RLock : balance = " << account.balance
            << " (nested acquire in the same thread)\n";
}
