// The tour: every example of concur in one program. Each examples/<module>_<topic>.cpp
// registers one part with CONCUR_TOUR_PART; `tour` runs them all in name order,
// `tour NAME...` runs the named ones, `tour --list` lists them. CTest runs each
// part as its own test (examples/CMakeLists.txt).
#pragma once

#include <functional>
#include <map>
#include <string>

namespace tour {

struct Part {
  std::string title;
  std::function<void()> run;
};

inline std::map<std::string, Part>& parts() {
  static std::map<std::string, Part> registry;
  return registry;
}

struct Register {
  Register(const char* name, const char* title, void (*fn)()) { parts()[name] = Part{title, fn}; }
};

}  // namespace tour

#define CONCUR_TOUR_CAT2(a, b) a##b
#define CONCUR_TOUR_CAT(a, b) CONCUR_TOUR_CAT2(a, b)
/// CONCUR_TOUR_PART(name, "title") { body }  registers a tour part.
#define CONCUR_TOUR_PART(name, title)                             \
  static void CONCUR_TOUR_CAT(tour_part_, name)();                \
  static const ::tour::Register CONCUR_TOUR_CAT(tour_reg_, name){ \
      #name, title, &CONCUR_TOUR_CAT(tour_part_, name)};          \
  static void CONCUR_TOUR_CAT(tour_part_, name)()
