// threading: the traffic light with an Event (three cycles).
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>

#include "concur/threading.hpp"
#include "tour.hpp"

// expect: light: RED
// expect: light: GREEN
// expect: car 1: waits at the red light
// expect: car 1: drives on green
// expect: car 3: drives on green
// expect: light: off after 3 cycles

namespace th = concur::threading;

namespace {
std::mutex print_mutex;
void say(const std::string& line) {
  std::scoped_lock g(print_mutex);
  std::cout << line << "\n" << std::flush;
}
}  // namespace

CONCUR_TOUR_PART(threading_event, "traffic light with Event") {
  th::Event green;
  th::Event car_waiting;
  th::Thread light({.name = "light"}, [&] {
    for (int cycle = 0; cycle < 3; ++cycle) {
      green.clear();
      say("light: RED");
      car_waiting.wait(std::chrono::seconds(5));  // a car is at the light
      car_waiting.clear();
      th::Event().wait(std::chrono::milliseconds(30));
      say("light: GREEN");
      green.set();
      th::Event().wait(std::chrono::milliseconds(30));
    }
    say("light: off after 3 cycles");
  });
  light.start();
  for (int car = 1; car <= 3; ++car) {
    th::Thread t([&, car] {
      if (!green.is_set()) say("car " + std::to_string(car) + ": waits at the red light");
      car_waiting.set();
      if (green.wait(std::chrono::seconds(5)))
        say("car " + std::to_string(car) + ": drives on green");
    });
    // One car per cycle: wait for the light to turn red again before the next.
    while (green.is_set()) th::Event().wait(std::chrono::milliseconds(1));
    t.start();
    t.join();
  }
  light.join();
}
