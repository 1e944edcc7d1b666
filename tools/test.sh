#!/usr/bin/env bash
# Builds and runs the whole test suite. Usage: tools/test.sh [preset]
# (dev by default; asan and tsan are the sanitizer builds).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-dev}"
bash tools/deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset"
