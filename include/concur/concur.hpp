// concur/concur.hpp: every module of concur (concur::distributed needs its own CMake target,
// concur::distributed, linked).
#pragma once

#include "concur/distributed.hpp"
#include "concur/exceptions.hpp"
#include "concur/futures.hpp"
#include "concur/multiprocessing.hpp"
#include "concur/queue.hpp"
#include "concur/subprocess.hpp"
#include "concur/threading.hpp"
#include "concur/timeout.hpp"
