#!/usr/bin/env bash
# Builds bench/sparse.cpp against an existing build directory's engine (the same libraries cwb links) and
# runs it: dense vs CSR Gemm / Conv kernels at several sparsities, single-threaded, as a Markdown table.
# usage: bench/sparse.sh [BUILD_DIR] [RUNS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
runs="${2:-30}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --build "$build" --target cwb >/dev/null
# cwb's link line, with cwb.cpp's object replaced by the benchmark's.
link=$(ninja -C "$build" -t commands app/cwb | tail -1 | sed -e 's/^: && //' -e 's/ && :$//')
c++ -O3 -DNDEBUG -std=c++20 -I"$root" -c "$root/bench/sparse.cpp" -o "$tmp/sparse.o"
(cd "$build" && eval "${link/app\/CMakeFiles\/cwb.dir\/cwb.cpp.o -o app\/cwb/$tmp/sparse.o -o $tmp/sparse}")
OMP_WAIT_POLICY=PASSIVE "$tmp/sparse" "$runs"
