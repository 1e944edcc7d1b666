#!/usr/bin/env bash
# Newcomer's first command: install what is needed, build, run the tour.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target tour -j "$(nproc)"
./build/release/examples/tour
