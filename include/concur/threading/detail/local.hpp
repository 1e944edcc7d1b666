// concur/threading/detail/local.hpp: the untyped machinery under
// threading::local<T>. Internal.
#pragma once

#include <memory>

namespace concur::threading::detail {

/// One local<T> object's registry of per-thread values (defined in src/).
struct LocalCore;

using LocalDeleter = void (*)(void*) noexcept;

/// A new, empty registry.
std::shared_ptr<LocalCore> local_new();
/// The calling thread's value for `core`, or null when it has none yet.
void* local_find(const LocalCore* core);
/// Records `value` (owned from now on, destroyed with `deleter`) as the
/// calling thread's value for `core`.
void local_insert(const std::shared_ptr<LocalCore>& core, void* value, LocalDeleter deleter);
/// Destroys every thread's value for `core`; later finds return null.
void local_destroy(LocalCore& core) noexcept;
/// Destroys the calling thread's values of every local (what thread exit does;
/// concur's threads call it before join() can return).
void local_thread_exit() noexcept;

}  // namespace concur::threading::detail
