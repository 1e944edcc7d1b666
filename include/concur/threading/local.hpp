// concur/threading/local.hpp: threading.local, per-instance thread-local data.
//
// What it does
//   A local<T> gives each thread its own T. A thread's T is made on its first
//   use of the local (by T's default constructor, or by the factory given to
//   the constructor) and destroyed when that thread ends or when the local<T>
//   is destroyed, whichever comes first. Unlike a `thread_local` variable, a
//   local<T> is an object: there can be any number of them, members of other
//   objects, each with its own per-thread values.
//
// What blocks
//   Nothing waits for another thread's work; get() takes a short internal lock.
//
// What throws
//   get() propagates what the factory / T's constructor throws (and
//   std::bad_alloc); the next get() tries again. The destructor never throws;
//   T's destructor must not throw.
//
// Thread safety and memory ordering
//   Each thread's T is touched only by that thread, except that ~local()
//   destroys the remaining values from the destroying thread: the caller must
//   ensure no thread uses a T (through get()) while or after the local<T> is
//   destroyed. The factory may run concurrently in several threads.
//
// When a thread ends
//   A concur Thread destroys its values after run() returns and before join()
//   returns. Other threads (std::thread, the main thread) destroy them during
//   their thread_local teardown.
//
// Python parity
//   Python's `mydata = local(); mydata.x = 1` becomes a struct: `local<Data>
//   mydata; mydata->x = 1`. Python's subclass __init__(*args), called per
//   thread, is the factory: `local<Data> d([] { return Data{42}; })`.
//
// Example
//   struct Conn { int id = -1; };
//   concur::threading::local<Conn> conn;
//   // in any thread:
//   if (conn->id < 0) conn->id = open_connection();
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "concur/threading/detail/local.hpp"

namespace concur::threading {

template <class T>
class local {
 public:
  /// Each thread's T is value-initialised (T{}).
  local() requires std::default_initializable<T> : factory_([] { return std::make_unique<T>(); }) {}

  /// Each thread's T is made by `factory()` (called once per thread, possibly
  /// from several threads at once). The factory is called as an lvalue; it
  /// may be move-only (it is kept in one shared box, never copied).
  template <class Factory>
  requires std::move_constructible<Factory> && std::is_invocable_r_v<T, Factory&>
  explicit local(Factory factory)
      : factory_([f = std::make_shared<Factory>(std::move(factory))] {
          return std::make_unique<T>((*f)());
        }) {}

  local(const local&) = delete;
  local& operator=(const local&) = delete;
  ~local() { detail::local_destroy(*core_); }

  /// The calling thread's T, made now if this is its first use.
  T& get() {
    if (void* p = detail::local_find(core_.get())) return *static_cast<T*>(p);
    std::unique_ptr<T> made = factory_();
    detail::local_insert(core_, made.get(), &destroy);
    return *made.release();  // owned by the registry from now on
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  static void destroy(void* p) noexcept { delete static_cast<T*>(p); }

  std::shared_ptr<detail::LocalCore> core_ = detail::local_new();
  std::function<std::unique_ptr<T>()> factory_;
};

}  // namespace concur::threading
