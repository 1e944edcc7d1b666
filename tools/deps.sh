#!/usr/bin/env bash
# Installs the Debian 12 packages concur needs to build, test and benchmark.
# Runs as root (or through sudo), with no terminal: apt-get install -y.
# Does nothing when every package is already there.
#
#   tools/deps.sh         build, test, the benchmark binaries and their smoke runs (CI)
#   tools/deps.sh bench   also the peers only bench/run needs: Celery, RQ and Dask for the
#                         cluster's figures (bench/py_peers_distributed.py). CI does not
#                         install them (their smoke test is skipped without them): they are
#                         some 40 Python packages that no test needs. bench/run runs this.
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
if [ "${1:-}" = bench ]; then
  packages+=(python3-celery python3-rq python3-distributed python3-redis)  # cluster peers
fi
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
