#!/usr/bin/env bash
# Runs clang-tidy (the repository's .clang-tidy; Debian's clang-tidy, installed by
# tools/deps.sh) on the .cpp files changed since the commit recorded in .ci/tidy-base,
# with the dev build's compile_commands.json (build/dev, configured by `cmake --preset dev`),
# and fails on any warning. Headers under include/concur/ that those files include are
# checked too (.clang-tidy's HeaderFilterRegex).
# Usage: tools/check_tidy.sh [BASE]   (BASE: a commit; default: the one in .ci/tidy-base)
# When the whole tree is tidy-clean, bump .ci/tidy-base to that commit.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:-$(tr -d '[:space:]' < .ci/tidy-base)}"
db=build/dev/compile_commands.json
if ! command -v clang-tidy >/dev/null; then
  echo "tools/check_tidy.sh: clang-tidy not found (bash tools/deps.sh installs it)" >&2
  exit 2
fi
if [ ! -f "$db" ]; then
  echo "tools/check_tidy.sh: $db missing: run cmake --preset dev first" >&2
  exit 2
fi
git rev-parse --verify -q "$base^{commit}" >/dev/null ||
  { echo "tools/check_tidy.sh: base $base is not a commit" >&2; exit 2; }
# Changed since base (committed or not), plus new untracked files; only those the build
# compiles (the install consumer, for one, is not in the database).
mapfile -t changed < <({ git diff --name-only --diff-filter=ACMR "$base" -- '*.cpp'
                         git ls-files --others --exclude-standard -- '*.cpp'; } | sort -u)
files=()
for f in "${changed[@]}"; do
  grep -q "\"file\": \"$PWD/$f\"" "$db" && files+=("$f")
done
if [ ${#files[@]} -eq 0 ]; then
  echo "tools/check_tidy.sh: no compiled .cpp file changed since ${base:0:12}"
  exit 0
fi
echo "tools/check_tidy.sh: ${#files[@]} file(s) changed since ${base:0:12}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# GCC-only warning flags in the database are unknown to clang, and GCC is the compiler of
# record for warnings (-Werror): clang's own compiler warnings are not findings here.
printf '%s\0' "${files[@]}" |
  xargs -0 -n 1 -P "$(nproc)" clang-tidy -p build/dev --quiet \
    --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-error > "$out" 2>&1 || true
if grep -qE '(warning|error):' "$out"; then
  grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$out"
  echo "tools/check_tidy.sh: clang-tidy found problems (above)" >&2
  exit 1
fi
echo "tools/check_tidy.sh: clean"
