// SyncManager: the built-in types every SyncManager serves
// (concur/multiprocessing/managers/sync_manager.hpp).
#include "concur/multiprocessing/managers/sync_manager.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

namespace concur::multiprocessing::managers::detail {

namespace {
std::mutex& builtins_mutex() {
  static std::mutex m;
  return m;
}
std::vector<BuiltinAdder>& builtins() {
  static std::vector<BuiltinAdder> v;
  return v;
}
}  // namespace

bool add_builtin(BuiltinAdder adder) noexcept {
  try {
    std::lock_guard lk(builtins_mutex());
    auto& v = builtins();
    if (std::find(v.begin(), v.end(), adder) == v.end()) v.push_back(adder);
  } catch (...) {
  }
  return true;
}

void sync_setup(Registry& r) {
  std::vector<BuiltinAdder> adders;
  {
    std::lock_guard lk(builtins_mutex());
    adders = builtins();
  }
  for (auto* add : adders) add(r);
}

}  // namespace concur::multiprocessing::managers::detail
