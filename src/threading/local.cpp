// The machinery of threading::local<T> (see concur/threading/local.hpp).
//
// Each thread has a ThreadSlots: its values, keyed by local (LocalCore). Each
// LocalCore knows the threads that hold a value for it. A value is destroyed
// exactly once, by whichever comes first: its thread's exit (local_thread_exit)
// or the local's destruction (local_destroy). Lock order: a LocalCore's mutex,
// then a ThreadSlots' mutex.
#include "concur/threading/detail/local.hpp"

#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace concur::threading::detail {

namespace {
struct ThreadSlots;
}  // namespace

struct LocalCore {
  std::mutex m;
  std::unordered_set<ThreadSlots*> threads;  // threads that hold a value
};

namespace {

struct Entry {
  std::shared_ptr<LocalCore> core;  // keeps the key's address from being reused
  void* value = nullptr;
  LocalDeleter deleter = nullptr;
};

struct ThreadSlots {
  std::mutex m;
  std::unordered_map<const LocalCore*, Entry> values;
};

thread_local ThreadSlots* t_slots = nullptr;

struct SlotsOwner {
  ~SlotsOwner() {
    local_thread_exit();
    delete t_slots;
    t_slots = nullptr;
  }
};
thread_local SlotsOwner t_owner;

ThreadSlots& my_slots() {
  if (!t_slots) {
    t_slots = new ThreadSlots;
    (void)&t_owner;  // registers the owner's destructor for this thread
  }
  return *t_slots;
}

}  // namespace

std::shared_ptr<LocalCore> local_new() { return std::make_shared<LocalCore>(); }

void* local_find(const LocalCore* core) {
  ThreadSlots* s = t_slots;
  if (!s) return nullptr;
  std::scoped_lock g(s->m);
  const auto it = s->values.find(core);
  return it == s->values.end() ? nullptr : it->second.value;
}

void local_insert(const std::shared_ptr<LocalCore>& core, void* value, LocalDeleter deleter) {
  ThreadSlots& s = my_slots();
  std::scoped_lock g(core->m);
  core->threads.insert(&s);
  try {
    std::scoped_lock g2(s.m);
    s.values.emplace(core.get(), Entry{core, value, deleter});
  } catch (...) {
    core->threads.erase(&s);
    throw;
  }
}

void local_destroy(LocalCore& core) noexcept {
  std::vector<Entry> doomed;
  {
    std::scoped_lock g(core.m);
    doomed.reserve(core.threads.size());
    for (ThreadSlots* s : core.threads) {
      std::scoped_lock g2(s->m);
      const auto it = s->values.find(&core);
      if (it == s->values.end()) continue;
      doomed.push_back(std::move(it->second));
      s->values.erase(it);
    }
    core.threads.clear();
  }
  for (Entry& e : doomed) e.deleter(e.value);
}

void local_thread_exit() noexcept {
  ThreadSlots* s = t_slots;
  if (!s) return;
  for (;;) {
    std::shared_ptr<LocalCore> core;
    {
      std::scoped_lock g(s->m);
      if (s->values.empty()) return;
      core = s->values.begin()->second.core;
    }
    Entry e;
    {
      std::scoped_lock g(core->m, s->m);
      const auto it = s->values.find(core.get());
      if (it != s->values.end()) {
        e = std::move(it->second);
        s->values.erase(it);
      }
      core->threads.erase(s);
    }
    if (e.value) e.deleter(e.value);  // may use other locals: the loop sees them
  }
}

}  // namespace concur::threading::detail
