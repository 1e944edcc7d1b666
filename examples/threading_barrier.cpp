// threading: the four-player game with a Barrier, then a round where one
// player never shows up and the others' timeout breaks the barrier.
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: all 4 players ready: the game starts
// expect: arrival indexes: 0 1 2 3
// expect: round 2: player [1-3] got BrokenBarrierError
// expect: round 2: 3 players gave up after the timeout; broken = True

namespace th = concur::threading;

CONCUR_TOUR_PART(threading_barrier, "four-player Barrier with timeout") {
  std::mutex m;
  std::set<int> indexes;
  th::Barrier start(4, [] { std::cout << "all 4 players ready: the game starts\n" << std::flush; });
  {
    std::vector<std::unique_ptr<th::Thread>> players;
    for (int p = 1; p <= 4; ++p) {
      players.push_back(std::make_unique<th::Thread>([&] {
        const int index = start.wait(std::chrono::seconds(5));
        std::scoped_lock g(m);
        indexes.insert(index);
      }));
      players.back()->start();
    }
    for (auto& p : players) p->join();
  }
  std::cout << "arrival indexes:";
  for (int i : indexes) std::cout << " " << i;
  std::cout << "\n";

  // Round 2: player 4 never arrives; the others wait 100 ms at most.
  th::Barrier round2(4, nullptr, std::chrono::milliseconds(100));
  int gave_up = 0;
  std::vector<std::unique_ptr<th::Thread>> players;
  for (int p = 1; p <= 3; ++p) {
    players.push_back(std::make_unique<th::Thread>([&, p] {
      try {
        round2.wait();
      } catch (const concur::BrokenBarrierError&) {
        std::scoped_lock g(m);
        std::cout << "round 2: player " << p << " got BrokenBarrierError\n" << std::flush;
        ++gave_up;
      }
    }));
    players.back()->start();
  }
  for (auto& p : players) p->join();
  std::cout << "round 2: " << gave_up << " players gave up after the timeout; broken = "
            << (round2.broken() ? "True" : "False") << "\n";
}
