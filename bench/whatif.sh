#!/usr/bin/env bash
# Builds bench/whatif.cpp against an existing build directory's engine (the same libraries cwb links) and
# runs it: the Inspect what-if latency on a million-weight layer, as a Markdown table.
# usage: bench/whatif.sh [BUILD_DIR] [RUNS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
runs="${2:-50}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --build "$build" --target cwb >/dev/null
# cwb's link line, with cwb.cpp's object replaced by the benchmark's.
link=$(ninja -C "$build" -t commands app/cwb | tail -1 | sed -e 's/^: && //' -e 's/ && :$//')
c++ -O3 -DNDEBUG -std=c++20 -I"$root" -c "$root/bench/whatif.cpp" -o "$tmp/whatif.o"
(cd "$build" && eval "${link/app\/CMakeFiles\/cwb.dir\/cwb.cpp.o -o app\/cwb/$tmp/whatif.o -o $tmp/whatif}")
OMP_WAIT_POLICY=PASSIVE "$tmp/whatif" "$runs"
