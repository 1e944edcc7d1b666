// concur/threading.hpp: Python's threading module in C++20 (concur::threading).
//
//   Python                         C++
//   threading.Thread               concur::threading::Thread     <concur/threading/thread.hpp>
//   threading.Lock / RLock         Lock / RLock                  <.../lock.hpp>, <.../rlock.hpp>
//   threading.Condition            Condition                     <.../condition.hpp>
//   threading.Semaphore            Semaphore, BoundedSemaphore   <.../semaphore.hpp>
//   threading.Event                Event                         <.../event.hpp>
//   threading.Timer                Timer                         <.../timer.hpp>
//   threading.Barrier              Barrier                       <.../barrier.hpp>
//   threading.local                local<T>                      <.../local.hpp>
//   current_thread, main_thread, active_count, enumerate, get_ident,
//   get_native_id, excepthook, __excepthook__ (default_excepthook),
//   stack_size, TIMEOUT_MAX                                      <.../thread.hpp>
//
// Each header is the specification of what it declares: what blocks, what
// throws, memory ordering, lifetime and every difference from CPython.
#pragma once

#include "concur/threading/barrier.hpp"
#include "concur/threading/condition.hpp"
#include "concur/threading/event.hpp"
#include "concur/threading/local.hpp"
#include "concur/threading/lock.hpp"
#include "concur/threading/rlock.hpp"
#include "concur/threading/semaphore.hpp"
#include "concur/threading/thread.hpp"
#include "concur/threading/timer.hpp"
