// concur/futures.hpp: Python's concurrent.futures (in progress).
#pragma once
#include "concur/exceptions.hpp"
#include "concur/timeout.hpp"
namespace concur::futures {}
