#!/usr/bin/env bash
# Builds bench/sparse24.cpp against an existing build directory's engine (the same libraries cwb links) and runs
# it: a 2:4 sparse matrix-vector kernel (float32 and float16 values) against the dense float32 product and the
# Q8_0 / Q4_0 kernels of the same pruned matrix, at 7B and demo shapes, 1 and 2 threads, interleaved rounds,
# medians, as a Markdown table (docs/performance.md).
# usage: bench/sparse24.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
rounds="${2:-15}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --build "$build" --target cwb >/dev/null
# cwb's link line, with cwb.cpp's object replaced by the benchmark's.
link=$(ninja -C "$build" -t commands app/cwb | tail -1 | sed -e 's/^: && //' -e 's/ && :$//')
c++ -O3 -DNDEBUG -std=c++20 -march=x86-64-v3 -I"$root" -c "$root/bench/sparse24.cpp" -o "$tmp/sparse24.o"
(cd "$build" && eval "${link/app\/CMakeFiles\/cwb.dir\/cwb.cpp.o -o app\/cwb/$tmp/sparse24.o -o $tmp/sparse24}")
OMP_WAIT_POLICY=PASSIVE "$tmp/sparse24" "$rounds"
