#!/usr/bin/env bash
# Builds bench/conv_layers.cpp against an existing build directory's engine (the same libraries cwb links) and times
# every Conv of a model alone (batch 1, one thread, median of RUNS) three ways: as the engine chooses, with oneDNN
# (CW_ONEDNN=1) and with im2col and one gemm per image (CW_ONEDNN=0), as a Markdown table (docs/performance.md).
# usage: bench/conv_layers.sh MODEL.onnx [BUILD_DIR] [RUNS] [NAME=D,D,... (a graph input's shape)]...
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="$1"
build="$(cd "${2:-$root/build}" && pwd)"
runs="${3:-100}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --build "$build" --target cwb >/dev/null
# cwb's link line, with cwb.cpp's object replaced by the benchmark's.
link=$(ninja -C "$build" -t commands app/cwb | tail -1 | sed -e 's/^: && //' -e 's/ && :$//')
c++ -O3 -DNDEBUG -std=c++20 -I"$root" -c "$root/bench/conv_layers.cpp" -o "$tmp/conv_layers.o"
(cd "$build" && eval "${link/app\/CMakeFiles\/cwb.dir\/cwb.cpp.o -o app\/cwb/$tmp/conv_layers.o -o $tmp/conv_layers}")
export OMP_WAIT_POLICY=PASSIVE
"$tmp/conv_layers" "$model" "$runs" "${@:4}" >"$tmp/engine"
CW_ONEDNN=1 "$tmp/conv_layers" "$model" "$runs" "${@:4}" >"$tmp/onednn"
CW_ONEDNN=0 "$tmp/conv_layers" "$model" "$runs" "${@:4}" >"$tmp/gemm"
echo "| layer | weight | input | engine ms | oneDNN ms | im2col + gemm ms |"
echo "|---|---|---|---:|---:|---:|"
paste "$tmp/engine" <(cut -f4 "$tmp/onednn") <(cut -f4 "$tmp/gemm") |
  awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6; e += $4; o += $5; g += $6}
              END {printf "| all | | | %.4f | %.4f | %.4f |\n", e, o, g}'
