#!/usr/bin/env bash
# Checks that every tracked C/C++ file is formatted as .clang-format says (clang-format 14,
# Debian's clang-format package; tools/deps.sh installs it). Prints the files that differ
# and fails if there is any; `clang-format -i FILE` fixes one.
# Usage: tools/check_format.sh [FILE...] (default: every tracked *.cpp, *.hpp, *.h, *.cc)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "tools/check_format.sh: clang-format not found (bash tools/deps.sh installs it)" >&2
  exit 2
fi
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc')
fi
differ=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! clang-format --style=file "$f" | cmp -s - "$f"; then
    differ+=("$f")
  fi
done
if [ ${#differ[@]} -gt 0 ]; then
  echo "tools/check_format.sh: ${#differ[@]} file(s) differ from clang-format $(clang-format --version | grep -o '[0-9][0-9.]*' | head -1):"
  printf '  %s\n' "${differ[@]}"
  echo "fix with: clang-format -i FILE..."
  exit 1
fi
echo "tools/check_format.sh: ${#files[@]} files formatted"
