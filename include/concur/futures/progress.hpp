// concur/futures/progress.hpp: progress reports for long maps (beyond Python).
//
//   for (auto r : pool.map({.progress = cf::progress_bar("resize")}, resize, files)) ...
//   // on a terminal, stderr shows:  resize [############------------------]  412/1000  41%
//
//   pool.map({.progress = [](const cf::MapProgress& p) { log(p.done, p.total); }}, f, xs);
//
// MapOptions::progress is called with {done, total} each time a call of the map finishes
// (returns, throws or is cancelled; a chunk counts as its number of calls), and once more
// when the total becomes known. `total` is known from the start when every range is a
// sized_range, otherwise once the input is exhausted; an endless map never knows it.
//
// Threads: the callback runs in the thread that completed the call (a worker, or the
// thread that cancelled it), never two at once for one map, with `done` never decreasing:
// calls are serialised by a mutex of the map. Calls made before a report are visible to
// it (the report happens after the future completed). Keep it short: a worker waits for
// it. An exception it throws goes to the exception hook (futures::set_exception_hook).
//
// progress_bar(description): a ready callback drawing one line on stderr, redrawn in
// place ("\r") at most every 50 ms and at the end (then followed by a newline); it draws
// nothing at all when stderr is not a terminal (a file, a pipe, /dev/null), so a batch job's
// log stays clean.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

namespace concur::futures {

/// One progress report of a map.
struct MapProgress {
  /// Calls finished so far (returned, threw or were cancelled).
  std::size_t done = 0;
  /// Calls in the whole map; nullopt while unknown (a range that is not sized, not yet
  /// exhausted).
  std::optional<std::size_t> total{};
};

using MapProgressFn = std::function<void(const MapProgress&)>;

/// A progress callback that draws a bar on stderr, only when stderr is a terminal.
MapProgressFn progress_bar(std::string description = {});

namespace detail {
/// progress_bar drawing on `fd` (only when `fd` is a terminal): what tests use with a
/// pseudo-terminal.
MapProgressFn progress_bar_on(int fd, std::string description);
}  // namespace detail

}  // namespace concur::futures
