// concur/multiprocessing/synchronize.hpp: Python's multiprocessing.{Lock, RLock,
// Semaphore, BoundedSemaphore, Event, Condition, Barrier}: the threading primitives, shared
// between processes.
//
// What they are
//   Each object lives in a block of shared memory (a memfd, multiprocessing/detail/region.hpp) and
//   a C++ object is a *handle* to it: copying a handle gives another handle to the same lock (as
//   Python objects are references). The same semantics as concur::threading's primitives, for
//   threads of any process that holds a handle:
//
//     Python                               C++
//     multiprocessing.Lock()               mp::Lock
//     multiprocessing.RLock()              mp::RLock
//     multiprocessing.Semaphore(v)         mp::Semaphore(v)
//     multiprocessing.BoundedSemaphore(v)  mp::BoundedSemaphore(v)
//     multiprocessing.Event()              mp::Event
//     multiprocessing.Condition(lock)      mp::Condition() / (mp::Lock) / (mp::RLock)
//     multiprocessing.Barrier(n, a, t)     mp::Barrier(n) / (n, action) / (n, action, t)
//     acquire(blocking, timeout)           acquire() / (false) / (timeout) / (blocking, timeout)
//     with lock:                           std::scoped_lock g(lock);  (lock/unlock/try_lock)
//     sem.get_value()                      sem.get_value()
//     lock._semlock._is_mine()             lock.is_owned()
//     rlock._semlock._count()              rlock.recursion_count()
//
// One header per primitive: multiprocessing/lock.hpp, rlock.hpp, semaphore.hpp
//   (Semaphore and BoundedSemaphore), event.hpp, condition.hpp, barrier.hpp; this header
//   includes them all and states the rules they share.
//
// How they cross to a child process
//   As arguments of a Process (or inherited under `fork`): the child gets a handle to the
//   same object (under spawn/forkserver the memfd travels with the start request). Put on
//   a Queue or a Pipe, encoding one throws RuntimeError("Lock objects should only be shared
//   between processes through inheritance"), as Python.
//
// Robustness (what happens when a process dies)
//   - Lock, RLock, and the lock inside Condition, Barrier and Value/Array are robust
//     pthread mutexes (PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST). When the thread or
//     process holding one dies, the next acquire() *succeeds* and owner_died() is true
//     until that holder releases it: the data the lock protects may be half-updated and
//     need repair. (Python's mp Lock is a semaphore: a holder's death deadlocks every
//     other process forever.) If the mutex became unrecoverable (a holder that got it
//     from a dead owner died too, before marking it consistent - concur always marks it at
//     once, so only a foreign writer can cause this), acquire throws RuntimeError.
//   - Semaphore and BoundedSemaphore have no owner: a process that dies holding a permit
//     takes it with it (the value stays lower), as in Python.
//   - Event has no holder: a death does not affect it.
//   - Condition: a waiter killed inside wait() stops counting at the next notify() (each
//     waiter holds a robust "watch" mutex; the first 64 waiters are watched), so no
//     notification is spent on it. A notifier or waiter that dies holding the lock is seen
//     as owner_died() by the next holder.
//   - Barrier: a party that dies while holding the barrier's internal lock (arriving,
//     running the action, in abort/reset), or while waiting in the current round (each
//     waiter holds a robust "watch" mutex; the first 64 waiters are watched), breaks the
//     barrier for the others (BrokenBarrierError): waiters look every 100 ms, arrivals
//     see a dead lock holder at once. NOT detected: a party that dies before it arrives
//     (indistinguishable from a slow one): the others wait until their timeout, which then
//     breaks the barrier. Give cross-process barriers a timeout.
//
// Deviations from Python (deliberate)
//   - Owner-only release: a Lock must be released by the thread that acquired it
//     (robustness needs an owner). Python's mp Lock may be released by another process.
//     Releasing a Lock held by another thread or process is RuntimeError; releasing an
//     unlocked Lock is ValueError (Python's mp message: "semaphore or lock released too
//     many times"). RLock release by a non-owner (or when free): RuntimeError (threading's
//     type; Python's mp raises AssertionError, its tests accept RuntimeError).
//   - A thread that acquires a Lock it already holds: acquire(false) returns false,
//     acquire(timeout) sleeps the timeout and returns false (as Python would, since no one
//     else may release it here), and acquire() with no timeout throws RuntimeError
//     ("deadlock...") instead of hanging forever.
//   - wait()/notify() without holding the condition's lock: RuntimeError (Python's mp:
//     AssertionError; threading: RuntimeError).
//   - Barrier's action must cross to every process: a function registered for
//     mp::encode_call (CONCUR_REGISTER, or a captureless / trivially copyable lambda);
//     it runs in whichever process arrives last. Its exception reaches that process as the
//     same type for concur's and the std exception types (others as mp::RemoteError).
//   - acquire(false, timeout) ignores the timeout (Python's multiprocessing rule,
//     _test_multiprocessing._TestSemaphore.test_timeout), where concur::threading (like
//     Python's threading) raises ValueError.
//   - Negative timeouts are ValueError (concur::Timeout); Python treats some as 0.
//   - Semaphore values are limited to 2^32 - 1 (ValueError beyond).
//
// What blocks: acquire()/wait() (each has a Timeout form; omitted = forever). release(),
// set(), clear(), notify*(), abort(), reset() do not block beyond a short lock.
//
// Memory ordering: as concur::threading's (a release happens-before the acquire that
// takes the lock next; a set() before the wait() it ends; everything a party did before
// Barrier::wait happens-before any party leaves that round), across processes.
//
// Lifetime: the shared block lives while any handle in any process does (memfd: freed
// with its last fd and mapping; nothing in /dev/shm, nothing to clean up after a crash).
//
// Thread safety: a handle may be used from any number of threads of its process.
//
// Example
//   mp::Lock lock;
//   mp::Value<int> counter(0);
//   // in each of several processes (the objects passed as Process arguments):
//   {
//     std::scoped_lock g(lock);
//     if (lock.owner_died()) repair();
//     counter.set(counter.value() + 1);
//   }
#pragma once

#include "concur/multiprocessing/barrier.hpp"
#include "concur/multiprocessing/condition.hpp"
#include "concur/multiprocessing/event.hpp"
#include "concur/multiprocessing/lock.hpp"
#include "concur/multiprocessing/rlock.hpp"
#include "concur/multiprocessing/semaphore.hpp"
