// Shared by the benchmark binaries: how a benchmark names what it measures.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

namespace concur_bench {

/// Reports `items` done per iteration as a rate (unit "tasks/s", "msgs/s", ...).
inline void report_rate(benchmark::State& state, const std::string& case_name,
                        const std::string& impl, const std::string& unit, double items) {
  state.SetLabel(case_name + "|" + impl + "|" + unit);
  state.counters["value"] =
      benchmark::Counter(items, benchmark::Counter::kIsIterationInvariantRate);
}

/// Reports the time of one of `items` operations per iteration (unit "us" or "ns").
inline void report_latency(benchmark::State& state, const std::string& case_name,
                           const std::string& impl, const std::string& unit, double items) {
  state.SetLabel(case_name + "|" + impl + "|" + unit);
  state.counters["value"] = benchmark::Counter(
      items, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

}  // namespace concur_bench
