#!/usr/bin/env bash
# Installs the Debian 12 packages concur needs to build, test and benchmark.
# Runs as root (or through sudo), with no terminal: apt-get install -y.
# Does nothing when every package is already there.
set -euo pipefail
packages=(
  g++ cmake ninja-build            # toolchain
  libgtest-dev libgmock-dev        # tests
  libbenchmark-dev libtbb-dev      # benchmarks (oneTBB is a peer)
  python3                          # CPython peers in bench/run
  procps                           # ps, used by the test harness checks
  libcereal-dev                    # multiprocessing codec: user types (header-only)
  libhiredis-dev redis-server      # concur::distributed (Redis client; the tests' own server)
  pkg-config                       # finds hiredis
  libcli11-dev                     # concur-cluster's options (header-only)
  libssl-dev                       # multiprocessing.connection: HMAC-SHA256 (libcrypto)
  clang-format clang-tidy          # CI checks: tools/check_format.sh, tools/check_tidy.sh
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tools/deps.sh: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
