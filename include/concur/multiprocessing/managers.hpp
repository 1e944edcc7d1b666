// concur/multiprocessing/managers.hpp: Python's multiprocessing.managers: BaseManager,
// Server, BaseProxy/Proxy<T>, Token, the registry of served types, SyncManager and
// Manager() with their typed proxies. Design: docs/design/0006-managers.md.
#pragma once

#include "concur/multiprocessing/managers/base_manager.hpp"
#include "concur/multiprocessing/managers/proxy.hpp"
#include "concur/multiprocessing/managers/queue.hpp"
#include "concur/multiprocessing/managers/registry.hpp"
#include "concur/multiprocessing/managers/shared_types.hpp"
#include "concur/multiprocessing/managers/sync_manager.hpp"
