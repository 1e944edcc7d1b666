// concur/futures.hpp: Python's concurrent.futures in C++ (namespace concur::futures).
//
//   Python                                   C++
//   Future                                   Future<T>, Future<void>; AnyFuture (any T)
//   Executor                                 Executor
//   ThreadPoolExecutor(max_workers, ...)     ThreadPoolExecutor({.max_workers = 4, ...})
//   InterpreterPoolExecutor(...)             InterpreterPoolExecutor<Ctx>({.initializer = ...})
//   map(..., buffersize=)                    map({.buffersize = n}, ...); map({.progress = ...})
//   wait(fs, timeout, return_when)           wait(fs, timeout, FIRST_COMPLETED | ...)
//   as_completed(fs, timeout)                as_completed(fs, timeout) (a range)
//   CancelledError, TimeoutError, ...        the same names (futures/errors.hpp)
#pragma once

#include "concur/futures/errors.hpp"
#include "concur/futures/executor.hpp"
#include "concur/futures/future.hpp"
#include "concur/futures/interpreter_pool.hpp"
#include "concur/futures/process_pool.hpp"
#include "concur/futures/progress.hpp"
#include "concur/futures/thread_pool.hpp"
#include "concur/futures/wait.hpp"
