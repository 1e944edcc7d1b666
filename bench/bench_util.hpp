// Shared by the benchmark binaries: how a benchmark names what it measures.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <map>
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

/// Wall-clock seconds that `op()` took.
inline double seconds(void (*op)()) {
  const auto t0 = std::chrono::steady_clock::now();
  op();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Floor means (seconds per op) measured alongside concur, by case.
inline std::map<std::string, double>& floor_means() {
  static std::map<std::string, double> means;
  return means;
}

/// Runs concur's `ours` and the `floor` (may be null: none) alternately, so that both see
/// the same load; reports concur in µs per op (register with UseManualTime()) and
/// remembers the floor's mean for floor_report.
inline void interleaved(benchmark::State& state, const char* case_name, void (*ours)(),
                        void (*floor)()) {
  double floor_total = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    if (floor != nullptr) floor_total += seconds(floor);
    state.SetIterationTime(seconds(ours));
    ++n;
  }
  if (n > 0 && floor != nullptr) floor_means()[case_name] = floor_total / static_cast<double>(n);
  report_latency(state, case_name, "concur", "us", 1);
}

/// Reports the floor measured by `interleaved` (register after it, Iterations(1)), or
/// measures it alone.
inline void floor_report(benchmark::State& state, const char* case_name, void (*floor)()) {
  const auto it = floor_means().find(case_name);
  for (auto _ : state)
    state.SetIterationTime(it != floor_means().end() ? it->second : seconds(floor));
  report_latency(state, case_name, "floor", "us", 1);
}

}  // namespace concur_bench
