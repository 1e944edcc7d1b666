// concur/multiprocessing.hpp: Python's `multiprocessing` (with `shared_memory`).
//
// Namespace concur::multiprocessing, alias concur::mp. Design and rules:
// docs/design/0004-multiprocessing.md.
#pragma once

#include "concur/multiprocessing/call.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "concur/multiprocessing/connection.hpp"
#include "concur/multiprocessing/context.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "concur/multiprocessing/exception_registry.hpp"
#include "concur/multiprocessing/fn.hpp"
#include "concur/multiprocessing/listener.hpp"
#include "concur/multiprocessing/managers.hpp"
#include "concur/multiprocessing/pool.hpp"
#include "concur/multiprocessing/process.hpp"
#include "concur/multiprocessing/queues.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "concur/multiprocessing/shareable_list.hpp"
#include "concur/multiprocessing/shared_memory.hpp"
#include "concur/multiprocessing/shared_memory_manager.hpp"
#include "concur/multiprocessing/sharedctypes.hpp"
#include "concur/multiprocessing/synchronize.hpp"
#include "concur/queue.hpp"

namespace concur {
namespace mp = multiprocessing;
}  // namespace concur
