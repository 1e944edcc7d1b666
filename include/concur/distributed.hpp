// concur/distributed.hpp: the futures API on many machines, through Redis
// (namespace concur::distributed; CMake target concur::distributed).
//
//   Python (Celery, RQ, Dask)                 C++
//   an executor whose tasks run elsewhere     distributed::Executor({.url = "redis://..."})
//   `celery worker`                           distributed::serve({.url, .concurrency}), or
//                                             the program run with --concur-worker=<url>
//   `celery worker --pool prefork`            distributed::serve({..., .processes = true})
//   redis.exceptions.ResponseError            distributed::RedisError
#pragma once

#include "concur/distributed/errors.hpp"
#include "concur/distributed/executor.hpp"
#include "concur/distributed/serve.hpp"
