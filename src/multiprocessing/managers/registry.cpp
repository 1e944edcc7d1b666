// Registry: the typeids a manager serves (concur/multiprocessing/managers/registry.hpp).
#include "concur/multiprocessing/managers/registry.hpp"

namespace concur::multiprocessing::managers {

void Registry::add(TypeEntry e) {
  if (e.typeid_.empty()) throw ValueError("Registry::register_: an empty typeid");
  auto [it, fresh] = types_.try_emplace(e.typeid_, nullptr);
  if (!fresh)
    throw ValueError("Registry::register_: typeid '" + e.typeid_ + "' is registered already");
  it->second = std::make_shared<TypeEntry>(std::move(e));
}

const TypeEntry* Registry::find(std::string_view typeid_) const {
  auto it = types_.find(typeid_);
  return it == types_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Registry::typeids() const {
  std::vector<std::string> out;
  out.reserve(types_.size());
  for (const auto& [name, entry] : types_) out.push_back(name);
  return out;
}

}  // namespace concur::multiprocessing::managers
